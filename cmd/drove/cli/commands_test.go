package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const updatedMs = int64(1_700_000_000_000)

// fakeDrove mimics the controller API used by the cluster commands.
func fakeDrove(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu    sync.Mutex
		calls []string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/v1/cluster", func(w http.ResponseWriter, _ *http.Request) {
		ok(w, map[string]any{
			"leader": "ctrl-1:4000", "state": "NORMAL", "numExecutors": 3,
			"numApplications": 10, "numActiveApplications": 4, "numActiveTasks": 2,
			"numLocalServices": 1, "numActiveLocalServices": 1,
			"freeCores": 6, "usedCores": 2, "totalCores": 8,
			"freeMemory": 12288, "usedMemory": 4096, "totalMemory": 16384,
		})
	})
	mux.HandleFunc("POST /apis/v1/cluster/maintenance/{op}", func(w http.ResponseWriter, r *http.Request) {
		state := "MAINTENANCE"
		if r.PathValue("op") == "unset" {
			state = "NORMAL"
		}
		ok(w, map[string]any{"state": state, "updated": updatedMs})
	})
	mux.HandleFunc("GET /apis/v1/cluster/events", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.URL.RawQuery)
		mu.Unlock()
		ok(w, []map[string]any{
			{"type": "EXECUTOR_ADDED", "id": "e2", "time": updatedMs + 1000, "metadata": map[string]any{"NODE_ID": "n1", "HOSTNAME": "h1"}},
			{"type": "MAINTENANCE_MODE_SET", "id": "e1", "time": updatedMs, "metadata": map[string]any{}},
		})
	})
	mux.HandleFunc("GET /apis/v1/cluster/controllers", func(w http.ResponseWriter, _ *http.Request) {
		ok(w, []map[string]any{
			{"id": "c1", "raftAddress": "h1:4001", "httpAddress": "h1:4000", "gossipAddress": "h1:4002", "voter": true, "leader": true,
				"state": "Leader", "reachable": true, "lastContactMs": 0, "appliedIndex": 42, "commitIndex": 42, "lastLogIndex": 42},
			{"id": "c2", "raftAddress": "h2:4001", "voter": true, "leader": false, "reachable": false, "lastContactMs": 1500},
		})
	})
	mux.HandleFunc("DELETE /apis/v1/cluster/controllers/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "c1" {
			writeEnvelope(w, http.StatusBadRequest, "FAILED", nil, "cannot remove the leader")
			return
		}
		ok(w, map[string]string{"removed": r.PathValue("id")})
	})
	mux.HandleFunc("POST /apis/v1/cluster/controllers/self/leave", func(w http.ResponseWriter, _ *http.Request) {
		ok(w, map[string]string{"left": "c3"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), calls...)
	}
}

func TestCommands_Cluster(t *testing.T) {
	isolate(t)
	srv, _ := fakeDrove(t)
	e := []string{"-e", srv.URL}

	t.Run("summary", func(t *testing.T) {
		out, _, err := run(t, append(e, "cluster", "summary")...)
		require.NoError(t, err)
		require.Contains(t, out, "State                     NORMAL\n")
		require.Contains(t, out, "Leader Controller         ctrl-1:4000\n")
		require.Contains(t, out, "Utilization: 25% (Total: 8 Used: 2 Free: 6)")
		require.Contains(t, out, "Utilization: 25% (Total: 16,384 MB Used: 4,096 MB Free: 12,288 MB)")
		require.Contains(t, out, "Applications              Active: 4 Total: 10\n")
		require.Contains(t, out, "Number of live executors  3\n")
	})
	t.Run("leader", func(t *testing.T) {
		out, _, err := run(t, append(e, "cluster", "leader")...)
		require.NoError(t, err)
		require.Equal(t, "Cluster leader: ctrl-1:4000\n", out)
	})
	t.Run("maintenance on and off", func(t *testing.T) {
		out, _, err := run(t, append(e, "cluster", "maintenance-on")...)
		require.NoError(t, err)
		require.Equal(t, "Cluster state:  MAINTENANCE\nUpdated:        "+formatTime(updatedMs)+"\n", out)
		out, _, err = run(t, append(e, "cluster", "maintenance-off")...)
		require.NoError(t, err)
		require.Contains(t, out, "Cluster state:  NORMAL\n")
	})
	t.Run("controllers", func(t *testing.T) {
		out, _, err := run(t, append(e, "cluster", "controllers")...)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 3)
		require.Equal(t, []string{"ID", "RAFT", "ADDRESS", "HTTP"}, strings.Fields(lines[0])[:4])
		require.Equal(t, []string{"c1", "h1:4001", "h1:4000", "h1:4002", "yes", "yes", "Leader", "yes", "0s", "42", "42", "42"}, strings.Fields(lines[1]))
		require.Equal(t, []string{"c2", "h2:4001", "-", "-", "yes", "no", "-", "no", "1.5s", "-", "-", "-"}, strings.Fields(lines[2]))
	})
	t.Run("remove-controller", func(t *testing.T) {
		out, _, err := run(t, append(e, "cluster", "remove-controller", "c2")...)
		require.NoError(t, err)
		require.Equal(t, "Controller c2 removed from the cluster\n", out)
		_, _, err = run(t, append(e, "cluster", "remove-controller", "c1")...)
		require.EqualError(t, err, "cannot remove the leader (HTTP 400)")
		_, _, err = run(t, append(e, "cluster", "remove-controller")...)
		require.Error(t, err)
	})
	t.Run("leave needs an explicit endpoint", func(t *testing.T) {
		out, _, err := run(t, append(e, "cluster", "leave")...)
		require.NoError(t, err)
		require.Equal(t, "Controller c3 left the cluster and is shutting down\n", out)
		_, _, err = run(t, "cluster", "leave")
		require.ErrorContains(t, err, "pass -e")
	})
	t.Run("debug goes to stderr", func(t *testing.T) {
		out, errOut, err := run(t, append(e, "-d", "cluster", "leader")...)
		require.NoError(t, err)
		require.Equal(t, "Cluster leader: ctrl-1:4000\n", out)
		require.Contains(t, errOut, "> GET "+srv.URL+"/apis/v1/cluster\n")
		require.Contains(t, errOut, "< HTTP 200 OK")
	})
	t.Run("unreachable server fails ping", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		_, _, err := run(t, "-e", dead.URL, "cluster", "ping")
		require.ErrorContains(t, err, "error pinging drove cluster")
	})
}

func TestCommands_EventsList(t *testing.T) {
	isolate(t)
	srv, calls := fakeDrove(t)

	out, _, err := run(t, "-e", srv.URL, "cluster", "events")
	require.NoError(t, err)
	require.Equal(t, formatTime(updatedMs+1000)+" EXECUTOR_ADDED e2 HOSTNAME=h1,NODE_ID=n1\n"+
		formatTime(updatedMs)+" MAINTENANCE_MODE_SET e1\n", out)
	require.Equal(t, "lastSyncTime=0&size=1024", calls()[0])

	// Drove CLI's shorthands: -c count, -t type; the global cluster flag long form.
	out, _, err = run(t, "-e", srv.URL, "cluster", "events", "-c", "10", "-t", "maintenance_mode_set", "--cluster", "ignored")
	require.NoError(t, err)
	require.Equal(t, formatTime(updatedMs)+" MAINTENANCE_MODE_SET e1\n", out)
	require.Equal(t, "lastSyncTime=0&size=10", calls()[1])

	out, _, err = run(t, "-e", srv.URL, "cluster", "events", "-t", "EXECUTOR_ADDED", "-s", "{type: <16}|{id:>3}|{metadata}{{}}")
	require.NoError(t, err)
	require.Equal(t, `EXECUTOR_ADDED  | e2|{"HOSTNAME":"h1","NODE_ID":"n1"}{}`+"\n", out)

	_, _, err = run(t, "-e", srv.URL, "cluster", "events", "-s", "{nope}")
	require.ErrorContains(t, err, `unknown field "nope"`)
	_, _, err = run(t, "-e", srv.URL, "cluster", "events", "-c", "0")
	require.ErrorContains(t, err, "--count must be positive")
}

func TestFormatTemplate(t *testing.T) {
	f := map[string]string{"a": "xy"}
	for tmpl, want := range map[string]string{
		"{a}":       "xy",
		"[{a:5}]":   "[xy   ]",
		"[{a:>5}]":  "[   xy]",
		"[{a:*^6}]": "[**xy**]",
		"[{a:-<4}]": "[xy--]",
		"{{a}}":     "{a}",
		"[{a:1}]":   "[xy]",
	} {
		got, err := formatTemplate(tmpl, f)
		require.NoError(t, err, tmpl)
		require.Equal(t, want, got, tmpl)
	}
	for _, bad := range []string{"{a", "a}", "{a:x}", "{b}"} {
		_, err := formatTemplate(bad, f)
		require.Error(t, err, bad)
	}
}
