package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// portSpec is testSpec with the given ports instead of the one "main" port.
func portSpec(instanceID string, ports ...model.PortSpec) model.InstanceSpec {
	s := testSpec("app1", instanceID)
	s.Ports = ports
	return s
}

var mainPort = model.PortSpec{Name: "main", Port: 8080, Type: model.PortHTTP}

// hostPorts is the host port of every named port in the agent's own view
// of an instance.
func hostPorts(t *testing.T, a *agent.Agent, id string) map[string]int {
	t.Helper()
	for _, in := range a.Instances() {
		if in.InstanceID == id {
			out := map[string]int{}
			for name, p := range in.LocalInfo.Ports {
				out[name] = p.HostPort
			}
			return out
		}
	}
	t.Fatalf("instance %s unknown to the agent", id)
	return nil
}

// startHealthy starts spec and waits until it is HEALTHY.
func startHealthy(t *testing.T, a *agent.Agent, fc *fakeController, spec model.InstanceSpec) {
	t.Helper()
	startInstance(t, a, spec)
	waitState(t, fc, spec.InstanceID, model.InstanceHealthy, 5*time.Second)
}

// stopped stops id and waits until it is STOPPED.
func stopped(t *testing.T, a *agent.Agent, fc *fakeController, id string) {
	t.Helper()
	post(t, a, testSecret, stopMsg(a, id))
	waitState(t, fc, id, model.InstanceStopped, 5*time.Second)
}

// countingRuntime counts Create calls.
type countingRuntime struct {
	*fakeruntime.Runtime
	creates atomic.Int64
}

func (r *countingRuntime) Create(ctx context.Context, spec agent.ContainerSpec) (string, error) {
	r.creates.Add(1)
	return r.Runtime.Create(ctx, spec)
}

func TestAgent_HostPortsAreReportedAndPassedToTheRuntime(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	a := startAgent(t, cfg, rt)
	lo := cfg.PortRange.Min

	spec := portSpec("i-ports",
		model.PortSpec{Name: "main", Port: 8080, Type: model.PortHTTP},
		model.PortSpec{Name: "admin", Port: 8081, Type: model.PortTCP},
		model.PortSpec{Name: "dns", Port: 53, Type: model.PortUDP})
	startHealthy(t, a, fc, spec)

	// Handed out in spec order from the start of the range.
	want := map[string]model.InstancePort{
		"main":  {ContainerPort: 8080, HostPort: lo, PortType: model.PortHTTP},
		"admin": {ContainerPort: 8081, HostPort: lo + 1, PortType: model.PortTCP},
		"dns":   {ContainerPort: 53, HostPort: lo + 2, PortType: model.PortUDP},
	}
	last, _ := fc.latestReport("i-ports")
	require.Equal(t, want, last.Info.LocalInfo.Ports, "reports carry the mapping")
	for _, r := range fc.historyOf("i-ports") {
		if r.Info.State == model.InstancePending || r.Info.State == model.InstanceProvisioning {
			continue // reported before the allocation
		}
		require.Equal(t, want, r.Info.LocalInfo.Ports, "state %s", r.Info.State)
	}

	cs := containersOf(t, rt, "i-ports")
	require.Len(t, cs, 1)
	cspec, err := rt.Spec(cs[0].ID)
	require.NoError(t, err)
	require.Equal(t, []agent.PortBinding{
		{ContainerPort: 8080, HostPort: lo, Protocol: "tcp"},
		{ContainerPort: 8081, HostPort: lo + 1, Protocol: "tcp"},
		{ContainerPort: 53, HostPort: lo + 2, Protocol: "udp"},
	}, cspec.Ports)
	require.Equal(t, strconv.Itoa(lo), cspec.Env["PORT_8080"])
	require.Equal(t, strconv.Itoa(lo+1), cspec.Env["PORT_8081"])
	require.Equal(t, strconv.Itoa(lo+2), cspec.Env["PORT_53"])
	require.Equal(t, "127.0.0.1", cspec.Env["HOST"])
	require.Equal(t, "i-ports", cspec.Env["DROVE_INSTANCE_ID"])

	// The mapping stays in the reports after the instance ended.
	stopped(t, a, fc, "i-ports")
	last, _ = fc.latestReport("i-ports")
	require.Equal(t, want, last.Info.LocalInfo.Ports)

	// No ports, no bindings.
	startHealthy(t, a, fc, portSpec("i-noports"))
	cs = containersOf(t, rt, "i-noports")
	require.Len(t, cs, 1)
	cspec, err = rt.Spec(cs[0].ID)
	require.NoError(t, err)
	require.Empty(t, cspec.Ports)
}

func TestAgent_HostPortsAreReleasedOnStopAndReusedAfterTheRangeWraps(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.PortRange = portWindow(3)
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	p0, p1, p2 := cfg.PortRange.Min, cfg.PortRange.Min+1, cfg.PortRange.Min+2

	startHealthy(t, a, fc, portSpec("i-a", mainPort))
	startHealthy(t, a, fc, portSpec("i-b", mainPort))
	require.Equal(t, p0, hostPorts(t, a, "i-a")["main"])
	require.Equal(t, p1, hostPorts(t, a, "i-b")["main"], "two instances never share a port")

	// i-a's port is free again, but the next one in turn is handed out.
	stopped(t, a, fc, "i-a")
	startHealthy(t, a, fc, portSpec("i-c", mainPort))
	require.Equal(t, p2, hostPorts(t, a, "i-c")["main"])
	// Wrapped round: i-a's released port is reused.
	startHealthy(t, a, fc, portSpec("i-d", mainPort))
	require.Equal(t, p0, hostPorts(t, a, "i-d")["main"])

	// All three are held now.
	startInstance(t, a, portSpec("i-e", mainPort))
	waitState(t, fc, "i-e", model.InstanceStopped, 5*time.Second)
	last, _ := fc.latestReport("i-e")
	require.Contains(t, last.Info.ErrorMessage, fmt.Sprintf("no free host port in range %d-%d", p0, p2))

	// Freeing one makes it the only candidate.
	stopped(t, a, fc, "i-b")
	startHealthy(t, a, fc, portSpec("i-f", mainPort))
	require.Equal(t, p1, hostPorts(t, a, "i-f")["main"])
}

func TestAgent_HostPortExhaustionFailsTheInstanceAndHoldsNothing(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := &countingRuntime{Runtime: newFakeRuntime(t, fakeruntime.Config{})}
	cfg := testConfig(fc.URL())
	cfg.PortRange = portWindow(1)
	a := startAgent(t, cfg, rt)
	p := cfg.PortRange.Min

	// Two ports wanted, one in the range: nothing is allocated.
	startInstance(t, a, portSpec("i-two", mainPort, model.PortSpec{Name: "admin", Port: 8081, Type: model.PortTCP}))
	waitState(t, fc, "i-two", model.InstanceStopped, 5*time.Second)
	last, _ := fc.latestReport("i-two")
	require.Contains(t, last.Info.ErrorMessage, fmt.Sprintf("no free host port in range %d-%d", p, p))
	require.Contains(t, last.Info.ErrorMessage, "needed 2, found 1")
	for _, r := range fc.historyOf("i-two") {
		require.NotContains(t, []model.InstanceState{model.InstanceStarting, model.InstanceHealthy}, r.Info.State)
	}
	requireOrdered(t, fc.historyOf("i-two"))
	require.Zero(t, rt.creates.Load(), "no container is attempted")

	// All or nothing: the one port is still free for an instance needing one.
	startHealthy(t, a, fc, portSpec("i-one", mainPort))
	require.Equal(t, p, hostPorts(t, a, "i-one")["main"])

	// And held while it runs.
	startInstance(t, a, portSpec("i-late", mainPort))
	waitState(t, fc, "i-late", model.InstanceStopped, 5*time.Second)
	last, _ = fc.latestReport("i-late")
	require.Contains(t, last.Info.ErrorMessage, "no free host port in range")
	require.Contains(t, last.Info.ErrorMessage, "1 held by instances on this executor")
}

func TestAgent_LostInstanceReleasesItsHostPorts(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	cfg.PortRange = portWindow(1)
	a := startAgent(t, cfg, rt)

	startHealthy(t, a, fc, portSpec("i-lost", mainPort))
	cs := containersOf(t, rt, "i-lost")
	require.Len(t, cs, 1)
	require.NoError(t, rt.Kill(cs[0].ID, 137))
	waitState(t, fc, "i-lost", model.InstanceLost, 5*time.Second)

	// The port is released once the dead container is removed (in the
	// background): retry with new instances until one gets it.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		require.True(t, time.Now().Before(deadline), "the lost instance's port was never released")
		id := "i-next-" + strconv.Itoa(i)
		startInstance(t, a, portSpec(id, mainPort))
		var st model.InstanceState
		require.Eventually(t, func() bool {
			st = fc.state(id)
			return st == model.InstanceHealthy || st == model.InstanceStopped
		}, 5*time.Second, time.Millisecond)
		if st == model.InstanceHealthy {
			require.Equal(t, cfg.PortRange.Min, hostPorts(t, a, id)["main"])
			return
		}
	}
}

func TestAgent_HostPortsInUseOnTheHostAreSkipped(t *testing.T) {
	fc := newFakeController(t, testSecret)

	// TCP: a listener of some other process.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	cfg := testConfig(fc.URL())
	cfg.PortRange = agent.PortRange{Min: busy, Max: min(busy+8, 65535)}
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	startHealthy(t, a, fc, portSpec("i-tcp", mainPort))
	got := hostPorts(t, a, "i-tcp")["main"]
	require.NotEqual(t, busy, got, "the port bound on the host is skipped")
	require.Greater(t, got, busy)
	require.LessOrEqual(t, got, cfg.PortRange.Max)

	// UDP: a socket of some other process; UDP ports are probed for UDP.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	busyUDP := pc.LocalAddr().(*net.UDPAddr).Port
	fc2 := newFakeController(t, testSecret)
	cfg2 := testConfig(fc2.URL())
	cfg2.PortRange = agent.PortRange{Min: busyUDP, Max: min(busyUDP+8, 65535)}
	b := startAgent(t, cfg2, newFakeRuntime(t, fakeruntime.Config{}))
	startHealthy(t, b, fc2, portSpec("i-udp", model.PortSpec{Name: "dns", Port: 53, Type: model.PortUDP}))
	got = hostPorts(t, b, "i-udp")["dns"]
	require.NotEqual(t, busyUDP, got, "the UDP port bound on the host is skipped")
	require.LessOrEqual(t, got, cfg2.PortRange.Max)

	// A range whose only port is busy: the instance fails with the reason.
	fc3 := newFakeController(t, testSecret)
	cfg3 := testConfig(fc3.URL())
	cfg3.PortRange = agent.PortRange{Min: busy, Max: busy}
	c := startAgent(t, cfg3, newFakeRuntime(t, fakeruntime.Config{}))
	startInstance(t, c, portSpec("i-none", mainPort))
	waitState(t, fc3, "i-none", model.InstanceStopped, 5*time.Second)
	last, _ := fc3.latestReport("i-none")
	require.Contains(t, last.Info.ErrorMessage, fmt.Sprintf("no free host port in range %d-%d", busy, busy))
	require.Contains(t, last.Info.ErrorMessage, "1 in use on the host")
}

func TestAgent_ConcurrentStartsGetDistinctHostPorts(t *testing.T) {
	const n, perInstance = 200, 2
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	cfg.PortRange = portWindow(n * perInstance)
	a := startAgent(t, cfg, rt)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			spec := portSpec("i-"+strconv.Itoa(i), mainPort, model.PortSpec{Name: "admin", Port: 9000, Type: model.PortUDP})
			code, resp, err := send(a, testSecret, startMsg(a, spec))
			if err == nil && (code != http.StatusOK || resp.Status != model.MessageAccepted) {
				err = fmt.Errorf("start %s: %d %s %s", spec.InstanceID, code, resp.Status, resp.Message)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ok := assert.Eventually(t, func() bool { return fc.countInState(model.InstanceHealthy) == n },
		20*time.Second, 5*time.Millisecond, "all instances healthy")
	if !ok {
		dumpStates(t, a, fc)
		t.FailNow()
	}

	owner := map[int]string{}
	for _, in := range a.Instances() {
		require.Len(t, in.LocalInfo.Ports, perInstance)
		cs := containersOf(t, rt, in.InstanceID)
		require.Len(t, cs, 1)
		spec, err := rt.Spec(cs[0].ID)
		require.NoError(t, err)
		require.Len(t, spec.Ports, perInstance)
		for _, b := range spec.Ports {
			require.GreaterOrEqual(t, b.HostPort, cfg.PortRange.Min)
			require.LessOrEqual(t, b.HostPort, cfg.PortRange.Max)
			prev, dup := owner[b.HostPort]
			require.False(t, dup, "host port %d given to %s and %s", b.HostPort, prev, in.InstanceID)
			owner[b.HostPort] = in.InstanceID
		}
		require.Equal(t, spec.Ports[0].HostPort, in.LocalInfo.Ports["main"].HostPort)
		require.Equal(t, spec.Ports[1].HostPort, in.LocalInfo.Ports["admin"].HostPort)
		require.Equal(t, "udp", spec.Ports[1].Protocol)
	}
	require.Len(t, owner, n*perInstance, "every port of the range is used exactly once")
}

func TestParsePortRange(t *testing.T) {
	r, err := agent.ParsePortRange(" 20000-29999 ")
	require.NoError(t, err)
	require.Equal(t, agent.PortRange{Min: 20000, Max: 29999}, r)
	require.Equal(t, "20000-29999", r.String())
	require.Equal(t, 10000, r.Size())
	require.Equal(t, agent.DefaultPortRange, agent.DefaultConfig().PortRange)
	r, err = agent.ParsePortRange("5000-5000")
	require.NoError(t, err)
	require.Equal(t, 1, r.Size())

	for in, want := range map[string]string{
		"20000":       "expected min-max",
		"a-b":         "numeric",
		"80-2000":     "min must be >= 1024",
		"2000-70000":  "max must be <= 65535",
		"3000-2000":   "greater than max",
		"-1-5":        "numeric",
		"20000-":      "numeric",
		"":            "expected min-max",
		"1024-65535":  "",
		"65535-65535": "",
	} {
		_, err := agent.ParsePortRange(in)
		if want == "" {
			require.NoError(t, err, in)
			continue
		}
		require.ErrorContains(t, err, want, in)
	}
}
