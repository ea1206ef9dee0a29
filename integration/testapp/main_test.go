package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the testapp once per test process.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "testapp-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "testapp")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	require.NoError(t, binErr)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// app is a running testapp server.
type app struct {
	cmd   *exec.Cmd
	base  string
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, env ...string) *app {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary(t))
	cmd.Env = append(os.Environ(), append(env, "PORT="+strconv.Itoa(port))...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	a := &app{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			a.mu.Lock()
			a.lines = append(a.lines, sc.Text())
			a.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	a.waitLine(t, "testapp listening on :"+strconv.Itoa(port))
	return a
}

func (a *app) hasLine(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.lines {
		if l == s {
			return true
		}
	}
	return false
}

func (a *app) waitLine(t *testing.T, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return a.hasLine(s) }, 10*time.Second, 5*time.Millisecond, "no line %q", s)
}

func (a *app) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// wait waits for the process to exit and returns its exit code.
func (a *app) wait(t *testing.T) int {
	t.Helper()
	<-a.done
	err := a.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func TestServer(t *testing.T) {
	t.Parallel()
	a := start(t, "READY_DELAY=1h", "UNHEALTHY_AFTER=1h", "FOO=bar")
	code, body := a.do(t, "GET", "/")
	require.Equal(t, 200, code)
	require.Equal(t, "ok", body)
	a.waitLine(t, "request GET /")

	code, _ = a.do(t, "GET", "/health")
	require.Equal(t, 200, code)
	code, _ = a.do(t, "GET", "/ready")
	require.Equal(t, 503, code)

	code, body = a.do(t, "GET", "/env")
	require.Equal(t, 200, code)
	var env map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	require.Equal(t, "bar", env["FOO"])

	code, _ = a.do(t, "POST", "/hook")
	require.Equal(t, 200, code)
	a.waitLine(t, "hook called")
	code, _ = a.do(t, "GET", "/hook")
	require.Equal(t, 405, code)
	code, _ = a.do(t, "GET", "/nope")
	require.Equal(t, 404, code)

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, a.wait(t))
	require.True(t, a.hasLine("got SIGTERM"))
	require.True(t, a.hasLine("testapp stopped"))
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	a := start(t, "UNHEALTHY_AFTER=1ns")
	code, _ := a.do(t, "GET", "/health")
	require.Equal(t, 500, code)
	code, _ = a.do(t, "GET", "/ready")
	require.Equal(t, 200, code)
}

func TestExit(t *testing.T) {
	t.Parallel()
	a := start(t)
	code, body := a.do(t, "GET", "/exit?code=3")
	require.Equal(t, 200, code)
	require.Equal(t, "exiting with code 3\n", body)
	require.Equal(t, 3, a.wait(t))
	code, _ = start(t).do(t, "GET", "/exit?code=x")
	require.Equal(t, 400, code)
}

func TestCommands(t *testing.T) {
	t.Parallel()
	a := start(t)
	run := func(args ...string) (int, string) {
		out, err := exec.Command(binary(t), args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		require.NoError(t, err)
		return 0, string(out)
	}
	code, out := run("check", a.base+"/")
	require.Equal(t, 0, code, out)
	code, _ = run("check", a.base+"/missing")
	require.Equal(t, 1, code)
	code, _ = run("check", "http://127.0.0.1:1/")
	require.Equal(t, 1, code)
	code, _ = run("check")
	require.Equal(t, 2, code)

	f := filepath.Join(t.TempDir(), "sub", "flag")
	code, out = run("touch", f)
	require.Equal(t, 0, code, out)
	require.FileExists(t, f)
	code, _ = run("rm", f)
	require.Equal(t, 0, code)
	require.NoFileExists(t, f)
	code, _ = run("rm", f)
	require.Equal(t, 0, code, "removing a missing file is fine")

	code, out = run("echo", "a", "b")
	require.Equal(t, 0, code)
	require.True(t, strings.Contains(out, "a b\n") && strings.Contains(out, "2\n"), out)
	code, out = run("fail", "9")
	require.Equal(t, 9, code)
	require.Equal(t, "failing\n", out)
	code, _ = run("bogus")
	require.Equal(t, 2, code)
}

func TestShutdownDelay(t *testing.T) {
	t.Parallel()
	a := start(t, "SHUTDOWN_DELAY=200ms")
	began := time.Now()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, a.wait(t))
	require.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond)
}

func TestBadEnv(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary(t))
	cmd.Env = append(os.Environ(), "READY_DELAY=soon", "PORT="+strconv.Itoa(freePort(t)))
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
}

func TestFile(t *testing.T) {
	t.Parallel()
	a := start(t)
	dir := t.TempDir()
	name := filepath.Join(dir, "conf.txt")
	require.NoError(t, os.WriteFile(name, []byte("key=value\n"), 0o644))
	code, body := a.do(t, "GET", "/file?path="+url.QueryEscape(name))
	require.Equal(t, 200, code)
	require.Equal(t, "key=value\n", body)

	code, _ = a.do(t, "GET", "/file?path="+url.QueryEscape(filepath.Join(dir, "missing")))
	require.Equal(t, 404, code)
	code, _ = a.do(t, "GET", "/file?path="+url.QueryEscape(dir))
	require.Equal(t, 400, code, "a directory")
	code, _ = a.do(t, "GET", "/file?path=relative.txt")
	require.Equal(t, 400, code)
	code, _ = a.do(t, "GET", "/file")
	require.Equal(t, 400, code)
	if os.Geteuid() != 0 {
		secret := filepath.Join(dir, "secret")
		require.NoError(t, os.WriteFile(secret, []byte("x"), 0o000))
		code, _ = a.do(t, "GET", "/file?path="+url.QueryEscape(secret))
		require.Equal(t, 500, code, "unreadable")
	}
}
