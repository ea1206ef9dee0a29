package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// startLoggingExecutor starts an executor that keeps instance logs in a
// temp dir, which it returns.
func startLoggingExecutor(t *testing.T, tc *testCluster, id string) (*testExecutor, string) {
	t.Helper()
	rt, err := fakeruntime.New(fakeruntime.Config{StartDelay: 5 * time.Millisecond})
	require.NoError(t, err)
	e := &testExecutor{cfg: executorConfig(t, tc, id), rt: rt}
	e.cfg.LogDir = t.TempDir()
	e.a, err = agent.New(e.cfg, rt)
	require.NoError(t, err)
	t.Cleanup(e.kill)
	return e, e.cfg.LogDir
}

type logChunk struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

func TestLogs_ControllerProxiesInstanceLogsFromExecutor(t *testing.T) {
	tc := newCluster(t, 3, withExecutorTiming())
	_, logDir := startLoggingExecutor(t, tc, "exec-1")
	waitExecutorState(t, tc, "exec-1", model.ExecutorActive, 10*time.Second)
	f := tc.follower()
	appOp(t, tc, f, map[string]any{"type": "CREATE", "spec": testSpec("LOG_APP", "1", 1, `{"type":"ANY"}`),
		"instances": 1, "opSpec": opSpec(1)})
	waitApp(t, tc, "LOG_APP-1", model.AppRunning, 1, 15*time.Second)
	ins := appInstances(t, tc, "LOG_APP-1", "")
	require.Len(t, ins, 1)
	iid := ins[0].InstanceID
	base := "/apis/v1/logfiles/applications/LOG_APP-1/" + iid
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(logDir, "LOG_APP-1", iid, "output.log"))
		return err == nil && strings.Contains(string(b), "started")
	}, 5*time.Second, 10*time.Millisecond, "the executor writes the instance's output")

	// Through a follower (forwarded to the leader, which calls the executor).
	r := tc.call(f, readOnly, "GET", base+"/list", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	var list struct {
		Files []string `json:"files"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &list))
	require.Contains(t, list.Files, "output.log")

	var chunk logChunk
	r = tc.call(f, readOnly, "GET", base+"/read/output.log?offset=-1", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.NoError(t, json.Unmarshal(r.Body, &chunk))
	require.Empty(t, chunk.Data)
	require.Positive(t, chunk.Offset, "offset -1 gives the file length")
	length := chunk.Offset

	r = tc.call(f, readWrite, "GET", base+"/read/output.log?offset=0", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.NoError(t, json.Unmarshal(r.Body, &chunk))
	require.Contains(t, chunk.Data, "started")
	require.Equal(t, int64(0), chunk.Offset)
	require.EqualValues(t, length, len(chunk.Data))

	r = tc.call(f, readOnly, "GET", base+"/download/output.log", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.Equal(t, "attachment; filename=output.log", r.Header.Get("Content-Disposition"))
	require.Contains(t, string(r.Body), "started")

	r = tc.call(f, rootUser, "GET", base+"/download/output.log?rename=true", nil)
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	require.Regexp(t, `^attachment; filename=LOG_APP-1_`+iid+`_output\.log-\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$`,
		r.Header.Get("Content-Disposition"))

	// Executor errors (400) pass through.
	r = tc.call(f, readOnly, "GET", base+"/read/output.nothing", nil)
	require.Equal(t, http.StatusBadRequest, r.Code, "body: %s", r.Body)
	require.Contains(t, string(r.Body), `"error"`)

	// Unknown instances, or an instance id under another app, are 204.
	for _, path := range []string{
		"/apis/v1/logfiles/applications/LOG_APP-1/AI-unknown/list",
		"/apis/v1/logfiles/applications/OTHER-1/" + iid + "/list",
		"/apis/v1/logfiles/applications/LOG_APP-1/AI-unknown/read/output.log",
		"/apis/v1/logfiles/applications/LOG_APP-1/AI-unknown/download/output.log",
	} {
		r = tc.call(f, readOnly, "GET", path, nil)
		require.Equal(t, http.StatusNoContent, r.Code, "%s: %s", path, r.Body)
		require.Empty(t, r.Body)
	}

	// Other executor answers become 500 with the executor's status and body.
	require.NoError(t, os.RemoveAll(filepath.Join(logDir, "LOG_APP-1", iid)))
	r = tc.call(f, readOnly, "GET", base+"/list", nil)
	require.Equal(t, http.StatusInternalServerError, r.Code, "body: %s", r.Body)
	var e map[string]string
	require.NoError(t, json.Unmarshal(r.Body, &e))
	require.True(t, strings.HasPrefix(e["error"], "Executor call returned: 404 body: {"), e["error"])

	// The LOGS role: not maintenance users; authentication is required.
	r = tc.call(f, maintUser, "GET", base+"/list", nil)
	require.Equal(t, http.StatusForbidden, r.Code)
	r = tc.call(f, noUser, "GET", base+"/list", nil)
	require.Equal(t, http.StatusUnauthorized, r.Code)
}
