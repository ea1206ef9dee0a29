package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

const testSecret = "s3cret"

// testConfig is an agent configuration on loopback with ephemeral ports,
// its own window of host ports and a reconciler that stays out of the way
// unless a test speeds it up.
func testConfig(controllers ...string) agent.Config {
	cfg := agent.DefaultConfig()
	cfg.PortRange = portWindow(16)
	cfg.Hostname = "127.0.0.1"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Controllers = controllers
	cfg.ClusterSecret = testSecret
	cfg.Layout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}},
		Memory: map[int]int64{0: 4096, 1: 4096}}
	cfg.Tags = []string{"zone-a"}
	cfg.Metadata = map[string]string{"rack": "r1"}
	cfg.ReconcileInterval = time.Hour
	cfg.ControllerTimeout = 2 * time.Second
	cfg.Version = "test"
	cfg.Logger = hclog.NewNullLogger()
	if os.Getenv("DROVE_TEST_LOG") != "" {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "agent", Level: hclog.LevelFromString(os.Getenv("DROVE_TEST_LOG"))})
	}
	return cfg
}

// newFakeRuntime returns a fake runtime that fails the test on error.
func newFakeRuntime(t *testing.T, cfg fakeruntime.Config) *fakeruntime.Runtime {
	t.Helper()
	rt, err := fakeruntime.New(cfg)
	require.NoError(t, err)
	return rt
}

// startAgent starts an agent with cfg on rt; it is killed when the test ends.
func startAgent(t *testing.T, cfg agent.Config, rt agent.Runtime) *agent.Agent {
	t.Helper()
	a, err := agent.New(cfg, rt)
	require.NoError(t, err)
	t.Cleanup(a.Kill)
	return a
}

// testSpec is an instance spec with one core, 128 MB and one port.
func testSpec(appID, instanceID string) model.InstanceSpec {
	return model.InstanceSpec{
		AppID: appID, AppName: "app", InstanceID: instanceID,
		Executable: model.Executable{Type: "DOCKER", URL: "docker.io/test/app:1", DockerPullTimeout: "100 seconds"},
		Resources: []model.ResourceAllocation{
			{Type: model.ResourceCPU, Cores: map[int][]int{0: {1}}},
			{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 128}},
		},
		Ports: []model.PortSpec{{Name: "main", Port: 8080, Type: model.PortHTTP}},
		Env:   map[string]string{"GREETING": "hello"},
		Args:  []string{"--serve"},
	}
}

var msgClient = &http.Client{Timeout: 10 * time.Second}

// post sends an executor message with the given secret and decodes the reply.
func post(t *testing.T, a *agent.Agent, secret string, msg model.ExecutorMessage) (int, model.MessageResponse) {
	t.Helper()
	code, resp, err := send(a, secret, msg)
	require.NoError(t, err)
	return code, resp
}

// send is post without the test: safe in any goroutine.
func send(a *agent.Agent, secret string, msg model.ExecutorMessage) (int, model.MessageResponse, error) {
	var out model.MessageResponse
	if msg.Header.ID == "" {
		msg.Header = model.MessageHeader{ID: uuid.NewString(), SenderType: "CONTROLLER", Direction: "REQUEST",
			MessageTime: time.Now().UnixMilli()}
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return 0, out, err
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost,
		"http://"+a.HTTPAddr()+"/apis/v1/messages", bytes.NewReader(body))
	if err != nil {
		return 0, out, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Cluster-Authorization", secret)
		req.Header.Set("NodeId", "controller-1")
	}
	resp, err := msgClient.Do(req)
	if err != nil {
		return 0, out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return resp.StatusCode, out, err
		}
	}
	return resp.StatusCode, out, nil
}

func startMsg(a *agent.Agent, spec model.InstanceSpec) model.ExecutorMessage {
	return model.ExecutorMessage{Type: model.MsgStartInstance, Spec: &spec,
		Address: model.ExecutorAddress{ExecutorID: a.ID()}}
}

func stopMsg(a *agent.Agent, id string) model.ExecutorMessage {
	return model.ExecutorMessage{Type: model.MsgStopInstance, InstanceID: id,
		Address: model.ExecutorAddress{ExecutorID: a.ID()}}
}

// startInstance sends START for spec and requires ACCEPTED.
func startInstance(t *testing.T, a *agent.Agent, spec model.InstanceSpec) {
	t.Helper()
	code, resp := post(t, a, testSecret, startMsg(a, spec))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, model.MessageAccepted, resp.Status, resp.Message)
}

// waitState polls the fake controller until instance id's newest state is st.
func waitState(t *testing.T, fc *fakeController, id string, st model.InstanceState, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return fc.state(id) == st }, within, 5*time.Millisecond,
		"instance %s never reported %s (last: %q)", id, st, fc.state(id))
}

// containersOf lists the runtime's containers of one instance.
func containersOf(t *testing.T, rt *fakeruntime.Runtime, instanceID string) []agent.Container {
	t.Helper()
	cs, err := rt.List(context.Background(), map[string]string{agent.LabelInstanceID: instanceID})
	require.NoError(t, err)
	return cs
}

// localState is the agent's own view of instance id ("" if unknown).
func localState(a *agent.Agent, id string) model.InstanceState {
	for _, in := range a.Instances() {
		if in.InstanceID == id {
			return in.State
		}
	}
	return ""
}

// lifecycleRank orders states along the start → stop lifecycle.
var lifecycleRank = map[model.InstanceState]int{
	model.InstancePending: 0, model.InstanceProvisioning: 1, model.InstanceStarting: 2,
	model.InstanceProvisioningFailed: 3, model.InstanceStartFailed: 3,
	model.InstanceUnready: 4, model.InstanceReady: 5, model.InstanceReadinessCheckFailed: 5,
	model.InstanceHealthy: 6, model.InstanceUnhealthy: 6,
	model.InstanceStopping: 7, model.InstanceDeprovisioning: 8, model.InstanceStopped: 9, model.InstanceLost: 9,
}

// requireOrdered checks that reports of one instance never go backwards:
// Seq never decreases within the boot and states follow the lifecycle.
func requireOrdered(t *testing.T, reports []model.InstanceReport) {
	t.Helper()
	require.NotEmpty(t, reports)
	for i := 1; i < len(reports); i++ {
		prev, cur := reports[i-1], reports[i]
		require.Equal(t, prev.Boot, cur.Boot)
		require.GreaterOrEqual(t, cur.Seq, prev.Seq, "report %d went back in Seq", i)
		require.GreaterOrEqual(t, lifecycleRank[cur.Info.State], lifecycleRank[prev.Info.State],
			"report %d went back from %s to %s", i, prev.Info.State, cur.Info.State)
	}
}

// Test agents take host ports from windows of 30000-32767: above the
// default range (which agents of other test packages use) and below the
// Linux ephemeral range, so the windows are normally free. Each window is
// handed out once per cycle, so agents of one test never share ports (and
// port-probing agents of different tests do not disturb each other).
const (
	testPortsMin = 30000
	testPortsMax = 32767
)

var (
	testPortsMu   sync.Mutex
	testPortsNext = testPortsMin
)

// portWindow returns a range of n consecutive host ports, none handed out
// by portWindow recently, that were all free (TCP and UDP) a moment ago.
func portWindow(n int) agent.PortRange {
	testPortsMu.Lock()
	defer testPortsMu.Unlock()
	for range 2 * (testPortsMax - testPortsMin) {
		if testPortsNext+n-1 > testPortsMax {
			testPortsNext = testPortsMin
		}
		lo := testPortsNext
		testPortsNext += n
		busy := false
		for p := lo; p < lo+n && !busy; p++ {
			busy = !hostPortFree(p)
		}
		if !busy {
			return agent.PortRange{Min: lo, Max: lo + n - 1}
		}
	}
	panic("no window of " + strconv.Itoa(n) + " free host ports in 30000-32767")
}

// hostPortFree reports whether port can be bound on all interfaces for
// both TCP and UDP right now.
func hostPortFree(port int) bool {
	addr := ":" + strconv.Itoa(port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	_ = pc.Close()
	return true
}
