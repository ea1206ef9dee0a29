package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Building the binary
// ---------------------------------------------------------------------------

// buildDirPrefix names the temp dirs the drove binary is built into:
// drove-it-<pid of the test binary>-<random>.
const buildDirPrefix = "drove-it-"

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// droveBinary builds ./cmd/drove (CGO off) once per test binary run and
// returns its path.
//
// The binary lives in os.TempDir()/drove-it-<pid>-*. TestMain (which we do not
// own) cannot remove it after m.Run, and no single test may remove it because
// later tests reuse it; so it stays until the test process ends, and every
// build first sweeps the directories left by test processes that no longer
// exist. At most one stale directory per finished run exists at any time.
func droveBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { buildBin, buildErr = buildDrove() })
	if buildErr != nil {
		t.Fatalf("building drove: %v", buildErr)
	}
	return buildBin
}

func buildDrove() (string, error) {
	root := ".."
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			root = filepath.Dir(mod)
		}
	}
	sweepStaleBuildDirs()
	dir, err := os.MkdirTemp("", buildDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "drove")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/drove")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("go build ./cmd/drove in %s: %v\n%s", root, err, out)
	}
	return bin, nil
}

// sweepStaleBuildDirs removes build dirs of test processes that have exited.
func sweepStaleBuildDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), buildDirPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission)
}

// ---------------------------------------------------------------------------
// One drove process
// ---------------------------------------------------------------------------

// logBuffer collects a process's output (last 512 KiB), safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLogBuffer = 512 << 10

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - maxLogBuffer; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// droveProc is one running `drove` process.
type droveProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and output is drained
	err  error         // Wait's result, valid after done
}

// startDrove starts bin with args. The child gets the test's environment
// minus any DROVE_* variable, plus env. Output goes to out.
func startDrove(bin string, args, env []string, out io.Writer) (*droveProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &droveProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *droveProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *droveProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs.
func (p *droveProc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// cleanEnv is the test's environment without DROVE_* variables, so the
// developer's shell cannot change what a test configures.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DROVE_") {
			out = append(out, kv)
		}
	}
	return out
}

// setParentDeathSignal asks Linux to SIGKILL the child if the test process
// dies without running its cleanups (a -timeout panic, a kill). The field only
// exists on Linux/FreeBSD, hence the reflection; elsewhere it is a no-op.
func setParentDeathSignal(cmd *exec.Cmd) {
	attr := &syscall.SysProcAttr{}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() &&
		f.Type() == reflect.TypeOf(syscall.SIGKILL) {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
		cmd.SysProcAttr = attr
	}
}

// ---------------------------------------------------------------------------
// HTTP helpers that do not fail the test (for polling dead or starting nodes)
// ---------------------------------------------------------------------------

// pollClient is for readiness and leader polling: short timeout.
var pollClient = &http.Client{Timeout: 2 * time.Second}

// tryRequest is doRequest without assertions.
func tryRequest(client *http.Client, base string, user [2]string, method, path string, body any) (response, error) {
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rdr = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rdr)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != noUser {
		req.SetBasicAuth(user[0], user[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	out := response{Code: resp.StatusCode, Header: resp.Header}
	if out.Body, err = io.ReadAll(resp.Body); err != nil {
		return out, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(out.Body, &out.Env); err != nil {
			return out, fmt.Errorf("body %q: %w", out.Body, err)
		}
	}
	return out, nil
}

// healthz is the body of GET /healthz.
type healthz struct {
	Node      string `json:"node"`
	RaftState string `json:"raftState"`
	Leader    string `json:"leader"`
}

func getHealthz(base string) (healthz, int, error) {
	r, err := tryRequest(pollClient, base, noUser, "GET", "/healthz", nil)
	if err != nil {
		return healthz{}, 0, err
	}
	var h healthz
	if err := json.Unmarshal(r.Body, &h); err != nil {
		return healthz{}, r.Code, fmt.Errorf("healthz body %q: %w", r.Body, err)
	}
	return h, r.Code, nil
}

// waitHealthy polls base/healthz until it answers 200 (a leader is known),
// failing early if p exits.
func waitHealthy(p *droveProc, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.exited() {
			return fmt.Errorf("process exited before becoming healthy: %v", p.err)
		}
		if _, code, err := getHealthz(base); err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy within %s", base, timeout)
		}
		<-tick.C
	}
}

// loopbackPorts returns n distinct ports that were free a moment ago.
func loopbackPorts(t testing.TB, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		if p := freePort(t); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// portClash reports whether a process failed because a port was taken.
func portClash(output string) bool {
	return strings.Contains(output, "address already in use")
}

// startAttempts bounds how often a start is retried after a port clash.
const startAttempts = 3

// ---------------------------------------------------------------------------
// A cluster of processes
// ---------------------------------------------------------------------------

// procNode is one controller process of a procCluster; it keeps its flags
// and data dir across restarts.
type procNode struct {
	id                             string
	dataDir                        string
	httpAddr, raftAddr, gossipAddr string
	args                           []string
	out                            *logBuffer
	starts                         int
	p                              *droveProc // nil while stopped
}

// procCluster runs `drove controller` processes on loopback.
type procCluster struct {
	t         testing.TB
	bin       string
	nodes     []*procNode
	heartbeat time.Duration
	election  time.Duration
	dir       string
}

type procOption func(*procCluster)

// withProcRaftTimeouts sets --raft-heartbeat-timeout and --raft-election-timeout.
func withProcRaftTimeouts(heartbeat, election time.Duration) procOption {
	return func(pc *procCluster) { pc.heartbeat, pc.election = heartbeat, election }
}

// newProcCluster starts n controller processes that bootstrap together and
// waits until they agree on a leader. A start that loses a port race is
// retried with fresh ports and data dirs, at most startAttempts times.
func newProcCluster(t testing.TB, n int, opts ...procOption) *procCluster {
	t.Helper()
	pc := &procCluster{t: t, bin: droveBinary(t), heartbeat: 300 * time.Millisecond, election: 300 * time.Millisecond,
		dir: t.TempDir()}
	for _, o := range opts {
		o(pc)
	}
	// Registered after TempDir, so it runs before the data dirs are removed.
	t.Cleanup(func() {
		pc.stopAll()
		if t.Failed() {
			t.Log(pc.logs())
		}
	})
	for attempt := 1; ; attempt++ {
		pc.configure(n, attempt)
		_, err := pc.startAndAwaitLeader(20 * time.Second)
		if err == nil {
			return pc
		}
		clash := false
		for _, nd := range pc.nodes {
			clash = clash || portClash(nd.out.String())
		}
		if !clash || attempt == startAttempts {
			t.Fatalf("starting %d-node process cluster (attempt %d): %v\n%s", n, attempt, err, pc.logs())
		}
		t.Logf("port clash on attempt %d; retrying with new ports", attempt)
		pc.stopAll()
	}
}

// configure picks ports and a fresh data dir per node and builds the flags.
func (pc *procCluster) configure(n, attempt int) {
	ports := loopbackPorts(pc.t, 3*n)
	pc.nodes = nil
	var joins []string
	for i := 0; i < n; i++ {
		nd := &procNode{
			id:         "c" + strconv.Itoa(i+1),
			httpAddr:   "127.0.0.1:" + strconv.Itoa(ports[3*i]),
			raftAddr:   "127.0.0.1:" + strconv.Itoa(ports[3*i+1]),
			gossipAddr: "127.0.0.1:" + strconv.Itoa(ports[3*i+2]),
			out:        &logBuffer{},
		}
		nd.dataDir = filepath.Join(pc.dir, "attempt"+strconv.Itoa(attempt), nd.id)
		joins = append(joins, nd.gossipAddr)
		pc.nodes = append(pc.nodes, nd)
	}
	for _, nd := range pc.nodes {
		nd.args = []string{"controller",
			"--node-id", nd.id,
			"--data-dir", nd.dataDir,
			"--http-addr", nd.httpAddr,
			"--raft-addr", nd.raftAddr,
			"--gossip-addr", nd.gossipAddr,
			"--advertise", "127.0.0.1",
			"--join", strings.Join(joins, ","),
			"--bootstrap-expect", strconv.Itoa(n),
			"--user", "admin:admin:EXTERNAL_ROOT",
			"--cluster-secret", "s",
			"--raft-heartbeat-timeout", pc.heartbeat.String(),
			"--raft-election-timeout", pc.election.String(),
			"--log-level", "warn",
		}
	}
}

func (pc *procCluster) startAndAwaitLeader(timeout time.Duration) (int, error) {
	for i := range pc.nodes {
		if err := pc.startNode(i); err != nil {
			return -1, err
		}
	}
	return pc.awaitLeader(timeout)
}

func (pc *procCluster) startNode(i int) error {
	nd := pc.nodes[i]
	nd.starts++
	fmt.Fprintf(nd.out, "----- %s start #%d: drove %s\n", nd.id, nd.starts, strings.Join(nd.args, " "))
	p, err := startDrove(pc.bin, nd.args, nil, nd.out)
	if err != nil {
		return fmt.Errorf("start %s: %w", nd.id, err)
	}
	nd.p = p
	return nil
}

func (pc *procCluster) base(i int) string { return "http://" + pc.nodes[i].httpAddr }

func (pc *procCluster) running(i int) bool { return pc.nodes[i].p != nil }

// call sends a request to node i; a transport error fails the test.
func (pc *procCluster) call(i int, user [2]string, method, path string, body any) response {
	pc.t.Helper()
	return doRequest(pc.t, pc.base(i), user, method, path, body)
}

// leader returns the index of the node every live node names as leader
// (asked through /healthz), or -1 when they do not agree or it is not live.
func (pc *procCluster) leader() int {
	want := ""
	for i := range pc.nodes {
		if !pc.running(i) {
			continue
		}
		h, _, err := getHealthz(pc.base(i))
		if err != nil || h.Leader == "" || (want != "" && h.Leader != want) {
			return -1
		}
		want = h.Leader
	}
	for i, nd := range pc.nodes {
		if nd.id == want && pc.running(i) {
			return i
		}
	}
	return -1
}

// awaitLeader polls until the live nodes agree on a leader; it fails fast
// when a node that should run has exited.
func (pc *procCluster) awaitLeader(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, nd := range pc.nodes {
			if nd.p != nil && nd.p.exited() {
				return -1, fmt.Errorf("%s exited unexpectedly: %v", nd.id, nd.p.err)
			}
		}
		if l := pc.leader(); l >= 0 {
			return l, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("no agreed leader within %s", timeout)
		}
		<-tick.C
	}
}

func (pc *procCluster) waitForLeader(timeout time.Duration) int {
	pc.t.Helper()
	l, err := pc.awaitLeader(timeout)
	require.NoError(pc.t, err)
	return l
}

// follower returns some live non-leader node.
func (pc *procCluster) follower() int {
	pc.t.Helper()
	l := pc.waitForLeader(10 * time.Second)
	for i := range pc.nodes {
		if i != l && pc.running(i) {
			return i
		}
	}
	pc.t.Fatal("no running follower")
	return -1
}

// kill SIGKILLs node i and waits for it to be gone.
func (pc *procCluster) kill(i int) {
	if nd := pc.nodes[i]; nd.p != nil {
		nd.p.kill()
		nd.p = nil
	}
}

// restart starts a stopped node i with the same flags and data dir.
func (pc *procCluster) restart(i int) {
	pc.t.Helper()
	require.False(pc.t, pc.running(i), "node %d is running", i)
	require.NoError(pc.t, pc.startNode(i))
}

// stopAll stops every process: SIGTERM, then SIGKILL after 5s.
func (pc *procCluster) stopAll() {
	var wg sync.WaitGroup
	for _, nd := range pc.nodes {
		if nd.p == nil {
			continue
		}
		wg.Add(1)
		go func(p *droveProc) {
			defer wg.Done()
			p.stop(5 * time.Second)
		}(nd.p)
		nd.p = nil
	}
	wg.Wait()
}

// logs is every node's captured output.
func (pc *procCluster) logs() string {
	var b strings.Builder
	for _, nd := range pc.nodes {
		fmt.Fprintf(&b, "===== output of %s (%s) =====\n%s\n", nd.id, nd.httpAddr, nd.out.String())
	}
	return b.String()
}

// selfInfo is the part of GET controllers/self the tests read.
type selfInfo struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	AppliedIndex uint64 `json:"appliedIndex"`
	CommitIndex  uint64 `json:"commitIndex"`
}

// selfStatus is node i's own view (GET controllers/self?stale=true).
func (pc *procCluster) selfStatus(i int) (selfInfo, error) {
	var out selfInfo
	r, err := tryRequest(pollClient, pc.base(i), rootUser, "GET", "/apis/v1/cluster/controllers/self?stale=true", nil)
	if err != nil {
		return out, err
	}
	if r.Code != http.StatusOK {
		return out, fmt.Errorf("controllers/self: %d %s", r.Code, r.Body)
	}
	return out, json.Unmarshal(r.Env.Data, &out)
}

// writeUntilSuccess sends a write through node i until it succeeds; see
// retryWrite.
func (pc *procCluster) writeUntilSuccess(i int, path string, body any, timeout time.Duration) error {
	return retryWrite(func() (response, error) {
		return tryRequest(httpClient, pc.base(i), rootUser, "POST", path, body)
	}, timeout)
}

// retryWrite calls send until it returns 200 SUCCESS. A 503 (no leader
// within the forward wait) and transport errors (the target is starting)
// are retried, polling at most every 5ms; any other answer is an error.
func retryWrite(send func() (response, error), timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		r, err := send()
		switch {
		case err == nil && r.Code == http.StatusOK && r.Env.Status == "SUCCESS":
			return nil
		case err == nil && r.Code != http.StatusServiceUnavailable:
			return fmt.Errorf("write answered %d: %s", r.Code, r.Body)
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("%d %s", r.Code, r.Body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no successful write within %s; last: %s", timeout, last)
		}
		// Poll interval for fast failures (connection refused); a 503 after
		// the forward wait has already taken seconds.
		<-time.After(5 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

func TestProcess_ClusterElectsLeaderAndSurvivesSIGKILL(t *testing.T) {
	pc := newProcCluster(t, 3)
	l := pc.waitForLeader(10 * time.Second)
	f := pc.follower()

	// A write through a follower is forwarded to the leader.
	r := pc.call(f, rootUser, "POST", "/apis/v1/cluster/maintenance/set", map[string]string{"reason": "before kill"})
	requireSuccess(t, r)
	var st model.ClusterStateData
	r.data(t, &st)
	require.Equal(t, model.ClusterMaintenance, st.State)

	pc.kill(l)
	survivor := (l + 1) % 3
	// The API waits for the new leader; retried only if it answers 503.
	require.NoError(t, pc.writeUntilSuccess(survivor, "/apis/v1/cluster/maintenance/unset", nil, 15*time.Second))
	nl := pc.waitForLeader(10 * time.Second)
	require.NotEqual(t, l, nl)
	// One more change while the old leader is down: it must get it by replication.
	requireSuccess(t, pc.call(survivor, rootUser, "POST", "/apis/v1/cluster/maintenance/set",
		map[string]string{"reason": "after failover"}))

	pc.restart(l)
	pc.waitForLeader(15 * time.Second)
	var sum model.ClusterSummary
	require.Eventually(t, func() bool {
		r, err := tryRequest(pollClient, pc.base(l), rootUser, "GET", "/apis/v1/cluster?stale=true", nil)
		if err != nil || r.Code != http.StatusOK || json.Unmarshal(r.Env.Data, &sum) != nil {
			return false
		}
		cur := pc.leader()
		return cur >= 0 && sum.State == model.ClusterMaintenance && sum.Leader == pc.nodes[cur].httpAddr
	}, 15*time.Second, 20*time.Millisecond, "restarted node catches up; last summary %+v", sum)

	r = pc.call(l, rootUser, "GET", "/apis/v1/cluster/events?size=1&stale=true", nil)
	requireSuccess(t, r)
	var evs []model.Event
	r.data(t, &evs)
	require.Len(t, evs, 1)
	require.Equal(t, model.EventMaintenanceModeSet, evs[0].Type)
	require.Equal(t, "after failover", evs[0].Metadata[model.MetaReason])
}

// runSingle starts one controller process with args and env, retrying with
// fresh ports (given to args) after a port clash, and waits until it is
// healthy at the returned base URL.
func runSingle(t *testing.T, build func(ports []int) (args []string, base string), env []string) (*droveProc, string, *logBuffer) {
	t.Helper()
	bin := droveBinary(t)
	for attempt := 1; ; attempt++ {
		args, base := build(loopbackPorts(t, 3))
		out := &logBuffer{}
		p, err := startDrove(bin, args, env, out)
		require.NoError(t, err)
		t.Cleanup(func() {
			p.stop(5 * time.Second)
			if t.Failed() {
				t.Logf("output of drove %s:\n%s", strings.Join(args, " "), out.String())
			}
		})
		err = waitHealthy(p, base, 20*time.Second)
		if err == nil {
			return p, base, out
		}
		p.stop(5 * time.Second)
		if !portClash(out.String()) || attempt == startAttempts {
			t.Fatalf("%v\n%s", err, out.String())
		}
	}
}

func TestProcess_ConfigFileAndEnvPrecedence(t *testing.T) {
	dir := t.TempDir()
	var httpPort int
	_, base, _ := runSingle(t, func(ports []int) ([]string, string) {
		httpPort = ports[0]
		cfgFile := filepath.Join(dir, "drove-"+strconv.Itoa(httpPort)+".yaml")
		yaml := fmt.Sprintf(`# every key is a flag name
node-id: from-file
data-dir: %q
http-addr: 127.0.0.1:%d
raft-addr: 127.0.0.1:%d
gossip-addr: 127.0.0.1:%d
advertise: 127.0.0.1
bootstrap-expect: 1
cluster-secret: s
log-level: warn
user:
  - fileuser:filepass:EXTERNAL_ROOT
`, filepath.Join(dir, "data-"+strconv.Itoa(httpPort)), ports[0], ports[1], ports[2])
		require.NoError(t, os.WriteFile(cfgFile, []byte(yaml), 0o600))
		return []string{"controller", "--config", cfgFile, "--node-id", "from-flag"},
			"http://127.0.0.1:" + strconv.Itoa(httpPort)
	}, []string{
		"DROVE_USER=envuser:envpass:EXTERNAL_ROOT", // env beats the file's user list
		"DROVE_NODE_ID=from-env",                   // the flag beats env and file
	})

	// Served on the file's http-addr, with the environment's user.
	envUser := [2]string{"envuser", "envpass"}
	r := doRequest(t, base, envUser, "GET", "/apis/v1/cluster/controllers/self?stale=true", nil)
	requireSuccess(t, r)
	var self struct {
		ID          string `json:"id"`
		HTTPAddress string `json:"httpAddress"`
		Leader      bool   `json:"leader"`
	}
	r.data(t, &self)
	require.Equal(t, "from-flag", self.ID, "--node-id wins over DROVE_NODE_ID and the file")
	require.Equal(t, "127.0.0.1:"+strconv.Itoa(httpPort), self.HTTPAddress)
	require.True(t, self.Leader, "a single node with bootstrap-expect 1 leads")

	// The file's user was replaced by the environment's.
	r = doRequest(t, base, [2]string{"fileuser", "filepass"}, "GET", "/apis/v1/cluster/controllers/self?stale=true", nil)
	require.Equal(t, http.StatusUnauthorized, r.Code, "body: %s", r.Body)

	// And writes work (the node bootstrapped alone).
	requireSuccess(t, doRequest(t, base, envUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
}

func TestProcess_RefusesToStartWithoutUsers(t *testing.T) {
	bin := droveBinary(t)
	dir := t.TempDir()

	t.Run("no users", func(t *testing.T) {
		ports := loopbackPorts(t, 3)
		out := &logBuffer{}
		p, err := startDrove(bin, []string{"controller",
			"--node-id", "lonely", "--data-dir", filepath.Join(dir, "nousers"),
			"--http-addr", "127.0.0.1:" + strconv.Itoa(ports[0]),
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(ports[1]),
			"--gossip-addr", "127.0.0.1:" + strconv.Itoa(ports[2]),
			"--advertise", "127.0.0.1", "--bootstrap-expect", "1",
		}, nil, out)
		require.NoError(t, err)
		t.Cleanup(func() { p.kill() })
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("controller without users still running after 30s; output:\n%s", out.String())
		}
		var exitErr *exec.ExitError
		require.ErrorAs(t, p.err, &exitErr, "exits non-zero; output:\n%s", out.String())
		require.NotZero(t, exitErr.ExitCode())
		require.Contains(t, out.String(), "--user")
		require.Contains(t, out.String(), "--insecure-no-auth")
	})

	t.Run("dev mode gets admin/admin", func(t *testing.T) {
		_, base, _ := runSingle(t, func(ports []int) ([]string, string) {
			return []string{"controller", "--dev",
				"--data-dir", filepath.Join(dir, "dev-"+strconv.Itoa(ports[0])), // not a leaked temp dir
				"--http-addr", "127.0.0.1:" + strconv.Itoa(ports[0]),
				"--raft-addr", "127.0.0.1:" + strconv.Itoa(ports[1]),
				"--gossip-addr", "127.0.0.1:" + strconv.Itoa(ports[2]),
				"--log-level", "warn",
			}, "http://127.0.0.1:" + strconv.Itoa(ports[0])
		}, nil)
		r := doRequest(t, base, rootUser, "GET", "/apis/v1/cluster/controllers/self?stale=true", nil)
		requireSuccess(t, r)
		requireSuccess(t, doRequest(t, base, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
		r = doRequest(t, base, [2]string{"admin", "wrong"}, "GET", "/apis/v1/cluster", nil)
		require.Equal(t, http.StatusUnauthorized, r.Code)
	})
}
