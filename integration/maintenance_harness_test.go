package integration

// Harness of the maintenance tests (docs/maintenance.md): executors on
// their own loopback address (127.0.0.N is their hostname, so a
// maintenance window can name the machine of one), restartable on the same
// runtime and ports; a runtime whose stops take the whole grace period, as
// a container that ignores SIGTERM does; and readers of the maintenance API.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/require"
)

// slowStopRuntime is the fake runtime whose containers ignore SIGTERM: a
// stop takes the whole grace period the agent passes, which it records.
type slowStopRuntime struct {
	*fakeruntime.Runtime
	mu     sync.Mutex
	graces []time.Duration
}

// Stop waits for the grace period (SIGTERM ignored), then stops (SIGKILL).
// A cancelled ctx (the agent was killed) stops nothing.
func (r *slowStopRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	r.graces = append(r.graces, grace)
	r.mu.Unlock()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.Runtime.Stop(ctx, id, grace)
}

// stopGraces returns the grace periods of every stop so far.
func (r *slowStopRuntime) stopGraces() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.graces...)
}

// execSpec describes a maintenance test executor.
type execSpec struct {
	id, host   string        // host: a loopback address, 127.0.0.N
	startDelay time.Duration // the fake runtime's StartDelay (default 5ms)
	stopGrace  time.Duration // > 0: the agent's StopGrace, and stops take the whole grace
}

// maintExecutor is an agent on a fake runtime at its own loopback address.
type maintExecutor struct {
	cfg  agent.Config
	fake *fakeruntime.Runtime
	rt   agent.Runtime    // fake, or slow around it
	slow *slowStopRuntime // nil unless spec.stopGrace > 0
	a    *agent.Agent     // nil while stopped
}

// maintLayout offers 16 cores and 8 GB, room for the migrations.
var maintLayout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1, 2, 3, 4, 5, 6, 7}, 1: {8, 9, 10, 11, 12, 13, 14, 15}},
	Memory: map[int]int64{0: 4096, 1: 4096}}

// startMaintExecutor starts an executor as s describes.
func startMaintExecutor(t testing.TB, tc *testCluster, s execSpec) *maintExecutor {
	t.Helper()
	cfg := executorConfig(t, tc, s.id)
	cfg.Hostname, cfg.HTTPAddr = s.host, s.host+":0"
	cfg.Layout = maintLayout
	if s.stopGrace > 0 {
		cfg.StopGrace = s.stopGrace
	}
	fake, err := fakeruntime.New(fakeruntime.Config{StartDelay: max(s.startDelay, 5*time.Millisecond)})
	require.NoError(t, err)
	e := &maintExecutor{cfg: cfg, fake: fake, rt: fake}
	if s.stopGrace > 0 {
		e.slow = &slowStopRuntime{Runtime: fake}
		e.rt = e.slow
	}
	e.start(t)
	t.Cleanup(e.kill)
	return e
}

// start starts the agent on the executor's runtime (re-adopting its
// containers). Its ports are pinned after the first start, so a restart
// comes back on the same addresses; a port still held briefly is retried.
func (e *maintExecutor) start(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	for {
		a, err := agent.New(e.cfg, e.rt)
		if err == nil {
			e.a = a
			e.cfg.HTTPAddr, e.cfg.GossipAddr = a.HTTPAddr(), a.GossipAddr()
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			require.NoError(t, err, "start executor %s", e.cfg.ExecutorID)
		}
		<-retry.C
	}
}

// kill stops the agent as a crash would; containers keep running.
func (e *maintExecutor) kill() {
	if e.a != nil {
		e.a.Kill()
		e.a = nil
	}
}

// restart kills the agent and starts a new one on the same runtime.
func (e *maintExecutor) restart(t testing.TB) {
	t.Helper()
	e.kill()
	e.start(t)
}

// maintCluster is 3 controllers and n executors exec-1..n on hosts
// 127.0.0.11.., all ACTIVE. spec adjusts each executor's spec.
func maintCluster(t testing.TB, n int, spec func(*execSpec), opts ...clusterOption) (*testCluster, []*maintExecutor) {
	t.Helper()
	tc := newCluster(t, 3, append([]clusterOption{withExecutorTiming()}, opts...)...)
	var execs []*maintExecutor
	for k := 1; k <= n; k++ {
		s := execSpec{id: fmt.Sprintf("exec-%d", k), host: fmt.Sprintf("127.0.0.%d", 10+k)}
		if spec != nil {
			spec(&s)
		}
		execs = append(execs, startMaintExecutor(t, tc, s))
	}
	for _, e := range execs {
		waitExecutorState(t, tc, e.cfg.ExecutorID, model.ExecutorActive, 10*time.Second)
	}
	return tc, execs
}

// withLeadTime sets MaintenanceLeadTime.
func withLeadTime(d time.Duration) clusterOption {
	return func(c *server.ControllerConfig) { c.MaintenanceLeadTime = d }
}

// appSummaries is GET /applications through a follower.
func appSummaries(t testing.TB, tc *testCluster) map[string]model.AppSummary {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/applications", nil)
	requireSuccess(t, r)
	var out map[string]model.AppSummary
	r.data(t, &out)
	return out
}

// healthSampler tracks, over samples of GET /applications, every app's
// lowest healthy count relative to its desired count.
type healthSampler struct {
	samples    int
	violations []string
	minFrac    float64            // lowest total healthy/desired over all apps of a sample
	minApp     map[string]float64 // lowest healthy/desired per app
}

func newHealthSampler() *healthSampler {
	return &healthSampler{minFrac: 1e9, minApp: map[string]float64{}}
}

// sample takes one sample of the apps in ids (all apps when nil).
func (h *healthSampler) sample(t testing.TB, tc *testCluster, ids map[string]bool) {
	t.Helper()
	h.samples++
	healthy, desired := 0, 0
	for id, s := range appSummaries(t, tc) {
		if ids != nil && !ids[id] || s.RequiredInstances == 0 {
			continue
		}
		healthy += s.HealthyInstances
		desired += s.RequiredInstances
		f := float64(s.HealthyInstances) / float64(s.RequiredInstances)
		if m, ok := h.minApp[id]; !ok || f < m {
			h.minApp[id] = f
		}
		if s.HealthyInstances < s.RequiredInstances {
			h.violations = append(h.violations, fmt.Sprintf("sample %d: %s %d healthy < %d desired (state %s)",
				h.samples, id, s.HealthyInstances, s.RequiredInstances, s.State))
		}
	}
	if desired > 0 {
		h.minFrac = min(h.minFrac, float64(healthy)/float64(desired))
	}
}

// minAppFrac is the lowest per-app fraction seen.
func (h *healthSampler) minAppFrac() float64 {
	m := 1e9
	for _, f := range h.minApp {
		m = min(m, f)
	}
	return m
}

// sampleUntil samples every interval until done holds; false on timeout.
func sampleUntil(timeout, interval time.Duration, sample func(), done func() bool) bool {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for {
		sample()
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// leaderExecutor is an executor as the leader's state holds it.
func leaderExecutor(tc *testCluster, id string) (model.ExecutorInfo, bool) {
	i := tc.leaderIndex()
	if i < 0 {
		return model.ExecutorInfo{}, false
	}
	return tc.nodes[i].c.FSM().Executor(id)
}

// executorIs reports whether the leader holds executor id in state st.
func executorIs(tc *testCluster, id string, st model.ExecutorState) bool {
	e, ok := leaderExecutor(tc, id)
	return ok && e.State == st
}

// liveInstancesOn lists the ids of non-terminal instances of kind on an
// executor, as a follower serves GET /cluster/executors/{id}.
func liveInstancesOn(t testing.TB, tc *testCluster, execID string) (apps, tasks, services []string) {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/cluster/executors/"+execID, nil)
	requireSuccess(t, r)
	var d model.ExecutorNodeData
	r.data(t, &d)
	for _, in := range d.Instances {
		apps = append(apps, in.InstanceID)
	}
	for _, in := range d.Tasks {
		tasks = append(tasks, in.InstanceID)
	}
	for _, in := range d.ServiceInsts {
		services = append(services, in.InstanceID)
	}
	return apps, tasks, services
}

// appInstancesByExecutor maps every live instance id of the apps to its executor.
func appInstancesByExecutor(t testing.TB, tc *testCluster, appIDs []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range appIDs {
		for _, in := range appInstances(t, tc, id, "") {
			out[in.InstanceID] = in.ExecutorID
		}
	}
	return out
}

// mostLoaded returns the executor holding the most of the instances.
func mostLoaded(byExec map[string]string) string {
	n := map[string]int{}
	for _, e := range byExec {
		n[e]++
	}
	best := ""
	for e, c := range n {
		if best == "" || c > n[best] || c == n[best] && e < best {
			best = e
		}
	}
	return best
}

// createSpreadApps creates n apps PREFIX_k-1 of inst instances (ANY placement)
// and waits until all are RUNNING and healthy; it returns their ids.
func createSpreadApps(t testing.TB, tc *testCluster, prefix string, n, inst int) []string {
	t.Helper()
	var ids []string
	for k := 1; k <= n; k++ {
		name := fmt.Sprintf("%s_%d", prefix, k)
		appOp(t, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": testSpec(name, "1", 1, `{"type":"ANY"}`),
			"instances": inst, "opSpec": opSpec(inst)})
		ids = append(ids, name+"-1")
	}
	for _, id := range ids {
		waitAppTB(t, tc, id, model.AppRunning, inst, 30*time.Second)
	}
	return ids
}

// waitAppTB is waitApp for testing.TB, checked in the test's goroutine.
func waitAppTB(t testing.TB, tc *testCluster, appID string, st model.ApplicationState, healthy int, timeout time.Duration) {
	t.Helper()
	var last model.AppSummary
	if !sampleUntil(timeout, 50*time.Millisecond, func() {}, func() bool {
		r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/applications/"+appID, nil)
		if r.Env.Status != "SUCCESS" {
			return false
		}
		r.data(t, &last)
		return last.State == st && last.HealthyInstances == healthy
	}) {
		require.Failf(t, "app not settled", "app %s never reached %s with %d healthy within %s (last %+v)", appID, st, healthy, timeout, last)
	}
}

// postBlacklist (un)blacklists through a follower: ?id=… for each id.
func postBlacklist(t testing.TB, tc *testCluster, on bool, ids ...string) response {
	t.Helper()
	path := "/apis/v1/cluster/executors/unblacklist?"
	if on {
		path = "/apis/v1/cluster/executors/blacklist?"
	}
	for k, id := range ids {
		if k > 0 {
			path += "&"
		}
		path += "id=" + id
	}
	return tc.call(tc.follower(), maintUser, "POST", path, nil)
}

// executorEvents lists the types of the executor's EXECUTOR_* events, oldest first.
func executorEvents(t testing.TB, tc *testCluster, id string) []model.EventType {
	t.Helper()
	var out []model.EventType
	for _, e := range eventsOldestFirst(t, tc) {
		if e.Metadata[model.MetaExecutorID] == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// eventsOldestFirst is every retained event, oldest first.
func eventsOldestFirst(t testing.TB, tc *testCluster) []model.Event {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/cluster/events?size=100000", nil)
	requireSuccess(t, r)
	var evs []model.Event
	r.data(t, &evs)
	out := make([]model.Event, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- { // newest first on the wire
		out = append(out, evs[i])
	}
	return out
}

// appStateChanges counts, per app, APP_STATE_CHANGE events into st.
func appStateChanges(t testing.TB, tc *testCluster, st model.ApplicationState) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range eventsOldestFirst(t, tc) {
		if e.Type == model.EventAppStateChange && e.Metadata[model.MetaCurrentState] == string(st) {
			id, _ := e.Metadata[model.MetaAppID].(string)
			out[id]++
		}
	}
	return out
}

// postDrain starts draining an executor and returns the response.
func postDrain(t testing.TB, tc *testCluster, id string, body map[string]any) response {
	t.Helper()
	return tc.call(tc.follower(), maintUser, "POST", "/apis/v1/cluster/executors/"+id+"/drain", body)
}

// postActivation deactivates or reactivates an executor.
func postActivation(t testing.TB, tc *testCluster, id string, deactivate bool) response {
	t.Helper()
	verb := "reactivate"
	if deactivate {
		verb = "deactivate"
	}
	return tc.call(tc.follower(), maintUser, "POST", "/apis/v1/cluster/executors/"+id+"/"+verb, nil)
}

// summaryOf is an executor's summary as a follower lists it.
func summaryOf(t testing.TB, tc *testCluster, id string) model.ExecutorSummary {
	t.Helper()
	return executors(t, tc, tc.follower())[id]
}

// maintTask is a task of the fake runtime that runs until stopped.
func maintTask(app, id string) map[string]any {
	return map[string]any{"sourceAppName": app, "taskId": id,
		"executable":      map[string]any{"type": "DOCKER", "url": "drove/test-task:1", "dockerPullTimeout": "100 seconds"},
		"resources":       []any{map[string]any{"type": "CPU", "count": 1}, map[string]any{"type": "MEMORY", "sizeInMB": 64}},
		"placementPolicy": map[string]any{"type": "ANY"}}
}

// maintTaskInfo is GET /tasks/{app}/instances/{id} through a follower.
func maintTaskInfo(t testing.TB, tc *testCluster, app, id string) model.TaskInfo {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/tasks/"+app+"/instances/"+id, nil)
	requireSuccess(t, r)
	var ti model.TaskInfo
	r.data(t, &ti)
	return ti
}

// Maintenance schedule bodies.

// maintWindow is a maintenance window of machines starting at start.
func maintWindow(start time.Time, dur time.Duration, ms ...model.MachineID) map[string]any {
	u := map[string]any{"start": map[string]any{"nanoseconds": start.UnixNano()}}
	if dur != 0 {
		u["duration"] = map[string]any{"nanoseconds": dur.Nanoseconds()}
	}
	return map[string]any{"machine_ids": ms, "unavailability": u}
}

func maintSchedule(windows ...map[string]any) map[string]any {
	if windows == nil {
		windows = []map[string]any{}
	}
	return map[string]any{"windows": windows}
}

// postMaintSchedule replaces the schedule.
func postMaintSchedule(t testing.TB, tc *testCluster, body any) response {
	t.Helper()
	return tc.call(tc.follower(), maintUser, "POST", "/apis/v1/cluster/maintenance/schedule", body)
}

// getMaintSchedule is the stored schedule as raw JSON (for before/after comparisons).
func getMaintSchedule(t testing.TB, tc *testCluster, i int) string {
	t.Helper()
	r := tc.call(i, readOnly, "GET", "/apis/v1/cluster/maintenance/schedule", nil)
	requireSuccess(t, r)
	return string(r.Env.Data)
}

// maintStatusView is GET /cluster/maintenance/status.
type maintStatusView struct {
	DrainingMachines []struct {
		ID model.MachineID `json:"id"`
	} `json:"draining_machines"`
	DownMachines []model.MachineID `json:"down_machines"`
	Machines     []struct {
		model.MachineStatus
		Executors []string `json:"executors"`
	} `json:"machines"`
}

// modes maps each machine of the status to its mode.
func (s maintStatusView) modes() map[string]model.MachineMode {
	out := map[string]model.MachineMode{}
	for _, m := range s.Machines {
		out[m.ID.String()] = m.Mode
	}
	return out
}

// executorsOf lists the executors of a machine of the status.
func (s maintStatusView) executorsOf(name string) []string {
	for _, m := range s.Machines {
		if m.ID.String() == name {
			out := append([]string(nil), m.Executors...)
			sort.Strings(out)
			return out
		}
	}
	return nil
}

func maintStatus(t testing.TB, tc *testCluster, i int) maintStatusView {
	t.Helper()
	r := tc.call(i, readOnly, "GET", "/apis/v1/cluster/maintenance/status", nil)
	requireSuccess(t, r)
	var s maintStatusView
	r.data(t, &s)
	return s
}

// postMachines posts to /cluster/machines/down or /up.
func postMachines(t testing.TB, tc *testCluster, verb string, ms ...model.MachineID) response {
	t.Helper()
	body := any(ms)
	if ms == nil {
		body = []model.MachineID{}
	}
	return tc.call(tc.follower(), maintUser, "POST", "/apis/v1/cluster/machines/"+verb, body)
}

// holdsFor requires cond to hold at every check, every interval for d.
// Unlike require.Never it checks in the test's goroutine, so a check that
// calls the API never outlives the test.
func holdsFor(t testing.TB, d, interval time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.Now().Add(d)
	for {
		require.True(t, cond(), msgAndArgs...)
		if time.Now().After(end) {
			return
		}
		<-tick.C
	}
}

// waitUntil is require.Eventually checked in the test's goroutine, so a
// check that calls the API never outlives the test when it times out.
func waitUntil(t testing.TB, cond func() bool, timeout, interval time.Duration, msgAndArgs ...any) {
	t.Helper()
	if !sampleUntil(timeout, interval, func() {}, cond) {
		require.Fail(t, "condition not met within "+timeout.String(), msgAndArgs...)
	}
}
