package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// composeCluster is the cluster of docker-compose.yml (controllers c1–c3,
// host-network executors e1 and e2) brought up under its own project name,
// host ports, subnet and executor port windows, so that it clashes with no
// other cluster on the host. Everything it started is removed when the test
// ends, pass or fail: the compose project (volumes included) and every
// container its executors created.
type composeCluster struct {
	t       *testing.T
	compose []string
	project string
	env     []string // compose's environment, DROVE_NET included once up
	net     string   // DROVE_NET: first three octets of the /24 subnet
	ctrl    []int    // host ports of c1, c2, c3
	execAPI []int    // host ports of e1's and e2's APIs
	base    int      // first host port of e1's window; e2's starts at base+50

	mu      sync.Mutex
	execIDs []string // executor ids, once registered (for the cleanup)
}

// composeImage builds drove:latest from the current tree once per process,
// as `make up` does.
var composeImage = sync.OnceValues(func() ([]byte, error) {
	return exec.Command("make", "-C", "..", "image").CombinedOutput()
})

// startComposeCluster builds the images, brings the cluster up and waits
// for a leader and both executors ACTIVE. Containers labelled with one of
// appIDs (drove.app.id: app, service or task source app ids) are removed
// at the end too, in case an executor never registered.
func startComposeCluster(t *testing.T, name string, appIDs ...string) *composeCluster {
	t.Helper()
	testimage.Require(t) // skips, or fails under CI=true, without Docker
	compose := composeCmd()
	if compose == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is required when CI=true but is not installed")
		}
		t.Skip("docker-compose not installed")
	}
	out, err := composeImage()
	require.NoError(t, err, "make image: %s", out)

	ports := freePorts(t, 7)
	cc := &composeCluster{t: t, compose: compose, project: fmt.Sprintf("drove-%s-%d", name, rand.Uint32()),
		ctrl: ports[:3], execAPI: []int{ports[3], ports[5]}, base: 61200 + 100*rand.IntN(30)}
	cc.env = append(os.Environ(),
		"DROVE_C1_PORT="+strconv.Itoa(ports[0]), "DROVE_C2_PORT="+strconv.Itoa(ports[1]), "DROVE_C3_PORT="+strconv.Itoa(ports[2]),
		"DROVE_E1_HTTP_PORT="+strconv.Itoa(ports[3]), "DROVE_E1_GOSSIP_PORT="+strconv.Itoa(ports[4]),
		"DROVE_E2_HTTP_PORT="+strconv.Itoa(ports[5]), "DROVE_E2_GOSSIP_PORT="+strconv.Itoa(ports[6]),
		fmt.Sprintf("DROVE_E1_PORT_RANGE=%d-%d", cc.base, cc.base+49),
		fmt.Sprintf("DROVE_E2_PORT_RANGE=%d-%d", cc.base+50, cc.base+99),
	)
	// Registered first, so it runs last: the instances' containers, once
	// the executors that would recreate them are gone.
	t.Cleanup(cc.removeContainers(appIDs))
	t.Cleanup(func() {
		if out, err := cc.run("down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("cleanup: compose down: %v: %s", err, out)
		}
	})

	var upErr error
	base := cc.env
	for _, prefix := range freeSubnets(t) {
		cc.net, cc.env = prefix, append(append([]string{}, base...), "DROVE_NET="+prefix)
		out, err := cc.run("up", "-d")
		if err == nil {
			upErr = nil
			t.Logf("project %s on %s.0/24, controllers on %v, executor ports %d-%d", cc.project, prefix, cc.ctrl, cc.base, cc.base+99)
			break
		}
		upErr = fmt.Errorf("compose up on %s.0/24: %v: %s", prefix, err, out)
		if !strings.Contains(strings.ToLower(string(out)), "overlap") {
			break
		}
		_, _ = cc.run("down", "-v", "--remove-orphans", "-t", "5")
	}
	require.NoError(t, upErr)

	cc.waitLeader(90 * time.Second)
	cc.waitExecutors(90*time.Second, nil)
	return cc
}

// run runs a compose command on the project.
func (cc *composeCluster) run(args ...string) ([]byte, error) {
	full := append(append(append([]string{}, cc.compose[1:]...), "-f", "../docker-compose.yml", "-p", cc.project), args...)
	cmd := exec.Command(cc.compose[0], full...)
	cmd.Env = cc.env
	return cmd.CombinedOutput()
}

// removeContainers returns the cleanup that force-removes every container
// of this cluster's executors and every container labelled with appIDs.
func (cc *composeCluster) removeContainers(appIDs []string) func() {
	return func() {
		cc.mu.Lock()
		var filters []string
		for _, id := range cc.execIDs {
			filters = append(filters, agent.LabelExecutorID+"="+id)
		}
		cc.mu.Unlock()
		for _, id := range appIDs {
			filters = append(filters, agent.LabelAppID+"="+id)
		}
		for _, f := range filters {
			out, err := exec.Command("sh", "-c",
				"ids=$(docker ps -aq --filter label="+f+"); [ -z \"$ids\" ] || docker rm -f $ids").CombinedOutput()
			if err != nil {
				cc.t.Errorf("cleanup: remove containers with label %s: %v: %s", f, err, out)
			}
		}
	}
}

// api calls the API as admin through the first controller that answers
// (controllers restart during some tests) and decodes a SUCCESS envelope's
// data into out (when not nil). Any other answer is an error.
func (cc *composeCluster) api(method, path string, body, out any) error {
	var errs []error
	for _, p := range cc.ctrl {
		if out == nil {
			out = &json.RawMessage{}
		}
		code, b, err := composeAPI(p, method, path, body, out)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf(":%d HTTP %d: %w (%s)", p, code, err, b))
		if code != 0 && code != http.StatusServiceUnavailable && code != http.StatusBadGateway {
			break // an answer, not an unavailable controller
		}
	}
	return errors.Join(errs...)
}

// apiOK is api, failing the test on error.
func (cc *composeCluster) apiOK(method, path string, body, out any) {
	cc.t.Helper()
	require.NoError(cc.t, cc.api(method, path, body, out), "%s %s", method, path)
}

// controllerHealth is the body of a controller's /healthz.
type controllerHealth struct {
	Node      string `json:"node"`
	RaftState string `json:"raftState"`
	Leader    string `json:"leader"`
}

// waitLeader polls until all three controllers answer /healthz and agree
// on one leader, and returns its node id (c1, c2 or c3).
func (cc *composeCluster) waitLeader(timeout time.Duration) string {
	cc.t.Helper()
	var leader string
	var last []string
	require.Eventually(cc.t, func() bool {
		leader, last = "", nil
		for _, p := range cc.ctrl {
			var h controllerHealth
			err := httpGetJSON("http://127.0.0.1:"+strconv.Itoa(p)+"/healthz", &h)
			last = append(last, fmt.Sprintf("%+v %v", h, err))
			if err != nil || h.Leader == "" || (leader != "" && h.Leader != leader) {
				return false
			}
			leader = h.Leader
		}
		return true
	}, timeout, 250*time.Millisecond, "controllers never agreed on a leader (last %v)", last)
	return leader
}

// leaderService is the compose service of the leader as GET /cluster
// names it (the leader's API address, <DROVE_NET>.1N:4000 for cN).
func (cc *composeCluster) leaderService() string {
	cc.t.Helper()
	var sum model.ClusterSummary
	cc.apiOK("GET", "/apis/v1/cluster", nil, &sum)
	host, _, _ := strings.Cut(sum.Leader, ":")
	for k := 1; k <= 3; k++ {
		if host == fmt.Sprintf("%s.1%d", cc.net, k) {
			return fmt.Sprintf("c%d", k)
		}
	}
	cc.t.Fatalf("GET /cluster names leader %q, not one of the controllers", sum.Leader)
	return ""
}

// waitExecutors polls until both executors are registered and ACTIVE
// and, when ready is not nil, ready holds; it records their ids.
func (cc *composeCluster) waitExecutors(timeout time.Duration, ready func(c *assert.CollectT)) []model.ExecutorSummary {
	cc.t.Helper()
	var list []model.ExecutorSummary
	require.EventuallyWithT(cc.t, func(c *assert.CollectT) {
		list = nil
		if !assert.NoError(c, cc.api("GET", "/apis/v1/cluster/executors", nil, &list)) {
			return
		}
		assert.Len(c, list, 2, "executors: %+v", list)
		for _, e := range list {
			assert.Equal(c, model.ExecutorActive, e.State, "executor %s", e.ExecutorID)
		}
		if ready != nil {
			ready(c)
		}
	}, timeout, 500*time.Millisecond)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.execIDs = nil
	for _, e := range list {
		cc.execIDs = append(cc.execIDs, e.ExecutorID)
	}
	return list
}

// container returns the Docker container id of compose service svc.
func (cc *composeCluster) container(svc string) string {
	cc.t.Helper()
	out, err := cc.run("ps", "-q", svc)
	require.NoError(cc.t, err, "compose ps %s: %s", svc, out)
	id := strings.TrimSpace(string(out))
	require.NotEmpty(cc.t, id, "no container for %s", svc)
	return id
}

// restart restarts the containers of services with `docker restart` and
// returns when Docker has started them again.
func (cc *composeCluster) restart(services ...string) {
	cc.t.Helper()
	args := []string{"restart", "-t", "10"}
	for _, s := range services {
		args = append(args, cc.container(s))
	}
	start := time.Now()
	out, err := exec.Command("docker", args...).CombinedOutput()
	require.NoError(cc.t, err, "docker restart %v: %s", services, out)
	cc.t.Logf("restarted %v in %s", services, time.Since(start).Round(time.Millisecond))
}

// startedAt returns the State.StartedAt of compose service svc's container.
func (cc *composeCluster) startedAt(svc string) string {
	cc.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.StartedAt}}", cc.container(svc)).CombinedOutput()
	require.NoError(cc.t, err, "docker inspect %s: %s", svc, out)
	return strings.TrimSpace(string(out))
}

// executorHealth is the body of an executor's /healthz: its id and how
// many instances it runs.
type executorHealth struct {
	ExecutorID string `json:"executorId"`
	Instances  int    `json:"instances"`
}

// executorHealthz reads executor k's (0: e1, 1: e2) /healthz.
func (cc *composeCluster) executorHealthz(k int) (executorHealth, error) {
	var h executorHealth
	err := httpGetJSON("http://127.0.0.1:"+strconv.Itoa(cc.execAPI[k])+"/healthz", &h)
	return h, err
}

// dockerContainer is what a test compares of an instance's container.
type dockerContainer struct {
	ID, StartedAt, Status string
}

// instanceContainers returns the containers of this cluster's executors
// (running or not) by instance id; an instance with more than one
// container fails the test.
func (cc *composeCluster) instanceContainers() map[string]dockerContainer {
	cc.t.Helper()
	cc.mu.Lock()
	execIDs := append([]string{}, cc.execIDs...)
	cc.mu.Unlock()
	out := map[string]dockerContainer{}
	for _, e := range execIDs {
		ids, err := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", "label="+agent.LabelExecutorID+"="+e).Output()
		require.NoError(cc.t, err)
		if len(strings.Fields(string(ids))) == 0 {
			continue
		}
		args := append([]string{"inspect", "-f",
			`{{index .Config.Labels "` + agent.LabelInstanceID + `"}} {{.Id}} {{.State.StartedAt}} {{.State.Status}}`},
			strings.Fields(string(ids))...)
		lines, err := exec.Command("docker", args...).CombinedOutput()
		require.NoError(cc.t, err, "docker inspect: %s", lines)
		for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
			f := strings.Fields(l)
			require.Len(cc.t, f, 4, "docker inspect line %q", l)
			_, dup := out[f[0]]
			require.False(cc.t, dup, "instance %s has two containers", f[0])
			out[f[0]] = dockerContainer{ID: f[1], StartedAt: f[2], Status: f[3]}
		}
	}
	return out
}

// events returns the cluster's event log, oldest first.
func (cc *composeCluster) events() []model.Event {
	cc.t.Helper()
	var evs []model.Event
	cc.apiOK("GET", "/apis/v1/cluster/events?size=100000", nil, &evs)
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 { // newest first on the wire
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

// dockerServiceSpec is the testapp image as a local service: the app spec
// of dockerAppSpec with LOCAL placement and no exposure.
func dockerServiceSpec(name, image string) map[string]any {
	s := dockerAppSpec(name, image)
	delete(s, "exposureSpec")
	s["type"] = "LOCAL_SERVICE"
	s["placementPolicy"] = map[string]any{"type": "LOCAL", "hostLevel": false}
	return s
}

// dockerTaskSpec is the testtask image as a task; env sets EXIT_CODE and SLEEP.
func dockerTaskSpec(app, task, image string, env map[string]string) map[string]any {
	return map[string]any{
		"sourceAppName": app, "taskId": task,
		"executable": map[string]any{"type": "DOCKER", "url": image, "dockerPullTimeout": "30 seconds"},
		"resources": []any{map[string]any{"type": "CPU", "count": 1},
			map[string]any{"type": "MEMORY", "sizeInMB": 64}},
		"env": env,
	}
}

// startComposeService creates and activates local service name-1 with
// instancesPerHost 1 and waits for one HEALTHY instance per executor.
func startComposeService(cc *composeCluster, name, image string) []model.LocalServiceInstanceInfo {
	t := cc.t
	t.Helper()
	id := name + "-1"
	cc.apiOK("POST", "/apis/v1/localservices/operations",
		map[string]any{"type": "CREATE", "spec": dockerServiceSpec(name, image), "instancesPerHost": 1}, nil)
	cc.apiOK("POST", "/apis/v1/localservices/operations", map[string]any{"type": "ACTIVATE", "serviceId": id}, nil)
	var ins []model.LocalServiceInstanceInfo
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var s model.LocalServiceSummary
		ins = nil
		if !assert.NoError(c, cc.api("GET", "/apis/v1/localservices/"+id, nil, &s)) ||
			!assert.NoError(c, cc.api("GET", "/apis/v1/localservices/"+id+"/instances?state=HEALTHY", nil, &ins)) {
			return
		}
		assert.Equal(c, model.LSActive, s.State)
		perExec := map[string]int{}
		for _, in := range ins {
			perExec[in.ExecutorID]++
		}
		assert.Len(c, perExec, 2, "executors with a HEALTHY instance: %v", perExec)
		assert.Len(c, ins, 2, "HEALTHY instances")
	}, 90*time.Second, 500*time.Millisecond, "service %s never had one HEALTHY instance per executor", id)
	return ins
}

// TestCompose_LocalServiceAndTask runs a local service and tasks of the
// test images on the compose cluster: the service (instancesPerHost 1,
// HTTP checks) gets one HEALTHY instance on each executor, reachable on its
// host port; a task exiting 7 ends FAILED/7 and one exiting 0 SUCCESSFUL/0,
// their containers removed; destroying the service removes its containers.
func TestCompose_LocalServiceAndTask(t *testing.T) {
	start := time.Now()
	step := func(name string) { t.Logf("%-10s at %s", name, time.Since(start).Round(time.Millisecond)) }
	suffix := rand.Uint32()
	svcName, taskApp := fmt.Sprintf("CSVC_%d", suffix), fmt.Sprintf("CTASK_%d", suffix)
	svcID := svcName + "-1"
	image := testimage.Require(t)
	taskImage := testimage.RequireTask(t)
	cc := startComposeCluster(t, "svc", svcID, taskApp)
	step("up")

	ins := startComposeService(cc, svcName, image)
	for _, in := range ins {
		p := in.LocalInfo.Ports["main"].HostPort
		require.True(t, p >= cc.base && p <= cc.base+99, "host port %d outside the executors' windows", p)
		var env map[string]string
		require.NoError(t, httpGetJSON("http://127.0.0.1:"+strconv.Itoa(p)+"/env", &env))
		require.Equal(t, in.InstanceID, env["DROVE_INSTANCE_ID"])
	}
	step("service")

	results := map[string]model.TaskResult{"exit7": {Status: model.TaskFailed, ExitCode: 7}, "exit0": {Status: model.TaskSuccessful}}
	for task, res := range results {
		var data map[string]string
		cc.apiOK("POST", "/apis/v1/tasks/operations", map[string]any{"type": "CREATE", "opSpec": opSpec(1),
			"spec": dockerTaskSpec(taskApp, task, taskImage, map[string]string{"EXIT_CODE": strconv.Itoa(int(res.ExitCode)), "SLEEP": "1s"})}, &data)
		require.Equal(t, taskApp+"-"+task, data["taskId"])
	}
	for task, res := range results {
		var info model.TaskInfo
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			if assert.NoError(c, cc.api("GET", "/apis/v1/tasks/"+taskApp+"/instances/"+task, nil, &info)) {
				assert.Equal(c, model.InstanceStopped, info.State, "task %s: %+v", task, info)
			}
		}, 60*time.Second, 250*time.Millisecond)
		require.NotNil(t, info.TaskResult, "task %s: %+v", task, info)
		require.Equal(t, res, *info.TaskResult, "task %s", task)
		var reported []string
		for _, e := range cc.events() {
			if e.Type == model.EventTaskStateChange && e.Metadata[model.MetaAppName] == taskApp && e.Metadata[model.MetaTaskID] == task &&
				e.Metadata[model.MetaCurrentState] == string(model.InstanceStopped) {
				reported = append(reported, fmt.Sprint(e.Metadata[model.MetaResultStatus], "/", e.Metadata[model.MetaResultExitCode]))
			}
		}
		require.Equal(t, []string{fmt.Sprint(res.Status, "/", res.ExitCode)}, reported, "task %s: result in its STOPPED event", task)
	}
	require.Eventually(t, func() bool { return len(labelled(t, agent.LabelAppID, taskApp)) == 0 },
		30*time.Second, 250*time.Millisecond, "task containers removed")
	step("tasks")

	cc.apiOK("POST", "/apis/v1/localservices/operations", map[string]any{"type": "DEACTIVATE", "serviceId": svcID}, nil)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var s model.LocalServiceSummary
		var live []model.LocalServiceInstanceInfo
		if assert.NoError(c, cc.api("GET", "/apis/v1/localservices/"+svcID, nil, &s)) &&
			assert.NoError(c, cc.api("GET", "/apis/v1/localservices/"+svcID+"/instances", nil, &live)) {
			assert.Equal(c, model.LSInactive, s.State)
			assert.Empty(c, live)
		}
	}, 60*time.Second, 250*time.Millisecond, "service deactivated")
	cc.apiOK("POST", "/apis/v1/localservices/operations", map[string]any{"type": "DESTROY", "serviceId": svcID}, nil)
	require.Eventually(t, func() bool { return cc.api("GET", "/apis/v1/localservices/"+svcID, nil, nil) != nil },
		30*time.Second, 250*time.Millisecond, "service destroyed")
	require.Eventually(t, func() bool { return len(labelled(t, agent.LabelAppID, svcID)) == 0 },
		30*time.Second, 250*time.Millisecond, "service containers removed")
	step("destroyed")
}

// labelled lists the ids of containers (running or not) with label key=value.
func labelled(t *testing.T, key, value string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+key+"="+value).Output()
	require.NoError(t, err)
	return strings.Fields(string(out))
}
