package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const appsListJSON = `{
 "web-1":{"id":"web-1","name":"web","requiredInstances":3,"healthyInstances":2,"totalCPUs":6,"totalMemory":3072,
  "tags":{"team":"a"},"state":"RUNNING","created":1700000000000,"updated":1700000300000},
 "api-2":{"id":"api-2","name":"api","requiredInstances":1,"healthyInstances":1,"totalCPUs":1,"totalMemory":512,
  "tags":{},"state":"RUNNING","created":1700000100000,"updated":1700000100000},
 "batch-1":{"id":"batch-1","name":"batch","requiredInstances":0,"healthyInstances":0,"totalCPUs":0,"totalMemory":0,
  "tags":{},"state":"MONITORING","created":1700000200000,"updated":1700000200000}
}`

const appSpecJSON = `{"name":"web","version":"1","type":"SERVICE","executable":{"type":"DOCKER","url":"ghcr.io/x/web:1"},
 "resources":[{"type":"CPU","count":2},{"type":"MEMORY","sizeInMB":1024}],"tags":{"team":"a<b>"}}`

// opStep is one answer of the fake GET /applications/{id}/operation after
// an operation was submitted: an operation, or one of the special steps.
type opStep any

const (
	stepPrev        = "prev"        // the operation from before the submission
	stepNotRecorded = "notrecorded" // FAILED envelope, HTTP 200
	stepBroken      = "broken"      // HTTP 502 with a text body
)

// fakeAppAPI serves the application API. POST bodies are recorded; the
// operation endpoint answers prevOp before a submission and then the steps
// of script one per request, repeating the last.
type fakeAppAPI struct {
	mu             sync.Mutex
	posts          []string          // paths of POSTs
	bodies         []json.RawMessage // bodies of operation POSTs
	auth           []string          // basic auth password of operation POSTs
	prevOp         opStep            // before a submission; nil means no operation recorded
	script         []opStep
	submitted      bool
	opGets         int
	noOpEndpoint   bool
	rejectOps      bool
	instancesPaths []string
}

// set changes the fake under its lock and starts a new operation script.
func (f *fakeAppAPI) set(fn func(f *fakeAppAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	f.submitted, f.opGets = false, 0
}

func (f *fakeAppAPI) lastBody(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.bodies)
	return string(f.bodies[len(f.bodies)-1])
}

// snapshot returns copies of the recorded POST paths, passwords and
// instance list paths.
func (f *fakeAppAPI) snapshot() (posts, auth, instancesPaths []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts), slices.Clone(f.auth), slices.Clone(f.instancesPaths)
}

func (f *fakeAppAPI) postCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.posts)
}

func newFakeAppAPI(t *testing.T) (*httptest.Server, *fakeAppAPI) {
	t.Helper()
	f := &fakeAppAPI{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/v1/applications", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, appsListJSON)
	})
	mux.HandleFunc("GET /apis/v1/applications/{id}", func(w http.ResponseWriter, r *http.Request) {
		var apps map[string]json.RawMessage
		_ = json.Unmarshal([]byte(appsListJSON), &apps)
		if a, found := apps[r.PathValue("id")]; found {
			okRaw(w, string(a))
			return
		}
		writeEnvelope(w, http.StatusOK, "FAILED", nil, "App "+r.PathValue("id")+" not found")
	})
	mux.HandleFunc("GET /apis/v1/applications/{id}/spec", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, appSpecJSON)
	})
	mux.HandleFunc("POST /apis/v1/applications/operations", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		_, pw, _ := r.BasicAuth()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.posts = append(f.posts, r.URL.Path)
		f.bodies = append(f.bodies, raw)
		f.auth = append(f.auth, pw)
		if f.rejectOps {
			writeEnvelope(w, http.StatusBadRequest, "FAILED", map[string]any{"validationErrors": []string{
				"Cluster does not have enough CPU. Required: 10 Available: 2", "opSpec.parallelism - must be between 1 and 512"}},
				"Command validation failure")
			return
		}
		var op struct {
			AppID string          `json:"appId"`
			Spec  json.RawMessage `json:"spec"`
		}
		_ = json.Unmarshal(raw, &op)
		if op.Spec != nil {
			op.AppID = "web-1"
		}
		f.submitted, f.opGets = true, 0
		ok(w, map[string]string{"appId": op.AppID})
	})
	mux.HandleFunc("POST /apis/v1/applications/operations/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.posts = append(f.posts, r.URL.Path)
		f.mu.Unlock()
		if r.PathValue("id") != "web-1" {
			writeEnvelope(w, http.StatusBadRequest, "FAILED", nil, "Current operation could not be cancelled")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"SUCCESS","message":"success"}`))
	})
	mux.HandleFunc("GET /apis/v1/applications/{id}/operation", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.noOpEndpoint {
			writeEnvelope(w, http.StatusNotFound, "FAILED", nil, "HTTP 404 Not Found")
			return
		}
		var step opStep = stepPrev
		if f.submitted && len(f.script) > 0 {
			step = f.script[min(f.opGets, len(f.script)-1)]
			f.opGets++
		}
		if step == stepPrev {
			if f.prevOp == nil {
				step = stepNotRecorded
			} else {
				step = f.prevOp
			}
		}
		switch step {
		case stepNotRecorded:
			writeEnvelope(w, http.StatusOK, "FAILED", nil, "No operation recorded for app "+r.PathValue("id"))
		case stepBroken:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			ok(w, step)
		}
	})
	mux.HandleFunc("GET /apis/v1/applications/{id}/instances", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.instancesPaths = append(f.instancesPaths, r.URL.Path)
		f.mu.Unlock()
		okRaw(w, appInstancesJSON)
	})
	mux.HandleFunc("GET /apis/v1/applications/{id}/instances/old", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.instancesPaths = append(f.instancesPaths, r.URL.Path)
		f.mu.Unlock()
		okRaw(w, `[]`)
	})
	mux.HandleFunc("GET /apis/v1/applications/{id}/instances/{iid}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("iid") == "AI-1" {
			okRaw(w, appInstanceJSON)
			return
		}
		writeEnvelope(w, http.StatusOK, "FAILED", nil, "No such application instance "+r.PathValue("id")+"/"+r.PathValue("iid"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, f
}

// fastPolling makes --wait poll quickly.
func fastPolling(t *testing.T) {
	t.Helper()
	interval, appear := opPollInterval, opAppearTimeout
	opPollInterval, opAppearTimeout = 5*time.Millisecond, 2*time.Second
	t.Cleanup(func() { opPollInterval, opAppearTimeout = interval, appear })
}

// op builds an operation as GET /applications/{id}/operation returns it.
func op(id, source, status string, done, total, failed int) map[string]any {
	m := map[string]any{
		"id": id, "appId": "web-1", "type": "SCALE", "source": source, "requiredInstances": total,
		"status": status, "jobsTotal": total, "jobsDone": done, "jobsFailed": failed,
		"started": time.Now().UnixMilli(), "deadline": time.Now().Add(5 * time.Minute).UnixMilli(), "appState": "SCALING_REQUESTED",
	}
	if status != opStatusRunning {
		m["finished"] = time.Now().UnixMilli()
	}
	return m
}

func TestCommands_AppsList(t *testing.T) {
	isolate(t)
	srv, _ := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "apps", "list")...)
	require.NoError(t, err)
	rows := tableRows(out)
	require.Equal(t, []string{"ID", "NAME", "STATE", "TOTAL CPU", "TOTAL MEMORY (MB)", "REQUIRED INSTANCES",
		"HEALTHY INSTANCES", "CREATED", "UPDATED"}, rows[0])
	require.Equal(t, []string{"api-2", "api", "RUNNING", "1", "512", "1", "1",
		formatTime(1700000100000), formatTime(1700000100000)}, rows[1])
	require.Equal(t, []string{"web-1", "web", "RUNNING", "6", "3,072", "3", "2",
		formatTime(1700000000000), formatTime(1700000300000)}, rows[3])
	ids := func(out string) []string {
		var ids []string
		for _, r := range tableRows(out)[1:] {
			ids = append(ids, r[0])
		}
		return ids
	}
	require.Equal(t, []string{"api-2", "batch-1", "web-1"}, ids(out))

	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"-s", "1"}, []string{"api-2", "batch-1", "web-1"}},
		{[]string{"-s", "3"}, []string{"batch-1", "api-2", "web-1"}},
		{[]string{"--sort", "3", "--reverse"}, []string{"web-1", "api-2", "batch-1"}},
		{[]string{"-s", "2", "-r"}, []string{"api-2", "web-1", "batch-1"}}, // ties stay in id order
		{[]string{"-s", "7"}, []string{"web-1", "api-2", "batch-1"}},
		{[]string{"-s", "8", "-r"}, []string{"web-1", "batch-1", "api-2"}},
	} {
		out, _, err := run(t, append(append(e, "apps", "list"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.Equal(t, tc.want, ids(out), tc.flags)
	}
	_, _, err = run(t, append(e, "apps", "list", "-s", "9")...)
	require.EqualError(t, err, "--sort must be between 0 and 8, got 9")

	out, _, err = run(t, append(e, "--json", "apps", "list", "-s", "3")...)
	require.NoError(t, err)
	require.JSONEq(t, appsListJSON, out)
}

func TestCommands_AppsSummaryAndSpec(t *testing.T) {
	isolate(t)
	srv, _ := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "apps", "summary", "web-1")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"Id", "web-1"}, {"Name", "web"}, {"State", "RUNNING"}, {"Required Instances", "3"}, {"Healthy Instances", "2"},
		{"Total CPUs", "6"}, {"Total Memory (MB)", "3,072"}, {"Tags", "team=a"},
		{"Created", formatTime(1700000000000)}, {"Updated", formatTime(1700000300000)},
	}, tableRows(out))

	_, _, err = run(t, append(e, "apps", "summary", "nope")...)
	require.EqualError(t, err, "App nope not found (HTTP 200)")

	out, _, err = run(t, append(e, "--json", "apps", "summary", "api-2")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"api-2","name":"api","requiredInstances":1,"healthyInstances":1,"totalCPUs":1,"totalMemory":512,
		"tags":{},"state":"RUNNING","created":1700000100000,"updated":1700000100000}`, out)

	for _, args := range [][]string{{"apps", "spec", "web-1"}, {"--json", "apps", "spec", "web-1"}} {
		out, _, err = run(t, append(e, args...)...)
		require.NoError(t, err)
		require.JSONEq(t, appSpecJSON, out)
		require.True(t, strings.HasPrefix(out, "{\n  \"name\": \"web\",\n"), "indented, fields in server order:\n%s", out)
		require.Contains(t, out, `"team": "a<b>"`, "no HTML escaping")
	}
}

func TestCommands_AppsCreateDestroyCancel(t *testing.T) {
	isolate(t)
	srv, f := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}
	specFile := filepath.Join(t.TempDir(), "app.json")
	require.NoError(t, os.WriteFile(specFile, []byte(appSpecJSON), 0o600))

	out, _, err := run(t, append(e, "apps", "create", specFile)...)
	require.NoError(t, err)
	require.Equal(t, "Application created with app id: web-1\n", out)
	require.JSONEq(t, `{"type":"CREATE","spec":`+appSpecJSON+`,
		"opSpec":{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}}`, f.lastBody(t))

	out, _, err = run(t, append(e, "--json", "apps", "create", specFile)...)
	require.NoError(t, err)
	require.JSONEq(t, `{"appId":"web-1"}`, out)

	root := newRoot()
	var stdout strings.Builder
	root.SetOut(&stdout)
	root.SetIn(strings.NewReader(appSpecJSON))
	root.SetArgs(append(e, "apps", "create", "-"))
	require.NoError(t, root.Execute())
	require.Equal(t, "Application created with app id: web-1\n", stdout.String())
	require.JSONEq(t, `{"type":"CREATE","spec":`+appSpecJSON+`,
		"opSpec":{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}}`, f.lastBody(t))

	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`[1,2]`), 0o600))
	n := f.postCount()
	_, _, err = run(t, append(e, "apps", "create", bad)...)
	require.ErrorContains(t, err, "is not a JSON object")
	_, _, err = run(t, append(e, "apps", "create", filepath.Join(t.TempDir(), "missing.json"))...)
	require.ErrorContains(t, err, "reading spec file")
	require.Equal(t, n, f.postCount(), "nothing submitted")

	out, _, err = run(t, append(e, "apps", "destroy", "batch-1")...)
	require.NoError(t, err)
	require.Equal(t, "Application destroyed\n", out)
	require.JSONEq(t, `{"type":"DESTROY","appId":"batch-1",
		"opSpec":{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}}`, f.lastBody(t))

	out, _, err = run(t, append(e, "apps", "cancelop", "web-1")...)
	require.NoError(t, err)
	require.Equal(t, "Operation cancellation request registered.\n", out)
	posts, _, _ := f.snapshot()
	require.Equal(t, "/apis/v1/applications/operations/web-1/cancel", posts[len(posts)-1])
	_, _, err = run(t, append(e, "apps", "cancelop", "api-2")...)
	require.EqualError(t, err, "Current operation could not be cancelled (HTTP 400)")
}

func TestCommands_AppsOperationBodies(t *testing.T) {
	isolate(t)
	srv, f := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}
	const defaults = `"opSpec":{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}`

	for _, tc := range []struct {
		args []string
		body string
		out  string
	}{
		{[]string{"apps", "deploy", "web-1", "2"},
			`{"type":"START_INSTANCES","appId":"web-1","instances":2,` + defaults + `}`,
			"Application deployment command accepted. Please use the appinstances command or the UI to check the status of the deployment\n"},
		{[]string{"apps", "deploy", "web-1", "4", "-p", "2", "-t", "10m"},
			`{"type":"START_INSTANCES","appId":"web-1","instances":4,"opSpec":{"timeout":"10m","parallelism":2,"failureStrategy":"STOP"}}`, ""},
		{[]string{"apps", "scale", "web-1", "10", "--parallelism", "3", "--timeout", "100 seconds"},
			`{"type":"SCALE","appId":"web-1","requiredInstances":10,"opSpec":{"timeout":"100 seconds","parallelism":3,"failureStrategy":"STOP"}}`,
			"Application scaling command accepted. Please use the appinstances command or the UI to check the status of the deployment\n"},
		{[]string{"apps", "scale", "web-1", "0"},
			`{"type":"SCALE","appId":"web-1","requiredInstances":0,` + defaults + `}`, ""},
		{[]string{"apps", "suspend", "web-1", "-p", "5"},
			`{"type":"SUSPEND","appId":"web-1","opSpec":{"timeout":"5m","parallelism":5,"failureStrategy":"STOP"}}`,
			"Application suspend command accepted.\n"},
		{[]string{"apps", "restart", "web-1"},
			`{"type":"REPLACE_INSTANCES","appId":"web-1","instanceIds":[],"stopFirst":false,` + defaults + `}`,
			"Application restart command accepted.\n"},
		{[]string{"apps", "restart", "web-1", "-s", "-t", "1m"},
			`{"type":"REPLACE_INSTANCES","appId":"web-1","instanceIds":[],"stopFirst":true,"opSpec":{"timeout":"1m","parallelism":1,"failureStrategy":"STOP"}}`, ""},
		{[]string{"appinstances", "replace", "web-1", "AI-1", "AI-2", "--stop-first", "-p", "2"},
			`{"type":"REPLACE_INSTANCES","appId":"web-1","instanceIds":["AI-1","AI-2"],"stopFirst":true,"opSpec":{"timeout":"5m","parallelism":2,"failureStrategy":"STOP"}}`,
			"Instance(s) replace command accepted.\n"},
		{[]string{"appinstances", "replace", "web-1", "AI-1"},
			`{"type":"REPLACE_INSTANCES","appId":"web-1","instanceIds":["AI-1"],"stopFirst":false,` + defaults + `}`, ""},
		{[]string{"appinstances", "kill", "web-1", "AI-1", "AI-2", "-t", "30s"},
			`{"type":"STOP_INSTANCES","appId":"web-1","instanceIds":["AI-1","AI-2"],"skipRespawn":true,"opSpec":{"timeout":"30s","parallelism":1,"failureStrategy":"STOP"}}`,
			"Instance(s) kill command accepted.\n"},
	} {
		out, _, err := run(t, append(e, tc.args...)...)
		require.NoError(t, err, tc.args)
		require.JSONEq(t, tc.body, f.lastBody(t), tc.args)
		if tc.out != "" {
			require.Equal(t, tc.out, out, tc.args)
		}
	}

	out, _, err := run(t, append(e, "--json", "apps", "scale", "web-1", "1")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"appId":"web-1"}`, out)

	n := f.postCount()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"apps", "scale", "web-1", "--", "-1"}, `instances must be a non-negative integer, got "-1"`},
		{[]string{"apps", "deploy", "web-1", "x"}, `instances must be a non-negative integer, got "x"`},
		{[]string{"apps", "scale", "web-1", "1", "-p", "0"}, "--parallelism must be between 1 and 512, got 0"},
		{[]string{"apps", "suspend", "web-1", "-t", ""}, "--timeout must not be empty"},
		{[]string{"apps", "scale", "web-1"}, "accepts 2 arg(s), received 1"},
		{[]string{"appinstances", "kill", "web-1"}, "requires at least 2 arg(s), only received 1"},
	} {
		_, _, err := run(t, append(e, tc.args...)...)
		require.EqualError(t, err, tc.err, tc.args)
	}
	require.Equal(t, n, f.postCount(), "invalid commands submit nothing")
}

// The operation commands reuse -p and -t; the global --password and
// --auth-header stay available in long form, and the global -p works
// before the command.
func TestCommands_AppsOperationFlagsVersusGlobalFlags(t *testing.T) {
	isolate(t)
	srv, f := newFakeAppAPI(t)

	_, _, err := run(t, "-e", srv.URL, "-u", "admin", "-p", "before", "apps", "scale", "web-1", "2", "-p", "4")
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"SCALE","appId":"web-1","requiredInstances":2,"opSpec":{"timeout":"5m","parallelism":4,"failureStrategy":"STOP"}}`, f.lastBody(t))
	_, _, err = run(t, "-e", srv.URL, "apps", "scale", "web-1", "2", "-u", "admin", "--password", "after", "-t", "2m")
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"SCALE","appId":"web-1","requiredInstances":2,"opSpec":{"timeout":"2m","parallelism":1,"failureStrategy":"STOP"}}`, f.lastBody(t))
	_, auth, _ := f.snapshot()
	require.Equal(t, []string{"before", "after"}, auth)

	for _, args := range [][]string{
		{"apps", "deploy"}, {"apps", "scale"}, {"apps", "suspend"}, {"apps", "restart"},
		{"appinstances", "replace"}, {"appinstances", "kill"},
	} {
		c, _, err := newRoot().Find(args)
		require.NoError(t, err)
		for _, name := range []string{"password", "auth-header"} {
			fl := c.Flags().Lookup(name)
			require.NotNil(t, fl, args)
			require.Empty(t, fl.Shorthand, args)
		}
		require.Equal(t, "p", c.Flags().Lookup("parallelism").Shorthand, args)
		require.Equal(t, "t", c.Flags().Lookup("timeout").Shorthand, args)
		require.Equal(t, "w", c.Flags().Lookup("wait").Shorthand, args)
	}
}

func TestCommands_AppsValidationErrors(t *testing.T) {
	isolate(t)
	srv, f := newFakeAppAPI(t)
	f.set(func(f *fakeAppAPI) { f.rejectOps = true })

	out, _, err := run(t, "-e", srv.URL, "apps", "scale", "web-1", "50")
	require.EqualError(t, err, "Command validation failure (HTTP 400)\n"+
		"  - Cluster does not have enough CPU. Required: 10 Available: 2\n"+
		"  - opSpec.parallelism - must be between 1 and 512")
	require.Empty(t, out)
	_, _, err = run(t, "-e", srv.URL, "--json", "apps", "scale", "web-1", "50", "-w")
	require.ErrorContains(t, err, "Command validation failure (HTTP 400)\n  - Cluster does not have enough CPU")
}

func TestCommands_AppsWait(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, f := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}

	t.Run("progress until COMPLETED", func(t *testing.T) {
		f.set(func(f *fakeAppAPI) {
			f.prevOp = op("OP-old", "SCALE", "COMPLETED", 1, 1, 0)
			f.script = []opStep{
				stepPrev, // the new operation is not visible yet
				op("OP-2", "START_INSTANCES", "RUNNING", 0, 3, 0),
				op("OP-2", "START_INSTANCES", "RUNNING", 0, 3, 0),
				stepBroken,
				op("OP-2", "START_INSTANCES", "RUNNING", 2, 3, 0),
				op("OP-2", "START_INSTANCES", "COMPLETED", 3, 3, 0),
			}
		})
		out, errOut, err := run(t, append(e, "apps", "deploy", "web-1", "3", "-w")...)
		require.NoError(t, err)
		require.Equal(t, "Required number of instances reached\n", out)
		require.NotContains(t, errOut, "OP-old")
		var progress []string
		for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
			if strings.HasPrefix(l, "START_INSTANCES") {
				progress = append(progress, l)
			}
		}
		require.Equal(t, []string{
			"START_INSTANCES OP-2: 0/3 done, 0 failed (RUNNING)",
			"START_INSTANCES OP-2: 2/3 done, 0 failed (RUNNING)",
			"START_INSTANCES OP-2: 3/3 done, 0 failed (COMPLETED)",
		}, progress, errOut)
		require.Contains(t, errOut, "WARNING: polling the operation of app web-1: unexpected response (HTTP 502 Bad Gateway): bad gateway; retrying")
	})

	t.Run("json prints the final operation", func(t *testing.T) {
		final := op("OP-3", "SCALE", "COMPLETED", 2, 2, 0)
		f.set(func(f *fakeAppAPI) {
			f.prevOp = nil // no operation recorded before
			f.script = []opStep{stepNotRecorded, op("OP-3", "SCALE", "RUNNING", 1, 2, 0), final}
		})
		out, errOut, err := run(t, append(e, "--json", "apps", "scale", "web-1", "2", "--wait")...)
		require.NoError(t, err)
		want, _ := json.Marshal(final)
		require.JSONEq(t, string(want), out)
		require.Contains(t, errOut, "SCALE OP-3: 2/2 done, 0 failed (COMPLETED)\n")
	})

	t.Run("FAILED is an error with the message", func(t *testing.T) {
		failed := op("OP-4", "REPLACE_INSTANCES", "FAILED", 1, 3, 2)
		failed["message"] = "2 of 3 jobs failed: instance AI-9 did not become healthy"
		f.set(func(f *fakeAppAPI) {
			f.prevOp = op("OP-3", "SCALE", "COMPLETED", 2, 2, 0)
			f.script = []opStep{op("OP-4", "REPLACE_INSTANCES", "RUNNING", 1, 3, 0), failed}
		})
		out, errOut, err := run(t, append(e, "appinstances", "replace", "web-1", "AI-1", "AI-2", "AI-3", "-w")...)
		require.EqualError(t, err, "operation OP-4 (REPLACE_INSTANCES) of app web-1 FAILED: 2 of 3 jobs failed: instance AI-9 did not become healthy")
		require.Empty(t, out)
		require.Contains(t, errOut, "REPLACE_INSTANCES OP-4: 1/3 done, 2 failed (FAILED)\n")
	})

	t.Run("CANCELLED is an error", func(t *testing.T) {
		f.set(func(f *fakeAppAPI) {
			f.prevOp = nil
			f.script = []opStep{op("OP-5", "STOP_INSTANCES", "CANCELLED", 0, 1, 0)}
		})
		_, _, err := run(t, append(e, "appinstances", "kill", "web-1", "AI-1", "-w")...)
		require.EqualError(t, err, "operation OP-5 (STOP_INSTANCES) of app web-1 CANCELLED")
	})

	t.Run("previous operation unknown: the start time decides", func(t *testing.T) {
		stale := op("OP-old", "SCALE", "RUNNING", 0, 1, 0)
		stale["started"] = time.Now().Add(-time.Hour).UnixMilli()
		f.set(func(f *fakeAppAPI) {
			f.prevOp = stepBroken
			f.script = []opStep{stale, op("OP-new", "SCALE", "COMPLETED", 1, 1, 0)}
		})
		_, errOut, err := run(t, append(e, "apps", "scale", "web-1", "1", "-w")...)
		require.NoError(t, err)
		require.NotContains(t, errOut, "OP-old")
		require.Contains(t, errOut, "SCALE OP-new: 1/1 done, 0 failed (COMPLETED)\n")
	})

	t.Run("kill and suspend print their done messages", func(t *testing.T) {
		f.set(func(f *fakeAppAPI) {
			f.prevOp = nil
			f.script = []opStep{op("OP-6", "STOP_INSTANCES", "COMPLETED", 1, 1, 0)}
		})
		out, _, err := run(t, append(e, "appinstances", "kill", "web-1", "AI-1", "-w")...)
		require.NoError(t, err)
		require.Equal(t, "All instances killed\n", out)
		f.set(func(f *fakeAppAPI) { f.script = []opStep{op("OP-7", "SUSPEND", "COMPLETED", 0, 0, 0)} })
		out, _, err = run(t, append(e, "apps", "suspend", "web-1", "-w")...)
		require.NoError(t, err)
		require.Equal(t, "All instances suspended\n", out)
		f.set(func(f *fakeAppAPI) { f.script = []opStep{op("OP-8", "REPLACE_INSTANCES", "COMPLETED", 2, 2, 0)} })
		out, _, err = run(t, append(e, "apps", "restart", "web-1", "-w")...)
		require.NoError(t, err)
		require.Equal(t, "All instances replaced\n", out)
	})

	t.Run("superseded operation", func(t *testing.T) {
		f.set(func(f *fakeAppAPI) {
			f.prevOp = nil
			f.script = []opStep{op("OP-9", "SCALE", "RUNNING", 0, 5, 0), op("OP-10", "SCALE", "RUNNING", 0, 1, 0)}
		})
		_, _, err := run(t, append(e, "apps", "scale", "web-1", "5", "-w")...)
		require.EqualError(t, err, "operation OP-9 (SCALE) of app web-1 was superseded by operation OP-10 (SCALE); no longer waiting")
	})

	t.Run("operation never shows up", func(t *testing.T) {
		opAppearTimeout = 50 * time.Millisecond
		f.set(func(f *fakeAppAPI) {
			f.prevOp = op("OP-10", "SCALE", "COMPLETED", 1, 1, 0)
			f.script = []opStep{stepPrev}
		})
		_, _, err := run(t, append(e, "apps", "scale", "web-1", "1", "-w")...)
		require.ErrorContains(t, err, "the submitted operation did not show up in GET /apis/v1/applications/web-1/operation within 50ms")
	})

	t.Run("server without operation tracking", func(t *testing.T) {
		f.set(func(f *fakeAppAPI) { f.noOpEndpoint = true })
		n := f.postCount()
		_, _, err := run(t, append(e, "apps", "scale", "web-1", "1", "-w")...)
		require.ErrorContains(t, err, "--wait needs GET /apis/v1/applications/web-1/operation (operation progress), which this server does not provide")
		require.Equal(t, n, f.postCount(), "nothing submitted")
		// without --wait the operation goes through
		_, _, err = run(t, append(e, "apps", "scale", "web-1", "1")...)
		require.NoError(t, err)
		require.Equal(t, n+1, f.postCount())
	})
}

func TestCommands_AppsWaitInterrupted(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, f := newFakeAppAPI(t)
	f.set(func(f *fakeAppAPI) { f.script = []opStep{op("OP-1", "SCALE", "RUNNING", 0, 3, 0)} })

	errOut := newSyncBuffer()
	root := newRoot()
	root.SetOut(io.Discard)
	root.SetErr(errOut)
	root.SetArgs([]string{"-e", srv.URL, "apps", "scale", "web-1", "3", "-w"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- root.ExecuteContext(ctx) }()
	errOut.waitFor(t, "SCALE OP-1: 0/3 done, 0 failed (RUNNING)")
	cancel()
	select {
	case err := <-result:
		require.EqualError(t, err, "stopped waiting; operation OP-1 continues on the cluster (`drove apps cancelop web-1` cancels it)")
	case <-time.After(waitTimeout):
		t.Fatal("wait did not stop after cancel")
	}
}
