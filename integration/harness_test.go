package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/server"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// Test users, one per role.
var (
	rootUser  = [2]string{"admin", "admin"}
	readOnly  = [2]string{"viewer", "viewer-pass"}
	readWrite = [2]string{"deployer", "deployer-pass"}
	maintUser = [2]string{"operator", "operator-pass"}
	noUser    = [2]string{}
)

const testSecret = "integration-secret"

// testNode is one in-process controller of a test cluster.
type testNode struct {
	cfg server.ControllerConfig
	c   *server.Controller // nil while stopped
}

func (n *testNode) running() bool { return n.c != nil }

// testCluster runs controllers in process on loopback ports.
type testCluster struct {
	t     testing.TB
	nodes []*testNode
}

// clusterOption adjusts every node's configuration before start.
type clusterOption func(*server.ControllerConfig)

// withSnapshotThreshold makes raft snapshot after n entries.
func withSnapshotThreshold(n uint64) clusterOption {
	return func(c *server.ControllerConfig) { c.Raft.SnapshotThreshold, c.Raft.TrailingLogs = n, n }
}

// withForwardWait sets how long requests wait for a leader.
func withForwardWait(d time.Duration) clusterOption {
	return func(c *server.ControllerConfig) { c.ForwardWait = d }
}

// testLogger logs to t.Log until the test ends; goroutines that outlive a
// stopped node (memberlist's own, a gossip broadcast) must not log after it.
func testLogger(t testing.TB, name string) hclog.Logger {
	w := &tbWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: w})
}

// tbWriter routes logs to t.Log, and drops them once the test has ended.
type tbWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// nodeConfig is a controller config for tests: loopback, random ports, fast timeouts.
func nodeConfig(t testing.TB, id string, dir string, expect int, opts ...clusterOption) server.ControllerConfig {
	cfg := server.DefaultControllerConfig()
	cfg.NodeID = id
	cfg.DataDir = filepath.Join(dir, id)
	cfg.HTTPAddr, cfg.RaftAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.BootstrapExpect = expect
	cfg.ClusterSecret = testSecret
	cfg.Users = []server.User{
		{Name: rootUser[0], Password: rootUser[1], Role: server.RoleRoot},
		{Name: readOnly[0], Password: readOnly[1], Role: server.RoleReadOnly},
		{Name: readWrite[0], Password: readWrite[1], Role: server.RoleReadWrite},
		{Name: maintUser[0], Password: maintUser[1], Role: server.RoleMaintenance},
	}
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout = 300*time.Millisecond, 300*time.Millisecond
	cfg.Raft.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.Gossip.ProbeInterval, cfg.Gossip.ProbeTimeout = time.Second, 500*time.Millisecond // production probing: no false deaths under load
	cfg.Gossip.GossipInterval, cfg.Gossip.PushPullInterval = 100*time.Millisecond, 2*time.Second
	cfg.Logger = testLogger(t, id)
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// newCluster starts n controllers that bootstrap together and waits for a leader.
func newCluster(t testing.TB, n int, opts ...clusterOption) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	dir := t.TempDir()
	for i := 1; i <= n; i++ {
		cfg := nodeConfig(t, "c"+strconv.Itoa(i), dir, n, opts...)
		if i > 1 {
			cfg.Join = []string{tc.nodes[0].c.GossipAddr()}
		}
		tc.nodes = append(tc.nodes, &testNode{cfg: cfg})
		tc.start(i - 1)
	}
	t.Cleanup(tc.shutdownAll)
	tc.waitForLeader(10 * time.Second)
	return tc
}

// start starts node i. After its first start a node's ports are pinned, so a
// restart comes back on the same addresses, as a real restart would.
func (tc *testCluster) start(i int) {
	tc.t.Helper()
	n := tc.nodes[i]
	c, err := server.NewController(n.cfg)
	require.NoError(tc.t, err)
	n.c = c
	n.cfg.HTTPAddr = c.HTTPAddr()
	n.cfg.GossipAddr = c.GossipAddr()
	n.cfg.RaftAddr = c.Node().RaftAddr()
}

// stop shuts node i down without leaving (a crash, as far as peers can tell).
// A shutdown that hangs fails the test instead of hanging it until the
// package timeout.
func (tc *testCluster) stop(i int) {
	n := tc.nodes[i]
	if n.c == nil {
		return
	}
	done := make(chan struct{})
	go func(c *server.Controller) {
		c.Shutdown()
		close(done)
	}(n.c)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		tc.t.Errorf("controller %s did not shut down within 30s", n.cfg.NodeID)
	}
	n.c = nil
}

// restart starts a stopped node i from its data dir, rejoining the others.
func (tc *testCluster) restart(i int) {
	tc.t.Helper()
	tc.nodes[i].cfg.Join = tc.gossipAddrs(i)
	tc.start(i)
}

func (tc *testCluster) gossipAddrs(except int) []string {
	var out []string
	for j, n := range tc.nodes {
		if j != except {
			out = append(out, n.cfg.GossipAddr)
		}
	}
	return out
}

func (tc *testCluster) shutdownAll() {
	for i := range tc.nodes {
		tc.stop(i)
	}
}

// leaderIndex returns the node every running node agrees is leader, or -1.
func (tc *testCluster) leaderIndex() int {
	leader := -1
	for i, n := range tc.nodes {
		if !n.running() {
			continue
		}
		if n.c.Node().IsLeader() {
			if leader != -1 {
				return -1
			}
			leader = i
		}
	}
	if leader == -1 {
		return -1
	}
	want := tc.nodes[leader].cfg.NodeID
	for _, n := range tc.nodes {
		if n.running() {
			if id, _ := n.c.Node().Leader(); id != want {
				return -1
			}
		}
	}
	return leader
}

// waitForLeader polls until all running nodes agree on one leader.
func (tc *testCluster) waitForLeader(timeout time.Duration) int {
	tc.t.Helper()
	var leader int
	require.Eventually(tc.t, func() bool {
		leader = tc.leaderIndex()
		return leader >= 0
	}, timeout, 10*time.Millisecond, "no agreed leader within %s", timeout)
	return leader
}

// follower returns the index of some running non-leader node.
func (tc *testCluster) follower() int {
	leader := tc.leaderIndex()
	for i, n := range tc.nodes {
		if i != leader && n.running() {
			return i
		}
	}
	tc.t.Fatal("no running follower")
	return -1
}

// response is a decoded API reply.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
	Env    struct {
		Status  string          `json:"status"`
		Data    json.RawMessage `json:"data"`
		Message string          `json:"message"`
	}
}

// data decodes the envelope's data into v.
func (r response) data(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Env.Data, v), "data: %s", r.Env.Data)
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends a request to node i as user (noUser for none).
func (tc *testCluster) call(i int, user [2]string, method, path string, body any) response {
	tc.t.Helper()
	return doRequest(tc.t, "http://"+tc.nodes[i].cfg.HTTPAddr, user, method, path, body)
}

func doRequest(t testing.TB, base string, user [2]string, method, path string, body any) response {
	t.Helper()
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		require.NoError(t, err)
		rdr = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rdr)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != noUser {
		req.SetBasicAuth(user[0], user[1])
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := response{Code: resp.StatusCode, Header: resp.Header}
	out.Body, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(out.Body, &out.Env), "body: %s", out.Body)
	}
	return out
}

// requireSuccess asserts a 200 SUCCESS envelope.
func requireSuccess(t testing.TB, r response) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.Equal(t, "SUCCESS", r.Env.Status, "body: %s", r.Body)
	require.Equal(t, "success", r.Env.Message)
}

// freePort reserves nothing; it returns a port that was free a moment ago,
// for process tests that must pass fixed ports on the command line.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func describe(tc *testCluster) string {
	var b strings.Builder
	for i, n := range tc.nodes {
		if n.running() {
			id, _ := n.c.Node().Leader()
			fmt.Fprintf(&b, "[%d %s state=%s leader=%s] ", i, n.cfg.NodeID, n.c.Node().State(), id)
		}
	}
	return b.String()
}
