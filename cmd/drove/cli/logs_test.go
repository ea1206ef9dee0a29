package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logBases are the instances and the task whose logs fakeLogAPI serves.
var logBases = []string{
	"/apis/v1/logfiles/applications/web-1/AI-1",
	"/apis/v1/logfiles/localservices/svc-1/SI-1",
	"/apis/v1/logfiles/tasks/TEST_APP/T0012",
}

// fakeLogAPI serves the controller's log-file APIs for logBases with one
// shared in-memory output.log and Drove's read semantics; other instances
// are 204.
type fakeLogAPI struct {
	mu      sync.Mutex
	content string
	reads   []string // offset parameters seen
	paths   []string // request paths seen
	failRd  int      // the next n reads answer 500
}

func (f *fakeLogAPI) set(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content = s
}

func (f *fakeLogAPI) append(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content += s
}

func writeRaw(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func newFakeLogAPI(t *testing.T) (*httptest.Server, *fakeLogAPI) {
	t.Helper()
	f := &fakeLogAPI{}
	mux := http.NewServeMux()
	for _, base := range logBases {
		f.serve(mux, base)
	}
	mux.HandleFunc("GET /apis/v1/logfiles/applications/web-1/AI-broken/list", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, http.StatusInternalServerError, map[string]string{"error": "Executor call returned: 404 body: {}"})
	})
	mux.HandleFunc("GET /apis/v1/logfiles/applications/web-1/AI-locked/list", func(w http.ResponseWriter, _ *http.Request) {
		writeEnvelope(w, http.StatusForbidden, "FAILED", nil, "User x with role y is not allowed to access this resource")
	})
	mux.HandleFunc("GET /apis/v1/logfiles/", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(f.record(mux))
	t.Cleanup(srv.Close)
	return srv, f
}

// record notes the path of every request before handing it to h.
func (f *fakeLogAPI) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (f *fakeLogAPI) lastPath() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paths[len(f.paths)-1]
}

// serve registers the list, read and download APIs below base.
func (f *fakeLogAPI) serve(mux *http.ServeMux, base string) {
	mux.HandleFunc("GET "+base+"/list", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, http.StatusOK, map[string]any{"files": []string{"output.log", "output.log.1"}})
	})
	mux.HandleFunc("GET "+base+"/read/{file}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("file") != "output.log" {
			writeRaw(w, http.StatusBadRequest, map[string]string{"error": "no such log file: " + r.PathValue("file")})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reads = append(f.reads, r.URL.Query().Get("offset"))
		if f.failRd > 0 {
			f.failRd--
			writeRaw(w, http.StatusInternalServerError, map[string]string{"error": "Executor call returned: 503 body: busy"})
			return
		}
		off, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		if err != nil {
			off = -1
		}
		if off == -1 {
			writeRaw(w, http.StatusOK, map[string]any{"data": "", "offset": len(f.content)})
			return
		}
		data := ""
		if off < int64(len(f.content)) {
			data = f.content[off:]
		}
		writeRaw(w, http.StatusOK, map[string]any{"data": data, "offset": off})
	})
	mux.HandleFunc("GET "+base+"/download/{file}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("file") != "output.log" {
			writeRaw(w, http.StatusBadRequest, map[string]string{"error": "no such log file"})
			return
		}
		f.mu.Lock()
		body := f.content
		f.mu.Unlock()
		w.Header().Set("Content-Disposition", "attachment; filename=output.log")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	})
}

func TestCommands_AppInstancesLogs(t *testing.T) {
	isolate(t)
	srv, _ := newFakeLogAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "appinstances", "logs", "web-1", "AI-1")...)
	require.NoError(t, err)
	require.Equal(t, "output.log\noutput.log.1\n", out)

	out, _, err = run(t, append(e, "--json", "appinstances", "logs", "web-1", "AI-1")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"files":["output.log","output.log.1"]}`, out)

	_, _, err = run(t, append(e, "appinstances", "logs", "web-1", "AI-9")...)
	require.EqualError(t, err, "no logs for web-1/AI-9: instance not found, or its executor is unknown")

	_, _, err = run(t, append(e, "appinstances", "logs", "web-1", "AI-broken")...)
	require.EqualError(t, err, "Executor call returned: 404 body: {} (HTTP 500)")

	_, _, err = run(t, append(e, "appinstances", "logs", "web-1", "AI-locked")...)
	require.ErrorContains(t, err, "permission denied (HTTP 403)")

	_, _, err = run(t, append(e, "appinstances", "logs", "web-1")...)
	require.Error(t, err)
	_, _, err = run(t, append(e, "appinstances", "logs", "web-1", " ")...)
	require.EqualError(t, err, "instance id must not be empty")
}

// startTail runs `drove appinstances tail` until the returned stop is called.
func startTail(t *testing.T, args ...string) (out, errOut *syncBuffer, stop func() error) {
	t.Helper()
	out, errOut = newSyncBuffer(), newSyncBuffer()
	root := newRoot()
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- root.ExecuteContext(ctx) }()
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
		}
		select {
		case err := <-result:
			result <- err
			return err
		case <-time.After(waitTimeout):
			t.Fatal("tail did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return out, errOut, stop
}

func fastTail(t *testing.T) {
	old := tailInterval
	tailInterval = 5 * time.Millisecond
	t.Cleanup(func() { tailInterval = old })
}

func TestCommands_AppInstancesTailFollowsFromTheEnd(t *testing.T) {
	isolate(t)
	fastTail(t)
	srv, f := newFakeLogAPI(t)
	f.set("old line, not shown\n")

	out, _, stop := startTail(t, "-e", srv.URL, "appinstances", "tail", "web-1", "AI-1")
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.reads) >= 3
	}, waitTimeout, time.Millisecond, "tail polls")
	f.append("new 1\nnew ")
	out.waitFor(t, "new 1\nnew ")
	f.append("2\n")
	out.waitFor(t, "new 1\nnew 2\n")

	// Rotation: the file is now shorter than what was read; tail starts over.
	f.set("rotated\n")
	out.waitFor(t, "rotated\n")
	require.NoError(t, stop(), "Ctrl-C ends tail cleanly")
	require.Equal(t, "new 1\nnew 2\nrotated\n", out.String())

	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, "-1", f.reads[0], "the first read asks for the length")
	require.Equal(t, strconv.Itoa(len("old line, not shown\n")), f.reads[1], "then reads from there")
}

func TestCommands_AppInstancesTailSkipCharsAndRetries(t *testing.T) {
	isolate(t)
	fastTail(t)
	srv, f := newFakeLogAPI(t)
	out, errOut, stop := startTail(t, "-e", srv.URL, "appinstances", "tail", "web-1", "AI-1", "-S", "4", "--log", "output.log")
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.reads) >= 2
	}, waitTimeout, time.Millisecond)
	f.mu.Lock()
	f.failRd = 3
	f.mu.Unlock()
	f.append("[1] first\n[2] sec")
	out.waitFor(t, "first\nsec")
	f.append("ond\n[3] é\n")
	out.waitFor(t, "first\nsecond\né\n")
	require.NoError(t, stop())
	require.Equal(t, "first\nsecond\né\n", out.String(), "skip applies per line, also across reads")
	require.Contains(t, errOut.String(), "WARNING: Executor call returned: 503 body: busy (HTTP 500) (retrying)\n")
}

func TestCommands_AppInstancesTailFailures(t *testing.T) {
	isolate(t)
	fastTail(t)
	srv, _ := newFakeLogAPI(t)
	e := []string{"-e", srv.URL}
	_, _, err := run(t, append(e, "appinstances", "tail", "web-1", "AI-9")...)
	require.EqualError(t, err, "no logs for web-1/AI-9: instance not found, or its executor is unknown")
	_, _, err = run(t, append(e, "appinstances", "tail", "web-1", "AI-1", "-l", "output.nope")...)
	require.EqualError(t, err, "no such log file: output.nope (HTTP 400)")
	_, _, err = run(t, append(e, "appinstances", "tail", "web-1", "AI-1", "-S", "-1")...)
	require.EqualError(t, err, "--skip-chars must be >= 0, got -1")
}

func TestCommands_AppInstancesDownload(t *testing.T) {
	isolate(t)
	srv, f := newFakeLogAPI(t)
	e := []string{"-e", srv.URL}
	content := bytes.Repeat([]byte("log line\n"), 200)
	f.set(string(content))
	dir := t.TempDir()

	target := filepath.Join(dir, "saved.log")
	out, _, err := run(t, append(e, "appinstances", "download", "web-1", "AI-1", "output.log", "-o", target)...)
	require.NoError(t, err)
	require.Equal(t, "Downloading log to: "+target+"\nDownloaded size: 1,800 bytes\n", out)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, content, got)

	// Default: the file's name in the current directory.
	t.Chdir(dir)
	_, _, err = run(t, append(e, "appinstances", "download", "web-1", "AI-1", "output.log")...)
	require.NoError(t, err)
	got, err = os.ReadFile(filepath.Join(dir, "output.log"))
	require.NoError(t, err)
	require.Equal(t, content, got)

	// "-" writes to stdout, messages to stderr.
	out, errOut, err := run(t, append(e, "appinstances", "download", "web-1", "AI-1", "output.log", "--out", "-")...)
	require.NoError(t, err)
	require.Equal(t, string(content), out)
	require.Equal(t, "Downloading log to: -\nDownloaded size: 1,800 bytes\n", errOut)

	// Failures leave no file behind.
	missing := filepath.Join(dir, "missing.log")
	_, _, err = run(t, append(e, "appinstances", "download", "web-1", "AI-9", "output.log", "-o", missing)...)
	require.EqualError(t, err, "no logs for web-1/AI-9: instance not found, or its executor is unknown")
	_, _, err = run(t, append(e, "appinstances", "download", "web-1", "AI-1", "output.nope", "-o", missing)...)
	require.EqualError(t, err, "no such log file (HTTP 400)")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	require.ElementsMatch(t, []string{"saved.log", "output.log"}, names, "no partial files")
}

func TestLineSkipper_SkipsAcrossWrites(t *testing.T) {
	var buf bytes.Buffer
	s := &lineSkipper{w: &buf, skip: 3}
	for _, p := range []string{"ab", "cdef\n", "xyzé", "\n\n12", "345\n"} {
		n, err := s.Write([]byte(p))
		require.NoError(t, err)
		require.Equal(t, len(p), n)
	}
	require.Equal(t, "def\né\n\n45\n", buf.String())
}
