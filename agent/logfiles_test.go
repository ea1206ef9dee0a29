package agent_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// logGet calls an executor log endpoint (secret "" sends none).
func logGet(t *testing.T, a *agent.Agent, secret, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+a.HTTPAddr()+"/apis/v1/logs/filestream/"+path, nil)
	require.NoError(t, err)
	if secret != "" {
		req.Header.Set("Cluster-Authorization", secret)
		req.Header.Set("NodeId", "controller-1")
	}
	resp, err := msgClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

// logConfig is testConfig with instance logs in a temp dir.
func logConfig(t *testing.T, controller string) agent.Config {
	cfg := testConfig(controller)
	cfg.LogDir = t.TempDir()
	return cfg
}

// waitLogContains polls until path contains s.
func waitLogContains(t *testing.T, path, s string) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), s)
	}, 5*time.Second, 5*time.Millisecond, "%s never contained %q", path, s)
}

func TestAgent_WritesInstanceOutputToItsLog(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := logConfig(t, fc.URL())
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))

	startInstance(t, a, testSpec("app1", "i-log"))
	waitState(t, fc, "i-log", model.InstanceHealthy, 5*time.Second)
	logFile := filepath.Join(cfg.LogDir, "app1", "i-log", "output.log")
	waitLogContains(t, logFile, "started app1-i-log\n")

	code, resp := post(t, a, testSecret, stopMsg(a, "i-log"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, model.MessageAccepted, resp.Status)
	waitState(t, fc, "i-log", model.InstanceStopped, 5*time.Second)
	waitLogContains(t, logFile, "started app1-i-log\nstopped app1-i-log\n")

	// The logs stay after the instance ended.
	code, _, body := logGet(t, a, testSecret, "app1/i-log/list")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"files":["output.log"]}`, body)
}

func TestAgent_LogEndpoints(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := logConfig(t, fc.URL())
	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	startInstance(t, a, testSpec("app1", "i-1"))
	waitState(t, fc, "i-1", model.InstanceHealthy, 5*time.Second)
	dir := filepath.Join(cfg.LogDir, "app1", "i-1")
	waitLogContains(t, filepath.Join(dir, "output.log"), "started app1-i-1\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "output.log.1"), []byte("older\n"), 0o644))
	size := int64(len("started app1-i-1\n"))

	// Without (or with a wrong) cluster secret nothing is served.
	for _, secret := range []string{"", "wrong"} {
		code, _, _ := logGet(t, a, secret, "app1/i-1/list")
		require.Equal(t, http.StatusUnauthorized, code)
		code, _, _ = logGet(t, a, secret, "app1/i-1/read/output.log")
		require.Equal(t, http.StatusUnauthorized, code)
		code, _, _ = logGet(t, a, secret, "app1/i-1/download/output.log")
		require.Equal(t, http.StatusUnauthorized, code)
	}

	code, hdr, body := logGet(t, a, testSecret, "app1/i-1/list")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	require.JSONEq(t, `{"files":["output.log","output.log.1"]}`, body)

	var chunk struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}
	code, _, body = logGet(t, a, testSecret, "app1/i-1/read/output.log")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &chunk))
	require.Equal(t, "", chunk.Data, "offset -1 and length -1 give the length only")
	require.Equal(t, size, chunk.Offset)

	code, _, body = logGet(t, a, testSecret, "app1/i-1/read/output.log?offset=0")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &chunk))
	require.Equal(t, "started app1-i-1\n", chunk.Data)
	require.Equal(t, int64(0), chunk.Offset)

	code, _, body = logGet(t, a, testSecret, "app1/i-1/read/output.log?offset=8&length=4")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"data":"app1","offset":8}`, body)

	code, hdr, body = logGet(t, a, testSecret, "app1/i-1/download/output.log.1")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "attachment; filename=output.log.1", hdr.Get("Content-Disposition"))
	require.Equal(t, "application/octet-stream", hdr.Get("Content-Type"))
	require.Equal(t, strconv.Itoa(len("older\n")), hdr.Get("Content-Length"))
	require.Equal(t, "older\n", body)

	bad := []struct {
		path string
		code int
	}{
		{"app1/i-1/read/output.log?length=10", http.StatusBadRequest},    // length without offset
		{"app1/i-1/read/output.log?offset=x", http.StatusBadRequest},     // not a number
		{"app1/i-1/read/output.log?offset=-2", http.StatusBadRequest},    // out of range
		{"app1/i-1/read/output.wrong.log", http.StatusBadRequest},        // no such file
		{"app1/i-1/read/passwd", http.StatusBadRequest},                  // not a log file name
		{"app1/i-1/download/..%2Foutput.log", http.StatusBadRequest},     // a path
		{"app1/i-1/download/output.log.9", http.StatusBadRequest},        // no such file
		{"app1/..%2F..%2Fetc/list", http.StatusBadRequest},               // an id that is a path
		{"app1/i-unknown/list", http.StatusNotFound},                     // no logs for that instance
		{"app1/i-unknown/read/output.log?offset=0", http.StatusNotFound}, // same
		{"app1/i-unknown/download/output.log", http.StatusNotFound},      // same
	}
	for _, b := range bad {
		code, hdr, body := logGet(t, a, testSecret, b.path)
		require.Equal(t, b.code, code, "%s: %s", b.path, body)
		require.Equal(t, "application/json", hdr.Get("Content-Type"), b.path)
		var e map[string]string
		require.NoError(t, json.Unmarshal([]byte(body), &e), b.path)
		require.NotEmpty(t, e["error"], b.path)
	}
}

func TestAgent_LogEndpointsWhenLogsAreDisabled(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))
	startInstance(t, a, testSpec("app1", "i-1"))
	waitState(t, fc, "i-1", model.InstanceHealthy, 5*time.Second)
	code, _, body := logGet(t, a, testSecret, "app1/i-1/list")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "instance logs are disabled")
}

func TestAgent_SweepsLogsOfEndedInstancesAfterRetention(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := logConfig(t, fc.URL())
	cfg.LogRetention = 300 * time.Millisecond
	stale := filepath.Join(cfg.LogDir, "gone-app", "i-old")
	require.NoError(t, os.MkdirAll(stale, 0o755))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.WriteFile(filepath.Join(stale, "output.log"), []byte("old\n"), 0o644))
	require.NoError(t, os.Chtimes(filepath.Join(stale, "output.log"), old, old))
	require.NoError(t, os.Chtimes(stale, old, old))

	a := startAgent(t, cfg, newFakeRuntime(t, fakeruntime.Config{}))
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(cfg.LogDir, "gone-app"))
		return os.IsNotExist(err)
	}, 5*time.Second, 10*time.Millisecond, "logs older than the retention are removed")

	startInstance(t, a, testSpec("app1", "i-1"))
	waitState(t, fc, "i-1", model.InstanceHealthy, 5*time.Second)
	dir := filepath.Join(cfg.LogDir, "app1", "i-1")
	waitLogContains(t, filepath.Join(dir, "output.log"), "started")
	// Quiet for longer than the retention but still followed: kept.
	require.Never(t, func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	}, 3*cfg.LogRetention, 10*time.Millisecond, "the logs of a running instance are kept")

	post(t, a, testSecret, stopMsg(a, "i-1"))
	waitState(t, fc, "i-1", model.InstanceStopped, 5*time.Second)
	require.Eventually(t, func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	}, 5*time.Second, 10*time.Millisecond, "an ended instance's logs go once the retention has passed")
}
