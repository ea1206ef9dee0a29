package integration

import (
	"testing"
	"time"

	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/require"
)

type opView struct {
	model.OperationRecord
	AppState model.ApplicationState `json:"appState"`
}

func getOp(t testing.TB, tc *testCluster, appID string) opView {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/applications/"+appID+"/operation", nil)
	requireSuccess(t, r)
	var v opView
	r.data(t, &v)
	return v
}

func TestApps_CancelMidReplaceAndSecondOperationRejected(t *testing.T) {
	tc := newCluster(t, 3, withExecutorTiming())
	for _, id := range []string{"exec-1", "exec-2"} {
		startExecutorWith(t, tc, id, fakeruntime.Config{StartDelay: 700 * time.Millisecond})
		waitExecutorState(t, tc, id, model.ExecutorActive, 10*time.Second)
	}
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": testSpec("SLOW", "1", 1, `{"type":"ANY"}`),
		"instances": 4, "opSpec": opSpec(4)})
	waitApp(t, tc, "SLOW-1", model.AppRunning, 4, 20*time.Second)
	require.Equal(t, model.OpCompleted, getOp(t, tc, "SLOW-1").Status)

	appOp(t, tc, 1, map[string]any{"type": "REPLACE_INSTANCES", "appId": "SLOW-1", "opSpec": opSpec(1)})
	op := getOp(t, tc, "SLOW-1")
	require.Equal(t, model.OpRunning, op.Status)
	require.Equal(t, model.OpReplaceInstances, op.Type)
	require.Equal(t, 4, op.JobsTotal)

	// A second operation while one runs is refused, naming the running one.
	r := tc.call(2, readWrite, "POST", "/apis/v1/applications/operations",
		map[string]any{"type": "SCALE", "appId": "SLOW-1", "requiredInstances": 1, "opSpec": opSpec(1)})
	require.Equal(t, 400, r.Code, "body: %s", r.Body)
	require.Contains(t, string(r.Body), op.ID)

	r = tc.call(2, readWrite, "POST", "/apis/v1/applications/operations/SLOW-1/cancel", nil)
	requireSuccess(t, r)
	waitApp(t, tc, "SLOW-1", model.AppRunning, 4, 20*time.Second)
	done := getOp(t, tc, "SLOW-1")
	require.Equal(t, model.OpCancelled, done.Status, "message: %s", done.Message)
	require.Less(t, done.JobsDone, 4, "cancelled before every instance was replaced")
	require.Len(t, appInstances(t, tc, "SLOW-1", ""), 4, "no instance lost or left over")

	// Cancelling with nothing running is Drove's 400.
	r = tc.call(0, readWrite, "POST", "/apis/v1/operations/SLOW-1/cancel", nil)
	require.Equal(t, 400, r.Code)
	require.Equal(t, "Current operation could not be cancelled", r.Env.Message)
}

func TestApps_MaintenanceBlocksWritesAndRecovery(t *testing.T) {
	tc, execs := clusterWithExecutors(t, 2, withFastOutage(), func(c *server.ControllerConfig) { c.MaintenanceGrace = time.Second })
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": testSpec("M", "1", 1, `{"type":"ONE_PER_HOST"}`),
		"instances": 1, "opSpec": opSpec(1)})
	waitApp(t, tc, "M-1", model.AppRunning, 1, 15*time.Second)

	requireSuccess(t, tc.call(0, maintUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	r := tc.call(1, readWrite, "POST", "/apis/v1/applications/operations",
		map[string]any{"type": "SCALE", "appId": "M-1", "requiredInstances": 2, "opSpec": opSpec(1)})
	require.Equal(t, 400, r.Code)
	require.Contains(t, string(r.Body), "Cluster is in maintenance mode")

	// The instance's executor dies: in maintenance it is not even marked
	// lost (executors restart during upgrades), and nothing is replaced.
	host := appInstances(t, tc, "M-1", "")[0].ExecutorID
	for _, e := range execs {
		if e.cfg.ExecutorID == host {
			e.kill()
		}
	}
	require.Never(t, func() bool {
		return executors(t, tc, 0)[host].State == model.ExecutorRemoved || appSummary(t, tc, 0, "M-1").HealthyInstances != 1 ||
			appSummary(t, tc, 0, "M-1").State != model.AppRunning
	}, 4*time.Second, 100*time.Millisecond, "no outage handling in maintenance")

	// Unset: writes are accepted at once; the monitors act once the live
	// executors reported afresh (or MaintenanceGrace passed): the dead one
	// is marked lost and the app recovers on the other.
	requireSuccess(t, tc.call(0, maintUser, "POST", "/apis/v1/cluster/maintenance/unset", nil))
	appOp(t, tc, 1, map[string]any{"type": "SCALE", "appId": "M-1", "requiredInstances": 1, "opSpec": opSpec(1)})
	waitExecutorState(t, tc, host, model.ExecutorRemoved, 10*time.Second)
	waitApp(t, tc, "M-1", model.AppRunning, 1, 20*time.Second)
}

func TestApps_ReadAPIsAndEvents(t *testing.T) {
	tc, _ := clusterWithExecutors(t, 2)
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": testSpec("READ", "2", 2, `{"type":"ANY"}`),
		"instances": 2, "opSpec": opSpec(2)})
	waitApp(t, tc, "READ-2", model.AppRunning, 2, 15*time.Second)

	r := tc.call(1, readOnly, "GET", "/apis/v1/applications", nil)
	requireSuccess(t, r)
	var all map[string]model.AppSummary
	r.data(t, &all)
	s := all["READ-2"]
	require.Equal(t, "READ", s.Name)
	require.Equal(t, 4, s.TotalCPUs)
	require.EqualValues(t, 256, s.TotalMemory)
	require.Equal(t, "test", s.Tags["team"])

	r = tc.call(1, readOnly, "GET", "/apis/v1/applications/READ-2/spec", nil)
	requireSuccess(t, r)
	require.Contains(t, string(r.Env.Data), `"dockerPullTimeout":"100 seconds"`)

	ins := appInstances(t, tc, "READ-2", "")
	require.Len(t, ins, 2)
	r = tc.call(1, readOnly, "GET", "/apis/v1/applications/READ-2/instances/"+ins[0].InstanceID, nil)
	requireSuccess(t, r)
	require.Len(t, appInstances(t, tc, "READ-2", "?state=STOPPED"), 0)
	r = tc.call(1, readOnly, "GET", "/apis/v1/applications/READ-2/instances/AI-nope", nil)
	require.Equal(t, "No such application instance READ-2/AI-nope", r.Env.Message)

	r = tc.call(1, readOnly, "GET", "/apis/v1/endpoints?app=READ", nil)
	requireSuccess(t, r)
	require.Contains(t, string(r.Env.Data), `"vhost":"READ.local"`)

	r = tc.call(1, readOnly, "GET", "/apis/v1/cluster/events/summary", nil)
	var sum model.EventsSummary
	r.data(t, &sum)
	require.GreaterOrEqual(t, sum.EventsCount[model.EventAppStateChange], 2, "MONITORING/SCALING_REQUESTED and RUNNING")
	require.GreaterOrEqual(t, sum.EventsCount[model.EventInstanceStateChange], 2)

	r = tc.call(1, readOnly, "POST", "/apis/v1/applications/validate/spec", testSpec("bad name!", "1", 1, `{"type":"ANY"}`))
	require.Equal(t, 400, r.Code)
	require.Contains(t, string(r.Body), "spec.name")
	r = tc.call(1, readOnly, "POST", "/apis/v1/applications/validate/spec", testSpec("GOOD", "1", 1, `{"type":"ANY"}`))
	requireSuccess(t, r)

	// Asking for more than the cluster has gives Drove's capacity messages.
	r = tc.call(0, readWrite, "POST", "/apis/v1/applications/operations",
		map[string]any{"type": "SCALE", "appId": "READ-2", "requiredInstances": 50, "opSpec": opSpec(1)})
	require.Equal(t, 400, r.Code)
	require.Contains(t, string(r.Body), "Cluster does not have enough CPU")
}
