package checks_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent/checks"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// fastHooks retries HTTP hooks every 10 ms.
var fastHooks = checks.HookPolicy{RetryInterval: 10 * time.Millisecond, Attempts: 5, MaxElapsed: 5 * time.Second,
	RequestTimeout: time.Second, CmdTimeout: time.Second}

// journal records what hooks did, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

// exec journals the command; "false" exits 1.
func (j *journal) exec(_ context.Context, cmd []string) (int, []byte, error) {
	j.add("exec " + strings.Join(cmd, " "))
	if cmd[0] == "false" {
		return 1, []byte("nope"), nil
	}
	return 0, nil, nil
}

// hookServer answers the statuses in codes in turn (the last repeats) and journals calls.
func hookServer(t *testing.T, j *journal, codes ...int) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code := codes[0]
		if len(codes) > 1 {
			codes = codes[1:]
		}
		mu.Unlock()
		j.add(r.Method + " " + r.URL.Path + " -> " + strconv.Itoa(code))
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func portsOf(t *testing.T, srv *httptest.Server) func(string) (int, bool) {
	t.Helper()
	port := (&server{Server: srv}).port(t)
	return func(name string) (int, bool) { return port, name == "main" }
}

func TestPreShutdown_RunsHooksInOrderThenWaits(t *testing.T) {
	j := &journal{}
	srv := hookServer(t, j, 200)
	hook := httpMode("/drain")
	hook.Verb = model.VerbPost
	spec := model.PreShutdownSpec{
		Hooks:          []model.CheckModeSpec{cmdMode("echo one", false), hook, cmdMode("/bin/two now", true)},
		WaitBeforeKill: ms(50),
	}
	start := time.Now()
	err := fastHooks.Run(context.Background(), spec, portsOf(t, srv), j.exec)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "waitBeforeKill is waited")
	require.Equal(t, []string{"exec sh -c echo one", "POST /drain -> 200", "exec /bin/two now"}, j.list())
}

func TestPreShutdown_HTTPHookIsRetriedUntilItSucceeds(t *testing.T) {
	j := &journal{}
	srv := hookServer(t, j, 503, 500, 200)
	spec := model.PreShutdownSpec{Hooks: []model.CheckModeSpec{httpMode("/drain")}}
	start := time.Now()
	require.NoError(t, fastHooks.Run(context.Background(), spec, portsOf(t, srv), j.exec))
	require.Equal(t, []string{"GET /drain -> 503", "GET /drain -> 500", "GET /drain -> 200"}, j.list())
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "attempts are RetryInterval apart")
}

func TestPreShutdown_HTTPHookGivesUpAfterAttemptsAndOthersStillRun(t *testing.T) {
	j := &journal{}
	srv := hookServer(t, j, 500)
	spec := model.PreShutdownSpec{Hooks: []model.CheckModeSpec{httpMode("/drain"), cmdMode("false", true),
		cmdMode("true", true)}}
	ports := portsOf(t, srv)
	err := fastHooks.Run(context.Background(), spec, ports, j.exec)
	require.Error(t, err)
	require.Contains(t, err.Error(), "pre-shutdown hook 1 (HTTP): failed 5 attempts; last: GET http://127.0.0.1:")
	require.Contains(t, err.Error(), `pre-shutdown hook 2 (CMD): command "false" exited with code 1: nope`)
	require.NotContains(t, err.Error(), "hook 3", "the third hook passed")
	entries := j.list()
	require.Len(t, entries, 5+1+1)
	require.Equal(t, []string{"exec false", "exec true"}, entries[5:], "a failed hook does not stop the next ones")

	// A hook naming an unknown port fails without a call.
	j = &journal{}
	hook := httpMode("/drain")
	hook.PortName = "admin"
	err = fastHooks.Run(context.Background(), model.PreShutdownSpec{Hooks: []model.CheckModeSpec{hook}}, ports, j.exec)
	require.ErrorContains(t, err, `no port named "admin"`)
	require.Empty(t, j.list())
}

func TestPreShutdown_HTTPHookIsBoundedByMaxElapsed(t *testing.T) {
	j := &journal{}
	srv := hookServer(t, j, 500)
	p := fastHooks
	p.Attempts, p.RetryInterval, p.MaxElapsed = 100, 20*time.Millisecond, 50*time.Millisecond
	start := time.Now()
	err := p.Run(context.Background(), model.PreShutdownSpec{Hooks: []model.CheckModeSpec{httpMode("/drain")}},
		portsOf(t, srv), j.exec)
	require.ErrorContains(t, err, "gave up after")
	require.Less(t, time.Since(start), 2*time.Second)
	require.LessOrEqual(t, len(j.list()), 4)
}

func TestPreShutdown_CancelEndsTheWait(t *testing.T) {
	j := &journal{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := checks.RunPreShutdown(ctx, model.PreShutdownSpec{Hooks: []model.CheckModeSpec{cmdMode("true", false)},
		WaitBeforeKill: model.MustParseDuration("1 minute")}, nil, j.exec)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, []string{"exec sh -c true"}, j.list(), "the hook ran before the wait")
}

func TestPreShutdown_NothingToDo(t *testing.T) {
	start := time.Now()
	require.NoError(t, checks.RunPreShutdown(context.Background(), model.PreShutdownSpec{}, nil, nil))
	require.Less(t, time.Since(start), time.Second)
}

func TestPreShutdown_ProbeAnswersHTTPHooks(t *testing.T) {
	j := &journal{}
	p := fastHooks
	answers := []int{503, 200}
	p.Probe = func(_ context.Context, mode model.CheckModeSpec) (int, error) {
		j.add("probe " + mode.Path)
		status := answers[0]
		answers = answers[1:]
		return status, nil
	}
	ports := func(name string) (int, bool) { return 0, name == "main" }
	err := p.Run(context.Background(), model.PreShutdownSpec{Hooks: []model.CheckModeSpec{httpMode("/drain")}}, ports, j.exec)
	require.NoError(t, err)
	require.Equal(t, []string{"probe /drain", "probe /drain"}, j.list(), "retried until it passed")
}
