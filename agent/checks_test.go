package agent_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// execRuntime is the fake runtime with a switchable health verdict: while
// failing is set, the command "check" exits 1 with output "boom" (the fake
// runtime's "false" always exits 1, anything else 0). It journals Exec and
// Stop calls in order.
type execRuntime struct {
	*fakeruntime.Runtime
	failing atomic.Bool

	mu      sync.Mutex
	journal []journalEntry
}

type journalEntry struct {
	what string
	at   time.Time
}

func newExecRuntime(t *testing.T, cfg fakeruntime.Config) *execRuntime {
	return &execRuntime{Runtime: newFakeRuntime(t, cfg)}
}

func (r *execRuntime) record(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.journal = append(r.journal, journalEntry{what, time.Now()})
}

func (r *execRuntime) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	r.record("exec " + strings.Join(cmd, " "))
	if cmd[0] == "check" && r.failing.Load() {
		return 1, []byte("boom"), nil
	}
	return r.Runtime.Exec(ctx, id, cmd)
}

func (r *execRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	r.record("stop")
	return r.Runtime.Stop(ctx, id, grace)
}

// entries lists what was journaled, in order.
func (r *execRuntime) entries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.journal))
	for i, e := range r.journal {
		out[i] = e.what
	}
	return out
}

// at is when the first entry what was journaled.
func (r *execRuntime) at(t *testing.T, what string) time.Time {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.journal {
		if e.what == what {
			return e.at
		}
	}
	t.Fatalf("%q never happened", what)
	return time.Time{}
}

// count is how many entries are what.
func (r *execRuntime) count(what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.journal {
		if e.what == what {
			n++
		}
	}
	return n
}

func msDuration(n int) model.Duration { return model.NewDuration(time.Duration(n) * time.Millisecond) }

// cmdCheck is a CMD check of command run without a shell, 10 ms apart.
func cmdCheck(command string, attempts int) *model.CheckSpec {
	return &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckCmd, Command: command, ShellDisabled: true},
		Timeout: msDuration(500), Interval: msDuration(10), Attempts: attempts}
}

// statesOf lists the states reported for id, in order.
func statesOf(fc *fakeController, id string) []model.InstanceState {
	var out []model.InstanceState
	for _, r := range fc.historyOf(id) {
		out = append(out, r.Info.State)
	}
	return out
}

func TestAgent_ReadinessFailureStopsInstanceWithError(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-unready")
	spec.Readiness = cmdCheck("false", 3)
	// The wait keeps READINESS_CHECK_FAILED long enough to be reported
	// (reports are batched); the hook runs on this path too.
	spec.PreShutdown = &model.PreShutdownSpec{
		Hooks:          []model.CheckModeSpec{{Type: model.CheckCmd, Command: "drain"}},
		WaitBeforeKill: msDuration(300),
	}
	startInstance(t, a, spec)

	const want = `readiness check failed: failed 3 of 3 attempts; last: command "false" exited with code 1`
	waitState(t, fc, "i-unready", model.InstanceReadinessCheckFailed, 5*time.Second)
	last, _ := fc.latestReport("i-unready")
	require.Equal(t, want, last.Info.ErrorMessage)
	waitState(t, fc, "i-unready", model.InstanceStopped, 5*time.Second)
	last, _ = fc.latestReport("i-unready")
	require.Equal(t, want, last.Info.ErrorMessage, "STOPPED keeps the reason")
	require.Equal(t, 0, rt.Count(), "container removed")

	states := statesOf(fc, "i-unready")
	requireOrdered(t, fc.historyOf("i-unready"))
	require.NotContains(t, states, model.InstanceReady)
	require.NotContains(t, states, model.InstanceHealthy)
	require.Equal(t, []string{"exec false", "exec false", "exec false", "exec sh -c drain", "stop"}, rt.entries(),
		"three attempts, then the pre-shutdown hook, then the stop")
	require.GreaterOrEqual(t, rt.at(t, "stop").Sub(rt.at(t, "exec sh -c drain")), 300*time.Millisecond,
		"waitBeforeKill between the hooks and the stop")
}

// plainRuntime hides the fake runtime's HTTPProber: HTTP checks go to the host port.
type plainRuntime struct{ agent.Runtime }

func TestAgent_HTTPReadinessChecksTheHostPort(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	a := startAgent(t, cfg, plainRuntime{newFakeRuntime(t, fakeruntime.Config{})})

	// Nothing listens on the instance's host port (the agent hands out
	// only ports it found free): the check is refused there.
	spec := testSpec("app1", "i-http")
	spec.Readiness = &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckHTTP, Protocol: model.ProtocolHTTP,
		PortName: "main", Path: "/ready", Verb: model.VerbGet, SuccessCodes: []int{200}},
		Timeout: msDuration(500), Interval: msDuration(10), Attempts: 1}
	startInstance(t, a, spec)
	waitState(t, fc, "i-http", model.InstanceStopped, 5*time.Second)
	last, _ := fc.latestReport("i-http")
	hostPort := last.Info.LocalInfo.Ports["main"].HostPort
	require.NotZero(t, hostPort)
	require.Contains(t, last.Info.ErrorMessage, "GET http://127.0.0.1:"+strconv.Itoa(hostPort)+"/ready")
	require.Contains(t, last.Info.ErrorMessage, "refused")

	// A check naming a port the instance does not expose fails as such.
	spec = testSpec("app1", "i-noport")
	spec.Readiness = &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckHTTP, PortName: "admin"},
		Timeout: msDuration(500), Interval: msDuration(10), Attempts: 1}
	startInstance(t, a, spec)
	waitState(t, fc, "i-noport", model.InstanceStopped, 5*time.Second)
	last, _ = fc.latestReport("i-noport")
	require.Equal(t, "readiness check failed: failed 1 of 1 attempts; last: no port named admin", last.Info.ErrorMessage)
}

// httpCheck is Drove's sample HTTP check of port main, 10 ms apart.
func httpCheck(attempts int) *model.CheckSpec {
	return &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckHTTP, Protocol: model.ProtocolHTTP,
		PortName: "main", Path: "/", Verb: model.VerbGet, SuccessCodes: []int{200},
		ConnectionTimeout: model.MustParseDuration("1 second")},
		Timeout: model.MustParseDuration("1 second"), Interval: msDuration(10), Attempts: attempts}
}

func TestAgent_FakeRuntimeAnswersHTTPChecksAndHooks(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	// Simulated containers listen on no port: the runtime answers HTTP
	// checks and hooks (agent.HTTPProber), so Drove's sample app runs.
	spec := testSpec("app1", "i-sample")
	spec.Readiness, spec.Healthcheck = httpCheck(3), httpCheck(3)
	spec.PreShutdown = &model.PreShutdownSpec{Hooks: []model.CheckModeSpec{httpCheck(1).Mode},
		WaitBeforeKill: msDuration(10)}
	start := time.Now()
	startHealthy(t, a, fc, spec)
	// The monitor probes a few times and the instance stays healthy.
	require.Never(t, func() bool { return localState(a, "i-sample") != model.InstanceHealthy },
		50*time.Millisecond, 5*time.Millisecond)
	stopped(t, a, fc, "i-sample")
	require.Less(t, time.Since(start), 3*time.Second, "no HTTP hook retries (3 s apart)")
	last, _ := fc.latestReport("i-sample")
	require.Empty(t, last.Info.ErrorMessage)
	require.Equal(t, []string{"stop"}, rt.entries(), "nothing was exec'd")
}

func TestAgent_HealthMonitorReportsUnhealthyAndRecovery(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-health")
	spec.Readiness = &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckCmd, Command: "test -f /ready"},
		Timeout: msDuration(500), Interval: msDuration(10), Attempts: 1}
	spec.Healthcheck = cmdCheck("check", 3)
	startHealthy(t, a, fc, spec)
	require.Equal(t, []string{"exec sh -c test -f /ready", "exec check"}, rt.entries()[:2],
		"readiness first, then one health pass")
	states := statesOf(fc, "i-health")
	require.Contains(t, states, model.InstanceHealthy)
	requireOrdered(t, fc.historyOf("i-health"))

	// The monitor keeps checking.
	require.Eventually(t, func() bool { return rt.count("exec check") >= 4 }, 5*time.Second, time.Millisecond)
	require.Equal(t, model.InstanceHealthy, localState(a, "i-health"))

	// Three consecutive failures: UNHEALTHY with the reason; the agent
	// leaves the container running (the controllers replace the instance).
	rt.failing.Store(true)
	waitState(t, fc, "i-health", model.InstanceUnhealthy, 5*time.Second)
	last, _ := fc.latestReport("i-health")
	require.Equal(t, `health check failed: 3 consecutive health checks failed; last: command "check" exited with code 1: boom`,
		last.Info.ErrorMessage)
	cs := containersOf(t, rt.Runtime, "i-health")
	require.Len(t, cs, 1)
	require.Equal(t, agent.ContainerRunning, cs[0].Status)

	// A pass makes it HEALTHY again, without the old reason.
	rt.failing.Store(false)
	waitState(t, fc, "i-health", model.InstanceHealthy, 5*time.Second)
	last, _ = fc.latestReport("i-health")
	require.Empty(t, last.Info.ErrorMessage)

	// Stopping ends the monitor.
	stopped(t, a, fc, "i-health")
	n := rt.count("exec check")
	require.Never(t, func() bool { return rt.count("exec check") != n },
		50*time.Millisecond, 5*time.Millisecond, "no health checks after the stop (five intervals)")
}

func TestAgent_UnhealthyInstanceCanBeStopped(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-sick")
	spec.Healthcheck = cmdCheck("check", 1)
	startHealthy(t, a, fc, spec)
	rt.failing.Store(true)
	waitState(t, fc, "i-sick", model.InstanceUnhealthy, 5*time.Second)
	stopped(t, a, fc, "i-sick")
	require.Equal(t, 0, rt.Count())
}

func TestAgent_FailedFirstHealthCheckStopsInstance(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-sickly")
	spec.Healthcheck = cmdCheck("false", 2)
	spec.PreShutdown = &model.PreShutdownSpec{WaitBeforeKill: msDuration(300)} // keeps STOPPING visible
	startInstance(t, a, spec)

	const want = `health check failed: failed 2 of 2 attempts; last: command "false" exited with code 1`
	waitState(t, fc, "i-sickly", model.InstanceStopping, 5*time.Second)
	last, _ := fc.latestReport("i-sickly")
	require.Equal(t, want, last.Info.ErrorMessage)
	waitState(t, fc, "i-sickly", model.InstanceStopped, 5*time.Second)
	last, _ = fc.latestReport("i-sickly")
	require.Equal(t, want, last.Info.ErrorMessage)
	require.NotContains(t, statesOf(fc, "i-sickly"), model.InstanceHealthy)
	requireOrdered(t, fc.historyOf("i-sickly"))
	require.Equal(t, []string{"exec false", "exec false", "stop"}, rt.entries())
}

func TestAgent_PreShutdownHooksRunBeforeStop(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-hooks")
	spec.PreShutdown = &model.PreShutdownSpec{
		Hooks: []model.CheckModeSpec{
			{Type: model.CheckCmd, Command: "drain --now", ShellDisabled: true},
			{Type: model.CheckCmd, Command: "false", ShellDisabled: true}, // fails: logged, the stop goes on
			{Type: model.CheckCmd, Command: "echo bye"},
		},
		WaitBeforeKill: msDuration(50),
	}
	startHealthy(t, a, fc, spec)
	require.Empty(t, rt.entries(), "no checks configured: nothing runs before the stop")

	stopped(t, a, fc, "i-hooks")
	require.Equal(t, []string{"exec drain --now", "exec false", "exec sh -c echo bye", "stop"}, rt.entries())
	require.GreaterOrEqual(t, rt.at(t, "stop").Sub(rt.at(t, "exec sh -c echo bye")), 50*time.Millisecond,
		"waitBeforeKill between the hooks and the stop")
	last, _ := fc.latestReport("i-hooks")
	require.Empty(t, last.Info.ErrorMessage, "a failed hook is not an error of the instance")
	require.Equal(t, 0, rt.Count())
}

func TestAgent_NoHooksForContainersThatNeverStarted(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{StartDelay: time.Minute})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-early-hooks")
	spec.PreShutdown = &model.PreShutdownSpec{
		Hooks:          []model.CheckModeSpec{{Type: model.CheckHTTP, PortName: "main", Path: "/drain"}},
		WaitBeforeKill: model.MustParseDuration("1 minute"),
	}
	startInstance(t, a, spec)
	require.Eventually(t, func() bool { return localState(a, "i-early-hooks") == model.InstanceStarting && rt.Count() == 1 },
		5*time.Second, time.Millisecond)
	stopped(t, a, fc, "i-early-hooks")
	require.Equal(t, []string{"stop"}, rt.entries(), "no hooks (nor their wait) for a container that never ran")
}

func TestAgent_StopDuringReadinessEndsTheCheckAndStops(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-waiting")
	spec.Readiness = cmdCheck("false", 100)
	spec.Readiness.InitialDelay = model.MustParseDuration("1 minute")
	startInstance(t, a, spec)
	require.Eventually(t, func() bool { return localState(a, "i-waiting") == model.InstanceUnready },
		5*time.Second, time.Millisecond)
	stopped(t, a, fc, "i-waiting")
	last, _ := fc.latestReport("i-waiting")
	require.Empty(t, last.Info.ErrorMessage, "a stopped instance did not fail its readiness check")
	require.NotContains(t, statesOf(fc, "i-waiting"), model.InstanceReadinessCheckFailed)
	require.Equal(t, []string{"stop"}, rt.entries())
}

func TestAgent_ContainerDeathDuringReadinessIsLost(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newExecRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-dies")
	spec.Readiness = cmdCheck("false", 100)
	spec.Readiness.InitialDelay = model.MustParseDuration("1 minute")
	startInstance(t, a, spec)
	require.Eventually(t, func() bool { return localState(a, "i-dies") == model.InstanceUnready },
		5*time.Second, time.Millisecond)
	cs := containersOf(t, rt.Runtime, "i-dies")
	require.Len(t, cs, 1)
	require.NoError(t, rt.Kill(cs[0].ID, 137))
	waitState(t, fc, "i-dies", model.InstanceLost, 5*time.Second)
	require.Eventually(t, func() bool { return rt.Count() == 0 }, 5*time.Second, time.Millisecond)
	require.NotContains(t, statesOf(fc, "i-dies"), model.InstanceReadinessCheckFailed)
}

func TestInstanceSpec_JSONRoundTrip(t *testing.T) {
	count := 2
	spec := testSpec("app1", "i-json")
	spec.Volumes = []model.MountedVolume{{PathInContainer: "/data", PathOnHost: "/var/data", Mode: model.MountReadOnly}}
	spec.Configs = []model.ConfigSpec{
		{Type: model.ConfigInline, LocalFilename: "/etc/app.conf", Data: []byte("key=value")},
		{Type: model.ConfigControllerHTTPFetch, LocalFilename: "/etc/remote.conf",
			HTTP: &model.HTTPCallSpec{Protocol: model.ProtocolHTTPS, Hostname: "config.local", Port: 8443, Path: "/c"}},
	}
	spec.Healthcheck = &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckHTTP, Protocol: model.ProtocolHTTP,
		PortName: "main", Path: "/health", Verb: model.VerbGet, SuccessCodes: []int{200},
		ConnectionTimeout: model.MustParseDuration("1 second")},
		Timeout: model.MustParseDuration("2 seconds"), Interval: model.MustParseDuration("5 seconds"), Attempts: 3,
		InitialDelay: model.MustParseDuration("10 seconds")}
	spec.Readiness = &model.CheckSpec{Mode: model.CheckModeSpec{Type: model.CheckCmd, Command: "ready", ShellDisabled: true},
		Timeout: model.MustParseDuration("1 second"), Interval: model.MustParseDuration("3 seconds"), Attempts: 10}
	spec.LoggingSpec = &model.LoggingSpec{Type: model.LoggingRsyslog, Server: "udp://log:514", TagPrefix: "p-"}
	spec.Devices = []model.DeviceSpec{{Type: model.DeviceDirect, PathOnHost: "/dev/fuse"},
		{Type: model.DeviceDetailed, Driver: "nvidia", Count: &count, Capabilities: [][]string{{"gpu"}}}}
	spec.PreShutdown = &model.PreShutdownSpec{Hooks: []model.CheckModeSpec{{Type: model.CheckCmd, Command: "drain"}},
		WaitBeforeKill: model.MustParseDuration("3 seconds")}
	spec.UserSpec = &model.UserSpec{User: "1000", Group: "1000"}
	spec.InstanceAuthToken = "tok"

	b, err := json.Marshal(spec)
	require.NoError(t, err)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &fields))
	for _, k := range []string{"appId", "appName", "instanceId", "executable", "resources", "ports", "volumes",
		"configs", "healthcheck", "readiness", "loggingSpec", "env", "args", "devices", "preShutdown", "userSpec",
		"instanceAuthToken"} {
		require.Contains(t, fields, k, "Drove's ApplicationInstanceSpec field names")
	}
	require.JSONEq(t, `{"hooks":[{"type":"CMD","command":"drain"}],"waitBeforeKill":"3 seconds"}`, string(fields["preShutdown"]))
	var back model.InstanceSpec
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, spec, back)

	// Unset members are left out.
	b, err = json.Marshal(testSpec("app1", "i-plain"))
	require.NoError(t, err)
	for _, k := range []string{"volumes", "configs", "healthcheck", "readiness", "loggingSpec", "devices",
		"preShutdown", "userSpec", "instanceAuthToken"} {
		require.NotContains(t, string(b), `"`+k+`"`)
	}
}
