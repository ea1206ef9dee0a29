package integration

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

func TestApps_LifecycleCreateScaleReplaceStopDestroy(t *testing.T) {
	tc, _ := clusterWithExecutors(t, 3)
	f := tc.follower()
	appOp(t, tc, f, map[string]any{"type": "CREATE", "spec": testSpec("TEST_APP", "1", 1, `{"type":"ANY"}`),
		"instances": 2, "opSpec": opSpec(2)})
	waitApp(t, tc, "TEST_APP-1", model.AppRunning, 2, 15*time.Second)

	appOp(t, tc, f, map[string]any{"type": "SCALE", "appId": "TEST_APP-1", "requiredInstances": 5, "opSpec": opSpec(3)})
	waitApp(t, tc, "TEST_APP-1", model.AppRunning, 5, 15*time.Second)
	before := appInstances(t, tc, "TEST_APP-1", "")
	require.Len(t, before, 5)

	// Scale down stops the oldest first.
	appOp(t, tc, f, map[string]any{"type": "SCALE", "appId": "TEST_APP-1", "requiredInstances": 3, "opSpec": opSpec(3)})
	waitApp(t, tc, "TEST_APP-1", model.AppRunning, 3, 15*time.Second)
	after := appInstances(t, tc, "TEST_APP-1", "")
	require.Len(t, after, 3)
	oldest := oldestIDs(before, 2)
	for _, in := range after {
		require.NotContains(t, oldest, in.InstanceID, "the oldest instances were stopped")
	}

	// Replace all: new ones come up before old ones stop.
	appOp(t, tc, f, map[string]any{"type": "REPLACE_INSTANCES", "appId": "TEST_APP-1", "opSpec": opSpec(2)})
	waitApp(t, tc, "TEST_APP-1", model.AppRunning, 3, 20*time.Second)
	replaced := appInstances(t, tc, "TEST_APP-1", "")
	require.Len(t, replaced, 3)
	for _, in := range replaced {
		for _, old := range after {
			require.NotEqual(t, old.InstanceID, in.InstanceID)
		}
	}

	// Kill one without respawn: desired drops to 2.
	appOp(t, tc, f, map[string]any{"type": "STOP_INSTANCES", "appId": "TEST_APP-1",
		"instanceIds": []string{replaced[0].InstanceID}, "skipRespawn": true, "opSpec": opSpec(1)})
	waitApp(t, tc, "TEST_APP-1", model.AppRunning, 2, 15*time.Second)
	require.Equal(t, 2, appSummary(t, tc, f, "TEST_APP-1").RequiredInstances)

	// DESTROY is only allowed in MONITORING.
	r := tc.call(f, readWrite, "POST", "/apis/v1/applications/operations", map[string]any{"type": "DESTROY", "appId": "TEST_APP-1", "opSpec": opSpec(1)})
	require.Equal(t, 400, r.Code, "body: %s", r.Body)
	require.Contains(t, string(r.Body), "Only [")

	appOp(t, tc, f, map[string]any{"type": "SUSPEND", "appId": "TEST_APP-1", "opSpec": opSpec(2)})
	waitApp(t, tc, "TEST_APP-1", model.AppMonitoring, 0, 15*time.Second)
	appOp(t, tc, f, map[string]any{"type": "DESTROY", "appId": "TEST_APP-1", "opSpec": opSpec(1)})
	r = tc.call(f, readOnly, "GET", "/apis/v1/applications/TEST_APP-1", nil)
	require.Equal(t, "FAILED", r.Env.Status)
	require.Equal(t, "App TEST_APP-1 not found", r.Env.Message)
}

func oldestIDs(ins []model.InstanceInfo, n int) []string {
	sorted := append([]model.InstanceInfo(nil), ins...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if sorted[j].Created < sorted[i].Created {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	var out []string
	for _, in := range sorted[:n] {
		out = append(out, in.InstanceID)
	}
	return out
}

func TestApps_ExecutorKilledInstancesReplacedElsewhere(t *testing.T) {
	tc, execs := clusterWithExecutors(t, 3, withFastOutage())
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": testSpec("WEB", "1", 1, `{"type":"ONE_PER_HOST"}`),
		"instances": 2, "opSpec": opSpec(2)})
	waitApp(t, tc, "WEB-1", model.AppRunning, 2, 15*time.Second)
	ins := appInstances(t, tc, "WEB-1", "")
	var victim *testExecutor
	for _, e := range execs {
		if e.cfg.ExecutorID == ins[0].ExecutorID {
			victim = e
		}
	}
	require.NotNil(t, victim)
	victim.kill()
	waitExecutorState(t, tc, victim.cfg.ExecutorID, model.ExecutorRemoved, 10*time.Second)
	waitApp(t, tc, "WEB-1", model.AppRunning, 2, 20*time.Second)
	for _, in := range appInstances(t, tc, "WEB-1", "") {
		require.NotEqual(t, victim.cfg.ExecutorID, in.ExecutorID)
	}
	lost := appInstances(t, tc, "WEB-1", "?state=LOST")
	require.Len(t, lost, 1)
}

func TestApps_LeaderKilledDuringScaleOf20EndsWithExactly20(t *testing.T) {
	tc, execs := clusterWithExecutors(t, 3)
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": testSpec("BIG", "1", 1, `{"type":"ANY"}`), "opSpec": opSpec(1)})
	appOp(t, tc, 0, map[string]any{"type": "SCALE", "appId": "BIG-1", "requiredInstances": 20, "opSpec": opSpec(2)})
	// Let a few come up, then kill the leader mid-operation.
	require.Eventually(t, func() bool { return appSummary(t, tc, 0, "BIG-1").HealthyInstances >= 4 }, 15*time.Second, 20*time.Millisecond)
	tc.stop(tc.leaderIndex())
	tc.waitForLeader(10 * time.Second)
	waitApp(t, tc, "BIG-1", model.AppRunning, 20, 30*time.Second)
	active := appInstances(t, tc, "BIG-1", "")
	require.Len(t, active, 20, "no duplicate or orphan instances")
	total := 0
	for _, e := range execs {
		total += e.rt.Count()
	}
	require.Equal(t, 20, total, "no leaked containers on the executors")
}

func TestApps_ControllerFetchedConfigReachesTheContainer(t *testing.T) {
	cfgSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cfg" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("fetched-by-controller"))
	}))
	defer cfgSrv.Close()
	u, err := url.Parse(cfgSrv.URL)
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)

	tc, execs := clusterWithExecutors(t, 1)
	spec := testSpec("CFG", "1", 1, `{"type":"ANY"}`)
	spec["configs"] = []any{map[string]any{"type": "CONTROLLER_HTTP_FETCH", "localFilename": "/etc/app.conf",
		"http": map[string]any{"protocol": "HTTP", "hostname": u.Hostname(), "port": port, "path": "/cfg", "verb": "GET"}}}
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": spec, "instances": 1, "opSpec": opSpec(1)})
	waitApp(t, tc, "CFG-1", model.AppRunning, 1, 15*time.Second)

	iid := appInstances(t, tc, "CFG-1", "")[0].InstanceID
	cs, err := execs[0].rt.List(t.Context(), map[string]string{agent.LabelInstanceID: iid})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	cspec, err := execs[0].rt.Spec(cs[0].ID)
	require.NoError(t, err)
	require.Len(t, cspec.Files, 1)
	require.Equal(t, "/etc/app.conf", cspec.Files[0].Path)
	require.Equal(t, "fetched-by-controller", string(cspec.Files[0].Data))

	// The fetched data is not stored in the replicated state.
	r := tc.call(0, readOnly, "GET", "/apis/v1/applications/CFG-1/instances/"+iid, nil)
	requireSuccess(t, r)
	rec, ok := tc.nodes[tc.leaderIndex()].c.FSM().Instance(iid)
	require.True(t, ok)
	require.Equal(t, model.ConfigControllerHTTPFetch, rec.Spec.Configs[0].Type)
	require.Empty(t, rec.Spec.Configs[0].Data)
}
