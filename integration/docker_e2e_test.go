package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/docker"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerE2EPorts is the executor's host port window: above the Linux
// ephemeral range (32768-60999) and away from the agent default, so it
// clashes neither with outgoing connections nor with other docker tests.
var dockerE2EPorts = agent.PortRange{Min: 61100, Max: 61199}

// dockerExecutor is one in-process agent on the real Docker runtime.
type dockerExecutor struct {
	cfg agent.Config
	rt  *docker.Runtime
	a   *agent.Agent
}

// startDockerExecutor starts an executor on the Docker runtime. Every
// container labelled with one of appIDs is removed when the test ends, pass
// or fail.
func startDockerExecutor(t *testing.T, tc *testCluster, id string, appIDs ...string) *dockerExecutor {
	t.Helper()
	rt, err := docker.New(docker.Config{PullTimeout: 30 * time.Second, Logger: testLogger(t, id+"-docker")})
	require.NoError(t, err)
	// Registered first, so it runs last: after the agent is killed, nothing
	// recreates containers while they are being removed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, app := range appIDs {
			list, err := rt.List(ctx, map[string]string{agent.LabelAppID: app})
			if err != nil {
				t.Errorf("cleanup: list containers of %s: %v", app, err)
				continue
			}
			for _, c := range list {
				if err := rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, agent.ErrNotFound) {
					t.Errorf("cleanup: remove %s: %v", c.Name, err)
				}
			}
		}
		_ = rt.Close()
	})
	e := &dockerExecutor{cfg: executorConfig(t, tc, id), rt: rt}
	e.cfg.Hostname = "127.0.0.1"
	e.cfg.LogDir = t.TempDir()
	e.cfg.PortRange = dockerE2EPorts
	e.cfg.StopGrace = 5 * time.Second
	// The containers are pinned to the offered cores, so only real ones may
	// be offered; two NUMA "nodes" over the same cores give room for a
	// replacement to start before the instance it replaces stops.
	e.cfg.Layout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1}, 1: {0, 1}}, Memory: map[int]int64{0: 1024, 1: 1024}}
	e.a, err = agent.New(e.cfg, rt)
	require.NoError(t, err)
	t.Cleanup(func() { e.a.Kill() })
	return e
}

// dockerAppSpec is the testapp image as a Drove app: HTTP readiness on
// /ready and health on /health, fast checks, exposed port main:8000.
func dockerAppSpec(name, image string) map[string]any {
	check := func(path string) map[string]any {
		return map[string]any{
			"mode": map[string]any{"type": "HTTP", "protocol": "HTTP", "portName": "main", "path": path, "verb": "GET",
				"successCodes": []int{200}, "connectionTimeout": "1 second"},
			"timeout": "1 second", "interval": "500 milliseconds", "attempts": 3, "initialDelay": "0 seconds",
		}
	}
	return map[string]any{
		"name": name, "version": "1", "type": "SERVICE",
		"executable":   map[string]any{"type": "DOCKER", "url": image, "dockerPullTimeout": "30 seconds"},
		"exposedPorts": []any{map[string]any{"name": "main", "port": 8000, "type": "HTTP"}},
		"resources": []any{map[string]any{"type": "CPU", "count": 1},
			map[string]any{"type": "MEMORY", "sizeInMB": 64}},
		"placementPolicy": map[string]any{"type": "ANY"},
		"healthcheck":     check("/health"), "readiness": check("/ready"),
		"exposureSpec": map[string]any{"vhost": strings.ToLower(name) + ".local", "portName": "main", "mode": "ALL"},
		"env":          map[string]string{"GREETING": "hi"},
		"tags":         map[string]string{"team": "test"},
	}
}

// waitAppOn is waitApp against node i (a one-node cluster has no follower).
func waitAppOn(t *testing.T, tc *testCluster, i int, appID string, st model.ApplicationState, healthy int, timeout time.Duration) {
	t.Helper()
	var last model.AppSummary
	require.Eventually(t, func() bool {
		r := tc.call(i, readOnly, "GET", "/apis/v1/applications/"+appID, nil)
		if r.Env.Status != "SUCCESS" {
			return false
		}
		r.data(t, &last)
		return last.State == st && last.HealthyInstances == healthy
	}, timeout, 100*time.Millisecond, "app %s never reached %s with %d healthy (last %+v)", appID, st, healthy, last)
}

// instancesOn is appInstances against node i.
func instancesOn(t *testing.T, tc *testCluster, i int, appID, query string) []model.InstanceInfo {
	t.Helper()
	r := tc.call(i, readOnly, "GET", "/apis/v1/applications/"+appID+"/instances"+query, nil)
	requireSuccess(t, r)
	var out []model.InstanceInfo
	r.data(t, &out)
	return out
}

func instanceIDs(ins []model.InstanceInfo) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.InstanceID)
	}
	slices.Sort(out)
	return out
}

// httpGetJSON GETs url and decodes a 200 JSON answer into v.
func httpGetJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status + ": " + string(b))
	}
	return json.Unmarshal(b, v)
}

// containerOf returns the one container of instance iid.
func containerOf(t *testing.T, rt *docker.Runtime, iid string) agent.Container {
	t.Helper()
	list, err := rt.List(t.Context(), map[string]string{agent.LabelInstanceID: iid})
	require.NoError(t, err)
	require.Len(t, list, 1, "containers of %s", iid)
	return list[0]
}

// waitReplaced waits for 2 HEALTHY instances, none of them gone, and returns
// them.
func waitReplaced(t *testing.T, tc *testCluster, appID, gone string, timeout time.Duration) []model.InstanceInfo {
	t.Helper()
	var ins []model.InstanceInfo
	require.Eventually(t, func() bool {
		ins = instancesOn(t, tc, 0, appID, "")
		if len(ins) != 2 {
			return false
		}
		for _, in := range ins {
			if in.InstanceID == gone || in.State != model.InstanceHealthy {
				return false
			}
		}
		return true
	}, timeout, 100*time.Millisecond, "%s was not replaced by a HEALTHY instance (last %+v)", gone, ins)
	return ins
}

// waitInstanceIn waits until iid is listed among the app's instances in
// state st.
func waitInstanceIn(t *testing.T, tc *testCluster, appID, iid string, st model.InstanceState, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		return slices.Contains(instanceIDs(instancesOn(t, tc, 0, appID, "?state="+string(st))), iid)
	}, timeout, 100*time.Millisecond, "instance %s never listed as %s", iid, st)
}

// TestDocker_ApplicationEndToEnd runs an application of the testapp image on
// a real Docker executor through the controller's API: create, reach it on
// its host ports, read its logs, have it replaced when unhealthy and when
// its container is killed behind drove's back, then suspend and destroy.
func TestDocker_ApplicationEndToEnd(t *testing.T) {
	image := testimage.Require(t)
	start := time.Now()
	const appID = "DOCKER_E2E-1"
	tc := newCluster(t, 1, withExecutorTiming(), withFastOutage())
	e := startDockerExecutor(t, tc, "docker-exec", appID)
	waitExecutorState(t, tc, "docker-exec", model.ExecutorActive, 15*time.Second)
	rt := e.rt
	step := func(name string) { t.Logf("%-10s at %s", name, time.Since(start).Round(time.Millisecond)) }

	// CREATE with 2 instances.
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": dockerAppSpec("DOCKER_E2E", image),
		"instances": 2, "opSpec": opSpec(2)})
	waitAppOn(t, tc, 0, appID, model.AppRunning, 2, 60*time.Second)
	step("running")
	ins := instancesOn(t, tc, 0, appID, "")
	require.Len(t, ins, 2)

	// Each instance answers on its host port with the spec's and drove's env.
	var hostPorts []int
	for _, in := range ins {
		r := tc.call(0, readOnly, "GET", "/apis/v1/applications/"+appID+"/instances/"+in.InstanceID, nil)
		requireSuccess(t, r)
		var got model.InstanceInfo
		r.data(t, &got)
		require.Equal(t, model.InstanceHealthy, got.State)
		require.Equal(t, "127.0.0.1", got.LocalInfo.Hostname)
		p, ok := got.LocalInfo.Ports["main"]
		require.True(t, ok, "ports: %+v", got.LocalInfo.Ports)
		require.Equal(t, 8000, p.ContainerPort)
		require.GreaterOrEqual(t, p.HostPort, dockerE2EPorts.Min)
		require.LessOrEqual(t, p.HostPort, dockerE2EPorts.Max)
		hostPorts = append(hostPorts, p.HostPort)
		var env map[string]string
		require.NoError(t, httpGetJSON("http://127.0.0.1:"+strconv.Itoa(p.HostPort)+"/env", &env))
		require.Equal(t, "hi", env["GREETING"])
		require.Equal(t, strconv.Itoa(p.HostPort), env["PORT_8000"])
		require.Equal(t, appID, env["DROVE_APP_ID"])
		require.Equal(t, in.InstanceID, env["DROVE_INSTANCE_ID"])
	}
	require.NotEqual(t, hostPorts[0], hostPorts[1])

	// Both are endpoints for gateways.
	r := tc.call(0, readOnly, "GET", "/apis/v1/endpoints", nil)
	requireSuccess(t, r)
	var eps []struct {
		AppID string `json:"appId"`
		Vhost string `json:"vhost"`
		Hosts []struct {
			Host string `json:"host"`
			Port int    `json:"port"`
		} `json:"hosts"`
	}
	r.data(t, &eps)
	require.Len(t, eps, 1, "body: %s", r.Body)
	require.Equal(t, appID, eps[0].AppID)
	require.Equal(t, "docker_e2e.local", eps[0].Vhost)
	var epPorts []int
	for _, h := range eps[0].Hosts {
		require.Equal(t, "127.0.0.1", h.Host)
		epPorts = append(epPorts, h.Port)
	}
	require.ElementsMatch(t, hostPorts, epPorts)

	// The container's output is in the instance's log, through the controller.
	base := "/apis/v1/logfiles/applications/" + appID + "/" + ins[0].InstanceID
	r = tc.call(0, readOnly, "GET", base+"/list", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	var list struct {
		Files []string `json:"files"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &list))
	require.Contains(t, list.Files, "output.log")
	var chunk logChunk
	require.Eventually(t, func() bool {
		r = tc.call(0, readOnly, "GET", base+"/read/output.log?offset=0", nil)
		return r.Code == http.StatusOK && json.Unmarshal(r.Body, &chunk) == nil &&
			strings.Contains(chunk.Data, "testapp listening on :8000")
	}, 10*time.Second, 100*time.Millisecond, "startup line not in the log (last %d: %s)", r.Code, r.Body)
	step("checked")

	// Unhealthy: the instance is replaced, and the old one ends STOPPED.
	sick := ins[0].InstanceID
	code, out, err := rt.Exec(t.Context(), containerOf(t, rt, sick).ID, []string{"/testapp", "touch", "/tmp/unhealthy"})
	require.NoError(t, err)
	require.Equal(t, 0, code, "exec output: %s", out)
	ins = waitReplaced(t, tc, appID, sick, 30*time.Second)
	waitInstanceIn(t, tc, appID, sick, model.InstanceStopped, 20*time.Second)
	require.Eventually(t, func() bool {
		l, err := rt.List(t.Context(), map[string]string{agent.LabelInstanceID: sick})
		return err == nil && len(l) == 0
	}, 20*time.Second, 100*time.Millisecond, "the unhealthy instance's container is removed")
	waitAppOn(t, tc, 0, appID, model.AppRunning, 2, 20*time.Second)
	step("unhealthy")

	// Killed behind drove's back: LOST, and replaced.
	victim := ins[0].InstanceID
	c := containerOf(t, rt, victim)
	msg, err := exec.CommandContext(t.Context(), "docker", "kill", c.ID).CombinedOutput()
	require.NoError(t, err, "docker kill: %s", msg)
	waitReplaced(t, tc, appID, victim, 30*time.Second)
	waitInstanceIn(t, tc, appID, victim, model.InstanceLost, 20*time.Second)
	waitAppOn(t, tc, 0, appID, model.AppRunning, 2, 20*time.Second)
	step("killed")

	// SUSPEND stops everything and removes the containers; then DESTROY.
	appOp(t, tc, 0, map[string]any{"type": "SUSPEND", "appId": appID, "opSpec": opSpec(2)})
	waitAppOn(t, tc, 0, appID, model.AppMonitoring, 0, 30*time.Second)
	require.Empty(t, instancesOn(t, tc, 0, appID, ""))
	require.Eventually(t, func() bool {
		l, err := rt.List(t.Context(), map[string]string{agent.LabelAppID: appID})
		return err == nil && len(l) == 0
	}, 30*time.Second, 100*time.Millisecond, "all the app's containers are removed after SUSPEND")
	step("suspended")
	appOp(t, tc, 0, map[string]any{"type": "DESTROY", "appId": appID, "opSpec": opSpec(1)})
	require.Eventually(t, func() bool {
		r := tc.call(0, readOnly, "GET", "/apis/v1/applications/"+appID, nil)
		return r.Env.Status == "FAILED" && r.Env.Message == "App "+appID+" not found"
	}, 10*time.Second, 100*time.Millisecond, "the app is destroyed")
	step("destroyed")
}

// TestDocker_CrashIsLostAndScaleDownStopsGracefully: an instance whose
// process exits by itself is LOST (with its exit code) and replaced; scaling
// down stops a container with SIGTERM, which the app sees, and its output up
// to the end stays in the instance's log.
func TestDocker_CrashIsLostAndScaleDownStopsGracefully(t *testing.T) {
	image := testimage.Require(t)
	const appID = "DOCKER_CRASH-1"
	tc := newCluster(t, 1, withExecutorTiming(), withFastOutage())
	e := startDockerExecutor(t, tc, "docker-exec", appID)
	waitExecutorState(t, tc, "docker-exec", model.ExecutorActive, 15*time.Second)

	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": dockerAppSpec("DOCKER_CRASH", image),
		"instances": 1, "opSpec": opSpec(1)})
	waitAppOn(t, tc, 0, appID, model.AppRunning, 1, 60*time.Second)
	ins := instancesOn(t, tc, 0, appID, "")
	require.Len(t, ins, 1)
	crashed := ins[0].InstanceID
	port := ins[0].LocalInfo.Ports["main"].HostPort

	// The app exits with code 3 on its own.
	resp, err := httpClient.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/exit?code=3")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitInstanceIn(t, tc, appID, crashed, model.InstanceLost, 20*time.Second)
	lost := instancesOn(t, tc, 0, appID, "?state=LOST")
	require.Len(t, lost, 1)
	require.Contains(t, lost[0].ErrorMessage, "3", "the exit code is reported")
	var replacement []model.InstanceInfo
	require.Eventually(t, func() bool {
		replacement = instancesOn(t, tc, 0, appID, "")
		return len(replacement) == 1 && replacement[0].InstanceID != crashed && replacement[0].State == model.InstanceHealthy
	}, 30*time.Second, 100*time.Millisecond, "the crashed instance is replaced (last %+v)", replacement)
	require.Eventually(t, func() bool {
		l, err := e.rt.List(t.Context(), map[string]string{agent.LabelInstanceID: crashed})
		return err == nil && len(l) == 0
	}, 20*time.Second, 100*time.Millisecond, "the crashed instance's container is removed")
	b, err := readFileEventually(t, e.cfg.LogDir+"/"+appID+"/"+crashed+"/output.log", "exiting with code 3")
	require.NoError(t, err, "log: %s", b)

	// Scale down to 0: SIGTERM, graceful exit, STOPPED, container gone.
	survivor := replacement[0].InstanceID
	appOp(t, tc, 0, map[string]any{"type": "SCALE", "appId": appID, "requiredInstances": 0, "opSpec": opSpec(1)})
	waitInstanceIn(t, tc, appID, survivor, model.InstanceStopped, 30*time.Second)
	require.Empty(t, instancesOn(t, tc, 0, appID, ""))
	require.Eventually(t, func() bool {
		l, err := e.rt.List(t.Context(), map[string]string{agent.LabelAppID: appID})
		return err == nil && len(l) == 0
	}, 20*time.Second, 100*time.Millisecond, "no containers of the app are left")
	b, err = readFileEventually(t, e.cfg.LogDir+"/"+appID+"/"+survivor+"/output.log", "testapp stopped")
	require.NoError(t, err, "log: %s", b)
	require.Contains(t, b, "got SIGTERM")
}

// readFileEventually polls until the file at path contains want, and
// returns its contents.
func readFileEventually(t *testing.T, path, want string) (string, error) {
	t.Helper()
	var last string
	var err error
	ok := assert.Eventually(t, func() bool {
		var b []byte
		b, err = os.ReadFile(path)
		last = string(b)
		return err == nil && strings.Contains(last, want)
	}, 10*time.Second, 50*time.Millisecond, "%s never contained %q", path, want)
	if !ok {
		return last, errors.Join(err, errors.New(path+" never contained "+strconv.Quote(want)))
	}
	return last, nil
}
