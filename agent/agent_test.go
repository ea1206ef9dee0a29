package agent_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/agent/resources"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgent_RegistersOnStartAndAgainWhenAsked(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))

	require.Eventually(t, func() bool { return fc.registrationCount() >= 1 }, 5*time.Second, 5*time.Millisecond)
	reg := fc.lastRegistration()
	_, portStr, err := net.SplitHostPort(a.HTTPAddr())
	require.NoError(t, err)
	port, _ := strconv.Atoi(portStr)
	require.Equal(t, resources.ExecutorID("127.0.0.1", port), a.ID(), "default id is Drove's hostname:port UUID")
	require.Equal(t, a.ID(), reg.ExecutorID)
	require.Equal(t, "127.0.0.1", reg.Hostname)
	require.Equal(t, port, reg.Port)
	require.Equal(t, model.TransportHTTP, reg.TransportType)
	require.Equal(t, model.ExecutorActive, reg.State)
	require.Equal(t, []string{"zone-a", "127.0.0.1"}, reg.Tags, "the hostname is always a tag")
	require.Equal(t, map[string]string{"rack": "r1"}, reg.Metadata)
	require.Equal(t, 8, reg.Layout.TotalCores())
	require.Equal(t, "test", reg.Version)

	// A report answered with reregister=true makes the agent register again.
	before := fc.registrationCount()
	fc.reregisterNext.Store(true)
	startInstance(t, a, testSpec("app1", "i-rereg"))
	require.Eventually(t, func() bool { return fc.registrationCount() > before }, 5*time.Second, 5*time.Millisecond)
	// The refused report is not lost: it is sent again after registering.
	waitState(t, fc, "i-rereg", model.InstanceHealthy, 5*time.Second)

	// Changing the registration registers again.
	before = fc.registrationCount()
	layout := model.ResourceLayout{Cores: map[int][]int{0: {0, 1}}, Memory: map[int]int64{0: 1024}}
	require.NoError(t, a.UpdateRegistration(layout, []string{"zone-b"}, nil))
	require.Eventually(t, func() bool { return fc.registrationCount() > before }, 5*time.Second, 5*time.Millisecond)
	reg = fc.lastRegistration()
	require.Equal(t, []string{"zone-b", "127.0.0.1"}, reg.Tags)
	require.Equal(t, 2, reg.Layout.TotalCores())
}

func TestAgent_StartMessageRunsInstanceToHealthyWithOrderedReports(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{StartDelay: 20 * time.Millisecond})
	cfg := testConfig(fc.URL())
	a := startAgent(t, cfg, rt)
	hostPort := cfg.PortRange.Min // the first port handed out

	msg := startMsg(a, testSpec("app1", "i-1"))
	msg.Header.ID = "req-1"
	code, resp := post(t, a, testSecret, msg)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, model.MessageAccepted, resp.Status)
	require.Equal(t, "req-1", resp.Header.ReplyToID)
	require.Equal(t, "EXECUTOR", resp.Header.SenderType)
	require.Equal(t, "REPLY", resp.Header.Direction)
	require.NotEmpty(t, resp.Header.ID)
	require.NotEqual(t, "req-1", resp.Header.ID)

	waitState(t, fc, "i-1", model.InstanceHealthy, 5*time.Second)
	hist := fc.historyOf("i-1")
	requireOrdered(t, hist)
	require.Equal(t, a.Boot(), hist[0].Boot)
	last, _ := fc.latestReport("i-1")
	require.GreaterOrEqual(t, last.Seq, uint64(6), "PENDING..HEALTHY is six changes")
	info := last.Info
	require.Equal(t, a.ID(), info.ExecutorID)
	require.Equal(t, "app1", info.AppID)
	require.Equal(t, "127.0.0.1", info.LocalInfo.Hostname)
	require.Equal(t, model.InstancePort{ContainerPort: 8080, HostPort: hostPort, PortType: model.PortHTTP}, info.LocalInfo.Ports["main"])
	require.NotZero(t, info.Created)
	require.GreaterOrEqual(t, info.Updated, info.Created)

	// The container was created as specified.
	cs := containersOf(t, rt, "i-1")
	require.Len(t, cs, 1)
	require.Equal(t, agent.ContainerRunning, cs[0].Status)
	spec, err := rt.Spec(cs[0].ID)
	require.NoError(t, err)
	require.Equal(t, "app1-i-1", spec.Name)
	require.Equal(t, "docker.io/test/app:1", spec.Image)
	require.Equal(t, 100*time.Second, spec.PullTimeout)
	require.Equal(t, []int{1}, spec.CPUSet)
	require.Equal(t, int64(128), spec.MemoryMB)
	require.Equal(t, []string{"--serve"}, spec.Args)
	require.Equal(t, map[string]string{"GREETING": "hello", "DROVE_APP_ID": "app1", "DROVE_INSTANCE_ID": "i-1",
		"DROVE_APP_NAME": "app", "HOST": "127.0.0.1", "PORT_8080": strconv.Itoa(hostPort),
		"DROVE_EXECUTOR_HOST": "127.0.0.1", "DROVE_CONTAINER_ID": "docker.io/test/app:1"}, spec.Env)
	specJSON, err := json.Marshal(testSpec("app1", "i-1"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{agent.LabelInstanceID: "i-1", agent.LabelAppID: "app1",
		agent.LabelExecutorID: a.ID(), agent.LabelInstanceSpec: string(specJSON),
		agent.LabelInstancePorts: `{"main":` + strconv.Itoa(hostPort) + `}`}, spec.Labels)
	require.Equal(t, []agent.PortBinding{{ContainerPort: 8080, HostPort: hostPort, Protocol: "tcp"}}, spec.Ports)

	// Reports carry the resources in use.
	require.Eventually(t, func() bool {
		reps := fc.allReports()
		r := reps[len(reps)-1]
		return r.UsedCores == 1 && r.UsedMemory == 128
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, model.InstanceHealthy, localState(a, "i-1"))
}

func TestAgent_DuplicateStartIsAcceptedWithoutSecondContainer(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{StartDelay: 50 * time.Millisecond})
	a := startAgent(t, testConfig(fc.URL()), rt)
	spec := testSpec("app1", "i-dup")

	startInstance(t, a, spec)
	startInstance(t, a, spec) // while starting
	waitState(t, fc, "i-dup", model.InstanceHealthy, 5*time.Second)
	startInstance(t, a, spec) // once healthy
	require.Equal(t, 1, rt.Count())
	require.Len(t, a.Instances(), 1)
}

func TestAgent_StopMessageStopsAndRemovesContainer(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	startInstance(t, a, testSpec("app1", "i-stop"))
	waitState(t, fc, "i-stop", model.InstanceHealthy, 5*time.Second)
	for range 3 { // repeats are harmless
		code, resp := post(t, a, testSecret, stopMsg(a, "i-stop"))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, model.MessageAccepted, resp.Status)
	}
	waitState(t, fc, "i-stop", model.InstanceStopped, 5*time.Second)
	requireOrdered(t, fc.historyOf("i-stop"))
	require.Equal(t, 0, rt.Count(), "container removed")
	last, _ := fc.latestReport("i-stop")
	require.Empty(t, last.Info.ErrorMessage)

	// Unknown ids are accepted: nothing to do.
	code, resp := post(t, a, testSecret, stopMsg(a, "never-heard-of"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, model.MessageAccepted, resp.Status)

	// A stop that arrives while the instance is still starting aborts the
	// start (which would otherwise take a minute).
	slow := newFakeRuntime(t, fakeruntime.Config{StartDelay: time.Minute})
	fc2 := newFakeController(t, testSecret)
	b := startAgent(t, testConfig(fc2.URL()), slow)
	startInstance(t, b, testSpec("app1", "i-early"))
	require.Eventually(t, func() bool { return localState(b, "i-early") == model.InstanceStarting && slow.Count() == 1 },
		5*time.Second, time.Millisecond)
	code, resp = post(t, b, testSecret, stopMsg(b, "i-early"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, model.MessageAccepted, resp.Status)
	waitState(t, fc2, "i-early", model.InstanceStopped, 5*time.Second)
	require.Equal(t, 0, slow.Count())
	for _, r := range fc2.historyOf("i-early") {
		require.NotContains(t, []model.InstanceState{model.InstanceHealthy, model.InstanceStartFailed}, r.Info.State)
	}
	last, _ = fc2.latestReport("i-early")
	require.Empty(t, last.Info.ErrorMessage)
}

func TestAgent_RequiresClusterSecret(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))

	code, _ := post(t, a, "wrong", startMsg(a, testSpec("app1", "i-x")))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = post(t, a, "", startMsg(a, testSpec("app1", "i-x")))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Empty(t, a.Instances())

	resp, err := http.Get("http://" + a.HTTPAddr() + "/apis/v1/instances")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// Authorised list and health.
	startInstance(t, a, testSpec("app1", "i-ok"))
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.HTTPAddr()+"/apis/v1/instances", nil)
	req.Header.Set("Cluster-Authorization", testSecret)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var env struct {
		Status string               `json:"status"`
		Data   []model.InstanceInfo `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	resp.Body.Close()
	require.Equal(t, "SUCCESS", env.Status)
	require.Len(t, env.Data, 1)
	require.Equal(t, "i-ok", env.Data[0].InstanceID)

	resp, err = http.Get("http://" + a.HTTPAddr() + "/healthz")
	require.NoError(t, err)
	var health map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&health))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, a.ID(), health["executorId"])
	require.EqualValues(t, 1, health["instances"])
}

func TestAgent_RejectsMisaddressedAndMalformedMessages(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))

	msg := startMsg(a, testSpec("app1", "i-1"))
	msg.Address.ExecutorID = "someone-else"
	_, resp := post(t, a, testSecret, msg)
	require.Equal(t, model.MessageRejected, resp.Status)

	_, resp = post(t, a, testSecret, model.ExecutorMessage{Type: model.MsgStartInstance})
	require.Equal(t, model.MessageRejected, resp.Status)
	_, resp = post(t, a, testSecret, model.ExecutorMessage{Type: "REBOOT"})
	require.Equal(t, model.MessageRejected, resp.Status)
	require.Empty(t, a.Instances())
}

func TestAgent_KilledContainerIsReportedLost(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)

	startInstance(t, a, testSpec("app1", "i-kill"))
	waitState(t, fc, "i-kill", model.InstanceHealthy, 5*time.Second)
	cs := containersOf(t, rt, "i-kill")
	require.Len(t, cs, 1)
	require.NoError(t, rt.Kill(cs[0].ID, 137))

	waitState(t, fc, "i-kill", model.InstanceLost, 5*time.Second)
	last, _ := fc.latestReport("i-kill")
	require.Equal(t, "container exited with code 137", last.Info.ErrorMessage)
	requireOrdered(t, fc.historyOf("i-kill"))
	require.Eventually(t, func() bool { return rt.Count() == 0 }, 5*time.Second, 5*time.Millisecond, "dead container removed")

	// A container removed behind the agent's back is lost too.
	startInstance(t, a, testSpec("app1", "i-rm"))
	waitState(t, fc, "i-rm", model.InstanceHealthy, 5*time.Second)
	cs = containersOf(t, rt, "i-rm")
	require.Len(t, cs, 1)
	require.NoError(t, rt.RemoveExternally(cs[0].ID))
	waitState(t, fc, "i-rm", model.InstanceLost, 5*time.Second)
}

func TestAgent_FailedStartsEndStoppedWithError(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{MissingImages: []string{"docker.io/test/missing:1"}})
	a := startAgent(t, testConfig(fc.URL()), rt)

	spec := testSpec("app1", "i-noimage")
	spec.Executable.URL = "docker.io/test/missing:1"
	startInstance(t, a, spec)
	waitState(t, fc, "i-noimage", model.InstanceStopped, 5*time.Second)
	last, _ := fc.latestReport("i-noimage")
	require.Contains(t, last.Info.ErrorMessage, "image unavailable")
	require.Equal(t, 0, rt.Count())

	failing := newFakeRuntime(t, fakeruntime.Config{FailureRate: 1})
	fc2 := newFakeController(t, testSecret)
	b := startAgent(t, testConfig(fc2.URL()), failing)
	startInstance(t, b, testSpec("app1", "i-fail"))
	waitState(t, fc2, "i-fail", model.InstanceStopped, 5*time.Second)
	last, _ = fc2.latestReport("i-fail")
	require.Contains(t, last.Info.ErrorMessage, "start container")
	require.Equal(t, 0, failing.Count())
}

func TestAgent_CrashingContainersAreLost(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{CrashAfter: time.Millisecond})
	a := startAgent(t, testConfig(fc.URL()), rt)
	for i := range 20 {
		startInstance(t, a, testSpec("app1", "i-crash-"+strconv.Itoa(i)))
	}
	ok := assert.Eventually(t, func() bool { return fc.countInState(model.InstanceLost) == 20 }, 5*time.Second, 5*time.Millisecond)
	if !ok {
		dumpStates(t, a, fc)
		t.FailNow()
	}
	require.Eventually(t, func() bool { return rt.Count() == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestAgent_ShutdownAndKillAreIdempotent(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))
	a.Shutdown()
	a.Shutdown()
	a.Kill()
	_, err := http.Get("http://" + a.HTTPAddr() + "/healthz")
	require.Error(t, err)
}

func dumpStates(t *testing.T, a *agent.Agent, fc *fakeController) {
	for _, in := range a.Instances() {
		t.Logf("%s local=%s remote=%s err=%q", in.InstanceID, in.State, fc.state(in.InstanceID), in.ErrorMessage)
	}
}
