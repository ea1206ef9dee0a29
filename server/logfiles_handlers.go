package server

import (
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

// Drove's log-file APIs (ExecutorLogFileApis): the controller looks up the
// instance's executor and proxies the request to the executor's
// /apis/v1/logs/filestream endpoints. Answers are not enveloped: the
// executor's raw JSON or file stream; 204 No Content when the instance or
// its executor is unknown; an executor's 400 {"error": ...} as is; any other
// executor status as 500 {"error": "Executor call returned: <code> body: <body>"}.

// logsRole is Drove's LOGS role set: read-only and read-write users and
// root (always admitted), not maintenance users.
var logsRole = []Role{RoleReadOnly, RoleReadWrite}

// executorLogClient calls executors' log endpoints. It has no overall
// timeout since downloads stream; connecting and the executor's first
// answer are bounded.
var executorLogClient = &http.Client{Transport: &http.Transport{
	DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ResponseHeaderTimeout: 30 * time.Second,
	MaxIdleConnsPerHost:   8,
	IdleConnTimeout:       90 * time.Second,
}}

// maxExecutorErrorBody bounds how much of an executor's error answer is kept.
const maxExecutorErrorBody = 16 << 10

// renameLayout is the timestamp of a renamed download (Drove's
// yyyy-MM-dd_HH-mm-ss).
const renameLayout = "2006-01-02_15-04-05"

// logFileRoutes are the three log-file routes under prefix for one kind of
// instance: {appId}/{instanceId} is an app id and instance id, a service id
// and instance id, or a task's sourceAppName and taskId.
func (a *api) logFileRoutes(prefix string, kind model.InstanceKind) []route {
	var out []route
	for _, op := range []string{"list", "read/{fileName}", "download/{fileName}"} {
		verb := strings.SplitN(op, "/", 2)[0]
		out = append(out, route{method: "GET", path: prefix + "/{appId}/{instanceId}/" + op, roles: logsRole,
			raw: func(w http.ResponseWriter, r *http.Request) { a.proxyLogFiles(w, r, kind, verb) }})
	}
	return out
}

// proxyLogFiles sends one log-file request (op: list, read or download) to
// the executor running the instance and relays the answer.
func (a *api) proxyLogFiles(w http.ResponseWriter, r *http.Request, kind model.InstanceKind, op string) {
	v := mux.Vars(r)
	appID, instanceID, file := v["appId"], v["instanceId"], v["fileName"]
	rename := false
	if op == "download" {
		var err error
		if rename, err = optionalBool(r.URL.Query().Get("rename")); err != nil {
			writeLogFilesError(w, http.StatusBadRequest, "rename: "+err.Error())
			return
		}
	}
	rec, exec, ok := a.instanceExecutor(kind, appID, instanceID)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	appID, instanceID = rec.Info.AppID, rec.Info.InstanceID
	resp, err := a.callExecutorLogs(r, exec, op, appID, instanceID, file)
	if err != nil {
		a.logger.Warn("executor log call failed", "executor", exec.ExecutorID, "instance", instanceID, "error", err)
		writeLogFilesError(w, http.StatusInternalServerError, "Executor call failed: "+err.Error())
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK && op == "download":
		name := file
		if rename {
			name = fmt.Sprintf("%s_%s_%s-%s", appID, instanceID, file, time.Now().Format(renameLayout))
		}
		relayDownload(w, resp, name)
	case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusBadRequest:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxExecutorErrorBody))
		writeLogFilesError(w, http.StatusInternalServerError,
			fmt.Sprintf("Executor call returned: %d body: %s", resp.StatusCode, body))
	}
}

// instanceExecutor finds an instance of kind (for a task, id is its
// taskId) and its executor; false when either is unknown (or the executor
// was removed).
func (a *api) instanceExecutor(kind model.InstanceKind, owner, id string) (model.InstanceRecord, model.ExecutorInfo, bool) {
	var rec model.InstanceRecord
	var ok bool
	if kind == model.KindTask {
		rec, ok = a.fsm.Task(owner, id)
	} else {
		rec, ok = a.fsm.Instance(id)
	}
	if !ok || !rec.BelongsTo(kind, owner) || rec.Info.ExecutorID == "" {
		return rec, model.ExecutorInfo{}, false
	}
	exec, ok := a.fsm.Executor(rec.Info.ExecutorID)
	if !ok || exec.State == model.ExecutorRemoved || exec.Hostname == "" || exec.Port == 0 {
		return rec, model.ExecutorInfo{}, false
	}
	return rec, exec, true
}

// callExecutorLogs sends the request to the executor with the cluster
// secret; a read carries the offset and length given.
func (a *api) callExecutorLogs(r *http.Request, exec model.ExecutorInfo, op, appID, instanceID, file string) (*http.Response, error) {
	scheme := "http"
	if exec.TransportType == model.TransportHTTPS {
		scheme = "https"
	}
	target := scheme + "://" + net.JoinHostPort(exec.Hostname, strconv.Itoa(exec.Port)) +
		"/apis/v1/logs/filestream/" + url.PathEscape(appID) + "/" + url.PathEscape(instanceID) + "/" + op
	if file != "" {
		target += "/" + url.PathEscape(file)
	}
	if op == "read" {
		q := url.Values{}
		for _, k := range []string{"offset", "length"} {
			if p := r.URL.Query().Get(k); p != "" {
				q.Set(k, p)
			}
		}
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(headerClusterAuth, a.c.cfg.ClusterSecret)
	req.Header.Set(headerNodeID, a.nodeID)
	return executorLogClient.Do(req)
}

// relayDownload streams the executor's file to w as an attachment named name.
func relayDownload(w http.ResponseWriter, resp *http.Response, name string) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		h.Set("Content-Type", ct)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		h.Set("Content-Length", cl)
	}
	cd := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if cd == "" { // a name mime cannot encode
		cd = "attachment"
	}
	h.Set("Content-Disposition", cd)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, resp.Body)
}

// optionalBool parses an optional boolean query parameter (absent: false).
func optionalBool(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("must be true or false, got %q", v)
	}
	return b, nil
}

// writeLogFilesError writes Drove's {"error": msg} answer of the log APIs.
func writeLogFilesError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
