package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// execSummary builds an ExecutorSummary of exec-1 as JSON.
func execSummary(state, drain string, deactivated bool) string {
	s := map[string]any{"executorId": "exec-1", "hostname": "h1", "port": 3000, "transportType": "HTTP",
		"freeCores": 4, "usedCores": 2, "freeMemory": 3072, "usedMemory": 1024, "tags": []string{"h1"}, "state": state}
	if drain != "" {
		s["drainState"] = drain
	}
	if deactivated {
		s["deactivated"] = true
	}
	raw, _ := json.Marshal(s)
	return string(raw)
}

// execNode builds GET /cluster/executors/exec-1 with n application instances.
func execNode(state, drain string, n int) string {
	instances := make([]any, n)
	for i := range instances {
		instances[i] = map[string]any{"appId": "a-1", "instanceId": fmt.Sprintf("AI-%d", i), "executorId": "exec-1", "state": "HEALTHY"}
	}
	d := map[string]any{"type": "EXECUTOR", "hostname": "h1", "port": 3000, "transportType": "HTTP", "updated": updatedMs,
		"state": map[string]any{"executorId": "exec-1"}, "instances": instances, "tasks": []any{}, "serviceInstances": []any{},
		"tags": []string{}, "metadata": map[string]any{}, "executorState": state}
	if drain != "" {
		d["drainState"] = drain
	}
	raw, _ := json.Marshal(d)
	return string(raw)
}

// fakeExecMaintenanceAPI serves the executor maintenance API. exec-1 and
// exec-2 exist. After a drain, GET exec-1 answers the steps of script one
// per request, repeating the last (stepNotRecorded: the executor is gone,
// stepBroken: 502).
type fakeExecMaintenanceAPI struct {
	recorder
	maintenance bool
	script      []string
	gets        int
}

func (f *fakeExecMaintenanceAPI) set(fn func(f *fakeExecMaintenanceAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	f.gets = 0
}

func newFakeExecMaintenanceAPI(t *testing.T) (*httptest.Server, *fakeExecMaintenanceAPI) {
	t.Helper()
	f := &fakeExecMaintenanceAPI{script: []string{execNode("ACTIVE", "DRAINED", 0)}}
	known := map[string]bool{"exec-1": true, "exec-2": true}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apis/v1/cluster/executors/{action}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		ids := r.URL.Query()["id"]
		if f.maintenance {
			writeEnvelope(w, http.StatusOK, "FAILED", map[string]any{"successful": []string{}, "failed": ids,
				"approxCompletionTimeMs": 0}, "Cluster is in maintenance mode")
			return
		}
		res := map[string]any{"successful": []string{}, "failed": []string{}, "approxCompletionTimeMs": 0}
		for _, id := range ids {
			if known[id] {
				res["successful"] = append(res["successful"].([]string), id)
			} else {
				res["failed"] = append(res["failed"].([]string), id)
			}
		}
		if r.PathValue("action") == "blacklist" {
			res["approxCompletionTimeMs"] = 20000
		}
		ok(w, res)
	})
	mux.HandleFunc("POST /apis/v1/cluster/executors/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id, action := r.PathValue("id"), r.PathValue("action")
		switch {
		case !known[id]:
			writeEnvelope(w, http.StatusOK, "FAILED", nil, "No executor found with id: "+id)
		case action == "drain" && f.maintenance:
			writeEnvelope(w, http.StatusBadRequest, "FAILED", map[string]any{"validationErrors": []string{"Cluster is in maintenance mode"}},
				"Command validation failure")
		case action == "drain":
			f.gets = 0
			okRaw(w, execSummary("ACTIVE", "DRAINING", false))
		case action == "deactivate":
			okRaw(w, execSummary("ACTIVE", "", true))
		case action == "reactivate":
			okRaw(w, execSummary("ACTIVE", "", false))
		default:
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("GET /apis/v1/cluster/executors/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		step := f.script[min(f.gets, len(f.script)-1)]
		f.gets++
		switch step {
		case stepNotRecorded:
			writeEnvelope(w, http.StatusOK, "FAILED", nil, "No executor found with id: "+r.PathValue("id"))
		case stepBroken:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			okRaw(w, step)
		}
	})
	mux.HandleFunc("GET /apis/v1/cluster/executors", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, "["+execSummary("ACTIVE", "DRAINING", false)+","+
			strings.Replace(execSummary("ACTIVE", "", true), `"exec-1"`, `"exec-2"`, 1)+"]")
	})
	srv := httptest.NewServer(f.wrap(mux))
	t.Cleanup(srv.Close)
	return srv, f
}

func TestExecutor_Blacklist(t *testing.T) {
	isolate(t)
	srv, f := newFakeExecMaintenanceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "executor", "blacklist", "exec-1", "exec-2")...)
	require.NoError(t, err)
	require.Equal(t, "Successful: exec-1,exec-2\nFailed: \nApproximate completion time: 20s\n", out)
	req := f.last(t)
	require.Equal(t, "POST /apis/v1/cluster/executors/blacklist", req.String())
	require.Equal(t, "id=exec-1&id=exec-2", req.query)
	require.JSONEq(t, `{}`, req.body)

	out, _, err = run(t, append(e, "executor", "unblacklist", "exec-2")...)
	require.NoError(t, err)
	require.Equal(t, "Successful: exec-2\nFailed: \n", out)
	require.Equal(t, "POST /apis/v1/cluster/executors/unblacklist", f.last(t).String())
	require.Equal(t, "id=exec-2", f.last(t).query)

	t.Run("unknown ids fail the command", func(t *testing.T) {
		out, _, err := run(t, append(e, "executor", "blacklist", "exec-1", "exec-9")...)
		require.EqualError(t, err, "could not blacklist executors: exec-9")
		require.Equal(t, "Successful: exec-1\nFailed: exec-9\nApproximate completion time: 20s\n", out)
	})
	t.Run("json", func(t *testing.T) {
		out, _, err := run(t, append(e, "--json", "executor", "blacklist", "exec-1")...)
		require.NoError(t, err)
		require.JSONEq(t, `{"successful":["exec-1"],"failed":[],"approxCompletionTimeMs":20000}`, out)
	})
	t.Run("arguments", func(t *testing.T) {
		n := len(f.requests())
		_, _, err := run(t, append(e, "executor", "blacklist")...)
		require.Error(t, err)
		_, _, err = run(t, append(e, "executor", "unblacklist", "exec-1", " ")...)
		require.EqualError(t, err, "executor id must not be empty")
		require.Len(t, f.requests(), n, "nothing is posted")
	})
}

func TestExecutor_BlacklistInMaintenanceMode(t *testing.T) {
	isolate(t)
	srv, f := newFakeExecMaintenanceAPI(t)
	f.set(func(f *fakeExecMaintenanceAPI) { f.maintenance = true })
	e := []string{"-e", srv.URL}

	for _, verb := range []string{"blacklist", "unblacklist"} {
		out, _, err := run(t, append(e, "executor", verb, "exec-1", "exec-2")...)
		require.Error(t, err, "a FAILED answer exits non-zero")
		require.Equal(t, "Successful: \nFailed: exec-1,exec-2\n", out)
		require.Contains(t, err.Error(), "Cluster is in maintenance mode (HTTP 200)")
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, "Cluster is in maintenance mode", apiErr.Message)
	}
	_, _, err := run(t, append(e, "executor", "blacklist", "exec-1")...)
	require.EqualError(t, err, "could not blacklist executors: Cluster is in maintenance mode (HTTP 200)")

	out, _, err := run(t, append(e, "--json", "executor", "blacklist", "exec-1")...)
	require.Error(t, err)
	require.JSONEq(t, `{"successful":[],"failed":["exec-1"],"approxCompletionTimeMs":0}`, out, "--json prints the data of the FAILED answer")

	_, _, err = run(t, append(e, "executor", "drain", "exec-1")...)
	require.EqualError(t, err, "Command validation failure (HTTP 400)\n  - Cluster is in maintenance mode")
}

func TestExecutor_Drain(t *testing.T) {
	isolate(t)
	srv, f := newFakeExecMaintenanceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "executor", "drain", "exec-1", "--max-grace-period", "30s", "--mark-gone")...)
	require.NoError(t, err)
	req := f.last(t)
	require.Equal(t, "POST /apis/v1/cluster/executors/exec-1/drain", req.String())
	require.JSONEq(t, `{"maxGracePeriod":"30 seconds","markGone":true}`, req.body)
	head, table, found := strings.Cut(out, "\n")
	require.True(t, found)
	require.Equal(t, "Drain of executor exec-1 started", head)
	require.Equal(t, [][]string{
		{"Executor Id", "exec-1"},
		{"Hostname", "h1"},
		{"Port", "3000"},
		{"State", "ACTIVE"},
		{"Drain State", "DRAINING"},
		{"Deactivated", "no"},
		{"Cores", "Free: 4 Used: 2"},
		{"Memory", "Free: 3,072 MB Used: 1,024 MB"},
	}, tableRows(table))

	for _, tc := range []struct {
		flags []string
		body  string
	}{
		{nil, `{"markGone":false}`},
		{[]string{"--max-grace-period", "10m"}, `{"maxGracePeriod":"10 minutes","markGone":false}`},
		{[]string{"--max-grace-period", "1h30m"}, `{"maxGracePeriod":"90 minutes","markGone":false}`},
		{[]string{"--max-grace-period", "2 minutes"}, `{"maxGracePeriod":"2 minutes","markGone":false}`},
	} {
		_, _, err := run(t, append(append(e, "executor", "drain", "exec-2"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.JSONEq(t, tc.body, f.last(t).body, tc.flags)
	}

	out, _, err = run(t, append(e, "executor", "drain", "exec-1", "--json")...)
	require.NoError(t, err)
	require.JSONEq(t, execSummary("ACTIVE", "DRAINING", false), out)

	n := len(f.requests())
	_, _, err = run(t, append(e, "executor", "drain", "exec-1", "--max-grace-period", "30")...)
	require.ErrorContains(t, err, `--max-grace-period: invalid duration "30"`)
	_, _, err = run(t, append(e, "executor", "drain", "exec-1", "--max-grace-period", "-5s")...)
	require.EqualError(t, err, `--max-grace-period: invalid duration "-5s": must not be negative`)
	require.Len(t, f.requests(), n, "nothing is posted")

	_, _, err = run(t, append(e, "executor", "drain", "nope")...)
	require.EqualError(t, err, "No executor found with id: nope (HTTP 200)")
}

func TestExecutor_DrainWait(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, f := newFakeExecMaintenanceAPI(t)
	e := []string{"-e", srv.URL}

	f.set(func(f *fakeExecMaintenanceAPI) {
		f.script = []string{execNode("ACTIVE", "DRAINING", 2), stepBroken, execNode("ACTIVE", "DRAINING", 2),
			execNode("ACTIVE", "DRAINING", 1), execNode("ACTIVE", "DRAINED", 0)}
	})
	out, errOut, err := run(t, append(e, "executor", "drain", "exec-1", "-w")...)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "Drain of executor exec-1 started\n"), out)
	require.True(t, strings.HasSuffix(out, "\nExecutor exec-1 is DRAINED\n"), out)
	require.Equal(t, "Executor exec-1: drain DRAINING, state ACTIVE, 2 instances and tasks left\n"+
		"WARNING: polling executor exec-1: unexpected response (HTTP 502 Bad Gateway): bad gateway; retrying\n"+
		"Executor exec-1: drain DRAINING, state ACTIVE, 1 instances and tasks left\n"+
		"Executor exec-1: drain DRAINED, state ACTIVE, 0 instances and tasks left\n", errOut)
	var gets []string
	for _, r := range f.requests() {
		gets = append(gets, r.String())
	}
	require.Equal(t, "POST /apis/v1/cluster/executors/exec-1/drain", gets[0])
	require.Equal(t, "GET /apis/v1/cluster/executors/exec-1", gets[len(gets)-1])

	t.Run("mark gone: removed once drained, not while draining", func(t *testing.T) {
		f.set(func(f *fakeExecMaintenanceAPI) {
			f.script = []string{execNode("ACTIVE", "DRAINING", 1), execNode("REMOVED", "DRAINING", 1), execNode("REMOVED", "DRAINED", 0)}
		})
		out, errOut, err := run(t, append(e, "executor", "drain", "exec-1", "--mark-gone", "--wait")...)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(out, "\nExecutor exec-1 is DRAINED and removed\n"), out)
		require.Contains(t, errOut, "state REMOVED, 1 instances and tasks left\n")
	})
	t.Run("mark gone: executor no longer known", func(t *testing.T) {
		f.set(func(f *fakeExecMaintenanceAPI) {
			f.script = []string{execNode("ACTIVE", "DRAINING", 1), stepNotRecorded}
		})
		out, _, err := run(t, append(e, "executor", "drain", "exec-1", "--mark-gone", "--wait")...)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(out, "\nExecutor exec-1 is DRAINED and gone\n"), out)
	})
	t.Run("without mark gone a vanished executor is an error", func(t *testing.T) {
		f.set(func(f *fakeExecMaintenanceAPI) {
			f.script = []string{execNode("ACTIVE", "DRAINING", 1), stepNotRecorded}
		})
		_, _, err := run(t, append(e, "executor", "drain", "exec-1", "--wait")...)
		require.EqualError(t, err, "No executor found with id: exec-1 (HTTP 200)")
	})
	t.Run("json prints the final executor", func(t *testing.T) {
		final := execNode("ACTIVE", "DRAINED", 0)
		f.set(func(f *fakeExecMaintenanceAPI) { f.script = []string{execNode("ACTIVE", "DRAINING", 1), final} })
		out, errOut, err := run(t, append(e, "--json", "executor", "drain", "exec-1", "--wait")...)
		require.NoError(t, err)
		require.JSONEq(t, final, out)
		require.Contains(t, errOut, "drain DRAINED")
	})
}

func TestExecutor_Activation(t *testing.T) {
	isolate(t)
	srv, f := newFakeExecMaintenanceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "executor", "deactivate", "exec-1")...)
	require.NoError(t, err)
	require.Equal(t, "POST /apis/v1/cluster/executors/exec-1/deactivate", f.last(t).String())
	head, table, _ := strings.Cut(out, "\n")
	require.Equal(t, "Executor exec-1 deactivated", head)
	require.Contains(t, tableRows(table), []string{"Deactivated", "yes"})
	require.Contains(t, tableRows(table), []string{"Drain State", "-"})

	out, _, err = run(t, append(e, "executor", "reactivate", "exec-1")...)
	require.NoError(t, err)
	require.Equal(t, "POST /apis/v1/cluster/executors/exec-1/reactivate", f.last(t).String())
	head, table, _ = strings.Cut(out, "\n")
	require.Equal(t, "Executor exec-1 reactivated", head)
	require.Contains(t, tableRows(table), []string{"Deactivated", "no"})

	out, _, err = run(t, append(e, "--json", "executor", "deactivate", "exec-1")...)
	require.NoError(t, err)
	require.JSONEq(t, execSummary("ACTIVE", "", true), out)

	_, _, err = run(t, append(e, "executor", "reactivate", "nope")...)
	require.EqualError(t, err, "No executor found with id: nope (HTTP 200)")
	_, _, err = run(t, append(e, "executor", "deactivate", " ")...)
	require.EqualError(t, err, "executor id must not be empty")
}

func TestExecutor_ListAndInfoShowMaintenance(t *testing.T) {
	isolate(t)
	srv, f := newFakeExecMaintenanceAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "executor", "list")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"ID", "HOST", "PORT", "TRANSPORT", "STATE", "DRAIN STATE", "DEACTIVATED", "FREE CORES", "USED CORES",
			"FREE MEMORY (MB)", "USED MEMORY (MB)", "TAGS"},
		{"exec-1", "h1", "3000", "HTTP", "ACTIVE", "DRAINING", "no", "4", "2", "3,072", "1,024", "h1"},
		{"exec-2", "h1", "3000", "HTTP", "ACTIVE", "-", "yes", "4", "2", "3,072", "1,024", "h1"},
	}, tableRows(out))

	node := strings.Replace(execNode("ACTIVE", "DRAINING", 0), `"executorState"`, `"deactivated":true,"executorState"`, 1)
	f.set(func(f *fakeExecMaintenanceAPI) { f.script = []string{node} })
	out, _, err = run(t, append(e, "executor", "info", "exec-1")...)
	require.NoError(t, err)
	rows := tableRows(out)
	require.Equal(t, []string{"State", "ACTIVE"}, rows[4])
	require.Equal(t, []string{"Drain State", "DRAINING"}, rows[5])
	require.Equal(t, []string{"Deactivated", "yes"}, rows[6])
}

func TestDroveDuration(t *testing.T) {
	for in, want := range map[string]string{
		"30s":        "30 seconds",
		"10m":        "10 minutes",
		"5m":         "5 minutes",
		"1h30m":      "90 minutes",
		"1h":         "1 hour",
		"1s":         "1 second",
		"1500ms":     "1500 milliseconds",
		"48h":        "2 days",
		"0":          "0 seconds",
		" 30s ":      "30 seconds",
		"30 seconds": "30 seconds",
		"1 day":      "1 day",
		"2d":         "2d",
		"5 Minutes":  "5 Minutes",
		"100ms":      "100 milliseconds",
	} {
		got, err := droveDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "30", "abc", "-5s", "5 fortnights", "1.5 hours", "s", "99999999999999999999 days"} {
		_, err := droveDuration(bad)
		require.Error(t, err, bad)
	}

	d, err := parseAnyDuration("2 hours")
	require.NoError(t, err)
	require.Equal(t, "2h", shortDuration(d))
	require.Equal(t, "1h30m", shortDuration(90*60e9))
	require.Equal(t, "20s", shortDuration(20e9))
}
