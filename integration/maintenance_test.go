package integration

// Maintenance (docs/maintenance.md) on the fake runtime: blacklisting with
// new-first migration, draining with bounded kill grace and markGone,
// deactivation, the Mesos-style schedule and machine modes, and cluster
// maintenance mode.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/require"
)

// requireEventsInOrder requires want to appear in got in that order
// (other events may come between).
func requireEventsInOrder(t testing.TB, got []model.EventType, want ...model.EventType) {
	t.Helper()
	k := 0
	for _, e := range got {
		if k < len(want) && e == want[k] {
			k++
		}
	}
	require.Equal(t, len(want), k, "events %v do not contain %v in order", got, want)
}

// idsOnExecutor returns the ids in byExec on executor id, sorted.
func idsOnExecutor(byExec map[string]string, id string) []string {
	var out []string
	for in, e := range byExec {
		if e == id {
			out = append(out, in)
		}
	}
	sort.Strings(out)
	return out
}

func TestMaintenance_BlacklistMigratesNewFirst(t *testing.T) {
	// Starts take a while, so the migration spans many samples.
	tc, _ := maintCluster(t, 3, func(s *execSpec) { s.startDelay = 200 * time.Millisecond })
	apps := createSpreadApps(t, tc, "BL", 5, 4)
	before := appInstancesByExecutor(t, tc, apps)
	require.Len(t, before, 20)
	target := mostLoaded(before)
	had := map[string]int{} // app -> its instances on target
	for _, id := range apps {
		had[id] = len(idsOnExecutor(appInstancesByExecutor(t, tc, []string{id}), target))
	}
	require.Equal(t, model.ExecutorActive, summaryOf(t, tc, target).State)

	r := postBlacklist(t, tc, true, target)
	requireSuccess(t, r)
	var res model.BlacklistResult
	r.data(t, &res)
	require.Equal(t, []string{target}, res.Successful)
	require.Empty(t, res.Failed)
	require.Positive(t, res.ApproxCompletionTimeMs)
	require.Equal(t, model.ExecutorBlacklistRequested, summaryOf(t, tc, target).State, "answered once committed, before the migration")

	// Healthy never drops below desired for any app until BLACKLISTED.
	h := newHealthSampler()
	done := sampleUntil(30*time.Second, 100*time.Millisecond, func() { h.sample(t, tc, nil) },
		func() bool { return executorIs(tc, target, model.ExecutorBlacklisted) })
	require.True(t, done, "%s never BLACKLISTED", target)
	require.Empty(t, h.violations, "new first: healthy >= desired at every sample")
	t.Logf("%d samples, lowest healthy/desired %.2f", h.samples, h.minFrac)
	requireEventsInOrder(t, executorEvents(t, tc, target), model.EventExecutorBlacklistRequested, model.EventExecutorBlacklisted)

	ins, _, _ := liveInstancesOn(t, tc, target)
	require.Empty(t, ins, "no application instance left on %s", target)
	for _, id := range apps {
		waitAppTB(t, tc, id, model.AppRunning, 4, 15*time.Second)
		require.Positive(t, had[id], "spread: app %s had an instance on %s", id, target)
		op := getOp(t, tc, id)
		require.Equal(t, server.OpMigrate, op.Source, "app %s", id)
		require.Equal(t, model.OpCompleted, op.Status, "app %s: %s", id, op.Message)
		require.Len(t, op.InstanceIDs, had[id], "app %s: its instances on %s", id, target)
	}

	// A scale-up places nothing on the blacklisted executor.
	appOp(t, tc, tc.follower(), map[string]any{"type": "SCALE", "appId": apps[0], "requiredInstances": 8, "opSpec": opSpec(4)})
	waitAppTB(t, tc, apps[0], model.AppRunning, 8, 15*time.Second)
	require.Empty(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps[:1]), target))

	// Unblacklisting makes it ACTIVE and moves nothing back.
	stay := appInstancesByExecutor(t, tc, apps)
	requireSuccess(t, postBlacklist(t, tc, false, target))
	require.Equal(t, model.ExecutorActive, summaryOf(t, tc, target).State)
	requireEventsInOrder(t, executorEvents(t, tc, target), model.EventExecutorBlacklisted, model.EventExecutorUnBlacklisted)
	holdsFor(t, 1500*time.Millisecond, 100*time.Millisecond, func() bool { return maps.Equal(stay, appInstancesByExecutor(t, tc, apps)) },
		"running apps are not moved back")
}

func TestMaintenance_BulkBlacklistMigratesEachAppOnce(t *testing.T) {
	tc, _ := maintCluster(t, 4, nil)
	apps := createSpreadApps(t, tc, "BULK", 4, 4)
	before := map[string]map[string]string{} // app -> instance -> executor
	for _, id := range apps {
		before[id] = appInstancesByExecutor(t, tc, []string{id})
	}

	r := postBlacklist(t, tc, true, "exec-1", "exec-2", "exec-unknown")
	requireSuccess(t, r)
	var res model.BlacklistResult
	r.data(t, &res)
	require.Equal(t, []string{"exec-1", "exec-2"}, res.Successful)
	require.Equal(t, []string{"exec-unknown"}, res.Failed)

	h := newHealthSampler()
	require.True(t, sampleUntil(30*time.Second, 100*time.Millisecond, func() { h.sample(t, tc, nil) }, func() bool {
		return executorIs(tc, "exec-1", model.ExecutorBlacklisted) && executorIs(tc, "exec-2", model.ExecutorBlacklisted)
	}), "both executors BLACKLISTED")
	require.Empty(t, h.violations)

	replaces := appStateChanges(t, tc, model.AppReplaceInstancesRequested)
	for _, id := range apps {
		waitAppTB(t, tc, id, model.AppRunning, 4, 15*time.Second)
		now := appInstancesByExecutor(t, tc, []string{id})
		require.Empty(t, idsOnExecutor(now, "exec-1"))
		require.Empty(t, idsOnExecutor(now, "exec-2"))
		want := append(idsOnExecutor(before[id], "exec-1"), idsOnExecutor(before[id], "exec-2")...)
		sort.Strings(want)
		require.NotEmpty(t, want, "spread: app %s had instances on both", id)
		op := getOp(t, tc, id)
		require.Equal(t, server.OpMigrate, op.Source, "app %s", id)
		require.Equal(t, model.OpCompleted, op.Status, "app %s: %s", id, op.Message)
		got := slices.Clone(op.InstanceIDs)
		sort.Strings(got)
		require.Equal(t, want, got, "app %s: one migration covering its instances on both executors", id)
		require.Equal(t, 1, replaces[id], "app %s migrated once", id)
	}
}

// instanceIDsOf lists every instance id (any state) of an app.
func instanceIDsOf(t testing.TB, tc *testCluster, appID string) []string {
	t.Helper()
	var out []string
	for _, in := range appInstances(t, tc, appID, allInstanceStates) {
		out = append(out, in.InstanceID)
	}
	return out
}

func TestMaintenance_BlacklistLeavesTasksStopsLocalServices(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil)
	const svc = "BL_LS-1"
	serviceOpOK(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": serviceSpec("BL_LS", "1", false), "instancesPerHost": 1})
	serviceOpOK(t, tc, tc.follower(), map[string]any{"type": "ACTIVATE", "serviceId": svc})
	waitServiceSettled(t, tc, svc, model.LSActive, 2, 15*time.Second)
	r := tc.call(tc.follower(), readWrite, "POST", "/apis/v1/tasks/operations", map[string]any{"type": "CREATE", "spec": maintTask("BL_TASK", "t1")})
	requireSuccess(t, r)
	var task model.TaskInfo
	waitUntil(t, func() bool {
		task = maintTaskInfo(t, tc, "BL_TASK", "t1")
		return task.State == model.TaskRunning
	}, 10*time.Second, 50*time.Millisecond, "task running")
	target := task.ExecutorID

	requireSuccess(t, postBlacklist(t, tc, true, target))
	waitExecutorState(t, tc, target, model.ExecutorBlacklisted, 15*time.Second)
	_, tasks, services := liveInstancesOn(t, tc, target)
	require.Empty(t, services, "the local-service instance on %s is stopped", target)
	require.Equal(t, []string{task.InstanceID}, tasks, "the task is left alone")
	after := maintTaskInfo(t, tc, "BL_TASK", "t1")
	require.Equal(t, model.TaskRunning, after.State)
	require.Equal(t, task.InstanceID, after.InstanceID)
	require.Equal(t, map[string]int{otherThan(target, "exec-1", "exec-2"): 1}, healthyPerExecutor(t, tc, svc))
	holdsFor(t, time.Second, 100*time.Millisecond, func() bool { return maintTaskInfo(t, tc, "BL_TASK", "t1").State == model.TaskRunning },
		"the task keeps running on the BLACKLISTED executor")

	// A restarted agent re-adopts the task and its executor stays BLACKLISTED.
	execs[indexOf(target)].restart(t)
	holdsFor(t, 2*time.Second, 100*time.Millisecond, func() bool {
		return executorStateOf(tc, target) == model.ExecutorBlacklisted && maintTaskInfo(t, tc, "BL_TASK", "t1").State == model.TaskRunning
	}, "blacklisting survives the executor's restart")
}

// indexOf is the index of executor exec-N in maintCluster's list.
func indexOf(id string) int {
	var n int
	_, _ = fmt.Sscanf(id, "exec-%d", &n)
	return n - 1
}

// otherThan returns the one of ids that is not id.
func otherThan(id string, ids ...string) string {
	for _, x := range ids {
		if x != id {
			return x
		}
	}
	return ""
}

// A migration that finds no room fails and is retried after the recover
// backoff; once an executor joins, the executor ends BLACKLISTED.
func TestMaintenance_BlacklistRetriesMigrationWhenNoRoom(t *testing.T) {
	tc, _ := maintCluster(t, 1, nil, func(c *server.ControllerConfig) { c.RecoverBackoff = time.Second })
	apps := createSpreadApps(t, tc, "NOROOM", 1, 1)
	requireSuccess(t, postBlacklist(t, tc, true, "exec-1"))
	waitUntil(t, func() bool {
		op := getOp(t, tc, apps[0])
		return op.Source == server.OpMigrate && op.Status == model.OpFailed
	}, 15*time.Second, 50*time.Millisecond, "the migration fails: no room")
	require.Equal(t, model.ExecutorBlacklistRequested, executorStateOf(tc, "exec-1"))
	waitAppTB(t, tc, apps[0], model.AppRunning, 1, 5*time.Second)
	require.Len(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1"), 1, "nothing stopped")

	startMaintExecutor(t, tc, execSpec{id: "exec-2", host: "127.0.0.12"})
	waitExecutorState(t, tc, "exec-1", model.ExecutorBlacklisted, 20*time.Second)
	waitAppTB(t, tc, apps[0], model.AppRunning, 1, 5*time.Second)
	require.Len(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-2"), 1)
}

func TestMaintenance_BlacklistInMaintenanceMode(t *testing.T) {
	tc, _ := maintCluster(t, 2, nil)
	setMaintenance(t, tc, true)
	for _, on := range []bool{true, false} {
		r := postBlacklist(t, tc, on, "exec-1", "exec-2")
		require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
		require.Equal(t, "FAILED", r.Env.Status)
		require.Equal(t, "Cluster is in maintenance mode", r.Env.Message)
		var res model.BlacklistResult
		r.data(t, &res)
		require.Empty(t, res.Successful)
		require.Equal(t, []string{"exec-1", "exec-2"}, res.Failed)
	}
	requireRefused(t, postDrain(t, tc, "exec-1", map[string]any{}), "Cluster is in maintenance mode")
	for _, id := range []string{"exec-1", "exec-2"} {
		s := summaryOf(t, tc, id)
		require.Equal(t, model.ExecutorActive, s.State)
		require.Empty(t, s.DrainState)
	}
	setMaintenance(t, tc, false)
	requireSuccess(t, postBlacklist(t, tc, true, "exec-1"))
	waitExecutorState(t, tc, "exec-1", model.ExecutorBlacklisted, 10*time.Second)
}

func TestMaintenance_DrainWithGracePeriods(t *testing.T) {
	const agentGrace, maxGrace = 10 * time.Second, 500 * time.Millisecond
	tc, execs := maintCluster(t, 3, func(s *execSpec) {
		if s.id == "exec-1" {
			s.stopGrace = agentGrace // its containers ignore SIGTERM: each stop takes the whole grace
		}
	})
	d := execs[0]
	// Everything lands on exec-1: the others are deactivated meanwhile.
	for _, id := range []string{"exec-2", "exec-3"} {
		requireSuccess(t, postActivation(t, tc, id, true))
	}
	const app, svc = "DR-1", "DR_LS-1"
	appOp(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": testSpec("DR", "1", 1, `{"type":"ANY"}`),
		"instances": 2, "opSpec": opSpec(2)})
	waitAppTB(t, tc, app, model.AppRunning, 2, 15*time.Second)
	r := tc.call(tc.follower(), readWrite, "POST", "/apis/v1/tasks/operations", map[string]any{"type": "CREATE", "spec": maintTask("DR_TASK", "t1")})
	requireSuccess(t, r)
	serviceOpOK(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": serviceSpec("DR_LS", "1", false), "instancesPerHost": 1})
	serviceOpOK(t, tc, tc.follower(), map[string]any{"type": "ACTIVATE", "serviceId": svc})
	waitServiceSettled(t, tc, svc, model.LSActive, 1, 15*time.Second)
	for _, id := range []string{"exec-2", "exec-3"} {
		requireSuccess(t, postActivation(t, tc, id, false))
	}
	waitServiceSettled(t, tc, svc, model.LSActive, 3, 15*time.Second)
	waitUntil(t, func() bool { return maintTaskInfo(t, tc, "DR_TASK", "t1").State == model.TaskRunning },
		10*time.Second, 50*time.Millisecond)
	apps, tasks, services := liveInstancesOn(t, tc, "exec-1")
	require.Len(t, apps, 2)
	require.Len(t, tasks, 1)
	require.Len(t, services, 1)

	start := time.Now()
	r = postDrain(t, tc, "exec-1", map[string]any{"maxGracePeriod": "500 milliseconds"})
	requireSuccess(t, r)
	var s model.ExecutorSummary
	r.data(t, &s)
	require.Equal(t, model.DrainDraining, s.DrainState)
	// A drain cannot be cancelled: reactivation is refused while DRAINING.
	requireRefused(t, postActivation(t, tc, "exec-1", false), "is draining")
	requireRefused(t, postDrain(t, tc, "exec-1", map[string]any{}), "already draining")

	h := newHealthSampler()
	drained := sampleUntil(20*time.Second, 100*time.Millisecond, func() { h.sample(t, tc, map[string]bool{app: true}) },
		func() bool { return summaryOf(t, tc, "exec-1").DrainState == model.DrainDrained })
	took := time.Since(start)
	require.True(t, drained, "exec-1 never DRAINED")
	require.Empty(t, h.violations, "application instances are migrated new first")
	t.Logf("drain took %s (agent stop grace %s, maxGracePeriod %s)", took, agentGrace, maxGrace)
	graces := d.slow.stopGraces()
	require.Less(t, took, agentGrace/2, "maxGracePeriod bounds each stop's grace (graces %v)", graces)
	require.GreaterOrEqual(t, len(graces), 4, "2 app instances, the task and the local-service instance were stopped")
	for _, g := range graces {
		require.Equal(t, maxGrace, g, "every stop on the draining executor is bounded by maxGracePeriod")
	}

	apps, tasks, services = liveInstancesOn(t, tc, "exec-1")
	require.Empty(t, apps)
	require.Empty(t, tasks)
	require.Empty(t, services)
	waitAppTB(t, tc, app, model.AppRunning, 2, 10*time.Second)
	ti := maintTaskInfo(t, tc, "DR_TASK", "t1")
	require.Equal(t, model.InstanceStopped, ti.State)
	require.NotNil(t, ti.TaskResult)
	require.Equal(t, model.TaskCancelled, ti.TaskResult.Status)
	require.Equal(t, model.ExecutorActive, executorStateOf(tc, "exec-1"), "draining is not blacklisting")

	// DRAINED: reactivation brings it back into rotation.
	r = postActivation(t, tc, "exec-1", false)
	requireSuccess(t, r)
	var back model.ExecutorSummary
	r.data(t, &back)
	require.Empty(t, back.DrainState)
	require.False(t, back.Deactivated)
	waitServiceSettled(t, tc, svc, model.LSActive, 3, 15*time.Second) // a new local-service instance on exec-1
	appOp(t, tc, tc.follower(), map[string]any{"type": "SCALE", "appId": app, "requiredInstances": 3, "opSpec": opSpec(1)})
	waitAppTB(t, tc, app, model.AppRunning, 3, 15*time.Second)
	require.Len(t, idsOnExecutor(appInstancesByExecutor(t, tc, []string{app}), "exec-1"), 1, "spread: the new instance goes to exec-1")
}

// executorStateOf is the executor's stored state on the leader ("" if unknown).
func executorStateOf(tc *testCluster, id string) model.ExecutorState {
	e, _ := leaderExecutor(tc, id)
	return e.State
}

func TestMaintenance_DrainMarkGone(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil)
	apps := createSpreadApps(t, tc, "GONE", 1, 2)
	require.Len(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-2"), 1)

	requireSuccess(t, postDrain(t, tc, "exec-2", map[string]any{"markGone": true}))
	waitExecutorState(t, tc, "exec-2", model.ExecutorRemoved, 15*time.Second)
	e, _ := leaderExecutor(tc, "exec-2")
	require.True(t, e.Gone)
	require.Equal(t, model.DrainDrained, e.DrainState())
	waitAppTB(t, tc, apps[0], model.AppRunning, 2, 10*time.Second)
	require.Len(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1"), 2, "migrated before it was removed")
	require.Equal(t, model.ExecutorRemoved, summaryOf(t, tc, "exec-2").State)

	// Its id is refused for good: a restarted agent never becomes ACTIVE.
	execs[1].restart(t)
	holdsFor(t, 3*time.Second, 100*time.Millisecond, func() bool { return executorStateOf(tc, "exec-2") == model.ExecutorRemoved },
		"a gone executor cannot rejoin")
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/cluster/executors/exec-2", nil)
	requireSuccess(t, r)
	var nd model.ExecutorNodeData
	r.data(t, &nd)
	require.Equal(t, model.ExecutorRemoved, nd.ExecutorState)
	require.Equal(t, model.DrainDrained, nd.DrainState)
	// Nothing maintenance does applies to it any more.
	r = postBlacklist(t, tc, true, "exec-2")
	requireSuccess(t, r)
	var res model.BlacklistResult
	r.data(t, &res)
	require.Equal(t, []string{"exec-2"}, res.Failed)
	require.Equal(t, "No executor found with id: exec-2", postDrain(t, tc, "exec-2", map[string]any{}).Env.Message)
	require.Equal(t, "No executor found with id: exec-2", postActivation(t, tc, "exec-2", false).Env.Message)
}

// A gone executor stays refused after REMOVED executors are purged from
// the registry (RemovedExecutorRetention): "removed for good".
func TestMaintenance_MarkGoneSurvivesPurge(t *testing.T) {
	tc, _ := maintCluster(t, 2, nil, func(c *server.ControllerConfig) { c.RemovedExecutorRetention = time.Second })
	requireSuccess(t, postDrain(t, tc, "exec-2", map[string]any{"markGone": true}))
	waitExecutorState(t, tc, "exec-2", model.ExecutorRemoved, 15*time.Second)
	// The agent still runs and keeps asking to register; past the
	// retention the REMOVED entry is purged, and the id must still be refused.
	holdsFor(t, 6*time.Second, 100*time.Millisecond, func() bool { return executorStateOf(tc, "exec-2") != model.ExecutorActive },
		"a gone executor rejoined after its REMOVED entry was purged")
}

// A drain's maxGracePeriod bounds every stop on the executor, however the
// agent learns of it: here every STOP_INSTANCE message to it is lost, so
// the agent's reconciliation (expected instances) carries the stop out.
func TestMaintenance_DrainGraceSurvivesLostStopMessage(t *testing.T) {
	const agentGrace, maxGrace = 10 * time.Second, 500 * time.Millisecond
	tc, execs := maintCluster(t, 1, func(s *execSpec) { s.stopGrace = agentGrace }, func(c *server.ControllerConfig) {
		c.DropDispatch = func(m model.ExecutorMessage) bool { return m.Type == model.MsgStopInstance }
	})
	r := tc.call(tc.follower(), readWrite, "POST", "/apis/v1/tasks/operations", map[string]any{"type": "CREATE", "spec": maintTask("LOST_STOP", "t1")})
	requireSuccess(t, r)
	waitUntil(t, func() bool { return maintTaskInfo(t, tc, "LOST_STOP", "t1").State == model.TaskRunning },
		10*time.Second, 50*time.Millisecond)

	requireSuccess(t, postDrain(t, tc, "exec-1", map[string]any{"maxGracePeriod": "500 milliseconds"}))
	waitUntil(t, func() bool { return len(execs[0].slow.stopGraces()) > 0 }, 5*time.Second, 20*time.Millisecond,
		"the agent stops the task on its own reconciliation")
	require.Equal(t, []time.Duration{maxGrace}, execs[0].slow.stopGraces(), "the stop's grace is bounded by maxGracePeriod")
	waitUntil(t, func() bool { return summaryOf(t, tc, "exec-1").DrainState == model.DrainDrained },
		agentGrace/2, 100*time.Millisecond, "DRAINED within maxGracePeriod, not the agent's stop grace")
}

// Draining a blacklisted executor stops everything there, tasks included,
// and ends DRAINED, as for any executor.
func TestMaintenance_DrainOfBlacklistedExecutorCompletes(t *testing.T) {
	tc, _ := maintCluster(t, 1, nil)
	r := tc.call(tc.follower(), readWrite, "POST", "/apis/v1/tasks/operations", map[string]any{"type": "CREATE", "spec": maintTask("BD_TASK", "t1")})
	requireSuccess(t, r)
	waitUntil(t, func() bool { return maintTaskInfo(t, tc, "BD_TASK", "t1").State == model.TaskRunning },
		10*time.Second, 50*time.Millisecond)
	requireSuccess(t, postBlacklist(t, tc, true, "exec-1"))
	waitExecutorState(t, tc, "exec-1", model.ExecutorBlacklisted, 10*time.Second)

	requireSuccess(t, postDrain(t, tc, "exec-1", map[string]any{"maxGracePeriod": "1 second"}))
	drained := sampleUntil(6*time.Second, 100*time.Millisecond, func() {},
		func() bool { return summaryOf(t, tc, "exec-1").DrainState == model.DrainDrained })
	ti := maintTaskInfo(t, tc, "BD_TASK", "t1")
	require.True(t, drained, "the drain of a blacklisted executor never completed (drain %s, executor %s, task %s)",
		summaryOf(t, tc, "exec-1").DrainState, executorStateOf(tc, "exec-1"), ti.State)
	require.Equal(t, model.InstanceStopped, ti.State)
	require.Equal(t, model.TaskCancelled, ti.TaskResult.Status)
}

func TestMaintenance_DeactivateReactivate(t *testing.T) {
	tc, _ := maintCluster(t, 2, nil)
	apps := createSpreadApps(t, tc, "DEACT", 1, 2)
	app := apps[0]
	before := appInstancesByExecutor(t, tc, apps)
	require.Len(t, idsOnExecutor(before, "exec-1"), 1)

	r := postActivation(t, tc, "exec-1", true)
	requireSuccess(t, r)
	var s model.ExecutorSummary
	r.data(t, &s)
	require.True(t, s.Deactivated)
	require.Equal(t, model.ExecutorActive, s.State)
	require.True(t, summaryOf(t, tc, "exec-1").Deactivated)

	appOp(t, tc, tc.follower(), map[string]any{"type": "SCALE", "appId": app, "requiredInstances": 4, "opSpec": opSpec(2)})
	waitAppTB(t, tc, app, model.AppRunning, 4, 15*time.Second)
	now := appInstancesByExecutor(t, tc, apps)
	require.Equal(t, idsOnExecutor(before, "exec-1"), idsOnExecutor(now, "exec-1"), "nothing new on, nothing stopped on the deactivated executor")
	require.Len(t, idsOnExecutor(now, "exec-2"), 3)
	holdsFor(t, time.Second, 100*time.Millisecond, func() bool { return maps.Equal(now, appInstancesByExecutor(t, tc, apps)) },
		"deactivation stops nothing")

	requireSuccess(t, postActivation(t, tc, "exec-1", false))
	require.False(t, summaryOf(t, tc, "exec-1").Deactivated)
	appOp(t, tc, tc.follower(), map[string]any{"type": "SCALE", "appId": app, "requiredInstances": 6, "opSpec": opSpec(2)})
	waitAppTB(t, tc, app, model.AppRunning, 6, 15*time.Second)
	require.Len(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1"), 3, "spread: both new instances go to the reactivated executor")
}

func TestMaintenance_ScheduleValidation(t *testing.T) {
	tc, _ := maintCluster(t, 1, nil)
	start := time.Now().Add(time.Hour)
	h1 := model.MachineID{Hostname: "Host1"}
	exec1 := model.MachineID{Hostname: "127.0.0.11"}
	empty := getMaintSchedule(t, tc, tc.follower())
	require.JSONEq(t, `{"windows":[]}`, empty)

	refused := func(body any, msgs ...string) {
		t.Helper()
		before := getMaintSchedule(t, tc, tc.follower())
		r := postMaintSchedule(t, tc, body)
		for _, m := range msgs {
			requireRefused(t, r, m)
		}
		require.Equal(t, before, getMaintSchedule(t, tc, tc.leaderIndex()), "a refused schedule changes nothing")
	}
	refused(maintSchedule(maintWindow(start, 0)), "windows[0].machine_ids - a maintenance window must have at least one machine")
	refused(map[string]any{"windows": []any{map[string]any{"machine_ids": []any{h1}}}},
		"windows[0].unavailability - a maintenance window must have an unavailability with a start")
	refused(map[string]any{"windows": []any{map[string]any{"machine_ids": []any{h1}, "unavailability": map[string]any{}}}},
		"windows[0].unavailability - a maintenance window must have an unavailability with a start")
	refused(maintSchedule(maintWindow(start, -time.Second, h1)), "windows[0].unavailability.duration - must not be negative")
	refused(maintSchedule(maintWindow(start, 0, model.MachineID{})), "windows[0].machine_ids[0] - a machine must have a hostname or an ip")
	refused(maintSchedule(maintWindow(start, 0, model.MachineID{IP: "300.1.2.3"})),
		"windows[0].machine_ids[0] - ip 300.1.2.3 is not a valid IP address")
	refused(maintSchedule(maintWindow(start, 0, h1), maintWindow(start, 0, model.MachineID{Hostname: "host1"})),
		"windows[1].machine_ids[0] - machine host1 appears more than once in the schedule")
	// Every violation is listed.
	refused(maintSchedule(maintWindow(start, -1, model.MachineID{IP: "nope"}), maintWindow(start, 0)),
		"windows[0].unavailability.duration", "ip nope is not a valid IP address", "windows[1].machine_ids")

	// A valid schedule: every machine DRAINING, registered or not.
	ipOnly := model.MachineID{IP: "10.0.0.7"}
	valid := maintSchedule(maintWindow(start, time.Hour, exec1, h1), maintWindow(start.Add(time.Hour), 0, ipOnly))
	requireSuccess(t, postMaintSchedule(t, tc, valid))
	st := maintStatus(t, tc, tc.follower())
	require.Equal(t, map[string]model.MachineMode{"127.0.0.11": model.MachineDraining, "Host1": model.MachineDraining,
		"10.0.0.7": model.MachineDraining}, st.modes())
	require.Len(t, st.DrainingMachines, 3)
	require.Empty(t, st.DownMachines)
	require.Equal(t, []string{"exec-1"}, st.executorsOf("127.0.0.11"))
	require.Empty(t, st.executorsOf("Host1"), "a machine need not be registered")
	stored := getMaintSchedule(t, tc, tc.follower())
	require.Contains(t, stored, `"hostname":"Host1"`)
	require.Equal(t, stored, getMaintSchedule(t, tc, tc.leaderIndex()))

	// machine/down and machine/up refusals leave everything as it was.
	downRefused := func(verb string, ms []model.MachineID, msg string) {
		t.Helper()
		before, status := getMaintSchedule(t, tc, tc.follower()), maintStatus(t, tc, tc.follower()).modes()
		requireRefused(t, postMachines(t, tc, verb, ms...), msg)
		require.Equal(t, before, getMaintSchedule(t, tc, tc.leaderIndex()))
		require.Equal(t, status, maintStatus(t, tc, tc.leaderIndex()).modes())
	}
	downRefused("down", nil, "machines - the list of machines must not be empty")
	downRefused("down", []model.MachineID{h1, {Hostname: "HOST1"}}, "machines[1] - machine HOST1 appears more than once")
	downRefused("down", []model.MachineID{{IP: "1.2.3"}}, "machines[0] - ip 1.2.3 is not a valid IP address")
	downRefused("down", []model.MachineID{{}}, "machines[0] - a machine must have a hostname or an ip")
	downRefused("down", []model.MachineID{{Hostname: "other"}}, "machines[0] - machine other is not in the maintenance schedule")
	downRefused("up", []model.MachineID{h1}, "machines[0] - machine Host1 is not DOWN")
	downRefused("up", nil, "machines - the list of machines must not be empty")

	requireSuccess(t, postMachines(t, tc, "down", model.MachineID{Hostname: "HOST1"}))
	st = maintStatus(t, tc, tc.follower())
	require.Equal(t, model.MachineDown, st.modes()["Host1"])
	require.Equal(t, []model.MachineID{h1}, st.DownMachines)
	downSince := func() int64 {
		for _, m := range maintStatus(t, tc, tc.leaderIndex()).Machines {
			if m.ID.String() == "Host1" {
				return m.Since
			}
		}
		return 0
	}
	since := downSince()
	requireSuccess(t, postMachines(t, tc, "down", h1))
	require.Equal(t, since, downSince(), "down again keeps when the machine went down")

	// A DOWN machine must stay in the schedule.
	refused(maintSchedule(maintWindow(start, 0, exec1)), "machine Host1 is DOWN and must remain in the schedule (bring it up first)")
	// Replacing the schedule keeps it DOWN.
	requireSuccess(t, postMaintSchedule(t, tc, maintSchedule(maintWindow(start, 0, h1, ipOnly))))
	st = maintStatus(t, tc, tc.follower())
	require.Equal(t, map[string]model.MachineMode{"Host1": model.MachineDown, "10.0.0.7": model.MachineDraining}, st.modes(),
		"127.0.0.11 is UP again: no longer scheduled")

	// machine/up: it leaves the schedule.
	requireSuccess(t, postMachines(t, tc, "up", h1))
	st = maintStatus(t, tc, tc.follower())
	require.Equal(t, map[string]model.MachineMode{"10.0.0.7": model.MachineDraining}, st.modes())
	require.NotContains(t, getMaintSchedule(t, tc, tc.follower()), "Host1")

	// An empty schedule cancels it.
	requireSuccess(t, postMaintSchedule(t, tc, maintSchedule()))
	st = maintStatus(t, tc, tc.follower())
	require.Empty(t, st.Machines)
	require.Empty(t, st.DrainingMachines)
	require.JSONEq(t, `{"windows":[]}`, getMaintSchedule(t, tc, tc.follower()))

	// Roles: read-write users may read but not change the schedule.
	r := tc.call(tc.follower(), readWrite, "POST", "/apis/v1/cluster/maintenance/schedule", valid)
	require.Equal(t, http.StatusForbidden, r.Code, "body: %s", r.Body)
	requireSuccess(t, tc.call(tc.follower(), readOnly, "GET", "/apis/v1/cluster/maintenance/status", nil))
}

func TestMaintenance_DownMachineRefusesRegistration(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil)
	apps := createSpreadApps(t, tc, "DOWN", 1, 2)
	lost := idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1")
	require.Len(t, lost, 1)
	m := model.MachineID{IP: "127.0.0.11"} // matches the executor registered with that hostname
	requireSuccess(t, postMaintSchedule(t, tc, maintSchedule(maintWindow(time.Now().Add(time.Hour), 0, m))))
	require.Equal(t, []string{"exec-1"}, maintStatus(t, tc, tc.follower()).executorsOf("127.0.0.11"))
	require.Equal(t, model.ExecutorActive, executorStateOf(tc, "exec-1"), "the window is beyond the lead time")

	requireSuccess(t, postMachines(t, tc, "down", m))
	require.Equal(t, model.ExecutorRemoved, executorStateOf(tc, "exec-1"), "removed in the same command")
	rec, ok := tc.nodes[tc.leaderIndex()].c.FSM().Instance(lost[0])
	require.True(t, ok)
	require.Equal(t, model.InstanceLost, rec.Info.State)
	require.Empty(t, maintStatus(t, tc, tc.follower()).executorsOf("127.0.0.11"))

	execs[0].restart(t)
	holdsFor(t, 3*time.Second, 100*time.Millisecond, func() bool { return executorStateOf(tc, "exec-1") == model.ExecutorRemoved },
		"an executor on a DOWN machine may not register")

	requireSuccess(t, postMachines(t, tc, "up", m))
	waitExecutorState(t, tc, "exec-1", model.ExecutorActive, 15*time.Second)
	require.Empty(t, maintStatus(t, tc, tc.follower()).Machines)
}

// An agent that was down while its machine went DOWN, and whose REMOVED
// entry was purged meanwhile, is refused registration when it comes back;
// it still learns from the leader that its machine is DOWN and stops the
// containers it re-adopted.
func TestMaintenance_AgentRestartedOnDownMachineStopsContainers(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil, func(c *server.ControllerConfig) { c.RemovedExecutorRetention = time.Second })
	createSpreadApps(t, tc, "DOWNRESTART", 1, 2)
	require.Equal(t, 1, runningContainers(t, execs[0].fake))

	execs[0].kill()
	m := model.MachineID{Hostname: "127.0.0.11"}
	requireSuccess(t, postMaintSchedule(t, tc, maintSchedule(maintWindow(time.Now().Add(time.Hour), 0, m))))
	requireSuccess(t, postMachines(t, tc, "down", m))
	waitUntil(t, func() bool { _, ok := leaderExecutor(tc, "exec-1"); return !ok }, 15*time.Second, 100*time.Millisecond,
		"the REMOVED entry of the DOWN machine's executor is purged")
	require.Equal(t, 1, runningContainers(t, execs[0].fake), "the container outlived its agent")

	execs[0].start(t)
	waitUntil(t, func() bool { return runningContainers(t, execs[0].fake) == 0 }, 15*time.Second, 100*time.Millisecond,
		"the restarted agent stops what it re-adopted")
	_, ok := leaderExecutor(tc, "exec-1")
	require.False(t, ok, "still refused registration")
}

// runningContainers counts the fake runtime's running containers.
func runningContainers(t testing.TB, rt *fakeruntime.Runtime) int {
	t.Helper()
	cs, err := rt.List(context.Background(), nil)
	require.NoError(t, err)
	n := 0
	for _, c := range cs {
		if c.Status == agent.ContainerRunning {
			n++
		}
	}
	return n
}

func TestMaintenance_WindowMigratesAheadAndSurvivesLeaderKill(t *testing.T) {
	const lead = 2 * time.Second
	tc, _ := maintCluster(t, 3, func(s *execSpec) { s.startDelay = 400 * time.Millisecond }, withLeadTime(lead))
	apps := createSpreadApps(t, tc, "WIN", 2, 6)
	before := appInstancesByExecutor(t, tc, apps)
	on := idsOnExecutor(before, "exec-1")
	require.Len(t, on, 4, "2 per app on each executor")

	start := time.Now().Add(lead + 1500*time.Millisecond)
	m := model.MachineID{Hostname: "127.0.0.11"}
	requireSuccess(t, postMaintSchedule(t, tc, maintSchedule(maintWindow(start, time.Hour, m))))
	sched := getMaintSchedule(t, tc, tc.follower())

	// Before start-lead nothing moves.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Until(start.Add(-lead)) > 200*time.Millisecond {
		require.True(t, maps.Equal(before, appInstancesByExecutor(t, tc, apps)), "nothing moves before the lead time")
		for _, id := range apps {
			require.NotEqual(t, server.OpMigrate, getOp(t, tc, id).Source)
		}
		<-tick.C
	}

	// From start-lead the app instances are migrated new first; the leader
	// is killed once the migration is under way and the new one carries on.
	h := newHealthSampler()
	migrating := func() bool {
		for _, id := range apps {
			if op := getOp(t, tc, id); op.Source == server.OpMigrate {
				return true
			}
		}
		return false
	}
	require.True(t, sampleUntil(10*time.Second, 100*time.Millisecond, func() { h.sample(t, tc, nil) }, migrating),
		"the migration starts at the lead time")
	require.False(t, time.Now().Before(start.Add(-lead)), "not before the lead time")
	remaining := 4
	require.True(t, sampleUntil(10*time.Second, 100*time.Millisecond, func() { h.sample(t, tc, nil) }, func() bool {
		remaining = len(idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1"))
		return remaining < 4
	}), "the migration makes progress")
	require.Positive(t, remaining, "the leader is killed mid-migration")
	old := tc.leaderIndex()
	tc.stop(old)
	t.Logf("killed leader c%d with %d of 4 instances still on exec-1", old+1, remaining)
	tc.waitForLeader(10 * time.Second)

	require.True(t, sampleUntil(30*time.Second, 100*time.Millisecond, func() { h.sample(t, tc, nil) }, func() bool {
		return len(idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1")) == 0
	}), "the new leader completes the migration")
	require.Empty(t, h.violations, "healthy >= desired throughout, across the leader change")
	for _, id := range apps {
		waitAppTB(t, tc, id, model.AppRunning, 6, 15*time.Second)
	}

	// exec-1 takes no new instances; schedule and modes are intact.
	appOp(t, tc, tc.follower(), map[string]any{"type": "SCALE", "appId": apps[0], "requiredInstances": 9, "opSpec": opSpec(3)})
	waitAppTB(t, tc, apps[0], model.AppRunning, 9, 20*time.Second)
	require.Empty(t, idsOnExecutor(appInstancesByExecutor(t, tc, apps), "exec-1"))
	require.Equal(t, model.ExecutorActive, executorStateOf(tc, "exec-1"))
	f := tc.follower()
	require.Equal(t, sched, getMaintSchedule(t, tc, f))
	st := maintStatus(t, tc, f)
	require.Equal(t, map[string]model.MachineMode{"127.0.0.11": model.MachineDraining}, st.modes())
	require.Equal(t, []string{"exec-1"}, st.executorsOf("127.0.0.11"))
}

func TestMaintenance_ModeKeepsEverythingAndResumesAfterFreshReports(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil, withFastOutage(), withMaintenanceGrace(30*time.Second))
	apps := createSpreadApps(t, tc, "MM", 1, 4)
	app := apps[0]
	ids := instanceIDsOf(t, tc, app)
	require.Len(t, ids, 4)
	containers := map[string]time.Time{} // container id -> start
	for _, e := range execs {
		cs, err := e.fake.List(context.Background(), nil)
		require.NoError(t, err)
		for _, c := range cs {
			containers[c.ID] = c.StartedAt
		}
	}
	require.Len(t, containers, 4)

	setMaintenance(t, tc, true)
	r := tc.call(tc.follower(), readWrite, "POST", "/apis/v1/applications/operations",
		map[string]any{"type": "SCALE", "appId": app, "requiredInstances": 5, "opSpec": opSpec(1)})
	requireRefused(t, r, "Cluster is in maintenance mode")
	r = tc.call(tc.follower(), readWrite, "POST", "/apis/v1/tasks/operations", map[string]any{"type": "CREATE", "spec": maintTask("MM_T", "t1")})
	requireRefused(t, r, "Cluster is in maintenance mode")
	requireRefused(t, serviceOp(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": serviceSpec("MM_LS", "1", false),
		"instancesPerHost": 1}), "Cluster is in maintenance mode")

	// Restart an executor and the leader controller.
	execs[0].restart(t)
	l := tc.leaderIndex()
	tc.stop(l)
	tc.restart(l)
	tc.waitForLeader(10 * time.Second)
	waitExecutorState(t, tc, "exec-1", model.ExecutorActive, 10*time.Second)
	same := func() bool {
		got := appInstances(t, tc, app, allInstanceStates)
		if len(got) != 4 {
			return false
		}
		for _, in := range got {
			if !slices.Contains(ids, in.InstanceID) || in.State != model.InstanceHealthy {
				return false
			}
		}
		return true
	}
	require.True(t, same(), "no instance replaced or lost: %+v", appInstances(t, tc, app, allInstanceStates))
	holdsFor(t, 1500*time.Millisecond, 100*time.Millisecond, same, "no instance replaced or lost")
	for _, e := range execs {
		cs, err := e.fake.List(context.Background(), nil)
		require.NoError(t, err)
		for _, c := range cs {
			started, ok := containers[c.ID]
			require.True(t, ok, "no new container")
			require.Equal(t, started, c.StartedAt, "no container restarted")
		}
	}

	// A container dies during maintenance: it is not replaced until after unset.
	cs, err := execs[1].fake.List(context.Background(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	require.NoError(t, execs[1].fake.Kill(cs[0].ID, 137))
	waitUntil(t, func() bool { return appSummary(t, tc, tc.follower(), app).HealthyInstances == 3 },
		10*time.Second, 50*time.Millisecond, "the dead instance is reported")
	holdsFor(t, 2*time.Second, 100*time.Millisecond, func() bool { return len(appInstances(t, tc, app, allInstanceStates)) == 4 },
		"no replacement during maintenance")

	setMaintenance(t, tc, false)
	appOp(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": testSpec("MM_AFTER", "1", 1, `{"type":"ANY"}`),
		"instances": 1, "opSpec": opSpec(1)})
	waitAppTB(t, tc, app, model.AppRunning, 4, 20*time.Second)
	require.Len(t, appInstances(t, tc, app, allInstanceStates), 5, "the dead instance was replaced once the monitors resumed")
}

// An executor lost while draining finishes its drain only once it is back
// and has stopped what it still ran (its agent stops the instances the
// controllers marked LOST as unknown); with markGone it is then retired.
func TestMaintenance_DrainOfUnreachableExecutorCompletesWhenItReturns(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil)
	createSpreadApps(t, tc, "UNR", 1, 4)
	gone := execs[1]
	require.Positive(t, gone.fake.Count(), "exec-2 runs instances")
	gone.kill() // the agent dies; its containers keep running
	waitExecutorState(t, tc, "exec-2", model.ExecutorRemoved, 15*time.Second)
	requireSuccess(t, postDrain(t, tc, "exec-2", map[string]any{"markGone": true}))
	holdsFor(t, time.Second, 100*time.Millisecond, func() bool {
		e, _ := leaderExecutor(tc, "exec-2")
		return e.DrainState() == model.DrainDraining
	}, "an unreachable executor's drain waits for it")

	gone.start(t)
	var drainedWith int
	waitUntil(t, func() bool {
		e, _ := leaderExecutor(tc, "exec-2")
		if e.DrainState() != model.DrainDrained {
			return false
		}
		drainedWith = gone.fake.Count()
		return true
	}, 20*time.Second, 20*time.Millisecond, "exec-2 DRAINED once back")
	require.Zero(t, drainedWith, "DRAINED only once nothing runs there any more")
	e, _ := leaderExecutor(tc, "exec-2")
	require.True(t, e.Gone, "markGone retired it")
	require.Equal(t, model.ExecutorRemoved, e.State)
}

// An executor that was lost and came back still runs the containers the
// controllers marked LOST until its agent's --unknown-grace. Draining it
// right then must not report DRAINED while they run: the leader asks the
// executor what it runs.
func TestMaintenance_DrainAfterReturnWaitsForUntrackedContainers(t *testing.T) {
	tc, execs := maintCluster(t, 2, nil)
	createSpreadApps(t, tc, "RET", 1, 4)
	back := execs[1]
	require.Positive(t, runningContainers(t, back.fake))
	back.kill()
	waitExecutorState(t, tc, "exec-2", model.ExecutorRemoved, 15*time.Second)
	back.cfg.UnknownGrace = 5 * time.Second
	back.start(t)
	waitExecutorState(t, tc, "exec-2", model.ExecutorActive, 10*time.Second)
	require.Positive(t, runningContainers(t, back.fake), "re-adopted, untracked by the controllers")

	requireSuccess(t, postDrain(t, tc, "exec-2", map[string]any{}))
	runningWhenDrained := -1
	waitUntil(t, func() bool {
		if summaryOf(t, tc, "exec-2").DrainState != model.DrainDrained {
			return false
		}
		runningWhenDrained = runningContainers(t, back.fake)
		return true
	}, 30*time.Second, 20*time.Millisecond, "exec-2 DRAINED once its agent stopped the untracked containers")
	require.Zero(t, runningWhenDrained, "DRAINED while containers still ran on the executor")
}
