package checks_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent/checks"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// request is what a test server saw.
type request struct {
	Method, Path, Body string
}

// server is an httptest server that answers with the next status of codes
// (the last one repeats) and records requests.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	codes []int
	seen  []request
}

func newServer(t *testing.T, tls bool, codes ...int) *server {
	t.Helper()
	s := &server{codes: codes}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, request{r.Method, r.URL.Path, string(body)})
		code := s.codes[0]
		if len(s.codes) > 1 {
			s.codes = s.codes[1:]
		}
		s.mu.Unlock()
		if code == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "status "+strconv.Itoa(code))
	})
	if tls {
		s.Server = httptest.NewUnstartedServer(h)
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
		s.StartTLS()
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) port(t *testing.T) int {
	t.Helper()
	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	p, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	return p
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.seen...)
}

func httpMode(path string, codes ...int) model.CheckModeSpec {
	return model.CheckModeSpec{Type: model.CheckHTTP, Protocol: model.ProtocolHTTP, PortName: "main", Path: path,
		Verb: model.VerbGet, SuccessCodes: codes}
}

func TestHTTP_SuccessCodes(t *testing.T) {
	cases := []struct {
		name   string
		status int
		codes  []int
		ok     bool
	}{
		{"200 passes by default", 200, nil, true},
		{"503 fails", 503, []int{200}, false},
		{"listed 204 passes", 204, []int{200, 204}, true},
		{"unlisted 200 fails", 200, []int{204}, false},
		{"redirects are not followed", 302, []int{200}, false},
		{"a listed redirect passes", 302, []int{302}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, false, tc.status)
			r := checks.NewHTTP(httpMode("/health", tc.codes...), srv.port(t), time.Second).Check(context.Background())
			require.Equal(t, tc.ok, r.Healthy, r.Detail)
			require.Contains(t, r.Detail, "status "+strconv.Itoa(tc.status))
			require.Equal(t, []request{{Method: "GET", Path: "/health"}}, srv.requests())
		})
	}
}

func TestHTTP_DefaultsToGetSlash(t *testing.T) {
	srv := newServer(t, false, 200)
	mode := model.CheckModeSpec{Type: model.CheckHTTP, PortName: "main"}
	r := checks.NewHTTP(mode, srv.port(t), time.Second).Check(context.Background())
	require.True(t, r.Healthy, r.Detail)
	require.Equal(t, []request{{Method: "GET", Path: "/"}}, srv.requests())
}

func TestHTTP_VerbAndPayload(t *testing.T) {
	srv := newServer(t, false, 200)
	port := srv.port(t)
	for _, verb := range []model.HTTPVerb{model.VerbPost, model.VerbPut, model.VerbGet} {
		mode := httpMode("/ping")
		mode.Verb, mode.Payload = verb, `{"probe":true}`
		r := checks.NewHTTP(mode, port, time.Second).Check(context.Background())
		require.True(t, r.Healthy, r.Detail)
	}
	require.Equal(t, []request{
		{Method: "POST", Path: "/ping", Body: `{"probe":true}`},
		{Method: "PUT", Path: "/ping", Body: `{"probe":true}`},
		{Method: "GET", Path: "/ping"}, // GET sends no body
	}, srv.requests())
}

func TestHTTP_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	r := checks.NewHTTP(httpMode("/"), port, time.Second).Check(context.Background())
	require.False(t, r.Healthy)
	require.Contains(t, r.Detail, "refused")
	require.Contains(t, r.Detail, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
}

func TestHTTP_TimeoutBoundsTheCall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	start := time.Now()
	r := checks.NewHTTP(httpMode("/slow"), port, 30*time.Millisecond).Check(context.Background())
	require.False(t, r.Healthy)
	require.Contains(t, r.Detail, "no response within 30ms")
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestHTTP_CancelledContextEndsTheCall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	r := checks.NewHTTP(httpMode("/slow"), port, 0).Check(ctx)
	require.False(t, r.Healthy)
	require.NotContains(t, r.Detail, "no response within", "the check's own timeout did not fire")
}

func TestHTTP_HTTPSAndInsecure(t *testing.T) {
	srv := newServer(t, true, 200)
	mode := httpMode("/secure")
	mode.Protocol = model.ProtocolHTTPS

	// The test server's certificate is self-signed: verification fails.
	r := checks.NewHTTP(mode, srv.port(t), time.Second).Check(context.Background())
	require.False(t, r.Healthy)
	require.Contains(t, r.Detail, "certificate")

	mode.Insecure = true
	r = checks.NewHTTP(mode, srv.port(t), time.Second).Check(context.Background())
	require.True(t, r.Healthy, r.Detail)
	require.Contains(t, r.Detail, "https://127.0.0.1:")
}

// fakeExec records commands and answers with a fixed result.
type fakeExec struct {
	mu    sync.Mutex
	cmds  [][]string
	code  int
	out   string
	err   error
	block bool // wait for ctx instead
}

func (f *fakeExec) exec(ctx context.Context, cmd []string) (int, []byte, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return 0, nil, ctx.Err()
	}
	return f.code, []byte(f.out), f.err
}

func (f *fakeExec) commands() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.cmds...)
}

func cmdMode(command string, shellDisabled bool) model.CheckModeSpec {
	return model.CheckModeSpec{Type: model.CheckCmd, Command: command, ShellDisabled: shellDisabled}
}

func TestCmd_ExitCodesAndCommandLine(t *testing.T) {
	ok := &fakeExec{out: "fine"}
	r := checks.NewCmd(cmdMode("curl -f localhost:8080/health", false), ok.exec, time.Second).Check(context.Background())
	require.True(t, r.Healthy, r.Detail)
	require.Equal(t, [][]string{{"sh", "-c", "curl -f localhost:8080/health"}}, ok.commands())

	bad := &fakeExec{code: 2, out: "  not ready\n"}
	r = checks.NewCmd(cmdMode("/bin/check  --deep", true), bad.exec, time.Second).Check(context.Background())
	require.False(t, r.Healthy)
	require.Equal(t, `command "/bin/check --deep" exited with code 2: not ready`, r.Detail)
	require.Equal(t, [][]string{{"/bin/check", "--deep"}}, bad.commands(), "shellDisabled splits on spaces")
}

func TestCmd_ExecErrorsAndTimeout(t *testing.T) {
	failing := &fakeExec{err: errors.New("container is not running")}
	r := checks.NewCmd(cmdMode("true", false), failing.exec, time.Second).Check(context.Background())
	require.False(t, r.Healthy)
	require.Contains(t, r.Detail, "container is not running")

	hanging := &fakeExec{block: true}
	start := time.Now()
	r = checks.NewCmd(cmdMode("sleep 100", false), hanging.exec, 20*time.Millisecond).Check(context.Background())
	require.False(t, r.Healthy)
	require.Contains(t, r.Detail, "did not finish within 20ms")
	require.Less(t, time.Since(start), 2*time.Second)

	empty := &fakeExec{}
	r = checks.NewCmd(cmdMode("  ", true), empty.exec, time.Second).Check(context.Background())
	require.False(t, r.Healthy)
	require.Equal(t, "empty command", r.Detail)
	require.Empty(t, empty.commands())
}

func TestCommand(t *testing.T) {
	require.Equal(t, []string{"sh", "-c", "a && b"}, checks.Command(cmdMode("a && b", false)))
	require.Equal(t, []string{"a", "&&", "b"}, checks.Command(cmdMode(" a && b ", true)))
}

func TestHTTPProbe_AnswersInPlaceOfACall(t *testing.T) {
	var asked []model.CheckModeSpec
	status, err := 204, error(nil)
	probe := func(_ context.Context, mode model.CheckModeSpec) (int, error) {
		asked = append(asked, mode)
		return status, err
	}
	mode := httpMode("/health", 200, 204)
	c := checks.NewHTTPProbe(mode, probe, time.Second)
	r := c.Check(context.Background())
	require.True(t, r.Healthy, r.Detail)
	require.Equal(t, "GET http://<port main>/health: status 204", r.Detail)
	require.Equal(t, []model.CheckModeSpec{mode}, asked)

	status = 500
	r = c.Check(context.Background())
	require.False(t, r.Healthy)
	require.Equal(t, "GET http://<port main>/health: status 500, want one of [200 204]", r.Detail)

	err = errors.New("container is not running")
	r = c.Check(context.Background())
	require.False(t, r.Healthy)
	require.Equal(t, "GET http://<port main>/health: container is not running", r.Detail)
}
