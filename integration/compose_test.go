package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/require"
)

// composeCmd returns the compose command line (docker-compose, or the docker
// compose plugin), or nil when neither is installed.
func composeCmd() []string {
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	return nil
}

// freePorts returns n distinct TCP ports free on the host right now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "0.0.0.0:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return out
}

// freeSubnets returns the 172.2x.0 prefixes (x in 0..9, never 8, which
// `make up` uses) no Docker network overlaps, in random order.
func freeSubnets(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c",
		`docker network inspect $(docker network ls -q) --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}'`).CombinedOutput()
	require.NoError(t, err, "docker network inspect: %s", out)
	used := string(out)
	if routes, err := exec.Command("ip", "route").Output(); err == nil {
		used += string(routes)
	}
	var free []string
	for _, x := range rand.Perm(10) {
		if x == 8 {
			continue
		}
		prefix := fmt.Sprintf("172.2%d.", x)
		if !strings.Contains(used, prefix) && !strings.Contains(used, fmt.Sprintf("172.2%d.0.0/16", x)) {
			free = append(free, prefix+"0")
		}
	}
	return free
}

// composeAPI calls a compose controller's API as admin and decodes the
// envelope's data into out (when not nil).
func composeAPI(port int, method, path string, body, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(port)+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth("admin", "admin")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if out != nil {
		if err := json.Unmarshal(b, &env); err != nil {
			return resp.StatusCode, string(b), err
		}
		if env.Status != "SUCCESS" {
			return resp.StatusCode, string(b), fmt.Errorf("status %s: %s", env.Status, b)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return resp.StatusCode, string(b), err
		}
	}
	return resp.StatusCode, string(b), nil
}

// TestCompose_ClusterDeploysThroughFollower starts the docker-compose
// cluster (three controllers, two host-network executors) under a unique
// project name, host ports, subnet and executor port windows, creates the
// testapp app with 2 instances through a follower, and reaches an instance
// on its host port.
func TestCompose_ClusterDeploysThroughFollower(t *testing.T) {
	image := testimage.Require(t) // skips, or fails under CI=true, without Docker
	compose := composeCmd()
	if compose == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is required when CI=true but is not installed")
		}
		t.Skip("docker-compose not installed")
	}
	start := time.Now()
	step := func(name string) { t.Logf("%-10s at %s", name, time.Since(start).Round(time.Millisecond)) }

	// drove:latest from the current tree, as `make up` builds it.
	out, err := exec.Command("make", "-C", "..", "image").CombinedOutput()
	require.NoError(t, err, "make image: %s", out)
	step("image")

	project := fmt.Sprintf("drove-it-%d", rand.Uint32())
	const appID = "COMPOSE_IT-1"
	ports := freePorts(t, 7)
	ctrl := ports[:3]
	base := 61200 + 100*rand.IntN(30) // executor port windows, 50 ports each
	env := append(os.Environ(),
		"DROVE_C1_PORT="+strconv.Itoa(ctrl[0]), "DROVE_C2_PORT="+strconv.Itoa(ctrl[1]), "DROVE_C3_PORT="+strconv.Itoa(ctrl[2]),
		"DROVE_E1_HTTP_PORT="+strconv.Itoa(ports[3]), "DROVE_E1_GOSSIP_PORT="+strconv.Itoa(ports[4]),
		"DROVE_E2_HTTP_PORT="+strconv.Itoa(ports[5]), "DROVE_E2_GOSSIP_PORT="+strconv.Itoa(ports[6]),
		fmt.Sprintf("DROVE_E1_PORT_RANGE=%d-%d", base, base+49),
		fmt.Sprintf("DROVE_E2_PORT_RANGE=%d-%d", base+50, base+99),
	)
	run := func(extraEnv []string, args ...string) ([]byte, error) {
		full := append(append(compose[1:], "-f", "../docker-compose.yml", "-p", project), args...)
		cmd := exec.Command(compose[0], full...)
		cmd.Env = append(append([]string{}, env...), extraEnv...)
		return cmd.CombinedOutput()
	}
	// Registered first, so it runs last: the app's containers, once the
	// executors that would recreate them are gone.
	t.Cleanup(func() {
		out, err := exec.Command("sh", "-c",
			"ids=$(docker ps -aq --filter label="+agent.LabelAppID+"="+appID+"); [ -z \"$ids\" ] || docker rm -f $ids").CombinedOutput()
		if err != nil {
			t.Errorf("cleanup: remove containers of %s: %v: %s", appID, err, out)
		}
	})
	var netEnv []string
	t.Cleanup(func() {
		if out, err := run(netEnv, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("cleanup: compose down: %v: %s", err, out)
		}
	})

	// Up, on the first subnet that works.
	var upErr error
	for _, prefix := range freeSubnets(t) {
		netEnv = []string{"DROVE_NET=" + prefix}
		out, err := run(netEnv, "up", "-d")
		if err == nil {
			upErr = nil
			t.Logf("project %s on %s.0/24, controllers on %v", project, prefix, ctrl)
			break
		}
		upErr = fmt.Errorf("compose up on %s.0/24: %v: %s", prefix, err, out)
		if !strings.Contains(strings.ToLower(string(out)), "overlap") {
			break
		}
		_, _ = run(netEnv, "down", "-v", "--remove-orphans", "-t", "5")
	}
	require.NoError(t, upErr)
	step("up")

	// A leader, and a follower to talk to.
	follower := 0
	require.Eventually(t, func() bool {
		for _, p := range ctrl {
			var h struct {
				RaftState string `json:"raftState"`
				Leader    string `json:"leader"`
			}
			resp, err := httpClient.Get("http://127.0.0.1:" + strconv.Itoa(p) + "/healthz")
			if err != nil {
				continue
			}
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && h.Leader != "" && !strings.EqualFold(h.RaftState, "Leader") {
				follower = p
				return true
			}
		}
		return false
	}, 60*time.Second, 500*time.Millisecond, "no controller reported a leader")
	var sum model.ClusterSummary
	require.Eventually(t, func() bool {
		_, _, err := composeAPI(follower, "GET", "/apis/v1/cluster", nil, &sum)
		return err == nil && sum.Leader != "" && sum.Leader != model.LeaderElectionUnderway && sum.NumExecutors == 2
	}, 60*time.Second, 500*time.Millisecond, "no leader with 2 executors (last %+v)", sum)
	step("leader")
	t.Logf("leader %s, follower on :%d", sum.Leader, follower)

	// CREATE through the follower.
	code, body, err := composeAPI(follower, "POST", "/apis/v1/applications/operations", map[string]any{
		"type": "CREATE", "spec": dockerAppSpec("COMPOSE_IT", image), "instances": 2, "opSpec": opSpec(2)}, &json.RawMessage{})
	require.NoError(t, err, "create (HTTP %d): %s", code, body)
	var app model.AppSummary
	require.Eventually(t, func() bool {
		_, _, err := composeAPI(follower, "GET", "/apis/v1/applications/"+appID, nil, &app)
		return err == nil && app.State == model.AppRunning && app.HealthyInstances == 2
	}, 60*time.Second, 250*time.Millisecond, "app never RUNNING with 2 healthy (last %+v)", app)
	step("running")

	var ins []model.InstanceInfo
	_, body, err = composeAPI(follower, "GET", "/apis/v1/applications/"+appID+"/instances", nil, &ins)
	require.NoError(t, err, body)
	require.Len(t, ins, 2)
	for _, in := range ins {
		p := in.LocalInfo.Ports["main"].HostPort
		require.GreaterOrEqual(t, p, base)
		require.LessOrEqual(t, p, base+99)
		var got map[string]string
		require.NoError(t, httpGetJSON("http://127.0.0.1:"+strconv.Itoa(p)+"/env", &got))
		require.Equal(t, in.InstanceID, got["DROVE_INSTANCE_ID"])
	}
	step("reached")
}
