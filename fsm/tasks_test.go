package fsm

import (
	"encoding/json"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// ---- helpers ----

// taskInstance is the spec of a task's one instance holding cores on NUMA node 0.
func taskInstance(sourceApp, taskID, instanceID string, cores ...int) model.InstanceSpec {
	return model.InstanceSpec{
		Kind: model.KindTask, AppID: sourceApp, AppName: sourceApp, InstanceID: instanceID, TaskID: taskID,
		Executable: model.Executable{Type: "DOCKER", URL: "ghcr.io/appform-io/test-task", DockerPullTimeout: "100 seconds"},
		Resources: []model.ResourceAllocation{
			{Type: model.ResourceCPU, Cores: map[int][]int{0: cores}},
			{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 512}},
		},
		Env: map[string]string{"ITERATIONS": "10"},
	}
}

func taskCreateLog(tb testing.TB, executorID string, spec model.InstanceSpec, deadline, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, TaskCreateType, TaskCreateRequest{Place: at(executorID, spec), Deadline: deadline, Timestamp: ts})
}

func taskKillLog(tb testing.TB, instanceID string, timedOut bool, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, TaskKillType, TaskKillRequest{InstanceID: instanceID, TimedOut: timedOut, Timestamp: ts})
}

// taskRep is a task report from executorID, with a result when res is non-nil.
func taskRep(executorID, id string, st model.InstanceState, seq uint64, res *model.TaskResult) model.InstanceReport {
	r := rep(executorID, id, st, 1, seq)
	r.TaskResult = res
	return r
}

func result(st model.TaskResultStatus, code int64) *model.TaskResult {
	return &model.TaskResult{Status: st, ExitCode: code}
}

func exitResult(code int64) *model.TaskResult {
	r := model.ExitResult(code)
	return &r
}

// taskFSM returns an FSM with executors e1 and e2 and task TEST_APP/T1
// (instance t-1 on e1, cores 0 and 1) created at 100 with deadline 10_000.
func taskFSM(t *testing.T) *FSM {
	t.Helper()
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP", "T1", "t-1", 0, 1), 10_000, 100))
	return f
}

// taskMeta is the metadata of a TASK_STATE_CHANGE event of t-1.
func taskMeta(state string, res *model.TaskResult, errMsg string) map[string]any {
	m := map[string]any{
		model.MetaAppName: "TEST_APP", model.MetaTaskID: "T1", model.MetaInstanceID: "t-1",
		model.MetaExecutorID: "e1", model.MetaExecutorHost: "e1.host", model.MetaExecutable: "ghcr.io/appform-io/test-task",
		model.MetaCurrentState: state, model.MetaCreated: int64(100),
	}
	if res != nil {
		m[model.MetaResultStatus], m[model.MetaResultExitCode] = string(res.Status), res.ExitCode
	}
	if errMsg != "" {
		m[model.MetaError] = errMsg
	}
	return m
}

// ---- create ----

func TestFSM_TaskCreate(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	next := nextEventIndex(f)
	ch := f.Changed()
	spec := taskInstance("TEST_APP", "T1", "t-1", 0, 1)
	applyOK(t, f, taskCreateLog(t, "e1", spec, 10_000, 100))
	require.True(t, isClosed(ch))

	want := model.InstanceRecord{Spec: spec, TaskDeadline: 10_000, Info: model.InstanceInfo{
		AppID: "TEST_APP", AppName: "TEST_APP", InstanceID: "t-1", ExecutorID: "e1",
		LocalInfo: model.LocalInstanceInfo{Hostname: "e1.host", Ports: map[string]model.InstancePort{}},
		Resources: spec.Resources, State: model.InstancePending, Metadata: map[string]string{},
		Created: 100, Updated: 100,
	}}
	require.Equal(t, want, mustInstance(t, f, "t-1"))
	got, ok := f.Task("TEST_APP", "T1")
	require.True(t, ok)
	require.Equal(t, want, got)
	for _, miss := range [][2]string{{"TEST_APP", "T2"}, {"OTHER", "T1"}, {"", ""}} {
		_, ok := f.Task(miss[0], miss[1])
		require.False(t, ok, miss)
	}

	require.Equal(t, []model.IndexedEvent{{Index: next, Event: model.Event{Type: model.EventTaskStateChange,
		ID: eventID(next), Time: 100, Metadata: taskMeta("PENDING", nil, "")}}}, eventsAfter(f, next-1))

	// No deadline: none stored. The same task id under another app, and
	// another task id under the same app, are other tasks.
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP", "T2", "t-2", 2), 0, 200))
	require.Zero(t, mustInstance(t, f, "t-2").TaskDeadline)
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("OTHER", "T1", "t-3", 3), 0, 200))
	other, ok := f.Task("OTHER", "T1")
	require.True(t, ok)
	require.Equal(t, "t-3", other.Info.InstanceID)
	require.Equal(t, "t-1", mustInstance(t, f, "t-1").Info.InstanceID)
}

func TestFSM_TaskCreateRefused(t *testing.T) {
	appKind := taskInstance("TEST_APP", "T9", "t-9", 5)
	appKind.Kind = model.KindApp
	svcKind := taskInstance("TEST_APP", "T9", "t-9", 5)
	svcKind.Kind = model.KindLocalService
	noApp := taskInstance("", "T9", "t-9", 5)
	noTask := taskInstance("TEST_APP", "", "t-9", 5)
	tests := []struct {
		name     string
		executor string
		spec     model.InstanceSpec
		wantErr  error
		wantMsg  string
	}{
		{"kind app", "e1", appKind, ErrInvalidCommand, "kind TASK"},
		{"kind local service", "e1", svcKind, ErrInvalidCommand, "kind TASK"},
		{"no sourceAppName", "e1", noApp, ErrInvalidCommand, "sourceAppName"},
		{"no taskId", "e1", noTask, ErrInvalidCommand, "taskId"},
		{"unknown executor", "e9", taskInstance("TEST_APP", "T9", "t-9", 5), ErrInvalidCommand, "e9"},
		{"removed executor", "e-removed", taskInstance("TEST_APP", "T9", "t-9", 5), ErrInvalidCommand, "e-removed"},
		{"instance id taken", "e1", taskInstance("TEST_APP", "T9", "app-i1", 5), ErrInvalidCommand, "app-i1"},
		{"empty instance id", "e1", taskInstance("TEST_APP", "T9", "", 5), ErrInvalidCommand, `""`},
		{"core held", "e1", taskInstance("TEST_APP", "T9", "t-9", 4, 1), ErrConflict, "core 1"},
		{"duplicate task", "e2", taskInstance("TEST_APP", "T1", "t-9", 5), ErrConflict,
			"Task already exists for TEST_APP/T1 with taskID: TEST_APP-T1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := taskFSM(t)
			register(t, f, testReg("e-removed"), 1)
			require.Nil(t, f.Apply(lostLog(t, "e-removed", "x", 2)))
			placeOK(t, f, 3, at("e1", testSpec("app-i1", []int{7}, 1)))
			insts, events := f.Instances(nil), allEvents(f)
			ch := f.Changed()

			err := requireApplyErr(t, f.Apply(taskCreateLog(t, tc.executor, tc.spec, 0, 500)), tc.wantErr)
			require.Contains(t, err.Error(), tc.wantMsg)
			require.Equal(t, insts, f.Instances(nil))
			require.Equal(t, events, allEvents(f))
			require.False(t, isClosed(ch))
		})
	}
}

func TestFSM_TaskCreateDuplicateUntilDeleted(t *testing.T) {
	f := taskFSM(t)
	dup := taskCreateLog(t, "e2", taskInstance("TEST_APP", "T1", "t-1b", 0), 0, 200)
	requireApplyErr(t, f.Apply(dup), ErrConflict)

	// Finished, the record still holds the id (Drove keeps finished tasks).
	reportOK(t, f, "e1", 300, taskRep("e1", "t-1", model.TaskRunCompleted, 1, exitResult(0)))
	requireApplyErr(t, f.Apply(dup), ErrConflict)
	reportOK(t, f, "e1", 400, taskRep("e1", "t-1", model.InstanceStopped, 2, nil))
	requireApplyErr(t, f.Apply(dup), ErrConflict)

	// Deleting the finished record frees it.
	require.Nil(t, f.Apply(deleteLog(t, "t-1")))
	_, ok := f.Task("TEST_APP", "T1")
	require.False(t, ok)
	applyOK(t, f, dup)
	got, ok := f.Task("TEST_APP", "T1")
	require.True(t, ok)
	require.Equal(t, "t-1b", got.Info.InstanceID)
	require.Nil(t, got.TaskResult, "the new run starts without a result")

	// A running task's record cannot be deleted.
	require.Nil(t, f.Apply(deleteLog(t, "t-1b")))
	_, ok = f.Task("TEST_APP", "T1")
	require.True(t, ok)
}

// ---- results ----

func TestFSM_TaskResults(t *testing.T) {
	type step struct {
		kill     bool // a TaskKill instead of a report
		timedOut bool
		state    model.InstanceState
		res      *model.TaskResult
	}
	report := func(st model.InstanceState, res *model.TaskResult) step { return step{state: st, res: res} }
	kill := func(timedOut bool) step { return step{kill: true, timedOut: timedOut} }
	tests := []struct {
		name      string
		steps     []step
		wantState model.InstanceState
		want      *model.TaskResult
	}{
		{"running has no result", []step{report(model.TaskRunning, nil)}, model.TaskRunning, nil},
		{"exit 0", []step{report(model.TaskRunning, nil), report(model.TaskRunCompleted, exitResult(0))},
			model.TaskRunCompleted, result(model.TaskSuccessful, 0)},
		{"exit 3", []step{report(model.TaskRunning, nil), report(model.TaskRunCompleted, exitResult(3))},
			model.TaskRunCompleted, result(model.TaskFailed, 3)},
		{"result kept through deprovisioning and stop", []step{report(model.TaskRunCompleted, exitResult(3)),
			report(model.InstanceDeprovisioning, nil), report(model.InstanceStopped, nil)},
			model.InstanceStopped, result(model.TaskFailed, 3)},
		{"a later result replaces an earlier one", []step{report(model.TaskRunCompleted, exitResult(3)),
			report(model.TaskRunCompleted, exitResult(0))}, model.TaskRunCompleted, result(model.TaskSuccessful, 0)},
		{"stopped without result", []step{report(model.InstanceStopped, nil)}, model.InstanceStopped, nil},
		{"run failed", []step{report(model.TaskRunFailed, result(model.TaskFailed, -1))},
			model.TaskRunFailed, result(model.TaskFailed, -1)},
		{"reported lost without result", []step{report(model.TaskRunning, nil), report(model.InstanceLost, nil)},
			model.InstanceLost, result(model.TaskLost, -1)},
		{"reported lost with result", []step{report(model.InstanceLost, exitResult(0))},
			model.InstanceLost, result(model.TaskSuccessful, 0)},
		{"lost after a result keeps it", []step{report(model.TaskRunCompleted, exitResult(3)), report(model.InstanceLost, nil)},
			model.InstanceLost, result(model.TaskFailed, 3)},
		{"user kill", []step{report(model.TaskRunning, nil), kill(false),
			report(model.TaskRunCompleted, result(model.TaskCancelled, -1)), report(model.InstanceStopped, nil)},
			model.InstanceStopped, result(model.TaskCancelled, -1)},
		{"timeout kill", []step{report(model.TaskRunning, nil), kill(true),
			report(model.TaskRunCompleted, result(model.TaskCancelled, -1))},
			model.TaskRunCompleted, result(model.TaskTimedOut, -1)},
		{"timeout kill then stopped", []step{report(model.TaskRunning, nil), kill(true),
			report(model.TaskRunCompleted, result(model.TaskCancelled, -1)), report(model.InstanceStopped, nil)},
			model.InstanceStopped, result(model.TaskTimedOut, -1)},
		{"timeout kill, cancelled with stop", []step{kill(true),
			report(model.InstanceStopped, result(model.TaskCancelled, -1))},
			model.InstanceStopped, result(model.TaskTimedOut, -1)},
		{"timeout kill raced by a natural exit", []step{report(model.TaskRunning, nil), kill(true),
			report(model.TaskRunCompleted, exitResult(0))}, model.TaskRunCompleted, result(model.TaskSuccessful, 0)},
		{"timeout kill, lost", []step{report(model.TaskRunning, nil), kill(true), report(model.InstanceLost, nil)},
			model.InstanceLost, result(model.TaskLost, -1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := taskFSM(t)
			var seq uint64
			for i, s := range tc.steps {
				ts := int64(1_000 + 100*i)
				if s.kill {
					applyOK(t, f, taskKillLog(t, "t-1", s.timedOut, ts))
					continue
				}
				seq++
				reportOK(t, f, "e1", ts, taskRep("e1", "t-1", s.state, seq, s.res))
			}
			r := mustInstance(t, f, "t-1")
			require.Equal(t, tc.wantState, r.Info.State)
			require.Equal(t, tc.want, r.TaskResult)
			got, ok := f.Task("TEST_APP", "T1")
			require.True(t, ok)
			require.Equal(t, tc.want, model.TaskView(got).TaskResult)

			// The last state change event carries the result then stored.
			ev := allEvents(f)
			last := ev[len(ev)-1]
			require.Equal(t, model.EventTaskStateChange, last.Type)
			require.Equal(t, string(tc.wantState), last.Metadata[model.MetaCurrentState])
			if tc.want != nil && r.Info.Updated == last.Time {
				require.Equal(t, string(tc.want.Status), last.Metadata[model.MetaResultStatus])
				require.Equal(t, tc.want.ExitCode, last.Metadata[model.MetaResultExitCode])
			}
		})
	}
}

func TestFSM_TaskResultOnlyForTasks(t *testing.T) {
	f := taskFSM(t)
	spec := testServiceSpec("svc", false)
	placeOK(t, f, 200, at("e2", testSpec("app-i1", []int{0}, 1)), at("e2", svcInstance(spec, "svc-i1", 1)))
	reportOK(t, f, "e2", 300, taskRep("e2", "app-i1", model.InstanceStopped, 1, exitResult(3)),
		taskRep("e2", "svc-i1", model.InstanceLost, 2, nil))
	require.Nil(t, mustInstance(t, f, "app-i1").TaskResult)
	require.Nil(t, mustInstance(t, f, "svc-i1").TaskResult)
	for _, e := range allEvents(f) {
		if e.Type != model.EventTaskStateChange {
			require.NotContains(t, e.Metadata, model.MetaResultStatus)
			require.NotContains(t, e.Metadata, model.MetaTaskID)
		}
	}
}

// ---- kill ----

func TestFSM_TaskKill(t *testing.T) {
	f := taskFSM(t)
	reportOK(t, f, "e1", 200, taskRep("e1", "t-1", model.TaskRunning, 1, nil))
	before := mustInstance(t, f, "t-1")
	events := allEvents(f)
	ch := f.Changed()

	applyOK(t, f, taskKillLog(t, "t-1", false, 300))
	require.True(t, isClosed(ch))
	r := mustInstance(t, f, "t-1")
	want := before
	want.StopRequested = true
	require.Equal(t, want, r, "only the stop request is recorded")
	require.False(t, before.StopRequested, "the earlier read is not modified in place")
	require.Equal(t, events, allEvents(f), "a kill changes no state by itself")

	// Already asked to stop: refused.
	err := requireApplyErr(t, f.Apply(taskKillLog(t, "t-1", true, 400)), ErrNotFound)
	require.Contains(t, err.Error(), "Either task does not exist or has already finished")
	require.False(t, mustInstance(t, f, "t-1").TaskTimedOut, "a refused timeout kill marks nothing")

	// A timeout kill marks the record.
	applyOK(t, f, taskCreateLog(t, "e2", taskInstance("TEST_APP", "T2", "t-2", 0), 500, 250))
	applyOK(t, f, taskKillLog(t, "t-2", true, 600))
	r2 := mustInstance(t, f, "t-2")
	require.True(t, r2.StopRequested)
	require.True(t, r2.TaskTimedOut)
	require.Equal(t, int64(500), r2.TaskDeadline)
	require.Equal(t, model.InstancePending, r2.Info.State)
}

func TestFSM_TaskKillRefused(t *testing.T) {
	f := taskFSM(t)
	spec := testServiceSpec("svc", false)
	placeOK(t, f, 200, at("e2", testSpec("app-i1", []int{0}, 1)), at("e2", svcInstance(spec, "svc-i1", 1)))
	applyOK(t, f, taskCreateLog(t, "e2", taskInstance("TEST_APP", "T-stopped", "t-stopped", 2), 0, 200))
	applyOK(t, f, taskCreateLog(t, "e2", taskInstance("TEST_APP", "T-lost", "t-lost", 3), 0, 200))
	reportOK(t, f, "e2", 300, taskRep("e2", "t-stopped", model.InstanceStopped, 1, exitResult(0)),
		taskRep("e2", "t-lost", model.InstanceLost, 2, nil))
	insts, events := f.Instances(nil), allEvents(f)
	ch := f.Changed()

	for _, id := range []string{"nope", "", "app-i1", "svc-i1", "t-stopped", "t-lost"} {
		for _, timedOut := range []bool{false, true} {
			requireApplyErr(t, f.Apply(taskKillLog(t, id, timedOut, 400)), ErrNotFound)
		}
	}
	require.Equal(t, insts, f.Instances(nil))
	require.Equal(t, events, allEvents(f))
	require.False(t, isClosed(ch))
}

// ---- executor lost ----

func TestFSM_TaskExecutorLost(t *testing.T) {
	f := taskFSM(t)
	reportOK(t, f, "e1", 200, taskRep("e1", "t-1", model.TaskRunning, 1, nil))
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP", "T2", "t-2", 2), 0, 150))
	reportOK(t, f, "e1", 250, taskRep("e1", "t-2", model.TaskRunCompleted, 1, exitResult(0)))
	applyOK(t, f, taskCreateLog(t, "e2", taskInstance("TEST_APP", "T3", "t-3", 2), 0, 150))
	next := nextEventIndex(f)

	require.Nil(t, f.Apply(lostLog(t, "e1", "missed heartbeats", 1_000)))
	r := mustInstance(t, f, "t-1")
	require.Equal(t, model.InstanceLost, r.Info.State)
	require.Equal(t, result(model.TaskLost, -1), r.TaskResult)
	require.Equal(t, "Executor lost: missed heartbeats", r.Info.ErrorMessage)
	r2 := mustInstance(t, f, "t-2")
	require.Equal(t, model.InstanceLost, r2.Info.State)
	require.Equal(t, result(model.TaskSuccessful, 0), r2.TaskResult, "a known result is kept")
	require.Equal(t, model.InstancePending, mustInstance(t, f, "t-3").Info.State, "other executors' tasks are untouched")

	ev := eventsAfter(f, next-1)
	require.Len(t, ev, 3)
	require.Equal(t, model.EventExecutorRemoved, ev[0].Type)
	// Lost in creation order: t-1 (created at 100), then t-2 (150).
	require.Equal(t, model.EventTaskStateChange, ev[1].Type)
	require.Equal(t, taskMeta("LOST", result(model.TaskLost, -1), "Executor lost: missed heartbeats"), ev[1].Metadata)
	require.Equal(t, model.EventTaskStateChange, ev[2].Type)
	require.Equal(t, "t-2", ev[2].Metadata[model.MetaInstanceID])
	require.Equal(t, "SUCCESSFUL", ev[2].Metadata[model.MetaResultStatus])
	require.Equal(t, int64(0), ev[2].Metadata[model.MetaResultExitCode])

	// Lost is final: no report changes it, and the kill is refused.
	require.Equal(t, 0, f.Apply(reportLog(t, "e1", 1_100, taskRep("e1", "t-1", model.TaskRunCompleted, 2, exitResult(0)))))
	requireApplyErr(t, f.Apply(taskKillLog(t, "t-1", false, 1_200)), ErrNotFound)
}

// ---- events ----

func TestFSM_TaskEvents(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	next := nextEventIndex(f)
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP", "T1", "t-1", 0), 0, 100))
	reportOK(t, f, "e1", 200, taskRep("e1", "t-1", model.InstanceProvisioning, 1, nil))
	reportOK(t, f, "e1", 300, withPorts(taskRep("e1", "t-1", model.TaskRunning, 2, nil), testPorts))
	reportOK(t, f, "e1", 400, taskRep("e1", "t-1", model.TaskRunCompleted, 3, exitResult(3)))
	reportOK(t, f, "e1", 450, taskRep("e1", "t-1", model.TaskRunCompleted, 4, exitResult(3))) // no state change: no event
	reportOK(t, f, "e1", 500, withError(taskRep("e1", "t-1", model.InstanceStopped, 5, nil), "container exited"))

	ev := func(i uint64, ts int64, meta map[string]any) model.IndexedEvent {
		return model.IndexedEvent{Index: next + i, Event: model.Event{Type: model.EventTaskStateChange,
			ID: eventID(next + i), Time: ts, Metadata: meta}}
	}
	require.Equal(t, []model.IndexedEvent{
		ev(0, 100, taskMeta("PENDING", nil, "")),
		ev(1, 200, taskMeta("PROVISIONING", nil, "")),
		ev(2, 300, taskMeta("RUNNING", nil, "")), // tasks have no PORTS key
		ev(3, 400, taskMeta("RUN_COMPLETED", result(model.TaskFailed, 3), "")),
		ev(4, 500, taskMeta("STOPPED", result(model.TaskFailed, 3), "container exited")),
	}, eventsAfter(f, next-1))

	b, err := json.Marshal(eventsAfter(f, next+2))
	require.NoError(t, err)
	require.Contains(t, string(b), `"RESULT_STATUS":"FAILED"`)
	require.Contains(t, string(b), `"RESULT_EXIT_CODE":3`)
}

// ---- ChangingReports ----

func TestFSM_TaskChangingReports(t *testing.T) {
	f := taskFSM(t)
	reportOK(t, f, "e1", 200, taskRep("e1", "t-1", model.TaskRunCompleted, 5, exitResult(3)))
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP", "T2", "t-2", 2), 0, 150))
	reportOK(t, f, "e1", 200, taskRep("e1", "t-2", model.TaskRunCompleted, 5, nil))

	tests := []struct {
		name   string
		report model.InstanceReport
		want   bool
	}{
		{"same state and result", taskRep("e1", "t-1", model.TaskRunCompleted, 6, exitResult(3)), false},
		{"same state, no result", taskRep("e1", "t-1", model.TaskRunCompleted, 6, nil), false},
		{"same state, other result", taskRep("e1", "t-1", model.TaskRunCompleted, 6, exitResult(0)), true},
		{"same state, other exit code", taskRep("e1", "t-1", model.TaskRunCompleted, 6, exitResult(4)), true},
		{"same state, cancelled", taskRep("e1", "t-1", model.TaskRunCompleted, 6, result(model.TaskCancelled, -1)), true},
		{"state changed, same result", taskRep("e1", "t-1", model.InstanceDeprovisioning, 6, exitResult(3)), true},
		{"first result", taskRep("e1", "t-2", model.TaskRunCompleted, 6, exitResult(0)), true},
		{"still no result", taskRep("e1", "t-2", model.TaskRunCompleted, 6, nil), false},
		{"stale, other result", taskRep("e1", "t-1", model.TaskRunCompleted, 5, exitResult(0)), false},
		{"other executor", taskRep("e2", "t-1", model.TaskRunCompleted, 6, exitResult(0)), false},
	}
	var all, kept []model.InstanceReport
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.ChangingReports(tc.report.Info.ExecutorID, []model.InstanceReport{tc.report})
			if tc.want {
				require.Equal(t, []model.InstanceReport{tc.report}, got)
			} else {
				require.Empty(t, got)
			}
		})
		if tc.report.Info.ExecutorID == "e1" {
			all = append(all, tc.report)
			if tc.want {
				kept = append(kept, tc.report)
			}
		}
	}
	require.Equal(t, kept, f.ChangingReports("e1", all))

	// What ChangingReports keeps changes the record; what it drops does not.
	for _, tc := range tests {
		g := snapshotRestore(t, f)
		id := tc.report.Info.InstanceID
		before := mustInstance(t, g, id)
		g.Apply(reportLog(t, tc.report.Info.ExecutorID, 900, tc.report))
		after := mustInstance(t, g, id)
		changed := before.Info.State != after.Info.State || !equalResult(before.TaskResult, after.TaskResult)
		require.Equal(t, tc.want, changed, tc.name)
	}
}

func equalResult(a, b *model.TaskResult) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Regression test (fsm/read_executors.go ChangingReports, the TaskResult clause).
func TestFSM_TaskChangingReportsAfterTimeout(t *testing.T) {
	f := taskFSM(t)
	reportOK(t, f, "e1", 200, taskRep("e1", "t-1", model.TaskRunning, 1, nil))
	applyOK(t, f, taskKillLog(t, "t-1", true, 300))
	reportOK(t, f, "e1", 400, taskRep("e1", "t-1", model.TaskRunCompleted, 2, result(model.TaskCancelled, -1)))
	before := mustInstance(t, f, "t-1")
	require.Equal(t, result(model.TaskTimedOut, -1), before.TaskResult)

	again := taskRep("e1", "t-1", model.TaskRunCompleted, 3, result(model.TaskCancelled, -1))
	require.Equal(t, 1, f.Apply(reportLog(t, "e1", 500, again)))
	after := mustInstance(t, f, "t-1")
	require.Equal(t, before.Info.State, after.Info.State)
	require.Equal(t, before.TaskResult, after.TaskResult, "applying the repeat changes nothing")

	require.Empty(t, f.ChangingReports("e1", []model.InstanceReport{
		taskRep("e1", "t-1", model.TaskRunCompleted, 4, result(model.TaskCancelled, -1))}),
		"so ChangingReports must drop it")
}

// ---- resources ----

func TestFSM_TaskHoldsCores(t *testing.T) {
	f := taskFSM(t) // t-1 holds cores 0 and 1 of e1
	for i, st := range []model.InstanceState{model.InstancePending, model.InstanceProvisioning, model.InstanceStarting,
		model.TaskRunning, model.TaskRunCompleted, model.InstanceDeprovisioning} {
		if st != model.InstancePending {
			reportOK(t, f, "e1", int64(200+i), taskRep("e1", "t-1", st, uint64(i), nil))
		}
		requireApplyErr(t, f.Apply(placeLog(t, 300, at("e1", testSpec("app-i1", []int{1}, 1)))), ErrConflict)
		requireApplyErr(t, f.Apply(taskCreateLog(t, "e1", taskInstance("TEST_APP", "T2", "t-2", 0), 0, 300)), ErrConflict)
		cores, _ := f.ExecutorUsage("e1")
		require.Equal(t, map[int][]int{0: {0, 1}}, cores, st)
	}
	reportOK(t, f, "e1", 400, taskRep("e1", "t-1", model.InstanceStopped, 10, exitResult(0)))
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP", "T2", "t-2", 0), 0, 500))
}

// ---- snapshot and determinism ----

func taskLogs(t *testing.T) []*raft.Log {
	t.Helper()
	return []*raft.Log{
		leaderLog(t, 1, "node-1", "ctl-1", 1_000),
		registerLog(t, testReg("e1"), 1_100),
		registerLog(t, testReg("e2"), 1_100),
		taskCreateLog(t, "e1", taskInstance("A", "T1", "t-1", 0), 9_000, 1_200),
		taskCreateLog(t, "e1", taskInstance("A", "T2", "t-2", 1), 0, 1_200),
		taskCreateLog(t, "e2", taskInstance("B", "T1", "t-3", 0), 5_000, 1_200),
		taskCreateLog(t, "e2", taskInstance("B", "T2", "t-4", 1), 0, 1_200),
		taskCreateLog(t, "e2", taskInstance("A", "T1", "t-5", 2), 0, 1_250), // refused: duplicate
		reportLog(t, "e1", 1_300, taskRep("e1", "t-1", model.TaskRunning, 1, nil),
			taskRep("e1", "t-2", model.TaskRunCompleted, 2, exitResult(7))),
		reportLog(t, "e2", 1_300, taskRep("e2", "t-3", model.TaskRunning, 1, nil),
			taskRep("e2", "t-4", model.TaskRunning, 2, nil)),
		taskKillLog(t, "t-3", true, 1_400),
		taskKillLog(t, "t-4", false, 1_400),
		taskKillLog(t, "t-4", true, 1_450), // refused: already stopping
		reportLog(t, "e2", 1_500, taskRep("e2", "t-3", model.TaskRunCompleted, 3, result(model.TaskCancelled, -1))),
		reportLog(t, "e1", 1_600, taskRep("e1", "t-2", model.InstanceStopped, 3, nil)),
		deleteLog(t, "t-2"),
		taskCreateLog(t, "e1", taskInstance("A", "T2", "t-2b", 1), 0, 1_700),
		lostLog(t, "e1", "gone", 1_800),
		noopLog(t, 60),
	}
}

func TestFSM_TaskSnapshotRoundTrip(t *testing.T) {
	f := newTestFSM(t, 0)
	for _, l := range taskLogs(t) {
		f.Apply(l)
	}
	t1 := mustInstance(t, f, "t-1")
	require.Equal(t, int64(9_000), t1.TaskDeadline)
	require.Equal(t, result(model.TaskLost, -1), t1.TaskResult)
	t3 := mustInstance(t, f, "t-3")
	require.True(t, t3.TaskTimedOut)
	require.Equal(t, result(model.TaskTimedOut, -1), t3.TaskResult)
	require.True(t, mustInstance(t, f, "t-4").StopRequested)
	require.False(t, mustInstance(t, f, "t-4").TaskTimedOut)
	_, ok := f.Instance("t-5")
	require.False(t, ok)

	g := snapshotRestore(t, f)
	requireSameRegistry(t, f, g)
	for _, r := range f.Instances(nil) {
		require.Equal(t, r, mustInstance(t, g, r.Info.InstanceID))
	}
	for _, k := range [][2]string{{"A", "T1"}, {"A", "T2"}, {"B", "T1"}, {"B", "T2"}} {
		rf, okF := f.Task(k[0], k[1])
		rg, okG := g.Task(k[0], k[1])
		require.Equal(t, okF, okG)
		require.Equal(t, rf, rg)
	}

	// Both continue identically; the timeout mark survived the restore.
	more := []*raft.Log{
		reportLog(t, "e2", 2_000, taskRep("e2", "t-4", model.TaskRunCompleted, 3, result(model.TaskCancelled, -1))),
		reportLog(t, "e2", 2_100, taskRep("e2", "t-3", model.InstanceStopped, 4, nil)),
		taskCreateLog(t, "e2", taskInstance("B", "T1", "t-6", 3), 0, 2_200), // refused: record kept
		deleteLog(t, "t-3", "t-1"),
		taskCreateLog(t, "e2", taskInstance("B", "T1", "t-6", 3), 0, 2_300),
		taskKillLog(t, "t-6", true, 2_400),
	}
	for i, l := range more {
		require.Equal(t, f.Apply(l), g.Apply(l))
		if i == 1 {
			require.Equal(t, result(model.TaskTimedOut, -1), mustInstance(t, g, "t-3").TaskResult, "kept when STOPPED")
		}
	}
	requireSameRegistry(t, f, g)
	require.Equal(t, result(model.TaskCancelled, -1), mustInstance(t, g, "t-4").TaskResult)
	_, ok = g.Instance("t-3")
	require.False(t, ok, "deleted once finished")
	t6, ok := g.Task("B", "T1")
	require.True(t, ok)
	require.Equal(t, "t-6", t6.Info.InstanceID)
	require.True(t, t6.TaskTimedOut)
}

func TestFSM_TaskDeterminism(t *testing.T) {
	logs := taskLogs(t)
	const replicas = 8
	fs := make([]*FSM, replicas)
	for i := range fs {
		fs[i] = newTestFSM(t, 0)
	}
	for n, l := range logs {
		want := fs[0].Apply(l)
		for i := 1; i < replicas; i++ {
			require.Equal(t, want, fs[i].Apply(l), "same result for log %d on replica %d", n, i)
		}
	}
	for i := 1; i < replicas; i++ {
		require.Equal(t, fs[0].Instances(nil), fs[i].Instances(nil))
		require.Equal(t, allEvents(fs[0]), allEvents(fs[i]), "replica %d derived different events", i)
		require.Equal(t, sortedLines(persist(t, fs[0])), sortedLines(persist(t, fs[i])))
	}
}

// Regression test (fsm/applications.go applyAppDestroy).
func TestFSM_AppDestroyIgnoresTaskWithSameName(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	applyOK(t, f, cmdLog(t, AppCreateType, AppCreateRequest{App: model.ApplicationInfo{AppID: "TEST_APP-1",
		Spec: model.ApplicationSpec{Name: "TEST_APP", Version: "1"}, State: model.AppMonitoring}, Timestamp: 10}))
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP-1", "T1", "t-1", 0), 0, 20))
	applyOK(t, f, taskCreateLog(t, "e1", taskInstance("TEST_APP-1", "T2", "t-2", 1), 0, 20))
	reportOK(t, f, "e1", 30, taskRep("e1", "t-2", model.InstanceStopped, 1, exitResult(0)))

	require.Nil(t, f.Apply(cmdLog(t, AppDestroyType, AppDestroyRequest{AppID: "TEST_APP-1", Timestamp: 40})),
		"the app has no instances of its own")
	_, ok := f.Task("TEST_APP-1", "T2")
	require.True(t, ok, "a finished task's record is not the app's")
}
