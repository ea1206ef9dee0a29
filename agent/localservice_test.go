package agent_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// serviceSpec is a local-service instance of service "svc1" exposing
// container port port as "main", host-level or not.
func serviceSpec(instanceID string, port int, hostLevel bool) model.InstanceSpec {
	s := testSpec("svc1", instanceID)
	s.Kind, s.AppName, s.HostLevel = model.KindLocalService, "svc", hostLevel
	s.Ports = []model.PortSpec{{Name: "main", Port: port, Type: model.PortHTTP}}
	return s
}

// failedProvisioning waits for id to end STOPPED and returns its error.
func failedProvisioning(t *testing.T, fc *fakeController, id string) string {
	t.Helper()
	waitState(t, fc, id, model.InstanceStopped, 5*time.Second)
	for _, r := range fc.historyOf(id) {
		require.NotContains(t, []model.InstanceState{model.InstanceStarting, model.InstanceHealthy}, r.Info.State)
	}
	last, _ := fc.latestReport(id)
	return last.Info.ErrorMessage
}

func TestAgent_HostLevelLocalServiceBindsItsContainerPorts(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	a := startAgent(t, cfg, rt)
	fixed := portWindow(1).Min // outside the agent's range

	startHealthy(t, a, fc, serviceSpec("i-ls-1", fixed, true))
	last, _ := fc.latestReport("i-ls-1")
	require.Equal(t, model.InstancePort{ContainerPort: fixed, HostPort: fixed, PortType: model.PortHTTP},
		last.Info.LocalInfo.Ports["main"])
	cs := containersOf(t, rt, "i-ls-1")
	require.Len(t, cs, 1)
	cspec, err := rt.Spec(cs[0].ID)
	require.NoError(t, err)
	require.Equal(t, []agent.PortBinding{{ContainerPort: fixed, HostPort: fixed, Protocol: "tcp"}}, cspec.Ports)
	require.Equal(t, strconv.Itoa(fixed), cspec.Env["PORT_"+strconv.Itoa(fixed)])
	require.Equal(t, `{"main":`+strconv.Itoa(fixed)+`}`, cspec.Labels[agent.LabelInstancePorts])

	// A second host-level instance on the same port fails, naming it.
	msg := failedProvisioning(t, fc, startAndReturn(t, a, serviceSpec("i-ls-2", fixed, true)))
	require.Contains(t, msg, fmt.Sprintf("host port %d is already held by instance i-ls-1 on this executor", fixed))
	require.Len(t, containersOf(t, rt, "i-ls-2"), 0)

	// Not host-level: a port of the range, like an app's.
	startHealthy(t, a, fc, serviceSpec("i-ls-range", fixed, false))
	require.Equal(t, cfg.PortRange.Min, hostPorts(t, a, "i-ls-range")["main"])

	// Released when the instance ends: another can bind it.
	stopped(t, a, fc, "i-ls-1")
	startHealthy(t, a, fc, serviceSpec("i-ls-3", fixed, true))
	require.Equal(t, fixed, hostPorts(t, a, "i-ls-3")["main"])
}

// startAndReturn starts spec and returns its instance id.
func startAndReturn(t *testing.T, a *agent.Agent, spec model.InstanceSpec) string {
	t.Helper()
	startInstance(t, a, spec)
	return spec.InstanceID
}

func TestAgent_RangeAllocatorNeverHandsOutFixedPorts(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.PortRange = portWindow(2)
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	fixed, other := cfg.PortRange.Min, cfg.PortRange.Max

	// The fixed port lies inside the range: while the service holds it,
	// range allocations skip it, and go round to it only once it is free.
	startHealthy(t, a, fc, serviceSpec("i-ls-fixed", fixed, true))
	startHealthy(t, a, fc, portSpec("i-app-1", mainPort))
	require.Equal(t, other, hostPorts(t, a, "i-app-1")["main"])
	msg := failedProvisioning(t, fc, startAndReturn(t, a, portSpec("i-app-2", mainPort)))
	require.Contains(t, msg, "no free host port in range")
	require.Contains(t, msg, "2 held by instances on this executor")

	stopped(t, a, fc, "i-ls-fixed")
	startHealthy(t, a, fc, portSpec("i-app-3", mainPort))
	require.Equal(t, fixed, hostPorts(t, a, "i-app-3")["main"])

	// Now an app holds it: a host-level instance cannot have it.
	msg = failedProvisioning(t, fc, startAndReturn(t, a, serviceSpec("i-ls-late", fixed, true)))
	require.Contains(t, msg, fmt.Sprintf("host port %d is already held by instance i-app-3 on this executor", fixed))
}

func TestAgent_HostLevelPortInUseOnTheHostFailsProvisioning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port

	fc := newFakeController(t, testSecret)
	rt := &countingRuntime{Runtime: newFakeRuntime(t, fakeruntime.Config{})}
	a := startAgent(t, testConfig(fc.URL()), rt)
	spec := serviceSpec("i-ls-busy", busy, true)
	spec.Ports = append(spec.Ports, model.PortSpec{Name: "admin", Port: portWindow(1).Min, Type: model.PortTCP})
	msg := failedProvisioning(t, fc, startAndReturn(t, a, spec))
	require.Contains(t, msg, fmt.Sprintf("host port %d is in use on the host", busy))
	require.Zero(t, rt.creates.Load(), "no container is attempted")

	// All or nothing: the free port of the failed instance is not held.
	startHealthy(t, a, fc, serviceSpec("i-ls-admin", spec.Ports[1].Port, true))
}

func TestAgent_RestartRestoresHostLevelPorts(t *testing.T) {
	fc := newFakeController(t, testSecret)
	base := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	cfg.ExecutorID = "exec-ls-recovery"
	cfg.PortRange = portWindow(1)
	fixed := cfg.PortRange.Min
	a := startAgent(t, cfg, base)
	spec := serviceSpec("i-ls-keep", fixed, true)
	startHealthy(t, a, fc, spec)
	fc.setExpected([]model.ExpectedSpec{{Spec: spec, State: model.InstanceHealthy}}, nil)

	a.Kill()
	b := startAgent(t, cfg, base)
	require.Eventually(t, func() bool {
		r, _ := fc.latestReport("i-ls-keep")
		return r.Boot == b.Boot() && r.Info.State == model.InstanceHealthy
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, fixed, hostPorts(t, b, "i-ls-keep")["main"])

	// Held again: neither the range nor another host-level instance gets it.
	msg := failedProvisioning(t, fc, startAndReturn(t, b, portSpec("i-app", mainPort)))
	require.Contains(t, msg, "1 held by instances on this executor")
	msg = failedProvisioning(t, fc, startAndReturn(t, b, serviceSpec("i-ls-dup", fixed, true)))
	require.Contains(t, msg, fmt.Sprintf("host port %d is already held by instance i-ls-keep on this executor", fixed))

	stopped(t, b, fc, "i-ls-keep")
	startHealthy(t, b, fc, serviceSpec("i-ls-next", fixed, true))
}
