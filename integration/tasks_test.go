package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every way a task ends, as the API, the event log and DELETE show it: a
// task exiting 0 is SUCCESSFUL/0, exiting 3 FAILED/3, killed CANCELLED/-1,
// past its timeout TIMED_OUT/-1. GET /tasks lists only active tasks; a
// finished task stays readable until deleted, and its id can then be
// used again; a running task cannot be deleted.
func TestTasks_Results(t *testing.T) {
	tc, _, _ := tasksCluster(t, 2, nil)
	const app = "RESULTS"
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "ok", taskExitEnv(0, 0)))
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "fail", taskExitEnv(3, 0)))
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "killed", taskExitEnv(0, time.Hour)))
	timed := taskSpecEnv(app, "timed", taskExitEnv(0, time.Hour))
	timed["timeout"] = "2 seconds"
	createTaskOK(t, tc, tc.follower(), timed)

	waitTaskIn(t, tc, app, "killed", model.TaskRunning, 10*time.Second)
	waitTaskEnded(t, tc, app, "ok", model.TaskSuccessful, 0, 10*time.Second)
	waitTaskEnded(t, tc, app, "fail", model.TaskFailed, 3, 10*time.Second)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		active := listActiveTasks(t, tc)
		assert.Contains(c, active, app+"/killed")
		assert.NotContains(c, active, app+"/ok")
		assert.NotContains(c, active, app+"/fail")
		for k, ti := range active {
			assert.True(c, ti.State.IsTaskActive(), "%s listed in state %s", k, ti.State)
		}
	}, 5*time.Second, 20*time.Millisecond, "GET /tasks lists the active tasks only")

	// A running task cannot be deleted.
	r := tc.call(tc.follower(), readOnly, "DELETE", "/apis/v1/tasks/"+app+"/instances/killed", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.Equal(t, "FAILED", r.Env.Status, "body: %s", r.Body)
	require.Equal(t, "Could not delete "+app+"/killed", r.Env.Message)
	require.JSONEq(t, `{"deleted": false}`, string(r.Env.Data))

	r = postTaskKill(t, tc, tc.follower(), app, "killed")
	requireSuccess(t, r)
	require.JSONEq(t, `{"taskId": "killed"}`, string(r.Env.Data))
	waitTaskEnded(t, tc, app, "killed", model.TaskCancelled, -1, 10*time.Second)

	info := waitTaskEnded(t, tc, app, "timed", model.TaskTimedOut, -1, 10*time.Second)
	require.GreaterOrEqual(t, info.Updated-info.Created, int64(2000), "killed no earlier than its timeout: %+v", info)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assertTaskKeys(c, listActiveTasks(t, tc))
	}, 5*time.Second, 20*time.Millisecond, "no task is active any more")

	results := map[string]model.TaskResult{
		"ok": {Status: model.TaskSuccessful}, "fail": {Status: model.TaskFailed, ExitCode: 3},
		"killed": {Status: model.TaskCancelled, ExitCode: -1}, "timed": {Status: model.TaskTimedOut, ExitCode: -1},
	}
	for task, res := range results {
		info, ok := readTask(t, tc, tc.follower(), app, task)
		require.True(t, ok, task)
		require.Equal(t, app, info.SourceAppName)
		require.Equal(t, task, info.TaskID)
		require.NotEmpty(t, info.InstanceID)
		require.Contains(t, []string{"exec-1", "exec-2"}, info.ExecutorID)
		require.Equal(t, res, *info.TaskResult, task)
		requireTaskResultEvent(t, tc, app, task, model.InstanceStopped, res.Status, res.ExitCode)
		evs := taskStateEvents(t, tc, app, task)
		require.Equal(t, info.InstanceID, evs[len(evs)-1].Metadata[model.MetaInstanceID])
	}

	// DELETE forgets a finished task; its id can be used again.
	first, _ := readTask(t, tc, tc.follower(), app, "ok")
	r = tc.call(tc.follower(), readOnly, "DELETE", "/apis/v1/tasks/"+app+"/instances/ok", nil)
	requireSuccess(t, r)
	require.JSONEq(t, `{"deleted": true}`, string(r.Env.Data))
	_, ok := readTask(t, tc, tc.waitForLeader(10*time.Second), app, "ok")
	require.False(t, ok, "deleted task still readable")
	r = tc.call(tc.follower(), readOnly, "DELETE", "/apis/v1/tasks/"+app+"/instances/ok", nil)
	require.Equal(t, "FAILED", r.Env.Status, "second delete: %s", r.Body)
	require.JSONEq(t, `{"deleted": false}`, string(r.Env.Data))

	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "ok", taskExitEnv(0, 0)))
	again := waitTaskEnded(t, tc, app, "ok", model.TaskSuccessful, 0, 10*time.Second)
	require.NotEqual(t, first.InstanceID, again.InstanceID, "a new instance for the reused id")

	// Drove's UI search form redirects to the task's page, or to /.
	require.Equal(t, "/tasks/"+app+"/fail", searchTaskForm(t, tc, app, "fail"))
	require.Equal(t, "/", searchTaskForm(t, tc, app, "nope"))
}

// searchTaskForm posts Drove's task search form through a follower and
// returns where the 303 answer points.
func searchTaskForm(t *testing.T, tc *testCluster, app, task string) string {
	t.Helper()
	form := url.Values{"taskSearchAppName": {app}, "taskSearchTaskID": {task}}
	req, err := http.NewRequest("POST", "http://"+tc.nodes[tc.follower()].cfg.HTTPAddr+"/apis/v1/tasks/search",
		strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(readOnly[0], readOnly[1])
	noFollow := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	return resp.Header.Get("Location")
}

// CREATE, KILL and validate/spec refusals, with Drove's messages.
func TestTasks_Validation(t *testing.T) {
	tc, _, _ := tasksCluster(t, 1, nil) // 8 cores, 8192 MB
	const app = "VALID"
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "long", taskExitEnv(0, time.Hour)))
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "done", taskExitEnv(0, 0)))
	waitTaskIn(t, tc, app, "long", model.TaskRunning, 10*time.Second)
	waitTaskEnded(t, tc, app, "done", model.TaskSuccessful, 0, 10*time.Second)

	create := func(spec map[string]any) response {
		return postTaskOp(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": spec, "opSpec": opSpec(1)})
	}
	for _, task := range []string{"long", "done"} { // running or finished
		requireRefused(t, create(taskSpecEnv(app, task, nil)),
			fmt.Sprintf("Task already exists for %s/%s with taskID: %s-%s", app, task, app, task))
	}
	requireRefused(t, create(taskSpecEnv(app, "bad id!", nil)), "spec.taskId - Only characters, numbers, hyphen and underscore is allowed")
	requireRefused(t, create(taskSpecEnv("bad/app", "t", nil)), "spec.sourceAppName - ")
	local := taskSpecEnv(app, "local", nil)
	local["placementPolicy"] = map[string]any{"type": "LOCAL", "hostLevel": false}
	requireRefused(t, create(local), model.ViolationTaskLocalPlacement)

	big := taskSpecEnv(app, "big", nil)
	big["resources"] = []any{map[string]any{"type": "CPU", "count": 100}, map[string]any{"type": "MEMORY", "sizeInMB": 100000}}
	errs := requireRefused(t, create(big), "Cluster does not have enough CPU. Required: 100 Available: 7")
	require.Contains(t, errs, "Cluster does not have enough Memory. Required: 100000 Available: 8064")
	_, ok := readTask(t, tc, tc.follower(), app, "big")
	require.False(t, ok, "a refused task leaves no record")

	// KILL of an unknown or finished task.
	for _, task := range []string{"nope", "done"} {
		requireRefused(t, postTaskKill(t, tc, tc.follower(), app, task),
			fmt.Sprintf("Either task does not exist or has already finished for %s/%s", app, task))
	}
	errs = requireRefused(t, postTaskOp(t, tc, tc.follower(), map[string]any{"type": "KILL"}), "sourceAppName - must not be empty")
	require.Contains(t, errs, "taskId - must not be empty")
	requireRefused(t, postTaskKill(t, tc, tc.follower(), app, "bad id!"), "taskId - Only characters")
	requireRefused(t, postTaskOp(t, tc, tc.follower(), map[string]any{"type": "SCALE", "sourceAppName": app, "taskId": "long"}), "type - ")
	require.Equal(t, http.StatusForbidden, tc.call(tc.follower(), readOnly, "POST", "/apis/v1/tasks/operations",
		map[string]any{"type": "CREATE", "spec": taskSpecEnv(app, "ro", nil), "opSpec": opSpec(1)}).Code)

	// validate/spec: SUCCESS without data, or every violation.
	r := tc.call(tc.follower(), readOnly, "POST", "/apis/v1/tasks/validate/spec", taskSpecEnv(app, "fine", nil))
	requireSuccess(t, r)
	require.Empty(t, r.Env.Data, "body: %s", r.Body)
	local["taskId"] = "bad id!"
	errs = requireRefused(t, tc.call(tc.follower(), readOnly, "POST", "/apis/v1/tasks/validate/spec", local), model.ViolationTaskLocalPlacement)
	require.Contains(t, errs, "spec.taskId - Only characters, numbers, hyphen and underscore is allowed")

	// Maintenance mode refuses CREATE and KILL; unset, writes go through at once.
	setMaintenance(t, tc, true)
	requireRefused(t, create(taskSpecEnv(app, "maint", taskExitEnv(0, 0))), "Cluster is in maintenance mode")
	requireRefused(t, postTaskKill(t, tc, tc.follower(), app, "long"), "Cluster is in maintenance mode")
	requireSuccess(t, tc.call(tc.follower(), readOnly, "POST", "/apis/v1/tasks/validate/spec", taskSpecEnv(app, "fine", nil)))
	setMaintenance(t, tc, false)
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "maint", taskExitEnv(0, 0)))
	waitTaskEnded(t, tc, app, "maint", model.TaskSuccessful, 0, 10*time.Second)
	requireSuccess(t, postTaskKill(t, tc, tc.follower(), app, "long"))
	waitTaskEnded(t, tc, app, "long", model.TaskCancelled, -1, 10*time.Second)
}

// Tasks are committed before CREATE answers; a new leader carries on with
// them: each ends with its own result, has exactly one instance record
// (the same id) and exactly one container, and the timeout is enforced by
// the new leader.
func TestTasks_SurviveLeaderFailover(t *testing.T) {
	tc, _, rts := tasksCluster(t, 3, nil)
	const app = "FAILOVER"
	old := tc.waitForLeader(10 * time.Second)
	codes := map[string]int{"t0": 0, "t1": 1, "t2": 2, "t3": 0, "t4": 5}
	for task, code := range codes {
		createTaskOK(t, tc, old, taskSpecEnv(app, task, taskExitEnv(code, 3*time.Second)))
	}
	timed := taskSpecEnv(app, "timed", taskExitEnv(0, time.Hour))
	timed["timeout"] = "2 seconds"
	createTaskOK(t, tc, old, timed)

	ids := map[string]string{} // task -> instance id, as committed
	for task := range codes {
		recs := taskRecordsOn(tc, old, app, task)
		require.Len(t, recs, 1, task)
		ids[task] = recs[0].Info.InstanceID
	}
	recs := taskRecordsOn(tc, old, app, "timed")
	require.Len(t, recs, 1)
	ids["timed"] = recs[0].Info.InstanceID
	require.NotZero(t, recs[0].TaskDeadline, "the deadline is replicated")

	tc.stop(old)
	leader := tc.waitForLeader(10 * time.Second)
	require.NotEqual(t, old, leader)

	for task, code := range codes {
		status := model.TaskSuccessful
		if code != 0 {
			status = model.TaskFailed
		}
		waitTaskEnded(t, tc, app, task, status, int64(code), 20*time.Second)
	}
	waitTaskEnded(t, tc, app, "timed", model.TaskTimedOut, -1, 20*time.Second)

	leader = tc.waitForLeader(10 * time.Second)
	for task, id := range ids {
		recs := taskRecordsOn(tc, leader, app, task)
		require.Len(t, recs, 1, "%s: one instance record ever", task)
		require.Equal(t, id, recs[0].Info.InstanceID, task)
		require.Equal(t, 1, containersCreatedFor(rts, id), "%s: one container ever", task)
	}
	total := 0
	for _, rt := range rts {
		for _, n := range rt.createCalls() {
			total += n
		}
	}
	require.Equal(t, len(ids), total, "no container for anything else")
}

// A task on an executor that is lost ends LOST with result LOST/-1.
func TestTasks_LostWithExecutor(t *testing.T) {
	tc, execs, _ := tasksCluster(t, 2, nil)
	const app = "LOST"
	createTaskOK(t, tc, tc.follower(), taskSpecEnv(app, "t", taskExitEnv(0, time.Hour)))
	info := waitTaskIn(t, tc, app, "t", model.TaskRunning, 10*time.Second)
	require.Nil(t, info.TaskResult)

	k := 0
	if info.ExecutorID == "exec-2" {
		k = 1
	}
	require.Equal(t, info.ExecutorID, execs[k].cfg.ExecutorID)
	execs[k].kill()
	waitExecutorState(t, tc, info.ExecutorID, model.ExecutorRemoved, 20*time.Second)

	lost := waitTaskEnded(t, tc, app, "t", model.TaskLost, -1, 10*time.Second)
	require.Equal(t, info.InstanceID, lost.InstanceID)
	requireTaskResultEvent(t, tc, app, "t", model.InstanceLost, model.TaskLost, -1)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assertTaskKeys(c, listActiveTasks(t, tc))
	}, 5*time.Second, 20*time.Millisecond, "a lost task is not active")
	requireRefused(t, postTaskKill(t, tc, tc.follower(), app, "t"), "Either task does not exist or has already finished for LOST/t")
}

// Concurrent CREATEs all succeed: placing tasks at the same time must not
// surface placement races to clients (Drove serializes task creation).
// 16 clients submit 4 tasks each at once onto 2 executors with room for
// every one of them.
func TestTasks_ConcurrentCreates(t *testing.T) {
	layout := &model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{0: 8192, 1: 8192}}
	for c := range 40 {
		layout.Cores[c/20] = append(layout.Cores[c/20], c)
	}
	tc, _, _ := tasksCluster(t, 2, layout)
	const app, clients, each = "CONCURRENT", 16, 4
	leader := tc.waitForLeader(10 * time.Second)
	base := "http://" + tc.nodes[leader].cfg.HTTPAddr
	refused := make([][]string, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for k := range each {
				body := map[string]any{"type": "CREATE", "opSpec": opSpec(1),
					"spec": taskSpecEnv(app, fmt.Sprintf("t%d-%d", c, k), taskExitEnv(0, 0))}
				r, err := tryRequest(httpClient, base, readWrite, "POST", "/apis/v1/tasks/operations", body)
				switch {
				case err != nil:
					refused[c] = append(refused[c], err.Error())
				case r.Code != http.StatusOK || r.Env.Status != "SUCCESS":
					refused[c] = append(refused[c], fmt.Sprintf("t%d-%d: HTTP %d: %s", c, k, r.Code, r.Body))
				}
			}
		})
	}
	wg.Wait()
	var all []string
	for _, r := range refused {
		all = append(all, r...)
	}
	require.Empty(t, all, "%d of %d concurrent CREATEs refused", len(all), clients*each)
	for c := range clients {
		for k := range each {
			waitTaskEnded(t, tc, app, fmt.Sprintf("t%d-%d", c, k), model.TaskSuccessful, 0, 10*time.Second)
		}
	}
}
