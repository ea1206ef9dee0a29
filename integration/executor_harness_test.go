package integration

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// testExecutor is one in-process agent on the fake runtime.
type testExecutor struct {
	cfg agent.Config
	rt  *fakeruntime.Runtime
	a   *agent.Agent // nil while stopped
}

// withExecutorTiming makes executor liveness fast enough for tests.
func withExecutorTiming() clusterOption {
	return func(c *server.ControllerConfig) { c.ExecutorAbsentGrace = 3 * time.Second }
}

// withFastOutage makes the outage monitor check often.
func withFastOutage() clusterOption {
	return func(c *server.ControllerConfig) { c.OutageCheckInterval = 300 * time.Millisecond }
}

// executorConfig is an agent config for tests: loopback, random ports, fast loops.
func executorConfig(t testing.TB, tc *testCluster, id string) agent.Config {
	cfg := agent.DefaultConfig()
	cfg.ExecutorID = id
	cfg.Hostname = "127.0.0.1"
	cfg.HTTPAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ClusterSecret = testSecret
	for _, n := range tc.nodes {
		cfg.Join = append(cfg.Join, n.cfg.GossipAddr)
		cfg.Controllers = append(cfg.Controllers, "http://"+n.cfg.HTTPAddr)
	}
	cfg.Layout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}}, Memory: map[int]int64{0: 4096, 1: 4096}}
	cfg.Metadata = map[string]string{"rack": "r1"}
	cfg.RegisterInterval, cfg.ReportInterval = 5*time.Second, 2*time.Second
	cfg.ReconcileInterval, cfg.UnknownGrace = 300*time.Millisecond, time.Second
	cfg.Gossip.ProbeInterval, cfg.Gossip.ProbeTimeout = time.Second, 500*time.Millisecond // production probing: no false deaths under load
	cfg.Gossip.GossipInterval, cfg.Gossip.PushPullInterval = 100*time.Millisecond, 2*time.Second
	cfg.Logger = testLogger(t, id)
	return cfg
}

// startExecutor starts (or restarts, with the same id) an executor.
func startExecutor(t testing.TB, tc *testCluster, id string) *testExecutor {
	t.Helper()
	return startExecutorWith(t, tc, id, fakeruntime.Config{StartDelay: 5 * time.Millisecond})
}

// startExecutorWith starts an executor whose fake runtime has rtCfg.
func startExecutorWith(t testing.TB, tc *testCluster, id string, rtCfg fakeruntime.Config) *testExecutor {
	t.Helper()
	rt, err := fakeruntime.New(rtCfg)
	require.NoError(t, err)
	e := &testExecutor{cfg: executorConfig(t, tc, id), rt: rt}
	e.a, err = agent.New(e.cfg, rt)
	require.NoError(t, err)
	t.Cleanup(e.kill)
	return e
}

func (e *testExecutor) kill() {
	if e.a != nil {
		e.a.Kill()
		e.a = nil
	}
}

// executors returns the executor list as node i serves it.
func executors(t testing.TB, tc *testCluster, i int) map[string]model.ExecutorSummary {
	t.Helper()
	r := tc.call(i, readOnly, "GET", "/apis/v1/cluster/executors", nil)
	requireSuccess(t, r)
	var list []model.ExecutorSummary
	r.data(t, &list)
	out := map[string]model.ExecutorSummary{}
	for _, s := range list {
		out[s.ExecutorID] = s
	}
	return out
}

// waitExecutorState polls until executor id has state st (as the leader serves it).
func waitExecutorState(t testing.TB, tc *testCluster, id string, st model.ExecutorState, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		i := tc.leaderIndex()
		if i < 0 {
			return false
		}
		e, ok := tc.nodes[i].c.FSM().Executor(id)
		return ok && e.State == st
	}, timeout, 20*time.Millisecond, "executor %s never reached %s", id, st)
}

// placeInstances records instances on executors through raft, as the
// application operation engine does.
func placeInstances(t testing.TB, tc *testCluster, execID string, n int) []string {
	t.Helper()
	req := fsm.InstancesPlaceRequest{Timestamp: time.Now().UnixMilli()}
	leader := tc.nodes[tc.waitForLeader(10*time.Second)].c
	used, _ := leader.FSM().ExecutorUsage(execID)
	var free []int // NUMA node 0 cores no active instance holds: the FSM refuses shared cores
	for c := 0; c < 4; c++ {
		if !slices.Contains(used[0], c) {
			free = append(free, c)
		}
	}
	require.GreaterOrEqual(t, len(free), n, "free cores on NUMA node 0 of %s", execID)
	var ids []string
	for k := 0; k < n; k++ {
		id := "AI-" + uuid.NewString()
		ids = append(ids, id)
		req.Instances = append(req.Instances, fsm.PlaceInstance{ExecutorID: execID, Spec: model.InstanceSpec{
			AppID: "test-app-1", AppName: "test-app", InstanceID: id,
			Executable: model.Executable{Type: "DOCKER", URL: "drove/test:" + strconv.Itoa(k)},
			Resources: []model.ResourceAllocation{
				{Type: model.ResourceCPU, Cores: map[int][]int{0: {free[k]}}},
				{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 64}},
			},
			Ports: []model.PortSpec{{Name: "main", Port: 8000, Type: model.PortHTTP}},
		}})
	}
	cmd, err := fsm.Encode(fsm.InstancesPlaceType, req)
	require.NoError(t, err)
	_, err = leader.Node().Apply(cmd)
	require.NoError(t, err)
	return ids
}

func stopInstances(t testing.TB, tc *testCluster, ids []string) {
	t.Helper()
	cmd, err := fsm.Encode(fsm.InstancesStopType, fsm.InstancesStopRequest{InstanceIDs: ids, Timestamp: time.Now().UnixMilli()})
	require.NoError(t, err)
	_, err = tc.nodes[tc.waitForLeader(10*time.Second)].c.Node().Apply(cmd)
	require.NoError(t, err)
}

// waitInstanceState polls the leader's FSM until every instance has state st.
func waitInstanceState(t testing.TB, tc *testCluster, ids []string, st model.InstanceState, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		i := tc.leaderIndex()
		if i < 0 {
			return false
		}
		for _, id := range ids {
			r, ok := tc.nodes[i].c.FSM().Instance(id)
			if !ok || r.Info.State != st {
				return false
			}
		}
		return true
	}, timeout, 20*time.Millisecond, "instances never all reached %s", st)
}
