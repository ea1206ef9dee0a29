package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// taskSpec is a valid task spec (Drove's sample task, trimmed): one core,
// 128 MB, ANY placement. env drives the fake runtime (EXIT_CODE, SLEEP).
func taskSpecEnv(app, task string, env map[string]string) map[string]any {
	return map[string]any{
		"sourceAppName": app, "taskId": task,
		"executable": map[string]any{"type": "DOCKER", "url": "drove/test-task:1", "dockerPullTimeout": "100 seconds"},
		"resources": []any{map[string]any{"type": "CPU", "count": 1},
			map[string]any{"type": "MEMORY", "sizeInMB": 128}},
		"placementPolicy": map[string]any{"type": "ANY"},
		"env":             env,
	}
}

// taskExitEnv is the env of a task that exits with code after sleep.
func taskExitEnv(code int, sleep time.Duration) map[string]string {
	return map[string]string{"EXIT_CODE": fmt.Sprint(code), "SLEEP": sleep.String()}
}

// postTaskOp submits a task operation through node i.
func postTaskOp(t testing.TB, tc *testCluster, i int, body map[string]any) response {
	t.Helper()
	return tc.call(i, readWrite, "POST", "/apis/v1/tasks/operations", body)
}

// createTaskOK submits CREATE for spec through node i, requires success and
// returns the id it answers with.
func createTaskOK(t testing.TB, tc *testCluster, i int, spec map[string]any) string {
	t.Helper()
	r := postTaskOp(t, tc, i, map[string]any{"type": "CREATE", "spec": spec, "opSpec": opSpec(1)})
	requireSuccess(t, r)
	var data map[string]string
	r.data(t, &data)
	require.Equal(t, spec["sourceAppName"].(string)+"-"+spec["taskId"].(string), data["taskId"])
	return data["taskId"]
}

// postTaskKill submits KILL for app/task through node i.
func postTaskKill(t testing.TB, tc *testCluster, i int, app, task string) response {
	t.Helper()
	return postTaskOp(t, tc, i, map[string]any{"type": "KILL", "sourceAppName": app, "taskId": task, "opSpec": opSpec(1)})
}

// readTask reads GET /tasks/{app}/instances/{task} through node i; false
// when the task is unknown.
func readTask(t testing.TB, tc *testCluster, i int, app, task string) (model.TaskInfo, bool) {
	t.Helper()
	r := tc.call(i, readOnly, "GET", "/apis/v1/tasks/"+app+"/instances/"+task, nil)
	require.Equal(t, 200, r.Code, "body: %s", r.Body)
	if r.Env.Status != "SUCCESS" {
		return model.TaskInfo{}, false
	}
	var info model.TaskInfo
	r.data(t, &info)
	return info, true
}

// listActiveTasks is GET /tasks through a follower.
func listActiveTasks(t testing.TB, tc *testCluster) map[string]model.TaskInfo {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/tasks", nil)
	requireSuccess(t, r)
	var list []model.TaskInfo
	r.data(t, &list)
	out := map[string]model.TaskInfo{}
	for _, ti := range list {
		out[ti.SourceAppName+"/"+ti.TaskID] = ti
	}
	return out
}

// waitTaskIn polls (through a follower) until app/task is in state st.
func waitTaskIn(t testing.TB, tc *testCluster, app, task string, st model.InstanceState, timeout time.Duration) model.TaskInfo {
	t.Helper()
	var last model.TaskInfo
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, ok := readTask(t, tc, tc.follower(), app, task)
		last = info
		assert.True(c, ok, "task %s/%s unknown", app, task)
		assert.Equal(c, st, info.State, "task %s/%s (last %+v)", app, task, info)
	}, timeout, 20*time.Millisecond)
	return last
}

// waitTaskEnded polls until app/task is STOPPED (or LOST for a LOST
// result) and requires its result to be status/code.
func waitTaskEnded(t testing.TB, tc *testCluster, app, task string, status model.TaskResultStatus, code int64, timeout time.Duration) model.TaskInfo {
	t.Helper()
	st := model.InstanceStopped
	if status == model.TaskLost {
		st = model.InstanceLost
	}
	info := waitTaskIn(t, tc, app, task, st, timeout)
	require.NotNil(t, info.TaskResult, "task %s/%s ended without a result: %+v", app, task, info)
	require.Equal(t, model.TaskResult{Status: status, ExitCode: code}, *info.TaskResult, "task %s/%s", app, task)
	return info
}

// taskStateEvents lists the TASK_STATE_CHANGE events of app/task, oldest first,
// as GET /cluster/events serves them.
func taskStateEvents(t testing.TB, tc *testCluster, app, task string) []model.Event {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/cluster/events?size=100000", nil)
	requireSuccess(t, r)
	var evs []model.Event
	r.data(t, &evs)
	var out []model.Event
	for i := len(evs) - 1; i >= 0; i-- { // newest first on the wire
		e := evs[i]
		if e.Type == model.EventTaskStateChange && e.Metadata[model.MetaAppName] == app && e.Metadata[model.MetaTaskID] == task {
			out = append(out, e)
		}
	}
	return out
}

// requireTaskResultEvent requires a TASK_STATE_CHANGE event of app/task in
// state st carrying the result status/code.
func requireTaskResultEvent(t testing.TB, tc *testCluster, app, task string, st model.InstanceState, status model.TaskResultStatus, code int64) {
	t.Helper()
	var last []model.Event
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		last = taskStateEvents(t, tc, app, task)
		found := false
		for _, e := range last {
			if e.Metadata[model.MetaCurrentState] == string(st) {
				found = e.Metadata[model.MetaResultStatus] == string(status) &&
					fmt.Sprint(e.Metadata[model.MetaResultExitCode]) == fmt.Sprint(code)
			}
		}
		assert.True(c, found, "no %s event with result %s/%d for %s/%s in %+v", st, status, code, app, task, last)
	}, 5*time.Second, 50*time.Millisecond)
}

// taskRecordsOn returns every instance record of app/task in node i's
// state, whatever its state.
func taskRecordsOn(tc *testCluster, i int, app, task string) []model.InstanceRecord {
	return tc.nodes[i].c.FSM().Instances(func(r *model.InstanceRecord) bool {
		return r.BelongsTo(model.KindTask, app) && r.Spec.TaskID == task
	})
}

// createCountingRuntime is a fake runtime that counts the containers the agent
// asks it to create, per instance id, so tests can tell that an instance
// was never started twice (finished containers are removed, so the
// runtime's own Count cannot).
type createCountingRuntime struct {
	*fakeruntime.Runtime
	mu      sync.Mutex
	creates map[string]int // instance id -> Create calls
}

func (r *createCountingRuntime) Create(ctx context.Context, spec agent.ContainerSpec) (string, error) {
	r.mu.Lock()
	r.creates[spec.Labels[agent.LabelInstanceID]]++
	r.mu.Unlock()
	return r.Runtime.Create(ctx, spec)
}

// createCalls returns a copy of the Create calls per instance id.
func (r *createCountingRuntime) createCalls() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.creates))
	for k, v := range r.creates {
		out[k] = v
	}
	return out
}

// startCountingExecutor starts an executor on a counting fake runtime;
// layout, when not nil, replaces the default 8 cores / 8 GB.
func startCountingExecutor(t testing.TB, tc *testCluster, id string, layout *model.ResourceLayout) (*testExecutor, *createCountingRuntime) {
	t.Helper()
	fr, err := fakeruntime.New(fakeruntime.Config{StartDelay: 5 * time.Millisecond})
	require.NoError(t, err)
	rt := &createCountingRuntime{Runtime: fr, creates: map[string]int{}}
	e := &testExecutor{cfg: executorConfig(t, tc, id), rt: fr}
	if layout != nil {
		e.cfg.Layout = *layout
	}
	e.a, err = agent.New(e.cfg, rt)
	require.NoError(t, err)
	t.Cleanup(e.kill)
	return e, rt
}

// tasksCluster is 3 controllers and n counting fake executors
// (exec-1 … exec-n), all ACTIVE.
func tasksCluster(t testing.TB, n int, layout *model.ResourceLayout, opts ...clusterOption) (*testCluster, []*testExecutor, []*createCountingRuntime) {
	t.Helper()
	tc := newCluster(t, 3, append([]clusterOption{withExecutorTiming()}, opts...)...)
	var execs []*testExecutor
	var rts []*createCountingRuntime
	for k := 1; k <= n; k++ {
		e, rt := startCountingExecutor(t, tc, fmt.Sprintf("exec-%d", k), layout)
		execs, rts = append(execs, e), append(rts, rt)
	}
	for k := 1; k <= n; k++ {
		waitExecutorState(t, tc, fmt.Sprintf("exec-%d", k), model.ExecutorActive, 10*time.Second)
	}
	return tc, execs, rts
}

// containersCreatedFor sums the Create calls for instance id over runtimes.
func containersCreatedFor(rts []*createCountingRuntime, id string) int {
	n := 0
	for _, rt := range rts {
		n += rt.createCalls()[id]
	}
	return n
}

// assertTaskKeys asserts that tasks holds exactly the keys "app/task" given.
func assertTaskKeys(c *assert.CollectT, tasks map[string]model.TaskInfo, keys ...string) {
	got := make([]string, 0, len(tasks))
	for k := range tasks {
		got = append(got, k)
	}
	assert.ElementsMatch(c, keys, got)
}
