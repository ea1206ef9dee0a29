package integration

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/require"
)

func TestExecutors_RegisterWithResourcesThroughAnyController(t *testing.T) {
	tc := newCluster(t, 3, withExecutorTiming())
	for _, id := range []string{"exec-1", "exec-2", "exec-3"} {
		startExecutor(t, tc, id)
	}
	for _, id := range []string{"exec-1", "exec-2", "exec-3"} {
		waitExecutorState(t, tc, id, model.ExecutorActive, 10*time.Second)
	}
	f := tc.follower()
	list := executors(t, tc, f)
	require.Len(t, list, 3)
	e := list["exec-2"]
	require.Equal(t, 8, e.FreeCores)
	require.Equal(t, 0, e.UsedCores)
	require.EqualValues(t, 8192, e.FreeMemory)
	require.Equal(t, "127.0.0.1", e.Hostname)
	require.Contains(t, e.Tags, "127.0.0.1", "executors tag themselves with their hostname")

	r := tc.call(f, readOnly, "GET", "/apis/v1/cluster/executors/exec-2", nil)
	requireSuccess(t, r)
	var nd model.ExecutorNodeData
	r.data(t, &nd)
	require.Equal(t, "EXECUTOR", nd.Type)
	require.Equal(t, model.ExecutorActive, nd.ExecutorState)
	require.Equal(t, map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}}, nd.State.Layout.Cores)
	require.Equal(t, "r1", nd.Metadata["rack"])

	r = tc.call(f, readOnly, "GET", "/apis/v1/cluster/executors/nope", nil)
	require.Equal(t, 200, r.Code)
	require.Equal(t, "FAILED", r.Env.Status)
	require.Equal(t, "No executor found with id: nope", r.Env.Message)

	r = tc.call(f, readOnly, "GET", "/apis/v1/cluster", nil)
	var sum model.ClusterSummary
	r.data(t, &sum)
	require.Equal(t, 3, sum.NumExecutors)
	require.Equal(t, 24, sum.TotalCores)
	require.EqualValues(t, 24576, sum.TotalMemory)
}

func TestExecutors_KilledIsRemovedThenRejoins(t *testing.T) {
	tc := newCluster(t, 3, withExecutorTiming())
	e := startExecutor(t, tc, "exec-1")
	startExecutor(t, tc, "exec-2")
	waitExecutorState(t, tc, "exec-1", model.ExecutorActive, 10*time.Second)
	ids := placeInstances(t, tc, "exec-1", 2)
	waitInstanceState(t, tc, ids, model.InstanceHealthy, 10*time.Second)

	killed := time.Now()
	e.kill()
	waitExecutorState(t, tc, "exec-1", model.ExecutorRemoved, 10*time.Second)
	t.Logf("executor declared REMOVED %s after kill", time.Since(killed))
	waitInstanceState(t, tc, ids, model.InstanceLost, time.Second)
	list := executors(t, tc, tc.follower())
	require.Equal(t, model.ExecutorRemoved, list["exec-1"].State, "a lost executor stays listed as REMOVED")
	require.Equal(t, model.ExecutorActive, list["exec-2"].State)

	startExecutor(t, tc, "exec-1")
	waitExecutorState(t, tc, "exec-1", model.ExecutorActive, 10*time.Second)
}

func TestExecutors_DispatchStartStopAndHealLostMessage(t *testing.T) {
	var dropStarts atomic.Bool
	tc := newCluster(t, 3, withExecutorTiming(), func(c *server.ControllerConfig) {
		c.DropDispatch = func(m model.ExecutorMessage) bool {
			return m.Type == model.MsgStartInstance && dropStarts.Load()
		}
	})
	e := startExecutor(t, tc, "exec-1")
	waitExecutorState(t, tc, "exec-1", model.ExecutorActive, 10*time.Second)

	ids := placeInstances(t, tc, "exec-1", 3)
	waitInstanceState(t, tc, ids, model.InstanceHealthy, 10*time.Second)
	require.Equal(t, 3, e.rt.Count())
	r := tc.call(0, readOnly, "GET", "/apis/v1/cluster/executors/exec-1", nil)
	var nd model.ExecutorNodeData
	r.data(t, &nd)
	require.Len(t, nd.Instances, 3)
	require.Equal(t, map[int][]int{0: {0, 1, 2}}, nd.State.CPUs.UsedCores, "allocations of the three instances")

	stopInstances(t, tc, ids[:1])
	waitInstanceState(t, tc, ids[:1], model.InstanceStopped, 10*time.Second)
	require.Eventually(t, func() bool { return e.rt.Count() == 2 }, 5*time.Second, 10*time.Millisecond)

	// A START lost on the way: the executor's reconciliation pulls it.
	dropStarts.Store(true)
	lost := placeInstances(t, tc, "exec-1", 1)
	waitInstanceState(t, tc, lost, model.InstanceHealthy, 10*time.Second)
}

func TestExecutors_RegistrySurvivesLeaderKillAndFullRestart(t *testing.T) {
	tc := newCluster(t, 3, withExecutorTiming())
	for _, id := range []string{"exec-1", "exec-2"} {
		startExecutor(t, tc, id)
		waitExecutorState(t, tc, id, model.ExecutorActive, 10*time.Second)
	}
	ids := placeInstances(t, tc, "exec-1", 2)
	waitInstanceState(t, tc, ids, model.InstanceHealthy, 10*time.Second)

	tc.stop(tc.leaderIndex())
	tc.waitForLeader(10 * time.Second)
	// The new leader waits for gossip rather than declaring executors lost;
	// check past its absence grace that they stay ACTIVE.
	stayActive(t, tc, 4*time.Second, "exec-1", "exec-2")

	tc.shutdownAll()
	for i := range tc.nodes {
		tc.restart(i)
	}
	tc.waitForLeader(15 * time.Second)
	stayActive(t, tc, 5*time.Second, "exec-1", "exec-2")
	waitInstanceState(t, tc, ids, model.InstanceHealthy, time.Second)
}

// stayActive asserts that the executors are listed ACTIVE throughout d.
func stayActive(t *testing.T, tc *testCluster, d time.Duration, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		// Through the API: it answers only from a leader that has caught up.
		list := executors(t, tc, tc.follower())
		for _, id := range ids {
			e, ok := list[id]
			require.True(t, ok, "executor %s is registered", id)
			require.Equal(t, model.ExecutorActive, e.State, "executor %s", id)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			return
		}
	}
}
