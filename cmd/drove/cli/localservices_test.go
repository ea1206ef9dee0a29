package cli

import (
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

const lsListJSON = `{
 "svc-1":{"id":"svc-1","name":"svc","instancesPerHost":2,"healthyInstances":4,"totalCPUs":4,"totalMemory":2048,
  "tags":{"team":"infra"},"activationState":"ACTIVE","state":"ACTIVE","created":1700000000000,"updated":1700000300000},
 "agent-2":{"id":"agent-2","name":"agent","instancesPerHost":1,"healthyInstances":0,"totalCPUs":0,"totalMemory":0,
  "tags":{},"activationState":"INACTIVE","state":"INACTIVE","created":1700000100000,"updated":1700000100000},
 "log-1":{"id":"log-1","name":"log","instancesPerHost":1,"healthyInstances":1,"totalCPUs":1,"totalMemory":128,
  "tags":{},"activationState":"CONFIG_TESTING","state":"CONFIG_TESTING","created":1700000200000,"updated":1700000250000}
}`

const lsSpecJSON = `{"name":"svc","version":"1","type":"LOCAL_SERVICE","executable":{"type":"DOCKER","url":"ghcr.io/x/svc:1"},
 "resources":[{"type":"CPU","count":1},{"type":"MEMORY","sizeInMB":512}],"placementPolicy":{"type":"LOCAL","hostLevel":false}}`

// lsInstance builds a LocalServiceInstanceInfo of svc-1 as JSON.
func lsInstance(id, host, state string, hostPort int, updated int64) string {
	in := map[string]any{
		"serviceId": "svc-1", "serviceName": "svc", "instanceId": id, "executorId": "exec-" + host,
		"localInfo": map[string]any{"hostname": host, "ports": map[string]any{
			"main": map[string]any{"containerPort": 8000, "hostPort": hostPort, "portType": "HTTP"}}},
		"resources": []any{map[string]any{"type": "CPU", "cores": map[string]any{"0": []int{2}}},
			map[string]any{"type": "MEMORY", "memoryInMB": map[string]any{"0": 512}}},
		"state": state, "metadata": map[string]any{}, "errorMessage": "", "created": updated - 1000, "updated": updated,
	}
	raw, _ := json.Marshal(in)
	return string(raw)
}

// lsList joins instances into a JSON array.
func lsList(instances ...string) string { return "[" + strings.Join(instances, ",") + "]" }

var (
	si1 = lsInstance("SI-1", "h1", "HEALTHY", 32000, 1700000300000)
	si2 = lsInstance("SI-2", "h2", "HEALTHY", 32001, 1700000200000)
	si3 = lsInstance("SI-3", "h1", "PROVISIONING", 32002, 1700000400000)
	si4 = lsInstance("SI-4", "h2", "HEALTHY", 32003, 1700000500000)
	si5 = lsInstance("SI-5", "h1", "STARTING", 32004, 1700000600000)
)

const lsInstanceJSON = `{"serviceId":"svc-1","serviceName":"svc","instanceId":"SI-1","executorId":"exec-1",
 "localInfo":{"hostname":"h1","ports":{"main":{"containerPort":8000,"hostPort":32000,"portType":"HTTP"}}},
 "resources":[{"type":"CPU","cores":{"0":[2,3]}},{"type":"MEMORY","memoryInMB":{"0":512}}],
 "state":"UNHEALTHY","metadata":{"zone":"z1"},"errorMessage":"health check failed\n","created":1700000100000,"updated":1700000300000}`

// request is one request a fake API received.
type request struct {
	method, path, query, body string
}

func (r request) String() string { return r.method + " " + r.path }

// recorder records every request to a fake API.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, string(body)})
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h.ServeHTTP(w, r)
	})
}

// requests returns the requests received so far.
func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

// last returns the last request, which must exist.
func (rec *recorder) last(t *testing.T) request {
	t.Helper()
	reqs := rec.requests()
	require.NotEmpty(t, reqs)
	return reqs[len(reqs)-1]
}

// lastPost returns the last POST request.
func (rec *recorder) lastPost(t *testing.T) request {
	t.Helper()
	reqs := rec.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].method == http.MethodPost {
			return reqs[i]
		}
	}
	require.FailNow(t, "no POST request")
	return request{}
}

func (rec *recorder) count(method string) int {
	n := 0
	for _, r := range rec.requests() {
		if r.method == method {
			n++
		}
	}
	return n
}

// fakeServiceAPI serves the local-service API for svc-1. Before an
// operation is posted GET instances answers before; afterwards it answers
// the steps of script one per request, repeating the last (stepBroken
// answers 502).
type fakeServiceAPI struct {
	recorder
	before    string
	script    []string
	submitted bool
	gets      int
	rejectOps bool
}

func (f *fakeServiceAPI) set(fn func(f *fakeServiceAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	f.submitted, f.gets = false, 0
}

func newFakeServiceAPI(t *testing.T) (*httptest.Server, *fakeServiceAPI) {
	t.Helper()
	f := &fakeServiceAPI{before: lsList(si1, si2, si3)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/v1/localservices", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, lsListJSON)
	})
	mux.HandleFunc("GET /apis/v1/localservices/{id}", func(w http.ResponseWriter, r *http.Request) {
		var services map[string]json.RawMessage
		_ = json.Unmarshal([]byte(lsListJSON), &services)
		if s, found := services[r.PathValue("id")]; found {
			okRaw(w, string(s))
			return
		}
		writeEnvelope(w, http.StatusOK, "FAILED", nil, "Local service "+r.PathValue("id")+" not found")
	})
	mux.HandleFunc("GET /apis/v1/localservices/{id}/spec", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, lsSpecJSON)
	})
	mux.HandleFunc("POST /apis/v1/localservices/operations", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.rejectOps {
			writeEnvelope(w, http.StatusBadRequest, "FAILED", map[string]any{"validationErrors": []string{
				"No operations allowed for svc-1 as it is in INACTIVE state", "opSpec.parallelism - must be between 1 and 512"}},
				"Command validation failure")
			return
		}
		var op struct {
			ServiceID string          `json:"serviceId"`
			Spec      json.RawMessage `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&op)
		if op.Spec != nil {
			op.ServiceID = "svc-1"
		}
		f.submitted, f.gets = true, 0
		ok(w, map[string]string{"serviceId": op.ServiceID})
	})
	mux.HandleFunc("POST /apis/v1/localservices/operations/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "svc-1" {
			writeEnvelope(w, http.StatusBadRequest, "FAILED", nil, "Current operation could not be cancelled")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"SUCCESS","message":"success"}`))
	})
	mux.HandleFunc("GET /apis/v1/localservices/{id}/instances", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.PathValue("id") != "svc-1" {
			writeEnvelope(w, http.StatusOK, "FAILED", nil, "Local service "+r.PathValue("id")+" not found")
			return
		}
		step := f.before
		if f.submitted && len(f.script) > 0 {
			step = f.script[min(f.gets, len(f.script)-1)]
			f.gets++
		}
		if step == stepBroken {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		okRaw(w, step)
	})
	mux.HandleFunc("GET /apis/v1/localservices/{id}/instances/old", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, `[]`)
	})
	mux.HandleFunc("GET /apis/v1/localservices/{id}/instances/{iid}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("iid") == "SI-1" {
			okRaw(w, lsInstanceJSON)
			return
		}
		writeEnvelope(w, http.StatusOK, "FAILED", nil, "No such local service instance "+r.PathValue("id")+"/"+r.PathValue("iid"))
	})
	// Drove's CLI wrongly polls the application API in lsinstances kill --wait.
	mux.HandleFunc("/apis/v1/applications/", func(w http.ResponseWriter, _ *http.Request) {
		writeEnvelope(w, http.StatusOK, "FAILED", nil, "App not found")
	})
	srv := httptest.NewServer(f.wrap(mux))
	t.Cleanup(srv.Close)
	return srv, f
}

func TestLocalServices_List(t *testing.T) {
	isolate(t)
	srv, f := newFakeServiceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "localservices", "list")...)
	require.NoError(t, err)
	require.Equal(t, request{method: "GET", path: "/apis/v1/localservices"}, f.last(t))
	require.Equal(t, [][]string{
		{"ID", "NAME", "STATE", "ACTIVATION STATE", "TOTAL CPU", "TOTAL MEMORY (MB)", "INSTANCES PER HOST",
			"HEALTHY INSTANCES", "CREATED", "UPDATED"},
		{"agent-2", "agent", "INACTIVE", "INACTIVE", "0", "0", "1", "0", formatTime(1700000100000), formatTime(1700000100000)},
		{"log-1", "log", "CONFIG_TESTING", "CONFIG_TESTING", "1", "128", "1", "1", formatTime(1700000200000), formatTime(1700000250000)},
		{"svc-1", "svc", "ACTIVE", "ACTIVE", "4", "2,048", "2", "4", formatTime(1700000000000), formatTime(1700000300000)},
	}, tableRows(out))

	ids := func(out string) []string {
		var ids []string
		for _, r := range tableRows(out)[1:] {
			ids = append(ids, r[0])
		}
		return ids
	}
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"-r"}, []string{"svc-1", "log-1", "agent-2"}},
		{[]string{"-s", "3"}, []string{"svc-1", "log-1", "agent-2"}},
		{[]string{"--sort", "5", "--reverse"}, []string{"svc-1", "log-1", "agent-2"}},
		{[]string{"-s", "6"}, []string{"agent-2", "log-1", "svc-1"}}, // ties stay in id order
		{[]string{"-s", "8"}, []string{"svc-1", "agent-2", "log-1"}},
		{[]string{"-s", "9", "-r"}, []string{"svc-1", "log-1", "agent-2"}},
	} {
		out, _, err := run(t, append(append(e, "localservices", "list"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.Equal(t, tc.want, ids(out), tc.flags)
	}
	_, _, err = run(t, append(e, "localservices", "list", "-s", "10")...)
	require.EqualError(t, err, "--sort must be between 0 and 9, got 10")

	out, _, err = run(t, append(e, "--json", "localservices", "list", "-s", "3")...)
	require.NoError(t, err)
	require.JSONEq(t, lsListJSON, out)
}

func TestLocalServices_SummaryAndSpec(t *testing.T) {
	isolate(t)
	srv, f := newFakeServiceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "localservices", "summary", "svc-1")...)
	require.NoError(t, err)
	require.Equal(t, "/apis/v1/localservices/svc-1", f.last(t).path)
	require.Equal(t, [][]string{
		{"Id", "svc-1"}, {"Name", "svc"}, {"State", "ACTIVE"}, {"Activation State", "ACTIVE"},
		{"Instances Per Host", "2"}, {"Healthy Instances", "4"}, {"Total CPUs", "4"}, {"Total Memory (MB)", "2,048"},
		{"Tags", "team=infra"}, {"Created", formatTime(1700000000000)}, {"Updated", formatTime(1700000300000)},
	}, tableRows(out))

	_, _, err = run(t, append(e, "localservices", "summary", "nope")...)
	require.EqualError(t, err, "Local service nope not found (HTTP 200)")
	_, _, err = run(t, append(e, "localservices", "summary", " ")...)
	require.EqualError(t, err, "service id must not be empty")

	out, _, err = run(t, append(e, "--json", "localservices", "summary", "agent-2")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"agent-2","name":"agent","instancesPerHost":1,"healthyInstances":0,"totalCPUs":0,"totalMemory":0,
		"tags":{},"activationState":"INACTIVE","state":"INACTIVE","created":1700000100000,"updated":1700000100000}`, out)

	for _, args := range [][]string{{"localservices", "spec", "svc-1"}, {"--json", "localservices", "spec", "svc-1"}} {
		out, _, err = run(t, append(e, args...)...)
		require.NoError(t, err)
		require.Equal(t, "/apis/v1/localservices/svc-1/spec", f.last(t).path)
		require.JSONEq(t, lsSpecJSON, out)
		require.True(t, strings.HasPrefix(out, "{\n  \"name\": \"svc\",\n"), out)
	}
}

func TestLocalServices_OperationBodies(t *testing.T) {
	isolate(t)
	srv, f := newFakeServiceAPI(t)
	e := []string{"-e", srv.URL}
	specFile := filepath.Join(t.TempDir(), "svc.json")
	require.NoError(t, os.WriteFile(specFile, []byte(lsSpecJSON), 0o600))
	const defaults = `{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}`

	for _, tc := range []struct {
		args []string
		body string
		out  string
	}{
		{[]string{"localservices", "create", specFile},
			`{"type":"CREATE","spec":` + lsSpecJSON + `,"instancesPerHost":1}`, "Local service created with service id: svc-1\n"},
		{[]string{"localservices", "create", specFile, "-i", "3"},
			`{"type":"CREATE","spec":` + lsSpecJSON + `,"instancesPerHost":3}`, "Local service created with service id: svc-1\n"},
		{[]string{"localservices", "create", specFile, "--instances", "255"},
			`{"type":"CREATE","spec":` + lsSpecJSON + `,"instancesPerHost":255}`, ""},
		{[]string{"localservices", "destroy", "svc-1"}, `{"type":"DESTROY","serviceId":"svc-1"}`, "Local service destroyed\n"},
		{[]string{"localservices", "activate", "svc-1"}, `{"type":"ACTIVATE","serviceId":"svc-1"}`, "Local service activated\n"},
		{[]string{"localservices", "deactivate", "svc-1"}, `{"type":"DEACTIVATE","serviceId":"svc-1"}`, "Local service deactivated\n"},
		{[]string{"localservices", "conftest", "svc-1"}, `{"type":"DEPLOY_TEST_INSTANCE","serviceId":"svc-1"}`,
			"Local service test instance requested\n"},
		{[]string{"localservices", "update", "svc-1", "4"}, `{"type":"UPDATE_INSTANCE_COUNT","serviceId":"svc-1","instancesPerHost":4}`,
			"Local service instance count updated\n"},
		{[]string{"localservices", "update", "svc-1", "1"}, `{"type":"UPDATE_INSTANCE_COUNT","serviceId":"svc-1","instancesPerHost":1}`, ""},
		{[]string{"localservices", "restart", "svc-1"},
			`{"type":"RESTART","serviceId":"svc-1","stopFirst":false,"opSpec":` + defaults + `,"clusterOpSpec":` + defaults + `}`,
			"Local service restart command accepted.\n"},
		{[]string{"localservices", "restart", "svc-1", "-s", "-p", "2", "-t", "10m"},
			`{"type":"RESTART","serviceId":"svc-1","stopFirst":true,
			  "opSpec":{"timeout":"10m","parallelism":2,"failureStrategy":"STOP"},
			  "clusterOpSpec":{"timeout":"10m","parallelism":2,"failureStrategy":"STOP"}}`, ""},
		{[]string{"lsinstances", "replace", "svc-1", "SI-1", "SI-2", "--stop", "-p", "2"},
			`{"type":"REPLACE_INSTANCES","serviceId":"svc-1","instanceIds":["SI-1","SI-2"],"stopFirst":true,
			  "opSpec":{"timeout":"5m","parallelism":2,"failureStrategy":"STOP"}}`,
			"Instance(s) replace command accepted.\n"},
		{[]string{"lsinstances", "replace", "svc-1", "SI-1"},
			`{"type":"REPLACE_INSTANCES","serviceId":"svc-1","instanceIds":["SI-1"],"stopFirst":false,"opSpec":` + defaults + `}`, ""},
		{[]string{"lsinstances", "kill", "svc-1", "SI-1", "SI-2", "-t", "30s"},
			`{"type":"STOP_INSTANCES","serviceId":"svc-1","instanceIds":["SI-1","SI-2"],
			  "opSpec":{"timeout":"30s","parallelism":1,"failureStrategy":"STOP"}}`,
			"Instance(s) kill command accepted.\n"},
	} {
		out, _, err := run(t, append(e, tc.args...)...)
		require.NoError(t, err, tc.args)
		post := f.lastPost(t)
		require.Equal(t, "/apis/v1/localservices/operations", post.path, tc.args)
		require.JSONEq(t, tc.body, post.body, tc.args)
		if tc.out != "" {
			require.Equal(t, tc.out, out, tc.args)
		}
	}

	out, _, err := run(t, append(e, "--json", "localservices", "activate", "svc-1")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"serviceId":"svc-1"}`, out)
	out, _, err = run(t, append(e, "--json", "localservices", "create", specFile)...)
	require.NoError(t, err)
	require.JSONEq(t, `{"serviceId":"svc-1"}`, out)
	out, _, err = run(t, append(e, "--json", "lsinstances", "kill", "svc-1", "SI-1")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"serviceId":"svc-1"}`, out)

	out, _, err = run(t, append(e, "localservices", "cancelop", "svc-1")...)
	require.NoError(t, err)
	require.Equal(t, "Operation cancellation request registered.\n", out)
	require.Equal(t, request{method: "POST", path: "/apis/v1/localservices/operations/svc-1/cancel"}, f.last(t))
	_, _, err = run(t, append(e, "localservices", "cancelop", "agent-2")...)
	require.EqualError(t, err, "Current operation could not be cancelled (HTTP 400)")
}

func TestLocalServices_InvalidArgumentsSubmitNothing(t *testing.T) {
	isolate(t)
	srv, f := newFakeServiceAPI(t)
	e := []string{"-e", srv.URL}
	specFile := filepath.Join(t.TempDir(), "svc.json")
	require.NoError(t, os.WriteFile(specFile, []byte(lsSpecJSON), 0o600))

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"localservices", "update", "svc-1", "0"}, "instances per host must be between 1 and 255, got 0"},
		{[]string{"localservices", "update", "svc-1", "256"}, "instances per host must be between 1 and 255, got 256"},
		{[]string{"localservices", "update", "svc-1", "--", "-3"}, "instances per host must be between 1 and 255, got -3"},
		{[]string{"localservices", "update", "svc-1", "many"}, `instances per host must be an integer, got "many"`},
		{[]string{"localservices", "update", "svc-1"}, "accepts 2 arg(s), received 1"},
		{[]string{"localservices", "create", specFile, "-i", "0"}, "instances per host must be between 1 and 255, got 0"},
		{[]string{"localservices", "create", filepath.Join(t.TempDir(), "missing.json")}, "reading spec file"},
		{[]string{"localservices", "destroy", " "}, "service id must not be empty"},
		{[]string{"localservices", "restart", "svc-1", "-p", "0"}, "--parallelism must be between 1 and 512, got 0"},
		{[]string{"lsinstances", "kill", "svc-1"}, "requires at least 2 arg(s), only received 1"},
		{[]string{"lsinstances", "replace", "", "SI-1"}, "service id must not be empty"},
	} {
		_, _, err := run(t, append(e, tc.args...)...)
		require.ErrorContains(t, err, tc.err, tc.args)
	}
	require.Zero(t, f.count(http.MethodPost), "invalid commands submit nothing")
}

func TestLocalServices_ValidationErrors(t *testing.T) {
	isolate(t)
	srv, f := newFakeServiceAPI(t)
	f.set(func(f *fakeServiceAPI) { f.rejectOps = true })
	const want = "Command validation failure (HTTP 400)\n" +
		"  - No operations allowed for svc-1 as it is in INACTIVE state\n" +
		"  - opSpec.parallelism - must be between 1 and 512"
	for _, args := range [][]string{
		{"localservices", "activate", "svc-1"},
		{"localservices", "restart", "svc-1"},
		{"--json", "localservices", "restart", "svc-1", "-w"},
		{"lsinstances", "kill", "svc-1", "SI-1", "--wait"},
	} {
		out, _, err := run(t, append([]string{"-e", srv.URL}, args...)...)
		require.EqualError(t, err, want, args)
		require.Empty(t, out, args)
	}
}

// The operation commands reuse -p, -t and -i; the global flags stay
// available in their long form.
func TestLocalServices_FlagShorthands(t *testing.T) {
	for _, args := range [][]string{{"localservices", "restart"}, {"lsinstances", "replace"}, {"lsinstances", "kill"}} {
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
	for _, args := range [][]string{{"localservices", "restart"}, {"lsinstances", "replace"}} {
		c, _, err := newRoot().Find(args)
		require.NoError(t, err)
		require.Equal(t, "s", c.Flags().Lookup("stop").Shorthand, args)
	}
	c, _, err := newRoot().Find([]string{"localservices", "create"})
	require.NoError(t, err)
	require.Equal(t, "i", c.Flags().Lookup("instances").Shorthand)
	require.Empty(t, c.Flags().Lookup("insecure").Shorthand)
}

func TestLocalServices_RestartWait(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, f := newFakeServiceAPI(t)
	e := []string{"-e", srv.URL}

	// SI-1 and SI-2 are healthy before the restart; SI-3 is still starting.
	f.set(func(f *fakeServiceAPI) {
		f.script = []string{lsList(si1, si2, si3), stepBroken, lsList(si2, si3, si4), lsList(si3, si4, si5)}
	})
	out, errOut, err := run(t, append(e, "localservices", "restart", "svc-1", "-w")...)
	require.NoError(t, err)
	require.Equal(t, "All instances replaced\n", out)
	require.Equal(t, "Remaining old instance count: 2\n"+
		"WARNING: polling the instances of local service svc-1: unexpected response (HTTP 502 Bad Gateway): bad gateway; retrying\n"+
		"Remaining old instance count: 1\n"+
		"Remaining old instance count: 0\n", errOut)
	var calls []string
	for _, r := range f.requests() {
		calls = append(calls, r.String())
	}
	require.Equal(t, "GET /apis/v1/localservices/svc-1/instances", calls[0], "healthy instances are recorded first")
	require.Equal(t, "POST /apis/v1/localservices/operations", calls[1])

	f.set(func(f *fakeServiceAPI) { f.script = []string{lsList(si3, si4)} })
	out, _, err = run(t, append(e, "--json", "localservices", "restart", "svc-1", "--wait")...)
	require.NoError(t, err)
	require.JSONEq(t, lsList(si3, si4), out, "--json prints the final instance list")
}

func TestLSInstances_KillWaitPollsLocalServiceInstances(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, f := newFakeServiceAPI(t)

	f.set(func(f *fakeServiceAPI) {
		f.script = []string{lsList(si1, si2), lsList(si1, si2), lsList(si2)}
	})
	out, errOut, err := run(t, "-e", srv.URL, "lsinstances", "kill", "svc-1", "SI-1", "SI-9", "-w")
	require.NoError(t, err)
	require.Equal(t, "All instances killed\n", out)
	require.Equal(t, "Remaining old instance count: 1\nRemaining old instance count: 0\n", errOut)
	var gets []string
	for _, r := range f.requests() {
		if r.method == http.MethodGet {
			gets = append(gets, r.path)
		}
		require.NotContains(t, r.path, "/applications", "never polls the application API")
	}
	require.Equal(t, []string{
		"/apis/v1/localservices/svc-1/instances",
		"/apis/v1/localservices/svc-1/instances",
		"/apis/v1/localservices/svc-1/instances",
	}, gets)
	require.JSONEq(t, `{"type":"STOP_INSTANCES","serviceId":"svc-1","instanceIds":["SI-1","SI-9"],
		"opSpec":{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}}`, f.lastPost(t).body)

	f.set(func(f *fakeServiceAPI) { f.script = []string{lsList(si1), lsList(si3, si5)} })
	out, errOut, err = run(t, "-e", srv.URL, "lsinstances", "replace", "svc-1", "SI-1", "-w")
	require.NoError(t, err)
	require.Equal(t, "All instances replaced\n", out)
	require.Equal(t, "Remaining old instance count: 1\nRemaining old instance count: 0\n", errOut)

	// A service that disappears ends the wait with the server's message.
	_, _, err = run(t, "-e", srv.URL, "lsinstances", "kill", "gone-1", "SI-1", "-w")
	require.EqualError(t, err, "Local service gone-1 not found (HTTP 200)")
}

func TestLSInstances_ListAndInfo(t *testing.T) {
	isolate(t)
	srv, f := newFakeServiceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "lsinstances", "list", "svc-1")...)
	require.NoError(t, err)
	require.Equal(t, "/apis/v1/localservices/svc-1/instances", f.last(t).path)
	require.Equal(t, [][]string{
		{"INSTANCE ID", "HOST", "PORTS", "STATE", "ERROR", "CREATED", "UPDATED"},
		{"SI-1", "h1", "main:32000", "HEALTHY", "-", formatTime(1700000299000), formatTime(1700000300000)},
		{"SI-2", "h2", "main:32001", "HEALTHY", "-", formatTime(1700000199000), formatTime(1700000200000)},
		{"SI-3", "h1", "main:32002", "PROVISIONING", "-", formatTime(1700000399000), formatTime(1700000400000)},
	}, tableRows(out))

	ids := func(out string) []string {
		var ids []string
		for _, r := range tableRows(out)[1:] {
			ids = append(ids, r[0])
		}
		return ids
	}
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"-r"}, []string{"SI-3", "SI-2", "SI-1"}},
		{[]string{"-s", "1", "-r"}, []string{"SI-2", "SI-1", "SI-3"}},
		{[]string{"--sort", "6"}, []string{"SI-2", "SI-1", "SI-3"}},
	} {
		out, _, err := run(t, append(append(e, "lsinstances", "list", "svc-1"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.Equal(t, tc.want, ids(out), tc.flags)
	}
	_, _, err = run(t, append(e, "lsinstances", "list", "svc-1", "-s", "7")...)
	require.EqualError(t, err, "--sort must be between 0 and 6, got 7")

	out, _, err = run(t, append(e, "lsinstances", "list", "svc-1", "-o")...)
	require.NoError(t, err)
	require.Equal(t, "/apis/v1/localservices/svc-1/instances/old", f.last(t).path)
	require.Len(t, tableRows(out), 1, "header only")

	out, _, err = run(t, append(e, "--json", "lsinstances", "list", "svc-1")...)
	require.NoError(t, err)
	require.JSONEq(t, lsList(si1, si2, si3), out)

	out, _, err = run(t, append(e, "lsinstances", "info", "svc-1", "SI-1")...)
	require.NoError(t, err)
	require.Equal(t, "/apis/v1/localservices/svc-1/instances/SI-1", f.last(t).path)
	require.Equal(t, [][]string{
		{"Instance ID", "SI-1"}, {"Service ID", "svc-1"}, {"Service Name", "svc"}, {"State", "UNHEALTHY"}, {"Host", "h1"},
		{"Executor ID", "exec-1"}, {"CPU", "NUMA node 0: 2,3"}, {"Memory (MB)", "NUMA node 0: 512"},
		{"Ports", "main: 8000->32000 (HTTP)"}, {"Metadata", "zone=z1"}, {"Error Message", "health check failed"},
		{"Created", formatTime(1700000100000)}, {"Updated", formatTime(1700000300000)},
	}, tableRows(out))

	_, _, err = run(t, append(e, "lsinstances", "info", "svc-1", "SI-9")...)
	require.EqualError(t, err, "No such local service instance svc-1/SI-9 (HTTP 200)")
	out, _, err = run(t, append(e, "--json", "lsinstances", "info", "svc-1", "SI-1")...)
	require.NoError(t, err)
	require.JSONEq(t, lsInstanceJSON, out)
}

func TestLSInstances_Logs(t *testing.T) {
	isolate(t)
	fastTail(t)
	srv, f := newFakeLogAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "lsinstances", "logs", "svc-1", "SI-1")...)
	require.NoError(t, err)
	require.Equal(t, "output.log\noutput.log.1\n", out)
	require.Equal(t, "/apis/v1/logfiles/localservices/svc-1/SI-1/list", f.lastPath())
	_, _, err = run(t, append(e, "lsinstances", "logs", "svc-1", "SI-9")...)
	require.EqualError(t, err, "no logs for svc-1/SI-9: instance not found, or its executor is unknown")
	_, _, err = run(t, append(e, "lsinstances", "logs", " ", "SI-1")...)
	require.EqualError(t, err, "service id must not be empty")

	f.set("log line\n")
	target := filepath.Join(t.TempDir(), "svc.log")
	out, _, err = run(t, append(e, "lsinstances", "download", "svc-1", "SI-1", "output.log", "-o", target)...)
	require.NoError(t, err)
	require.Equal(t, "/apis/v1/logfiles/localservices/svc-1/SI-1/download/output.log", f.lastPath())
	require.Equal(t, "Downloading log to: "+target+"\nDownloaded size: 9 bytes\n", out)
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "log line\n", string(got))

	tail, _, stop := startTail(t, "-e", srv.URL, "lsinstances", "tail", "svc-1", "SI-1", "-S", "2")
	waitForReads(t, f, 2)
	f.append("> new\n")
	tail.waitFor(t, "new\n")
	require.NoError(t, stop())
	require.Equal(t, "new\n", tail.String())
	require.Equal(t, "/apis/v1/logfiles/localservices/svc-1/SI-1/read/output.log", f.lastPath())
}

// waitForReads blocks until the fake log API has seen n reads.
func waitForReads(t *testing.T, f *fakeLogAPI, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.reads) >= n
	}, waitTimeout, time.Millisecond)
}
