package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sseServer serves scripted watch connections: connection i runs script[i];
// later connections get the last script. It records each request's
// Last-Event-ID header and since parameter.
type sseServer struct {
	mu       sync.Mutex
	requests []string
	scripts  []func(w http.ResponseWriter, flush func(), r *http.Request)
	done     chan struct{}
}

func newSSEServer(t *testing.T, scripts ...func(w http.ResponseWriter, flush func(), r *http.Request)) (*httptest.Server, *sseServer) {
	t.Helper()
	s := &sseServer{scripts: scripts, done: make(chan struct{})}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(s.done) }) // runs first: unblocks held streams
	return srv, s
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != watchPath {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, fmt.Sprintf("since=%s last=%s", r.URL.Query().Get("since"), r.Header.Get("Last-Event-ID")))
	s.mu.Unlock()
	script := s.scripts[min(n, len(s.scripts)-1)]
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	script(w, fl.Flush, r)
}

func (s *sseServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// hold keeps a stream open until the client or the test goes away.
func (s *sseServer) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

func eventFrame(id uint64, typ, evID string, ms int64, meta string) string {
	return fmt.Sprintf("id: %d\nevent: event\ndata: {\"type\":%q,\"id\":%q,\"time\":%d,\"metadata\":%s}\n\n", id, typ, evID, ms, meta)
}

func TestCommands_EventsFollow(t *testing.T) {
	isolate(t)
	var s *sseServer
	srv, s := newSSEServer(t,
		func(w http.ResponseWriter, flush func(), _ *http.Request) {
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
			_, _ = fmt.Fprint(w, eventFrame(1, "EXECUTOR_ADDED", "a1", updatedMs, `{"NODE_ID":"n1","HOSTNAME":"h1"}`))
			_, _ = fmt.Fprint(w, eventFrame(2, "APP_STATE_CHANGE", "a2", updatedMs, `{"APP_ID":"app"}`))
			flush() // then close the stream
		},
		func(w http.ResponseWriter, flush func(), r *http.Request) {
			_, _ = fmt.Fprint(w, "event: gap\r\ndata: {\"firstIndex\":7,\"requested\":3}\r\n\r\n")
			_, _ = fmt.Fprint(w, ": ping\n")
			_, _ = fmt.Fprint(w, "id: 7\nevent: event\ndata: {\"type\":\"EXECUTOR_REMOVED\",\n")
			_, _ = fmt.Fprint(w, "data: \"id\":\"a7\",\"time\":1700000005000,\"metadata\":{\"PORT\":4000,\"HOSTNAME\":\"h1\"}}\n\n")
			flush()
			s.hold(r)
		},
	)
	out, errOut := newSyncBuffer(), newSyncBuffer()
	root := newRoot()
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs([]string{"-e", srv.URL, "cluster", "events", "-f", "--since", "0", "-t", "EXECUTOR_ADDED", "-t", "EXECUTOR_REMOVED"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- root.ExecuteContext(ctx) }()

	out.waitFor(t, " EXECUTOR_REMOVED ")
	cancel()
	select {
	case err := <-result:
		require.NoError(t, err, "Ctrl-C ends follow cleanly")
	case <-time.After(waitTimeout):
		t.Fatal("follow did not stop after cancel")
	}
	require.Equal(t,
		formatTime(updatedMs)+" EXECUTOR_ADDED a1 HOSTNAME=h1,NODE_ID=n1\n"+
			formatTime(updatedMs+5000)+" EXECUTOR_REMOVED a7 HOSTNAME=h1,PORT=4000\n",
		out.String(), "type filter applies; multi-line data is joined")
	require.Equal(t, []string{"since=0 last=", "since= last=2"}, s.seen()[:2], "reconnect resumes with Last-Event-ID")
	require.Contains(t, errOut.String(), "WARNING: event stream interrupted: stream closed by server; reconnecting in 0s after event 2\n")
	require.Contains(t, errOut.String(), "WARNING: some events were missed: requested index 3 but the oldest retained event is 7 (4 events dropped)\n")
}

func TestClient_WatchEvents(t *testing.T) {
	t.Run("4xx is final", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeEnvelope(w, http.StatusUnauthorized, "FAILED", nil, "nope")
		}))
		defer srv.Close()
		err := NewClient(Config{Endpoint: srv.URL}).WatchEvents(context.Background(), WatchOptions{})
		require.ErrorContains(t, err, "authentication failed (HTTP 401)")
	})
	t.Run("not an event stream is final", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { ok(w, "x") }))
		defer srv.Close()
		err := NewClient(Config{Endpoint: srv.URL}).WatchEvents(context.Background(), WatchOptions{})
		require.ErrorContains(t, err, "unexpected content type")
	})
	t.Run("5xx and idle streams are retried", func(t *testing.T) {
		var (
			mu      sync.Mutex
			lastIDs []string
		)
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			n := len(lastIDs)
			mu.Unlock()
			if n == 1 {
				http.Error(w, "leader election underway", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			if n == 2 {
				_, _ = fmt.Fprint(w, eventFrame(5, "X", "x5", 1, "{}"))
			} else {
				_, _ = fmt.Fprint(w, "id: 6\ndata: {\"type\":\"Y\",\"id\":\"y6\",\"time\":2}\n\n")
			}
			w.(http.Flusher).Flush()
			select { // stay silent: on connection 2 the idle timeout must drop the stream
			case <-r.Context().Done():
			case <-done:
			}
		}))
		defer srv.Close()
		defer close(done)

		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var got, warnings []string
		stop := fmt.Errorf("stop")
		err := NewClient(Config{Endpoint: srv.URL}).WatchEvents(ctx, WatchOptions{
			RetryDelay:  time.Millisecond,
			IdleTimeout: 200 * time.Millisecond,
			OnEvent: func(id string, ev Event) error {
				got = append(got, id+":"+ev.ID)
				if ev.ID == "y6" {
					return stop
				}
				return nil
			},
			OnWarning: func(msg string) { warnings = append(warnings, msg) },
		})
		require.ErrorIs(t, err, stop, "a callback error ends the watch")
		require.Equal(t, []string{"5:x5", "6:y6"}, got)
		require.Len(t, warnings, 2)
		require.Contains(t, warnings[0], "HTTP 503")
		require.Contains(t, warnings[1], "no data for 200ms")
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []string{"", "", "5"}, lastIDs)
	})
}
