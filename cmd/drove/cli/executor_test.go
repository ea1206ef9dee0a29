package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const executorListJSON = `[
 {"executorId":"exec-1","hostname":"h1","port":3000,"transportType":"HTTP","freeCores":4,"usedCores":2,
  "freeMemory":3072,"usedMemory":512,"tags":["h1","gpu"],"state":"ACTIVE"},
 {"executorId":"exec-2","hostname":"h2","port":3001,"transportType":"HTTPS","freeCores":8,"usedCores":0,
  "freeMemory":16384,"usedMemory":0,"tags":[],"state":"BLACKLISTED"}
]`

// executorInfoJSON has two NUMA nodes; node 1 has nothing used and is
// missing from the used maps, as Drove may send it.
const executorInfoJSON = `{"type":"EXECUTOR","hostname":"h1","port":3000,"transportType":"HTTP","updated":1721630351178,
 "state":{"executorId":"exec-1",
  "cpus":{"type":"CPU","freeCores":{"0":[3,2],"1":[4,5]},"usedCores":{"0":[0,1]}},
  "memory":{"type":"MEMORY","freeMemory":{"0":1024,"1":2048},"usedMemory":{"0":512}},
  "layout":{"cores":{"0":[0,1,2,3],"1":[4,5]},"memory":{"0":1536,"1":2048}}},
 "instances":[
  {"appId":"b-1","appName":"b","instanceId":"AI-b","executorId":"exec-1",
   "localInfo":{"hostname":"h1","ports":{"main":{"containerPort":8000,"hostPort":32001,"portType":"HTTP"}}},
   "resources":[{"type":"CPU","cores":{"0":[1]}},{"type":"MEMORY","memoryInMB":{"0":256}}],
   "state":"STARTING","metadata":{},"errorMessage":"","created":1,"updated":1721630351000},
  {"appId":"a-1","appName":"a","instanceId":"AI-a","executorId":"exec-1",
   "localInfo":{"hostname":"h1","ports":{"main":{"containerPort":8000,"hostPort":32000,"portType":"HTTP"},
     "admin":{"containerPort":8001,"hostPort":32100,"portType":"HTTP"}}},
   "resources":[{"type":"CPU","cores":{"0":[0]}},{"type":"MEMORY","memoryInMB":{"0":256}}],
   "state":"HEALTHY","metadata":{},"errorMessage":"","created":1,"updated":1721630350000}],
 "tasks":[],"serviceInstances":[],"tags":["h1","gpu"],"metadata":{"rack":"r1","zone":"z<1>"},"executorState":"ACTIVE"}`

// okRaw writes a SUCCESS envelope around raw JSON verbatim (the test
// encoder would escape '<' and '>', which Drove's Jackson does not).
func okRaw(w http.ResponseWriter, raw string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"SUCCESS","data":` + raw + `,"message":"success"}`))
}

// fakeExecutors serves the executor API; unknown ids get Drove's FAILED
// envelope with HTTP 200.
func fakeExecutors(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/v1/cluster/executors", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, executorListJSON)
	})
	mux.HandleFunc("GET /apis/v1/cluster/executors/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch id := r.PathValue("id"); id {
		case "exec-1":
			okRaw(w, executorInfoJSON)
		case "exec-2":
			okRaw(w, executorWorkloadsJSON)
		case "bare":
			ok(w, map[string]any{"hostname": "h9", "port": 1, "state": map[string]any{"executorId": "bare"}})
		default:
			writeEnvelope(w, http.StatusOK, "FAILED", nil, "No executor found with id: "+id)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

var cellSep = regexp.MustCompile(`\s{2,}`)

// tableRows splits table output into rows of cells (columns are separated
// by at least two spaces).
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, cellSep.Split(strings.TrimSpace(line), -1))
	}
	return rows
}

func TestCommands_ExecutorList(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	out, _, err := run(t, "-e", srv.URL, "executor", "list")
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"ID", "HOST", "PORT", "TRANSPORT", "STATE", "FREE CORES", "USED CORES", "FREE MEMORY (MB)", "USED MEMORY (MB)", "TAGS"},
		{"exec-1", "h1", "3000", "HTTP", "ACTIVE", "4", "2", "3,072", "512", "h1,gpu"},
		{"exec-2", "h2", "3001", "HTTPS", "BLACKLISTED", "8", "0", "16,384", "0", "-"},
	}, tableRows(out))
}

func TestCommands_ExecutorInfo(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	out, _, err := run(t, "-e", srv.URL, "executor", "info", "exec-1")
	require.NoError(t, err)
	info, instances, found := strings.Cut(out, "\nApplication instances:\n")
	require.True(t, found, out)
	require.Equal(t, [][]string{
		{"Executor Id", "exec-1"},
		{"Hostname", "h1"},
		{"Port", "3000"},
		{"Transport", "HTTP"},
		{"State", "ACTIVE"},
		{"Cores", "Free: 4 Used: 2 Total: 6"},
		{"NUMA node 0", "Free: 2,3 Used: 0,1"},
		{"NUMA node 1", "Free: 4,5 Used: -"},
		{"Memory", "Free: 3,072 MB Used: 512 MB Total: 3,584 MB"},
		{"NUMA node 0", "Free: 1,024 MB Used: 512 MB"},
		{"NUMA node 1", "Free: 2,048 MB Used: 0 MB"},
		{"Tags", "h1,gpu"},
		{"Metadata", "rack=r1,zone=z<1>"},
		{"Updated", formatTime(1721630351178)},
	}, tableRows(info))
	require.Contains(t, info, "\n  NUMA node 0 ", "per-node rows are indented")
	require.Equal(t, [][]string{
		{"INSTANCE ID", "APP ID", "STATE", "CORES", "MEMORY (MB)", "PORTS", "UPDATED"},
		{"AI-a", "a-1", "HEALTHY", "1", "256", "admin:32100,main:32000", formatTime(1721630350000)},
		{"AI-b", "b-1", "STARTING", "1", "256", "main:32001", formatTime(1721630351000)},
	}, tableRows(instances))

	t.Run("sparse data", func(t *testing.T) {
		out, _, err := run(t, "-e", srv.URL, "executor", "info", "bare")
		require.NoError(t, err)
		rows := tableRows(out)
		require.Contains(t, rows, []string{"Cores", "Free: 0 Used: 0 Total: 0"})
		require.Contains(t, rows, []string{"Tags", "-"})
		require.Contains(t, rows, []string{"Updated", "-"})
		require.Equal(t, []string{"INSTANCE ID", "APP ID", "STATE", "CORES", "MEMORY (MB)", "PORTS", "UPDATED"}, rows[len(rows)-1])
	})
}

func TestCommands_ExecutorAppInstances(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	out, _, err := run(t, "-e", srv.URL, "executor", "appinstances", "exec-1")
	require.NoError(t, err)
	rows := tableRows(out)
	require.Len(t, rows, 3)
	require.Equal(t, "INSTANCE ID", rows[0][0])
	require.Equal(t, []string{"AI-a", "AI-b"}, []string{rows[1][0], rows[2][0]})

	out, _, err = run(t, "-e", srv.URL, "executor", "appinstances", "exec-1", "--json")
	require.NoError(t, err)
	var data struct {
		Instances json.RawMessage `json:"instances"`
	}
	require.NoError(t, json.Unmarshal([]byte(executorInfoJSON), &data))
	require.JSONEq(t, string(data.Instances), out, "--json prints the instances of the data")
}

func TestCommands_ExecutorJSON(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"list, flag before the command": {[]string{"--json", "executor", "list"}, executorListJSON},
		"list, flag after the command":  {[]string{"executor", "list", "--json"}, executorListJSON},
		"info":                          {[]string{"executor", "info", "exec-1", "--json"}, executorInfoJSON},
	} {
		t.Run(name, func(t *testing.T) {
			out, _, err := run(t, append([]string{"-e", srv.URL}, tc.args...)...)
			require.NoError(t, err)
			require.True(t, json.Valid([]byte(out)), out)
			require.JSONEq(t, tc.want, out)
			require.True(t, strings.HasSuffix(out, "\n"))
			require.Contains(t, out, "\n  ", "indented")
			require.NotContains(t, out, `\u003c`, "no HTML escaping")
		})
	}
}

func TestCommands_ExecutorUnknown(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	for _, args := range [][]string{
		{"executor", "info", "nope"},
		{"executor", "info", "nope", "--json"},
		{"executor", "appinstances", "nope"},
	} {
		out, _, err := run(t, append([]string{"-e", srv.URL}, args...)...)
		require.ErrorContains(t, err, "No executor found with id: nope", args)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusOK, apiErr.StatusCode)
		require.Empty(t, out, args)
	}
	_, _, err := run(t, "-e", srv.URL, "executor", "info", " ")
	require.ErrorContains(t, err, "executor id must not be empty")
	_, _, err = run(t, "-e", srv.URL, "executor", "info")
	require.Error(t, err)
}
