package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/drove-go/drove/agent/logs"
	"github.com/hashicorp/go-hclog"
)

// logStore writes the instances' output logs below Config.LogDir and
// serves them (see agent/logs). A nil or disabled store does nothing and
// answers every request with an error. Safe for concurrent use.
type logStore struct {
	root      string
	maxSize   int64
	maxFiles  int
	retention time.Duration
	logger    hclog.Logger

	mu        sync.Mutex
	following map[string]bool // "<appId>/<instanceId>" of logs being written
}

func newLogStore(cfg Config, logger hclog.Logger) *logStore {
	return &logStore{root: cfg.LogDir, maxSize: cfg.LogMaxSize, maxFiles: cfg.LogMaxFiles,
		retention: cfg.LogRetention, logger: logger, following: map[string]bool{}}
}

func (s *logStore) enabled() bool { return s != nil && s.root != "" }

// followLogs copies the output of in's (started) container, line by line,
// into the instance's log until the container ends or the agent shuts
// down. The logs stay after the instance ends, until the retention sweep.
func (m *instanceManager) followLogs(in *instance) {
	if !m.logs.enabled() {
		return
	}
	m.mu.Lock()
	appID, instanceID, cid := in.spec.AppID, in.spec.InstanceID, in.containerID
	m.mu.Unlock()
	key := appID + "/" + instanceID
	if cid == "" || !m.logs.begin(key) {
		return
	}
	done := make(chan struct{})
	m.mu.Lock()
	in.logsDone = done // a task's deprovisioning waits for the tail of its output
	m.mu.Unlock()
	m.wg.Add(1) // the caller is a counted transition, so Wait is not at zero
	go func() {
		defer m.wg.Done()
		defer close(done)
		defer m.logs.end(key)
		m.logs.follow(m.ctx, m.rt, appID, instanceID, cid)
	}()
}

// begin marks key followed; false if it already is.
func (s *logStore) begin(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.following[key] {
		return false
	}
	s.following[key] = true
	return true
}

func (s *logStore) end(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.following, key)
}

func (s *logStore) isFollowed(appID, instanceID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.following[appID+"/"+instanceID]
}

func (s *logStore) follow(ctx context.Context, rt Runtime, appID, instanceID, cid string) {
	logger := s.logger.With("app", appID, "instance", instanceID, "container", cid)
	dir, err := logs.Dir(s.root, appID, instanceID)
	if err != nil {
		logger.Warn("instance output not logged", "error", err)
		return
	}
	w, err := logs.NewWriter(dir, s.maxSize, s.maxFiles)
	if err != nil {
		logger.Warn("instance output not logged: cannot open log", "dir", dir, "error", err)
		return
	}
	defer func() {
		if err := w.Close(); err != nil {
			logger.Warn("closing instance log", "error", err)
		}
	}()
	rc, err := rt.Logs(ctx, cid, true)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrNotFound) {
			logger.Warn("instance output not logged: cannot follow container output", "error", err)
		}
		return
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { _ = rc.Close() }) // unblock a pending read at shutdown
	defer stop()
	if err := logs.CopyLines(w, rc); err != nil && ctx.Err() == nil {
		logger.Warn("instance output logging stopped", "error", err)
	}
}

// logSweepInterval bounds how often the retention sweep runs.
const logSweepInterval = time.Hour

// sweepLoop removes the logs of instances quiet for longer than the
// retention, at start and then regularly, until ctx ends.
func (s *logStore) sweepLoop(ctx context.Context) {
	if !s.enabled() || s.retention <= 0 {
		return
	}
	every := min(logSweepInterval, max(s.retention/10, 10*time.Millisecond))
	for {
		n, err := logs.Sweep(s.root, time.Now().Add(-s.retention), s.isFollowed)
		if err != nil {
			s.logger.Warn("sweeping old instance logs", "error", err)
		}
		if n > 0 {
			s.logger.Info("removed old instance logs", "instances", n, "retention", s.retention)
		}
		if !sleep(ctx, every) {
			return
		}
	}
}

// The executor's log-file endpoints (Drove's LogFileStream), called by
// controllers on behalf of users. Answers are raw JSON, errors
// {"error": "..."}: 400 for bad names, ranges and missing files, 404 for an
// instance without logs here.

// logDir resolves the request's instance log directory, or answers.
func (a *api) logDir(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !a.mgr.logs.enabled() {
		writeLogError(w, http.StatusBadRequest, "instance logs are disabled on this executor (no log directory configured)")
		return "", false
	}
	dir, err := logs.Dir(a.mgr.logs.root, r.PathValue("appId"), r.PathValue("instanceId"))
	if err != nil {
		writeLogError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return dir, true
}

func (a *api) logList(w http.ResponseWriter, r *http.Request) {
	dir, ok := a.logDir(w, r)
	if !ok {
		return
	}
	files, err := logs.List(dir)
	if err != nil {
		a.logFileError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"files": files})
}

func (a *api) logRead(w http.ResponseWriter, r *http.Request) {
	dir, ok := a.logDir(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	offset, err := intParam(q.Get("offset"), 64)
	if err != nil {
		writeLogError(w, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	length, err := intParam(q.Get("length"), 32)
	if err != nil {
		writeLogError(w, http.StatusBadRequest, "length: "+err.Error())
		return
	}
	data, off, err := logs.Read(dir, r.PathValue("fileName"), offset, int(length))
	if err != nil {
		a.logFileError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, logChunk{Data: data, Offset: off})
}

// logChunk is Drove's LogBuffer.
type logChunk struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// intParam parses an optional integer query parameter; absent means -1.
func intParam(v string, bits int) (int64, error) {
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("must be an integer >= -1, got %q", v)
	}
	return n, nil
}

func (a *api) logDownload(w http.ResponseWriter, r *http.Request) {
	dir, ok := a.logDir(w, r)
	if !ok {
		return
	}
	name := r.PathValue("fileName")
	f, err := logs.Open(dir, name)
	if err != nil {
		a.logFileError(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		a.logFileError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.WriteHeader(http.StatusOK)
	// The size as of now: the file may grow while it is sent.
	if _, err := io.CopyN(w, f, st.Size()); err != nil {
		a.logger.Debug("log download ended early", "path", r.URL.Path, "error", err)
	}
}

// logFileError maps an agent/logs error to its answer.
func (a *api) logFileError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, logs.ErrNoSuchDir):
		writeLogError(w, http.StatusNotFound, fmt.Sprintf("no logs for instance %s/%s on this executor",
			r.PathValue("appId"), r.PathValue("instanceId")))
	case errors.Is(err, logs.ErrBadName), errors.Is(err, logs.ErrNoSuchFile), errors.Is(err, logs.ErrBadRange):
		writeLogError(w, http.StatusBadRequest, err.Error())
	default:
		a.logger.Warn("log file request failed", "path", r.URL.Path, "error", err)
		writeLogError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeLogError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
