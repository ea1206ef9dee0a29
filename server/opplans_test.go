package server

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
	"github.com/stretchr/testify/require"
)

func requireConflict(t *testing.T, res any) {
	t.Helper()
	err, ok := res.(error)
	require.True(t, ok, "expected the FSM to refuse the command, got %v", res)
	require.ErrorIs(t, err, fsm.ErrConflict)
}

// ---- planScale: normal paths ----

func TestPlan_ScaleUpStaysWithinParallelism(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	h.scale("A", 5, 2)

	p := h.step("A")
	require.Len(t, p.replaces, 2, "first step places as many as parallelism allows")
	require.Nil(t, p.finish)
	p = h.step("A")
	require.True(t, p.empty(), "nothing more while 2 are starting: %+v", p)

	for i := 0; i < 20 && h.app("A").ActiveOperation() != nil; i++ {
		h.agent("A")
		h.tick(time.Second)
		h.step("A")
		require.LessOrEqual(t, len(h.view("A").starting), 2)
	}
	app := h.app("A")
	require.Nil(t, app.ActiveOperation())
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, 5, app.Instances)
	require.Equal(t, model.AppRunning, app.State)
	require.Len(t, h.view("A").healthy, 5)
	done, failed := h.view("A").jobCounts(app.Operation.ID)
	require.Equal(t, 5, done)
	require.Zero(t, failed)
}

func TestPlan_ScaleDownStopsOldestFirstAndCompletesWhenSettled(t *testing.T) {
	h := newOpHarness(t)
	h.names = []string{"AI-c", "AI-a", "AI-b"} // creation order differs from id order
	h.create("A", 3, 1)
	require.Equal(t, []string{"AI-c", "AI-a", "AI-b"}, liveIDs(h.view("A")))

	h.scale("A", 1, 1)
	p := h.step("A")
	require.Equal(t, []string{"AI-c"}, p.stop, "the oldest instance is stopped first")
	p = h.step("A")
	require.True(t, p.empty(), "parallelism 1: nothing while AI-c is stopping: %+v", p)
	h.agent("A")
	h.tick(time.Second)

	p = h.step("A")
	require.Equal(t, []string{"AI-a"}, p.stop)
	p = h.step("A")
	require.Nil(t, p.finish, "live count reached but AI-a is still stopping")
	require.True(t, p.empty())
	h.agent("A")
	h.tick(time.Second)

	p = h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCompleted, p.finish.Status)
	require.Nil(t, p.finish.Desired)
	app := h.app("A")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, 1, app.Instances)
	require.Equal(t, model.AppRunning, app.State)
	require.Equal(t, []string{"AI-b"}, liveIDs(h.view("A")))
}

func TestPlan_ScaleToZeroEndsInMonitoring(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	h.scale("A", 0, 4)
	require.Len(t, h.step("A").stop, 2)
	h.agent("A")
	h.runUntilIdle("A")
	app := h.app("A")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, 0, app.Instances)
	require.Equal(t, model.AppMonitoring, app.State)
	require.Empty(t, h.view("A").live)
}

func TestPlan_RecoverMovesOutageToScalingAndRestoresDesired(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	lost := liveIDs(h.view("A"))[0]
	h.report(lost, model.InstanceLost, "executor lost")
	app := h.app("A")
	rec := h.newOp("A", model.OpRecover, model.OpRecover, 4)
	rec.RequiredInstances, rec.JobsTotal = app.Instances, 1
	require.Nil(t, h.apply(fsm.AppOperationStartType, fsm.AppOperationStartRequest{AppID: "A", Op: rec,
		Desired: app.Instances, State: model.AppOutageDetected, ExpectVersion: app.Version, Timestamp: h.ts()}))
	require.Equal(t, model.AppOutageDetected, h.app("A").State)

	p := h.step("A")
	require.Equal(t, model.AppScalingRequested, p.state)
	require.Len(t, p.replaces, 1)
	require.Equal(t, model.AppScalingRequested, h.app("A").State)
	h.runUntilIdle("A")
	require.Equal(t, model.OpCompleted, h.app("A").Operation.Status)
	require.Equal(t, model.AppRunning, h.app("A").State)
	require.Len(t, h.view("A").healthy, 2)
}

// ---- stale plans (new leader whose FSM lags) ----

// A step planned from a stale view (a new leader whose FSM has not applied
// the previous leader's last step yet) carries the op's old step count and
// is refused: a SCALE to 1 never places twice.
func TestPlan_StaleStepIsRefused(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	h.scale("A", 1, 4)

	app, stale := h.app("A"), h.view("A")                   // what the lagging new leader sees
	require.Nil(t, h.commit(app, h.plan(app, h.view("A")))) // old leader's step, committed
	require.Equal(t, 1, h.app("A").Operation.Steps)
	stalePlan := h.plan(app, stale)
	require.Len(t, stalePlan.replaces, 1, "the stale view still wants to place")
	requireConflict(t, h.commit(app, stalePlan))
	require.Len(t, h.view("A").live, 1, "SCALE to 1 must have 1 live instance")
	require.Equal(t, 1, h.app("A").Operation.Steps, "a refused step does not count")

	// Once caught up, the new leader carries on from the committed state.
	h.agent("A")
	p := h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCompleted, h.app("A").Operation.Status)
	require.Len(t, h.view("A").live, 1)
}

func TestPlan_StaleFinishIsRefused(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	h.scale("A", 1, 4)
	before := h.app("A")
	h.step("A") // places one instance; Steps 0 → 1

	requireConflict(t, h.commit(before, stepPlan{finish: finished(model.OpCompleted, "", nil)}))
	require.NotNil(t, h.app("A").ActiveOperation(), "an end decided on an outdated view is refused")

	h.agent("A")
	h.runUntilIdle("A")
	require.Equal(t, model.OpCompleted, h.app("A").Operation.Status)
}

// ---- failures ----

func TestPlan_TooManyFailuresScalesWithJobsTotal(t *testing.T) {
	for _, tc := range []struct{ jobs, failed int }{{0, 2}, {1, 2}, {3, 6}} {
		op := &model.OperationRecord{JobsTotal: tc.jobs}
		require.False(t, tooManyFailures(op, tc.failed), "jobs=%d failed=%d", tc.jobs, tc.failed)
		require.True(t, tooManyFailures(op, tc.failed+1), "jobs=%d failed=%d", tc.jobs, tc.failed+1)
	}
}

// Instances the controller stops as failed (timed out) keep their reason
// whatever the executor reports afterwards, so they are counted and the
// operation fails after jobRetryCount failures per job instead of retrying
// forever.
func TestPlan_ControllerFailuresAreCountedAndEndTheOperation(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	op := h.scale("A", 1, 1)
	require.Equal(t, 1, h.app("A").Operation.JobsTotal)
	var placed []string
	for i := 0; i < 40; i++ {
		p := h.step("A")
		if p.finish != nil {
			break
		}
		if len(p.replaces) > 0 {
			placed = append(placed, liveIDs(h.view("A"))...)
		}
		for id := range p.fail {
			r := h.rec(id)
			require.True(t, r.StopRequested)
			require.Contains(t, r.FailReason, "did not become healthy")
		}
		// executor: accepts, never becomes healthy; stops when asked, without an error of its own
		for _, r := range h.f.Instances(nil) {
			switch {
			case r.Info.State.IsTerminal():
			case r.StopRequested:
				h.report(r.Info.InstanceID, model.InstanceStopping, "")
				h.report(r.Info.InstanceID, model.InstanceStopped, "")
			case r.Info.State == model.InstancePending:
				h.report(r.Info.InstanceID, model.InstanceUnready, "")
			}
		}
		h.tick(61 * time.Second)
	}
	app := h.app("A")
	require.Nil(t, app.ActiveOperation(), "the operation still runs after %d timed-out starts", len(placed))
	require.Equal(t, model.OpFailed, app.Operation.Status)
	require.Contains(t, app.Operation.Message, "3 instance starts failed")
	require.Len(t, placed, 3, "jobRetryCount=2: the third failure ends a 1-job operation")
	for _, id := range placed {
		r := h.rec(id)
		require.Equal(t, model.InstanceStopped, r.Info.State)
		require.Empty(t, r.Info.ErrorMessage)
		require.NotEmpty(t, r.FailReason, "%s: the controller's reason survives the executor's reports", id)
	}
	_, failed := h.view("A").jobCounts(op.ID)
	require.Equal(t, 3, failed)
}

// A cancelled SCALE whose only in-flight instance is failing finishes in
// the same pass; the finish command must still stop it.
func TestPlan_FinishCarriesFailingStops(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 1, 1)
	h.scale("A", 2, 4)
	require.Len(t, h.step("A").replaces, 1)
	bad := h.view("A").starting[0].Info.InstanceID
	h.report(bad, model.InstanceUnhealthy, "")
	h.cancel("A")

	p := h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCancelled, p.finish.Status)
	require.Contains(t, p.fail, bad)
	app := h.app("A")
	require.Nil(t, app.ActiveOperation())
	require.Equal(t, 1, app.Instances, "desired is set to the healthy count")
	r := h.rec(bad)
	require.True(t, r.StopRequested, "the failing instance is stopped as the op ends")
	require.Equal(t, "instance became unhealthy", r.FailReason)
	require.Len(t, h.view("A").live, app.Instances)
}

// ---- STOP_INSTANCES (skipRespawn) ----

func startStop(h *opHarness, appID string, ids []string, par int) model.OperationRecord {
	h.t.Helper()
	op := h.newOp(appID, model.OpStopInstances, model.OpStopInstances, par)
	op.InstanceIDs, op.SkipRespawn, op.JobsTotal = ids, true, len(ids)
	require.Nil(h.t, h.start(appID, op, max(h.app(appID).Instances-len(ids), 0), model.AppStopInstancesRequested))
	return op
}

func TestPlan_StopStopsTargetsWithinParallelism(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 3, 4)
	ids := liveIDs(h.view("A"))
	startStop(h, "A", ids[:2], 1)
	require.Equal(t, 1, h.app("A").Instances, "desired is lowered when the stop is accepted")

	require.Equal(t, []string{ids[0]}, h.step("A").stop)
	require.True(t, h.step("A").empty(), "parallelism 1: nothing while one is stopping")
	h.agent("A")
	require.Equal(t, []string{ids[1]}, h.step("A").stop)
	h.agent("A")
	p := h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCompleted, p.finish.Status)
	app := h.app("A")
	require.Equal(t, 1, app.Instances)
	require.Equal(t, model.AppRunning, app.State)
	require.Equal(t, []string{ids[2]}, liveIDs(h.view("A")))
}

func TestPlan_StopCancelGivesUntouchedTargetsBack(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 3, 4)
	ids := liveIDs(h.view("A"))
	startStop(h, "A", ids[:2], 1)
	require.Equal(t, []string{ids[0]}, h.step("A").stop)
	h.cancel("A")
	p := h.step("A")
	require.Nil(t, p.finish, "waits for the stop in flight")
	require.Empty(t, p.stop, "starts no new stop once cancelled")
	h.agent("A")
	p = h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCancelled, p.finish.Status)
	app := h.app("A")
	require.Equal(t, 2, app.Instances, "the target not stopped is desired again")
	require.Equal(t, []string{ids[1], ids[2]}, liveIDs(h.view("A")))
}

// STOP_INSTANCES with skipRespawn ends with the desired count the user
// asked for (old desired - targets), not the live count: an unrelated
// instance lost meanwhile is still desired (the outage monitor recovers it).
func TestPlan_StopSkipRespawnKeepsDesiredOnUnrelatedLoss(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 3, 4)
	ids := liveIDs(h.view("A"))
	startStop(h, "A", ids[:1], 1)
	h.step("A")
	h.report(ids[1], model.InstanceLost, "container exited with code 137") // unrelated loss
	h.runUntilIdle("A")
	app := h.app("A")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, 2, app.Instances, "user asked 3-1=2")
	require.Len(t, h.view("A").live, 1, "so the outage monitor sees 1 live of 2 desired")
}

// ---- REPLACE_INSTANCES ----

func startReplace(h *opHarness, appID string, ids []string, par int, stopFirst bool) model.OperationRecord {
	h.t.Helper()
	op := h.newOp(appID, model.OpReplaceInstances, model.OpReplaceInstances, par)
	op.InstanceIDs, op.StopFirst, op.JobsTotal = ids, stopFirst, len(ids)
	require.Nil(h.t, h.start(appID, op, h.app(appID).Instances, model.AppReplaceInstancesRequested))
	return op
}

// replacementOf is the live instance placed to replace old.
func replacementOf(h *opHarness, appID, old string) (model.InstanceRecord, bool) {
	for _, r := range h.view(appID).live {
		if r.Info.Metadata[metaReplaces] == old {
			return r, true
		}
	}
	return model.InstanceRecord{}, false
}

func TestPlan_ReplaceNewFirstRunsToCompletion(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	ids := liveIDs(h.view("A"))
	op := startReplace(h, "A", ids, 1, false)

	for _, old := range ids {
		p := h.step("A")
		require.Equal(t, []string{old}, p.replaces, "new first: a replacement for %s", old)
		require.Empty(t, p.stop)
		require.True(t, h.step("A").empty(), "waits for the replacement to become healthy")
		h.agent("A")
		p = h.step("A")
		require.Equal(t, []string{old}, p.stop, "replacement healthy: the old one stops")
		require.Empty(t, p.replaces, "parallelism 1: the next pair waits")
		require.True(t, h.step("A").empty(), "waits for the old one to stop")
		h.agent("A")
		h.tick(time.Second)
	}
	p := h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCompleted, p.finish.Status)
	app := h.app("A")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, model.AppRunning, app.State)
	require.Equal(t, 2, app.Instances)
	v := h.view("A")
	require.Len(t, v.healthy, 2)
	for _, r := range v.healthy {
		require.Contains(t, ids, r.Info.Metadata[metaReplaces])
		require.Equal(t, op.ID, r.Info.Metadata[metaOperation])
	}
	for _, id := range ids {
		require.Equal(t, model.InstanceStopped, h.rec(id).Info.State)
	}
	done, failed := v.jobCounts(op.ID)
	require.Equal(t, 2, done)
	require.Zero(t, failed)
}

func TestPlan_ReplaceStopFirstRunsToCompletion(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	ids := liveIDs(h.view("A"))
	op := startReplace(h, "A", ids, 1, true)

	for _, old := range ids {
		p := h.step("A")
		require.Equal(t, []string{old}, p.stop, "stop first: %s stops before its replacement starts", old)
		require.Empty(t, p.replaces)
		require.True(t, h.step("A").empty(), "waits for %s to stop", old)
		h.agent("A")
		p = h.step("A")
		require.Equal(t, []string{old}, p.replaces, "old one gone: its replacement is placed")
		require.Empty(t, p.stop, "parallelism 1: the next pair waits")
		require.True(t, h.step("A").empty(), "waits for the replacement to become healthy")
		h.agent("A")
		h.tick(time.Second)
	}
	p := h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCompleted, p.finish.Status)
	v := h.view("A")
	require.Len(t, v.healthy, 2)
	require.Equal(t, 2, h.app("A").Instances)
	done, failed := v.jobCounts(op.ID)
	require.Equal(t, 2, done)
	require.Zero(t, failed)
}

func TestPlan_ReplaceRetriesFailedReplacement(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 1, 1)
	old := liveIDs(h.view("A"))[0]
	op := startReplace(h, "A", []string{old}, 1, false)
	require.Len(t, h.step("A").replaces, 1)
	r0, ok := replacementOf(h, "A", old)
	require.True(t, ok)
	h.report(r0.Info.InstanceID, model.InstanceUnhealthy, "")

	p := h.step("A")
	require.Contains(t, p.fail, r0.Info.InstanceID)
	require.Equal(t, []string{old}, p.replaces, "a new replacement is placed for the failed one")
	require.Empty(t, p.stop, "the old instance keeps running")
	h.runUntilIdle("A")
	require.Equal(t, model.OpCompleted, h.app("A").Operation.Status)
	_, failed := h.view("A").jobCounts(op.ID)
	require.Equal(t, 1, failed)
	require.Len(t, h.view("A").healthy, 1)
	require.Equal(t, model.InstanceStopped, h.rec(old).Info.State)
}

// REPLACE stopFirst cancelled after an old instance stopped but before its
// replacement was placed: the replacement is owed and still placed, so the
// app does not end one instance short.
func TestPlan_StopFirstCancelStillPlacesOwedReplacement(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	ids := liveIDs(h.view("A"))
	startReplace(h, "A", ids, 1, true)
	require.Equal(t, []string{ids[0]}, h.step("A").stop)
	h.agent("A") // ids[0] STOPPED
	h.cancel("A")

	p := h.step("A")
	require.Nil(t, p.finish, "the in-flight pair is not finished yet")
	require.Equal(t, []string{ids[0]}, p.replaces, "owed replacement placed although cancelled")
	require.Empty(t, p.stop, "no new pair starts once cancelled")
	h.runUntilIdle("A")
	app := h.app("A")
	require.Equal(t, model.OpCancelled, app.Operation.Status)
	require.Contains(t, app.Operation.Message, "1 instances not replaced")
	require.Equal(t, 2, app.Instances)
	require.Len(t, h.view("A").live, app.Instances, "cancel lets the in-flight stop+start pair finish")
	require.Contains(t, liveIDs(h.view("A")), ids[1], "the pair not started is left alone")
}

// REPLACE parallelism counts every pair in progress, wherever it is in
// InstanceIDs, before placing: a pair whose replacement died while a later
// pair is in progress does not put two replacements in flight at
// parallelism 1.
func TestPlan_ReplaceRespectsParallelism(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	ids := liveIDs(h.view("A"))
	op := startReplace(h, "A", ids, 1, false)
	// pair 0 to completion
	for i := 0; i < 5 && !h.rec(ids[0]).Info.State.IsTerminal(); i++ {
		h.step("A")
		h.agent("A")
	}
	require.Equal(t, model.InstanceStopped, h.rec(ids[0]).Info.State)
	require.Equal(t, []string{ids[1]}, h.step("A").replaces, "pair 1 starts")
	// pair 0's replacement dies
	r0, ok := replacementOf(h, "A", ids[0])
	require.True(t, ok)
	require.Equal(t, model.InstanceHealthy, r0.Info.State)
	h.report(r0.Info.InstanceID, model.InstanceLost, "container exited")

	for i := 0; i < 30 && h.app("A").ActiveOperation() != nil; i++ {
		p := h.step("A")
		inFlight := len(h.view("A").starting)
		require.LessOrEqual(t, inFlight, op.Parallelism,
			"parallelism %d but %d replacements starting after step %d (plan places for %v): planReplace places an owed "+
				"replacement (pairPlaceOwed) without checking the parallelism budget", op.Parallelism, inFlight, i, p.replaces)
		h.agent("A")
		h.tick(time.Second)
	}
	app := h.app("A")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Len(t, h.view("A").healthy, 2, "pair 0 was redone")
}

// ---- superseded operations ----

// An instance started by a superseded SCALE that never becomes healthy
// times out under the new SCALE (counted from the new op's start), so it
// cannot hold the new operation up forever.
func TestPlan_SupersededStuckInstanceTimesOut(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	a := h.scale("A", 1, 4)
	h.step("A")
	x := liveIDs(h.view("A"))[0]
	require.Equal(t, a.ID, h.rec(x).Info.Metadata[metaOperation])
	h.report(x, model.InstanceStarting, "") // and stays there
	h.tick(30 * time.Second)
	b := h.scale("A", 1, 4) // SCALE again: supersedes a

	h.tick(50 * time.Second) // 80s after x was placed, 50s into b
	p := h.step("A")
	require.True(t, p.empty(), "x has had only 50s of b's 60s timeout: %+v", p)

	h.tick(11 * time.Second)
	p = h.step("A")
	require.Contains(t, p.fail, x, "x timed out under b")
	require.Len(t, p.replaces, 1, "and is replaced in the same step")
	require.True(t, h.rec(x).StopRequested)
	require.Contains(t, h.rec(x).FailReason, "did not become healthy")

	h.runUntilIdle("A") // the agent leaves x STARTING until asked to stop
	app := h.app("A")
	require.Equal(t, b.ID, app.Operation.ID)
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, model.InstanceStopped, h.rec(x).Info.State)
	v := h.view("A")
	require.Len(t, v.healthy, 1)
	done, failed := v.jobCounts(b.ID)
	require.Equal(t, 1, done)
	require.Zero(t, failed, "x was a's job")
}

// With nothing ever becoming healthy, the superseding SCALE still ends.
func TestPlan_SupersedingScaleEndsEvenIfNothingStarts(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	h.scale("A", 1, 4)
	h.step("A")
	x := liveIDs(h.view("A"))[0]
	h.report(x, model.InstanceStarting, "")
	b := h.scale("A", 1, 4)
	for i := 0; i < 20 && h.app("A").ActiveOperation() != nil; i++ {
		h.tick(10 * time.Minute)
		h.step("A")
	}
	app := h.app("A")
	require.Nil(t, app.ActiveOperation(), "op %s still running 200 minutes later; %s still %s",
		b.ID, x, h.rec(x).Info.State)
	require.Equal(t, model.OpFailed, app.Operation.Status)
}

// ---- submit-time decisions ----

// RECOVER (like STOP_INSTANCES skipRespawn) carries a desired count
// computed from a read; it is refused if the app changed in between, so a
// stale RECOVER cannot revert a user's SCALE.
func TestPlan_RecoverRefusedWhenAppChangedMeanwhile(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 3, 4)
	ids := liveIDs(h.view("A"))
	h.report(ids[0], model.InstanceLost, "executor lost")
	seen := h.app("A") // outage monitor reads: desired 3, live 2, no op
	h.tick(time.Millisecond)
	h.scale("A", 2, 4) // user: SCALE to 2
	h.step("A")        // completes at once (live == 2)
	require.Nil(t, h.app("A").ActiveOperation())
	require.Equal(t, model.OpCompleted, h.app("A").Operation.Status)

	rec := h.newOp("A", model.OpRecover, model.OpRecover, 4)
	rec.RequiredInstances = seen.Instances
	requireConflict(t, h.apply(fsm.AppOperationStartType, fsm.AppOperationStartRequest{AppID: "A", Op: rec,
		Desired: seen.Instances, State: model.AppOutageDetected, ExpectVersion: seen.Version, Timestamp: h.ts()}))
	app := h.app("A")
	require.Equal(t, 2, app.Instances, "the user's SCALE to 2 stands")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.NotEqual(t, rec.ID, app.Operation.ID)

	// Re-planned from a fresh read, it is accepted.
	fresh := h.app("A")
	rec2 := h.newOp("A", model.OpRecover, model.OpRecover, 4)
	rec2.RequiredInstances = fresh.Instances
	require.Nil(t, h.apply(fsm.AppOperationStartType, fsm.AppOperationStartRequest{AppID: "A", Op: rec2,
		Desired: fresh.Instances, State: model.AppOutageDetected, ExpectVersion: fresh.Version, Timestamp: h.ts()}))
	require.Equal(t, rec2.ID, h.app("A").Operation.ID)
	require.Equal(t, 2, h.app("A").Instances)
}

// START_INSTANCES n asks for n more than desired, whatever is healthy at the
// moment (with an unhealthy or starting instance around, it must never
// scale the app down).
func TestPlan_StartInstancesAddsToDesired(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 3, 4)
	ids := liveIDs(h.view("A"))
	h.report(ids[0], model.InstanceUnhealthy, "") // outage monitor has not acted yet
	one := 1

	n, err := (&api{}).targetCount(h.app("A"), model.OpStartInstances, appOperationBody{Instances: &one}, h.view("A"))
	require.NoError(t, err)
	require.Equal(t, 4, n, "START_INSTANCES 1 on desired 3")

	cfg := DefaultControllerConfig()
	a := &api{c: &Controller{cfg: cfg, fsm: h.f}, fsm: h.f}
	timeout := model.NewDuration(time.Minute)
	app := h.app("A")
	req, err := a.planOperation(app, model.OpStartInstances,
		appOperationBody{Type: string(model.OpStartInstances), AppID: "A", Instances: &one, OpSpec: &opSpecBody{Timeout: &timeout}})
	require.NoError(t, err)
	require.Equal(t, 4, req.Desired)
	require.Equal(t, 4, req.Op.RequiredInstances)
	require.Equal(t, model.OpScale, req.Op.Type)
	require.Equal(t, model.OpStartInstances, req.Op.Source)
	require.Equal(t, 1, req.Op.JobsTotal)
	require.Equal(t, app.Version, req.ExpectVersion)

	req.Op.Started, req.Timestamp = h.ts(), h.ts() // the harness's clock
	require.Nil(t, h.apply(fsm.AppOperationStartType, req))
	h.runUntilIdle("A")
	app = h.app("A")
	require.Equal(t, model.OpCompleted, app.Operation.Status)
	require.Equal(t, 4, app.Instances)
	require.Len(t, h.view("A").healthy, 4, "the unhealthy instance was replaced and one added")
}

// ---- stops and the executor ----

// Stopping an instance that is still PENDING waits for its executor (a
// START may already be on its way); the op does not end before it reports.
func TestPlan_StopOfPendingInstanceWaitsForExecutor(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 0, 1)
	h.scale("A", 1, 4)
	h.step("A")
	x := liveIDs(h.view("A"))[0]
	h.scale("A", 0, 4)
	require.Equal(t, []string{x}, h.step("A").stop)
	r := h.rec(x)
	require.True(t, r.StopRequested)
	require.Equal(t, model.InstancePending, r.Info.State, "not short-circuited to STOPPED")
	require.True(t, h.step("A").empty())
	require.NotNil(t, h.app("A").ActiveOperation())
	h.report(x, model.InstanceStopped, "")
	p := h.step("A")
	require.NotNil(t, p.finish)
	require.Equal(t, model.OpCompleted, h.app("A").Operation.Status)
	require.Equal(t, model.AppMonitoring, h.app("A").State)
}

// An instance asked to stop that its executor no longer has (the agent
// restarted) is reported STOPPED by the executor under its new boot, which
// unwedges the cancelled operation.
func TestEngine_ForgottenStopIsReportedStoppedByRestartedExecutor(t *testing.T) {
	h := newOpHarness(t)
	h.create("A", 2, 4)
	h.scale("A", 1, 4)
	stop := h.step("A").stop // executor restarts before it stops it
	require.Len(t, stop, 1)
	h.cancel("A")
	for i := 0; i < 5; i++ {
		h.tick(time.Hour)
		require.True(t, h.step("A").empty())
	}
	require.NotNil(t, h.app("A").ActiveOperation(), "waits for the executor's word")

	// The restarted agent (boot 2) answers the stop with a STOPPED report (seq 1).
	r := h.rec(stop[0])
	info := model.InstanceInfo{AppID: r.Spec.AppID, AppName: r.Spec.AppName, InstanceID: r.Spec.InstanceID,
		ExecutorID: r.Info.ExecutorID, LocalInfo: model.LocalInstanceInfo{Hostname: r.Info.LocalInfo.Hostname},
		Metadata: map[string]string{}, State: model.InstanceStopped, Created: h.ts(), Updated: h.ts()}
	require.Equal(t, 1, h.apply(fsm.InstanceReportType, fsm.InstanceReportRequest{ExecutorID: r.Info.ExecutorID,
		Reports: []model.InstanceReport{{Info: info, Boot: 2, Seq: 1}}, Timestamp: h.ts()}))
	require.Equal(t, model.InstanceStopped, h.rec(stop[0]).Info.State)

	p := h.step("A")
	require.NotNil(t, p.finish)
	app := h.app("A")
	require.Equal(t, model.OpCancelled, app.Operation.Status)
	require.Equal(t, 1, app.Instances)
	require.Len(t, h.view("A").live, 1)
}

// ---- snapshot ----

type bufSink struct{ bytes.Buffer }

func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Cancel() error { return nil }
func (s *bufSink) Close() error  { return nil }

const kitchenSinkSpec = `
{
  "name": "ORDER_SVC", "version": "3", "type": "SERVICE",
  "executable": { "type": "DOCKER", "url": "ghcr.io/acme/order-svc:1.4.2", "dockerPullTimeout": "5 minutes" },
  "exposedPorts": [ { "name": "main", "port": 8080, "type": "HTTP" }, { "name": "admin", "port": 8081, "type": "HTTP" } ],
  "volumes": [ { "pathInContainer": "/data", "pathOnHost": "/tmp/order-svc", "mode": "READ_WRITE" } ],
  "configs": [
    { "type": "INLINE", "localFilename": "/etc/app/app.yml", "data": "cG9ydDogODA4MAo=" },
    { "type": "EXECUTOR_LOCAL_FILE", "localFilename": "/etc/app/host.txt", "filePathOnHost": "/etc/hostname" },
    { "type": "CONTROLLER_HTTP_FETCH", "localFilename": "/etc/app/remote.yml",
      "http": { "protocol": "HTTPS", "hostname": "config.internal", "port": 443, "path": "/v1/order-svc.yml",
                "verb": "GET", "successCodes": [200], "connectionTimeout": "1 second", "operationTimeout": "5 seconds",
                "headers": { "X-Env": "prod" }, "insecure": false } },
    { "type": "EXECUTOR_HTTP_FETCH", "localFilename": "/etc/app/flags.json",
      "http": { "protocol": "HTTP", "hostname": "flags.internal", "port": 80, "path": "/flags", "verb": "GET" } }
  ],
  "logging": { "type": "RSYSLOG", "server": "udp://rsyslog.internal:514", "tagPrefix": "order-", "tagSuffix": "-prod" },
  "resources": [ { "type": "CPU", "count": 2 }, { "type": "MEMORY", "sizeInMB": 1024 } ],
  "placementPolicy": { "type": "COMPOSITE", "combiner": "AND",
                       "policies": [ { "type": "MAX_N_PER_HOST", "max": 2 }, { "type": "MATCH_TAG", "tag": "ssd" } ] },
  "healthcheck": { "mode": { "type": "HTTP", "protocol": "HTTP", "portName": "admin", "path": "/healthcheck",
                             "verb": "GET", "successCodes": [200], "connectionTimeout": "1 second", "insecure": false },
                   "timeout": "2 seconds", "interval": "10 seconds", "attempts": 3, "initialDelay": "5 seconds" },
  "readiness": { "mode": { "type": "CMD", "command": "curl -sf localhost:8080/ready", "shellDisabled": false },
                 "timeout": "3 seconds", "interval": "3 seconds", "attempts": 20, "initialDelay": "10 seconds" },
  "tags": { "team": "payments" },
  "env": { "JAVA_OPTS": "-Xmx768m", "DC": "" },
  "args": [ "--server.port=8080" ],
  "devices": [ { "type": "DIRECT", "pathOnHost": "/dev/fuse", "pathInContainer": "/dev/fuse", "permissions": "READ_WRITE" } ],
  "exposureSpec": { "vhost": "orders.internal", "portName": "main", "mode": "ALL" },
  "preShutdown": { "hooks": [ { "type": "HTTP", "protocol": "HTTP", "portName": "admin", "path": "/deregister",
                                "verb": "POST", "successCodes": [200], "payload": "{}" },
                              { "type": "CMD", "command": "sleep 1" } ],
                   "waitBeforeKill": "10 seconds" },
  "userSpec": { "user": "1000", "group": "1000" }
}
`

// A snapshot of a full application (every spec field), its running
// operation (step count, jobs) and an instance the controller failed
// restores to exactly the same state.
func TestPlan_SnapshotRoundTripOfFullApp(t *testing.T) {
	h := newOpHarness(t)
	var spec model.ApplicationSpec
	require.NoError(t, json.Unmarshal([]byte(kitchenSinkSpec), &spec))
	op := h.newOp(spec.AppID(), model.OpScale, model.OpCreate, 2)
	op.RequiredInstances, op.InstanceIDs, op.StopFirst, op.CancelRequested = 2, []string{"x"}, true, true
	op.JobsTotal = 2
	require.Nil(t, h.apply(fsm.AppCreateType, fsm.AppCreateRequest{App: model.ApplicationInfo{AppID: spec.AppID(), Spec: spec,
		Instances: 2, State: model.AppScalingRequested, Operation: &op, Metadata: map[string]string{"k": "v"}}, Timestamp: h.ts()}))
	app := h.app(spec.AppID())
	is := instanceSpec(app, "AI-1", scheduler.Placement{ExecutorID: "E1"})
	require.Nil(t, h.apply(fsm.AppOperationStepType, fsm.AppOperationStepRequest{AppID: app.AppID, OpID: op.ID, Step: 0,
		Place: []fsm.PlaceInstance{{Spec: is, ExecutorID: "E1", Metadata: map[string]string{metaOperation: op.ID}}}, Timestamp: h.ts()}))
	h.report("AI-1", model.InstanceUnhealthy, "boom")
	h.tick(time.Second)
	require.Nil(t, h.apply(fsm.AppOperationStepType, fsm.AppOperationStepRequest{AppID: app.AppID, OpID: op.ID, Step: 1,
		Fail: map[string]string{"AI-1": "instance became unhealthy"}, Timestamp: h.ts()}))
	app = h.app(spec.AppID())
	require.Equal(t, 2, app.Operation.Steps)
	require.Equal(t, "instance became unhealthy", h.rec("AI-1").FailReason)

	snap, err := h.f.Snapshot()
	require.NoError(t, err)
	s := &bufSink{}
	require.NoError(t, snap.Persist(s))
	g, err := fsm.New(fsm.DefaultConfig())
	require.NoError(t, err)
	require.NoError(t, g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))))
	a2, ok := g.Application(app.AppID)
	require.True(t, ok)
	require.Equal(t, app, a2)
	require.Equal(t, h.f.Instances(nil), g.Instances(nil))
	require.Equal(t, h.f.Executors(), g.Executors())
}
