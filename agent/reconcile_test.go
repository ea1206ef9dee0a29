package agent_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/agent/resources"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// fastReconcile makes the reconciler run every 30ms.
func fastReconcile(cfg agent.Config) agent.Config {
	cfg.ReconcileInterval = 30 * time.Millisecond
	return cfg
}

func TestAgent_ReconcileStartsExpectedPendingInstance(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := fastReconcile(testConfig(fc.URL()))
	cfg.UnknownGrace = 100 * time.Millisecond
	fc.setExpected([]model.ExpectedSpec{{Spec: testSpec("app1", "i-pending"), State: model.InstancePending}}, nil)
	a := startAgent(t, cfg, rt)

	waitState(t, fc, "i-pending", model.InstanceHealthy, 5*time.Second)
	require.Equal(t, 1, rt.Count())
	// It is known to the controller, so it keeps running well past the grace.
	calls := fc.expectedCallCount()
	require.Eventually(t, func() bool { return fc.expectedCallCount() >= calls+10 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, model.InstanceHealthy, localState(a, "i-pending"))
}

func TestAgent_ReconcileReportsMissingInstanceLost(t *testing.T) {
	fc := newFakeController(t, testSecret)
	fc.setExpected([]model.ExpectedSpec{{Spec: testSpec("app1", "i-gone"), State: model.InstanceHealthy}}, nil)
	a := startAgent(t, fastReconcile(testConfig(fc.URL())), newFakeRuntime(t, fakeruntime.Config{}))

	waitState(t, fc, "i-gone", model.InstanceLost, 5*time.Second)
	rep, _ := fc.latestReport("i-gone")
	require.Equal(t, "instance not found on executor", rep.Info.ErrorMessage)
	require.Equal(t, uint64(1), rep.Seq)
	require.Equal(t, a.Boot(), rep.Boot)
	require.Equal(t, a.ID(), rep.Info.ExecutorID)
	require.Empty(t, a.Instances(), "nothing is started for it")
}

func TestAgent_ReconcileStopsInstancesInStopList(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := fastReconcile(testConfig(fc.URL()))
	a := startAgent(t, cfg, rt)
	spec := testSpec("app1", "i-tostop")
	fc.setExpected([]model.ExpectedSpec{{Spec: spec, State: model.InstancePending}}, nil)
	startInstance(t, a, spec)
	waitState(t, fc, "i-tostop", model.InstanceHealthy, 5*time.Second)

	fc.setExpected(nil, []string{"i-tostop", "not-here"}) // a lost STOP message
	waitState(t, fc, "i-tostop", model.InstanceStopped, 5*time.Second)
	require.Equal(t, 0, rt.Count())
}

func TestAgent_ReconcileStopsUnknownInstanceAfterGrace(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := fastReconcile(testConfig(fc.URL()))
	cfg.UnknownGrace = 200 * time.Millisecond
	a := startAgent(t, cfg, rt)

	start := time.Now()
	startInstance(t, a, testSpec("app1", "i-unknown"))
	waitState(t, fc, "i-unknown", model.InstanceStopped, 5*time.Second)
	require.GreaterOrEqual(t, time.Since(start), cfg.UnknownGrace)
	rep, _ := fc.latestReport("i-unknown")
	require.GreaterOrEqual(t, rep.Info.Updated-rep.Info.Created, cfg.UnknownGrace.Milliseconds(), "stopped only after the grace")
	for _, r := range fc.historyOf("i-unknown") {
		if r.Info.State == model.InstanceStopping {
			require.GreaterOrEqual(t, r.Info.Updated-r.Info.Created, cfg.UnknownGrace.Milliseconds())
		}
	}
	require.Equal(t, 0, rt.Count())
}

func TestAgent_ReconcileRegistersWhenUnknown(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := fastReconcile(testConfig(fc.URL()))
	cfg.UnknownGrace = 50 * time.Millisecond
	fc.unknown.Store(true)
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	require.Eventually(t, func() bool { return fc.registrationCount() >= 1 }, 5*time.Second, 5*time.Millisecond)
	startInstance(t, a, testSpec("app1", "i-keep"))
	before := fc.registrationCount()
	require.Eventually(t, func() bool { return fc.registrationCount() >= before+3 }, 5*time.Second, 5*time.Millisecond)
	// An executor the controller does not know stops nothing.
	require.Equal(t, model.InstanceHealthy, localState(a, "i-keep"))
}

// An executor the controllers retired (drained with markGone, or on a
// machine DOWN for maintenance) stops everything it runs.
func TestAgent_ReconcileShutdownStopsEverything(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := fastReconcile(testConfig(fc.URL()))
	rt := newFakeRuntime(t, fakeruntime.Config{})
	a := startAgent(t, cfg, rt)
	require.Eventually(t, func() bool { return fc.registrationCount() >= 1 }, 5*time.Second, 5*time.Millisecond)
	startInstance(t, a, testSpec("app1", "i-1"))
	startInstance(t, a, testSpec("app1", "i-2"))
	fc.setExpected([]model.ExpectedSpec{{Spec: testSpec("app1", "i-1"), State: model.InstanceHealthy},
		{Spec: testSpec("app1", "i-2"), State: model.InstanceHealthy}}, nil)
	waitState(t, fc, "i-1", model.InstanceHealthy, 5*time.Second)
	waitState(t, fc, "i-2", model.InstanceHealthy, 5*time.Second)

	fc.shutdown.Store(true)
	waitState(t, fc, "i-1", model.InstanceStopped, 5*time.Second)
	waitState(t, fc, "i-2", model.InstanceStopped, 5*time.Second)
	require.Eventually(t, func() bool { return rt.Count() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestAgent_ControllerClientFailsOver(t *testing.T) {
	fc := newFakeController(t, testSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeEnvelope(w, http.StatusServiceUnavailable, "FAILED", nil, "no leader")
	}))
	t.Cleanup(unavailable.Close)

	a := startAgent(t, testConfig(dead, unavailable.URL, fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))
	require.Eventually(t, func() bool { return fc.registrationCount() >= 1 }, 5*time.Second, 5*time.Millisecond)
	startInstance(t, a, testSpec("app1", "i-fo"))
	waitState(t, fc, "i-fo", model.InstanceHealthy, 5*time.Second)
}

func TestAgent_ReportsSurviveControllerOutage(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))
	require.Eventually(t, func() bool { return fc.registrationCount() >= 1 }, 5*time.Second, 5*time.Millisecond)

	fc.down.Store(true)
	startInstance(t, a, testSpec("app1", "i-out"))
	require.Eventually(t, func() bool { return localState(a, "i-out") == model.InstanceHealthy }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return fc.refused.Load() >= 2 }, 5*time.Second, 5*time.Millisecond, "reports were retried")
	require.Empty(t, fc.historyOf("i-out"))
	fc.down.Store(false)
	waitState(t, fc, "i-out", model.InstanceHealthy, 10*time.Second)
}

func TestAgent_SendsPeriodicFullReports(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.ReportInterval = 50 * time.Millisecond
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	startInstance(t, a, testSpec("app1", "i-full1"))
	startInstance(t, a, testSpec("app1", "i-full2"))
	waitState(t, fc, "i-full2", model.InstanceHealthy, 5*time.Second)
	require.Eventually(t, func() bool {
		for _, r := range fc.allReports() {
			if r.Full && len(r.Instances) == 2 && r.UsedCores == 2 && r.UsedMemory == 256 {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
}

func TestAgent_JoinsGossipAsExecutor(t *testing.T) {
	fc := newFakeController(t, testSecret)
	gc := gossip.DefaultConfig()
	gc.NodeName, gc.BindAddr, gc.Secret = "controller-1", "127.0.0.1", testSecret
	gc.Meta = gossip.Meta{Role: gossip.RoleController, ID: "controller-1"}
	gc.Logger = hclog.NewNullLogger()
	pool, err := gossip.New(gc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Shutdown() })

	cfg := testConfig(fc.URL())
	cfg.Join = []string{pool.LocalAddr()}
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	require.Eventually(t, func() bool { return len(pool.AliveMembers(gossip.RoleExecutor)) == 1 }, 10*time.Second, 10*time.Millisecond)
	m := pool.AliveMembers(gossip.RoleExecutor)[0]
	require.Equal(t, a.ID(), m.Name)
	require.Equal(t, a.ID(), m.Meta.ID)
	require.Equal(t, a.HTTPAddr(), m.Meta.API)
	require.Equal(t, "test", m.Meta.Version)
	require.Equal(t, resources.Digest(cfg.Layout), m.Meta.Tags["digest"])
	require.Equal(t, a.GossipAddr(), m.Addr)

	// Shutdown leaves gossip. Whether peers see "left" or "dead" depends on
	// the leave marker's broadcast (cluster/gossip tests cover that); here
	// it must at least stop being alive.
	a.Shutdown()
	require.Eventually(t, func() bool {
		m, ok := pool.Member(a.ID())
		return ok && m.State != gossip.MemberAlive
	}, 15*time.Second, 10*time.Millisecond)
}

func TestAgent_ScalesToThousandsOfInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	const n = 2000
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{StartDelay: 5 * time.Millisecond})
	cfg := testConfig(fc.URL())
	cfg.PortRange = portWindow(n) // one host port per instance
	a := startAgent(t, cfg, rt)
	began := time.Now()
	deadline := began.Add(10 * time.Second)

	ids := make(chan string)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for id := range ids {
				code, resp, err := send(a, testSecret, startMsg(a, testSpec("app-scale", id)))
				if err == nil && (code != http.StatusOK || resp.Status != model.MessageAccepted) {
					err = fmt.Errorf("start %s: HTTP %d %s %s", id, code, resp.Status, resp.Message)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		ids <- "i-" + strconv.Itoa(i)
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d START messages accepted in %s", n, time.Since(began))
	require.Eventually(t, func() bool { return fc.countInState(model.InstanceHealthy) == n }, time.Until(deadline),
		20*time.Millisecond, "healthy: %d of %d", fc.countInState(model.InstanceHealthy), n)
	require.Equal(t, n, rt.Count())
	require.Len(t, a.Instances(), n)
	t.Logf("%d instances healthy (as reported to the controller) in %s", n, time.Since(began))
}

func TestConfig_Validate(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:4000")
	require.NoError(t, cfg.Validate())
	for name, tc := range map[string]struct {
		mod  func(*agent.Config)
		want string
	}{
		"no controllers":   {func(c *agent.Config) { c.Controllers = nil }, "--controllers"},
		"bad controller":   {func(c *agent.Config) { c.Controllers = []string{"ftp://x"} }, `--controllers entry "ftp://x"`},
		"no secret":        {func(c *agent.Config) { c.ClusterSecret = "" }, "--cluster-secret"},
		"bad http addr":    {func(c *agent.Config) { c.HTTPAddr = "nope" }, `--http-addr "nope"`},
		"bad gossip addr":  {func(c *agent.Config) { c.GossipAddr = ":99999" }, `--gossip-addr ":99999"`},
		"no cores":         {func(c *agent.Config) { c.Layout.Cores = nil }, "no cores"},
		"zero interval":    {func(c *agent.Config) { c.ReportInterval = 0 }, "--report-interval must be > 0, got 0s"},
		"negative grace":   {func(c *agent.Config) { c.UnknownGrace = -time.Second }, "--unknown-grace must be > 0, got -1s"},
		"hostname w/ port": {func(c *agent.Config) { c.Hostname = "h:1" }, `--hostname "h:1"`},
		"privileged ports": {func(c *agent.Config) { c.PortRange = agent.PortRange{Min: 80, Max: 2000} }, "--port-range 80-2000: min must be >= 1024"},
		"ports too high":   {func(c *agent.Config) { c.PortRange = agent.PortRange{Min: 2000, Max: 70000} }, "--port-range 2000-70000: max must be <= 65535"},
		"ports inverted":   {func(c *agent.Config) { c.PortRange = agent.PortRange{Min: 3000, Max: 2000} }, "--port-range 3000-2000: min 3000 is greater than max 2000"},
		"no port range":    {func(c *agent.Config) { c.PortRange = agent.PortRange{} }, "--port-range 0-0"},
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig("http://127.0.0.1:4000")
			tc.mod(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := agent.New(cfg, nil)
	require.Error(t, err)
}
