package integration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// testSpec is a valid application spec (Drove's sample app, trimmed).
func testSpec(name, version string, cores int, policy string) map[string]any {
	check := map[string]any{
		"mode": map[string]any{"type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
			"successCodes": []int{200}, "connectionTimeout": "1 second"},
		"timeout": "1 second", "interval": "5 seconds", "attempts": 3, "initialDelay": "0 seconds",
	}
	var pp map[string]any
	require.NoError(nil, json.Unmarshal([]byte(policy), &pp))
	return map[string]any{
		"name": name, "version": version, "type": "SERVICE",
		"executable":   map[string]any{"type": "DOCKER", "url": "drove/test-app:1", "dockerPullTimeout": "100 seconds"},
		"exposedPorts": []any{map[string]any{"name": "main", "port": 8000, "type": "HTTP"}},
		"resources": []any{map[string]any{"type": "CPU", "count": cores},
			map[string]any{"type": "MEMORY", "sizeInMB": 128}},
		"placementPolicy": pp,
		"healthcheck":     check, "readiness": check,
		"exposureSpec": map[string]any{"vhost": name + ".local", "portName": "main", "mode": "ALL"},
		"tags":         map[string]string{"team": "test"},
	}
}

func opSpec(parallelism int) map[string]any {
	return map[string]any{"timeout": "30 seconds", "parallelism": parallelism, "failureStrategy": "STOP"}
}

// appOp submits an application operation through node i and requires success.
func appOp(t testing.TB, tc *testCluster, i int, body map[string]any) {
	t.Helper()
	r := tc.call(i, readWrite, "POST", "/apis/v1/applications/operations", body)
	requireSuccess(t, r)
}

// appState returns an app's summary through node i.
func appSummary(t testing.TB, tc *testCluster, i int, appID string) model.AppSummary {
	t.Helper()
	r := tc.call(i, readOnly, "GET", "/apis/v1/applications/"+appID, nil)
	requireSuccess(t, r)
	var s model.AppSummary
	r.data(t, &s)
	return s
}

// waitApp polls until the app is in state st with healthy instances.
func waitApp(t testing.TB, tc *testCluster, appID string, st model.ApplicationState, healthy int, timeout time.Duration) {
	t.Helper()
	var last model.AppSummary
	require.Eventually(t, func() bool {
		r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/applications/"+appID, nil)
		if r.Env.Status != "SUCCESS" {
			return false
		}
		r.data(t, &last)
		return last.State == st && last.HealthyInstances == healthy
	}, timeout, 50*time.Millisecond, "app %s never reached %s with %d healthy (last %+v)", appID, st, healthy, last)
}

// appInstances lists an app's instances in the given states (default active).
func appInstances(t testing.TB, tc *testCluster, appID string, query string) []model.InstanceInfo {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/applications/"+appID+"/instances"+query, nil)
	requireSuccess(t, r)
	var out []model.InstanceInfo
	r.data(t, &out)
	return out
}

// clusterWithExecutors is 3 controllers and n fake executors, all ACTIVE.
func clusterWithExecutors(t *testing.T, n int, opts ...clusterOption) (*testCluster, []*testExecutor) {
	t.Helper()
	tc := newCluster(t, 3, append([]clusterOption{withExecutorTiming()}, opts...)...)
	var execs []*testExecutor
	for k := 1; k <= n; k++ {
		id := "exec-" + string(rune('0'+k))
		execs = append(execs, startExecutor(t, tc, id))
	}
	for k := 1; k <= n; k++ {
		waitExecutorState(t, tc, "exec-"+string(rune('0'+k)), model.ExecutorActive, 10*time.Second)
	}
	return tc, execs
}
