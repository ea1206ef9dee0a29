package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const taskSpecJSON = `{"sourceAppName":"TEST_APP","taskId":"T0012",
 "executable":{"url":"ghcr.io/appform-io/test-task","dockerPullTimeout":"100 seconds","type":"DOCKER"},
 "volumes":[],"resources":[{"type":"CPU","count":1},{"type":"MEMORY","sizeInMB":512}],
 "env":{"ITERATIONS":"10"},"placementPolicy":{"type":"ANY"}}`

// task builds a TaskInfo as JSON; result may be empty for none.
func task(app, id, state, host, result string, exitCode int64, updated int64) string {
	t := map[string]any{
		"sourceAppName": app, "taskId": id, "instanceId": "TI-" + id, "executorId": "exec-" + host, "hostname": host,
		"executable": map[string]any{"url": "ghcr.io/appform-io/test-task", "type": "DOCKER", "dockerPullTimeout": "100 seconds"},
		"resources": []any{map[string]any{"type": "CPU", "cores": map[string]any{"0": []int{1}, "1": []int{5}}},
			map[string]any{"type": "MEMORY", "memoryInMB": map[string]any{"0": 256, "1": 256}}},
		"volumes":     []any{map[string]any{"pathInContainer": "/data", "pathOnHost": "/mnt/data", "mode": "READ_ONLY"}},
		"loggingSpec": map[string]any{"type": "LOCAL", "maxSize": "100m", "maxFiles": 3, "compress": true},
		"env":         map[string]any{"ITERATIONS": "10"},
		"state":       state, "metadata": map[string]any{"attempt": 1}, "errorMessage": "",
		"created": updated - 1000, "updated": updated,
	}
	if result != "" {
		t["taskResult"] = map[string]any{"status": result, "exitCode": exitCode}
	}
	raw, _ := json.Marshal(t)
	return string(raw)
}

var tasksListJSON = "[" + strings.Join([]string{
	task("TEST_APP", "T0012", "RUNNING", "h1", "", 0, 1700000300000),
	task("OTHER", "T0001", "PROVISIONING", "h2", "", 0, 1700000100000),
	task("TEST_APP", "T0009", "RUN_COMPLETED", "h2", "SUCCESSFUL", 0, 1700000200000),
}, ",") + "]"

// fakeTaskAPI serves the task API. Once a task is created, GET of
// TEST_APP/T0012 answers the steps of script one per request, repeating
// the last; stepNotRecorded is Drove's FAILED lookup.
type fakeTaskAPI struct {
	recorder
	script    []string
	gets      int
	rejectOps bool
}

func (f *fakeTaskAPI) set(fn func(f *fakeTaskAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	f.gets = 0
}

func newFakeTaskAPI(t *testing.T) (*httptest.Server, *fakeTaskAPI) {
	t.Helper()
	f := &fakeTaskAPI{script: []string{task("TEST_APP", "T0012", "RUNNING", "h1", "", 0, 1700000300000)}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apis/v1/tasks/operations", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.rejectOps {
			writeEnvelope(w, http.StatusBadRequest, "FAILED", map[string]any{"validationErrors": []string{
				"Task already exists for TEST_APP/T0012 with taskID: TEST_APP-T0012"}}, "Command validation failure")
			return
		}
		var op struct {
			Type          string `json:"type"`
			SourceAppName string `json:"sourceAppName"`
			TaskID        string `json:"taskId"`
			Spec          struct {
				SourceAppName string `json:"sourceAppName"`
				TaskID        string `json:"taskId"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&op)
		if op.Type == "CREATE" {
			ok(w, map[string]string{"taskId": op.Spec.SourceAppName + "-" + op.Spec.TaskID})
			return
		}
		ok(w, map[string]string{"taskId": op.TaskID})
	})
	mux.HandleFunc("GET /apis/v1/tasks", func(w http.ResponseWriter, _ *http.Request) {
		okRaw(w, tasksListJSON)
	})
	mux.HandleFunc("GET /apis/v1/tasks/{app}/instances/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		app, id := r.PathValue("app"), r.PathValue("id")
		step := stepNotRecorded
		if app == "TEST_APP" && id == "T0012" {
			step = f.script[min(f.gets, len(f.script)-1)]
			f.gets++
		}
		switch step {
		case stepNotRecorded:
			writeEnvelope(w, http.StatusOK, "FAILED", nil, "No such task instance "+app+"/"+id)
		case stepBroken:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			okRaw(w, step)
		}
	})
	mux.HandleFunc("DELETE /apis/v1/tasks/{app}/instances/{id}", func(w http.ResponseWriter, r *http.Request) {
		app, id := r.PathValue("app"), r.PathValue("id")
		if id == "T0009" {
			ok(w, map[string]bool{"deleted": true})
			return
		}
		writeEnvelope(w, http.StatusOK, "FAILED", map[string]bool{"deleted": false}, "Could not delete "+app+"/"+id)
	})
	srv := httptest.NewServer(f.wrap(mux))
	t.Cleanup(srv.Close)
	return srv, f
}

func writeTaskSpec(t *testing.T, spec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "task.json")
	require.NoError(t, os.WriteFile(path, []byte(spec), 0o600))
	return path
}

func TestTasks_CreateAndKill(t *testing.T) {
	isolate(t)
	srv, f := newFakeTaskAPI(t)
	e := []string{"-e", srv.URL}
	specFile := writeTaskSpec(t, taskSpecJSON)
	const defaults = `"opSpec":{"timeout":"5m","parallelism":1,"failureStrategy":"STOP"}`

	out, _, err := run(t, append(e, "tasks", "create", specFile)...)
	require.NoError(t, err)
	require.Equal(t, "Task created. Source App Name: TEST_APP Task ID: T0012. Drove assigned task ID: TEST_APP-T0012\n", out)
	post := f.lastPost(t)
	require.Equal(t, "/apis/v1/tasks/operations", post.path)
	require.JSONEq(t, `{"type":"CREATE","spec":`+taskSpecJSON+`,`+defaults+`}`, post.body)
	require.Equal(t, 1, len(f.requests()), "without --wait nothing is polled")

	out, _, err = run(t, append(e, "--json", "tasks", "create", specFile)...)
	require.NoError(t, err)
	require.JSONEq(t, `{"taskId":"TEST_APP-T0012"}`, out)

	out, _, err = run(t, append(e, "tasks", "kill", "TEST_APP", "T0012")...)
	require.NoError(t, err)
	require.Equal(t, "Task kill issued\n", out)
	post = f.lastPost(t)
	require.Equal(t, "/apis/v1/tasks/operations", post.path)
	require.JSONEq(t, `{"type":"KILL","sourceAppName":"TEST_APP","taskId":"T0012",`+defaults+`}`, post.body)
	out, _, err = run(t, append(e, "--json", "tasks", "kill", "TEST_APP", "T0012")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"taskId":"T0012"}`, out)

	n := f.count(http.MethodPost)
	_, _, err = run(t, append(e, "tasks", "kill", "TEST_APP", " ")...)
	require.EqualError(t, err, "task id must not be empty")
	_, _, err = run(t, append(e, "tasks", "create", writeTaskSpec(t, `{"taskId":"x"}`), "-w")...)
	require.EqualError(t, err, "--wait needs sourceAppName and taskId in the task spec")
	require.Equal(t, n, f.count(http.MethodPost), "nothing submitted")

	f.set(func(f *fakeTaskAPI) { f.rejectOps = true })
	out, _, err = run(t, append(e, "tasks", "create", specFile, "--wait")...)
	require.EqualError(t, err, "Command validation failure (HTTP 400)\n  - Task already exists for TEST_APP/T0012 with taskID: TEST_APP-T0012")
	require.Empty(t, out)
}

func TestTasks_CreateWait(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, f := newFakeTaskAPI(t)
	e := []string{"-e", srv.URL}
	specFile := writeTaskSpec(t, taskSpecJSON)
	running := task("TEST_APP", "T0012", "RUNNING", "h1", "", 0, 1700000300000)

	t.Run("FAILED result is an error", func(t *testing.T) {
		failed := task("TEST_APP", "T0012", "STOPPED", "h1", "FAILED", 2, 1700000400000)
		f.set(func(f *fakeTaskAPI) {
			f.script = []string{stepNotRecorded, task("TEST_APP", "T0012", "PROVISIONING", "h1", "", 0, 1), stepBroken,
				running, running, failed}
		})
		out, errOut, err := run(t, append(e, "tasks", "create", specFile, "-w")...)
		require.EqualError(t, err, "task TEST_APP/T0012 finished with result FAILED (exit code 2)")
		require.Equal(t, "Task created. Source App Name: TEST_APP Task ID: T0012. Drove assigned task ID: TEST_APP-T0012\n"+
			"Task result: FAILED (Task exit code: 2)\n", out)
		require.Equal(t, "Task TEST_APP/T0012: PROVISIONING\n"+
			"WARNING: polling task TEST_APP/T0012: unexpected response (HTTP 502 Bad Gateway): bad gateway; retrying\n"+
			"Task TEST_APP/T0012: RUNNING\n"+
			"Task TEST_APP/T0012: STOPPED\n", errOut)
		var paths []string
		for _, r := range f.requests() {
			if r.method == http.MethodGet {
				paths = append(paths, r.path)
			}
		}
		require.Len(t, paths, 6)
		require.Equal(t, "/apis/v1/tasks/TEST_APP/instances/T0012", paths[0])
	})

	t.Run("SUCCESSFUL result", func(t *testing.T) {
		f.set(func(f *fakeTaskAPI) {
			f.script = []string{running, task("TEST_APP", "T0012", "STOPPED", "h1", "SUCCESSFUL", 0, 1700000400000)}
		})
		out, _, err := run(t, append(e, "tasks", "create", specFile, "--wait")...)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(out, "\nTask result: SUCCESSFUL (Task exit code: 0)\n"), out)
	})

	t.Run("json prints the final task; LOST without result fails", func(t *testing.T) {
		lost := task("TEST_APP", "T0012", "LOST", "h1", "", 0, 1700000400000)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(lost), &m))
		m["errorMessage"] = "Task lost:\nexecutor gone"
		raw, _ := json.Marshal(m)
		lost = string(raw)
		f.set(func(f *fakeTaskAPI) { f.script = []string{running, lost} })
		out, _, err := run(t, append(e, "--json", "tasks", "create", specFile, "-w")...)
		require.EqualError(t, err, "task TEST_APP/T0012 ended in state LOST without a result: Task lost: executor gone")
		require.JSONEq(t, lost, out)
	})

	t.Run("task never shows up", func(t *testing.T) {
		opAppearTimeout = 30 * time.Millisecond
		f.set(func(f *fakeTaskAPI) { f.script = []string{stepNotRecorded} })
		_, _, err := run(t, append(e, "tasks", "create", specFile, "-w")...)
		require.EqualError(t, err, "task TEST_APP/T0012 did not show up in GET /apis/v1/tasks/TEST_APP/instances/T0012 within 30ms")
	})
}

func TestTasks_CreateWaitInterrupted(t *testing.T) {
	isolate(t)
	fastPolling(t)
	srv, _ := newFakeTaskAPI(t) // the task keeps running
	errOut := newSyncBuffer()
	root := newRoot()
	root.SetOut(io.Discard)
	root.SetErr(errOut)
	root.SetArgs([]string{"-e", srv.URL, "tasks", "create", writeTaskSpec(t, taskSpecJSON), "-w"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- root.ExecuteContext(ctx) }()
	errOut.waitFor(t, "Task TEST_APP/T0012: RUNNING")
	cancel()
	select {
	case err := <-result:
		require.EqualError(t, err, "stopped waiting; task TEST_APP/T0012 continues on the cluster (`drove tasks kill TEST_APP T0012` kills it)")
	case <-time.After(waitTimeout):
		t.Fatal("wait did not stop after cancel")
	}
}

func TestTasks_List(t *testing.T) {
	isolate(t)
	srv, f := newFakeTaskAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "tasks", "list")...)
	require.NoError(t, err)
	require.Equal(t, request{method: "GET", path: "/apis/v1/tasks"}, f.last(t))
	require.Equal(t, [][]string{
		{"ID", "SOURCE APP", "TASK ID", "STATE", "HOST", "CPU", "MEMORY (MB)", "CREATED", "UPDATED"},
		{"TI-T0001", "OTHER", "T0001", "PROVISIONING", "h2", "2", "512", formatTime(1700000099000), formatTime(1700000100000)},
		{"TI-T0009", "TEST_APP", "T0009", "RUN_COMPLETED", "h2", "2", "512", formatTime(1700000199000), formatTime(1700000200000)},
		{"TI-T0012", "TEST_APP", "T0012", "RUNNING", "h1", "2", "512", formatTime(1700000299000), formatTime(1700000300000)},
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
		{[]string{"-r"}, []string{"TI-T0012", "TI-T0009", "TI-T0001"}},
		{[]string{"-s", "3"}, []string{"TI-T0001", "TI-T0012", "TI-T0009"}},
		{[]string{"--sort", "8", "--reverse"}, []string{"TI-T0012", "TI-T0009", "TI-T0001"}},
		{[]string{"-a", "TEST_APP"}, []string{"TI-T0009", "TI-T0012"}},
		{[]string{"--app", "TEST_APP", "-s", "4"}, []string{"TI-T0012", "TI-T0009"}},
		{[]string{"-a", "NONE"}, nil},
	} {
		out, _, err := run(t, append(append(e, "tasks", "list"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.Equal(t, tc.want, ids(out), tc.flags)
	}
	_, _, err = run(t, append(e, "tasks", "list", "-s", "9")...)
	require.EqualError(t, err, "--sort must be between 0 and 8, got 9")

	out, _, err = run(t, append(e, "--json", "tasks", "list")...)
	require.NoError(t, err)
	require.JSONEq(t, tasksListJSON, out)
	out, _, err = run(t, append(e, "--json", "tasks", "list", "-a", "OTHER")...)
	require.NoError(t, err)
	require.JSONEq(t, "["+task("OTHER", "T0001", "PROVISIONING", "h2", "", 0, 1700000100000)+"]", out)
	out, _, err = run(t, append(e, "--json", "tasks", "list", "-a", "NONE")...)
	require.NoError(t, err)
	require.JSONEq(t, "[]", out)
}

func TestTasks_ShowAndDelete(t *testing.T) {
	isolate(t)
	srv, f := newFakeTaskAPI(t)
	e := []string{"-e", srv.URL}
	done := task("TEST_APP", "T0012", "STOPPED", "h1", "FAILED", 3, 1700000300000)
	f.set(func(f *fakeTaskAPI) { f.script = []string{done} })

	out, _, err := run(t, append(e, "tasks", "show", "TEST_APP", "T0012")...)
	require.NoError(t, err)
	require.Equal(t, request{method: "GET", path: "/apis/v1/tasks/TEST_APP/instances/T0012"}, f.last(t))
	require.Equal(t, [][]string{
		{"Source App", "TEST_APP"}, {"Task ID", "T0012"}, {"Instance ID", "TI-T0012"}, {"State", "STOPPED"},
		{"Executor ID", "exec-h1"}, {"Executor Host", "h1"},
		{"CPU", "NUMA node 0: 1; NUMA node 1: 5"}, {"Memory (MB)", "NUMA node 0: 256; NUMA node 1: 256"},
		{"Executable", "ghcr.io/appform-io/test-task (DOCKER)"},
		{"Volumes", "/mnt/data (Mounted as /data in READ_ONLY mode)"},
		{"Logging Mode", "LOCAL"}, {"Metadata", "attempt=1"}, {"Result", "FAILED (Task exit code: 3)"}, {"Error Message", "-"},
		{"Created", formatTime(1700000299000)}, {"Updated", formatTime(1700000300000)},
	}, tableRows(out))

	out, _, err = run(t, append(e, "--json", "tasks", "show", "TEST_APP", "T0012")...)
	require.NoError(t, err)
	require.JSONEq(t, done, out)

	_, _, err = run(t, append(e, "tasks", "show", "TEST_APP", "T0404")...)
	require.EqualError(t, err, "No such task instance TEST_APP/T0404 (HTTP 200)")
	_, _, err = run(t, append(e, "tasks", "show", " ", "T0404")...)
	require.EqualError(t, err, "source app name must not be empty")

	out, _, err = run(t, append(e, "tasks", "delete", "TEST_APP", "T0009")...)
	require.NoError(t, err)
	require.Equal(t, request{method: "DELETE", path: "/apis/v1/tasks/TEST_APP/instances/T0009"}, f.last(t))
	require.Equal(t, "Task TEST_APP/T0009 deleted\n", out)
	out, _, err = run(t, append(e, "--json", "tasks", "delete", "TEST_APP", "T0009")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"deleted":true}`, out)
	out, _, err = run(t, append(e, "tasks", "delete", "TEST_APP", "T0012")...)
	require.EqualError(t, err, "Could not delete TEST_APP/T0012 (HTTP 200)")
	require.Empty(t, out)
}

func TestTasks_Logs(t *testing.T) {
	isolate(t)
	fastTail(t)
	srv, f := newFakeLogAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "tasks", "logs", "TEST_APP", "T0012")...)
	require.NoError(t, err)
	require.Equal(t, "output.log\noutput.log.1\n", out)
	require.Equal(t, "/apis/v1/logfiles/tasks/TEST_APP/T0012/list", f.lastPath())
	out, _, err = run(t, append(e, "--json", "tasks", "logs", "TEST_APP", "T0012")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"files":["output.log","output.log.1"]}`, out)
	_, _, err = run(t, append(e, "tasks", "logs", "TEST_APP", "T9")...)
	require.EqualError(t, err, "no logs for TEST_APP/T9: instance not found, or its executor is unknown")
	_, _, err = run(t, append(e, "tasks", "logs", "TEST_APP", "")...)
	require.EqualError(t, err, "task id must not be empty")

	f.set("task output\n")
	out, errOut, err := run(t, append(e, "tasks", "download", "TEST_APP", "T0012", "output.log", "-o", "-")...)
	require.NoError(t, err)
	require.Equal(t, "/apis/v1/logfiles/tasks/TEST_APP/T0012/download/output.log", f.lastPath())
	require.Equal(t, "task output\n", out)
	require.Equal(t, "Downloading log to: -\nDownloaded size: 12 bytes\n", errOut)

	tail, _, stop := startTail(t, "-e", srv.URL, "tasks", "tail", "TEST_APP", "T0012", "-l", "output.log")
	waitForReads(t, f, 2)
	f.append("more\n")
	tail.waitFor(t, "more\n")
	require.NoError(t, stop())
	require.Equal(t, "more\n", tail.String())
	require.Equal(t, "/apis/v1/logfiles/tasks/TEST_APP/T0012/read/output.log", f.lastPath())
}
