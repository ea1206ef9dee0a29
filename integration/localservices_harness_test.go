package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serviceSpec is a valid local-service spec: the app sample with type
// LOCAL_SERVICE, LOCAL placement and no exposureSpec.
func serviceSpec(name, version string, hostLevel bool) map[string]any {
	s := testSpec(name, version, 1, `{"type":"LOCAL","hostLevel":false}`)
	delete(s, "exposureSpec")
	s["type"] = "LOCAL_SERVICE"
	s["placementPolicy"] = map[string]any{"type": "LOCAL", "hostLevel": hostLevel}
	return s
}

// serviceOp submits a local-service operation through node i and returns the response.
func serviceOp(t testing.TB, tc *testCluster, i int, body map[string]any) response {
	t.Helper()
	return tc.call(i, readWrite, "POST", "/apis/v1/localservices/operations", body)
}

// serviceOpOK submits a local-service operation and requires success.
func serviceOpOK(t testing.TB, tc *testCluster, i int, body map[string]any) {
	t.Helper()
	requireSuccess(t, serviceOp(t, tc, i, body))
}

// serviceSummary reads a local service's summary through a follower.
func serviceSummary(t testing.TB, tc *testCluster, id string) (model.LocalServiceSummary, bool) {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/localservices/"+id, nil)
	if r.Env.Status != "SUCCESS" {
		return model.LocalServiceSummary{}, false
	}
	var s model.LocalServiceSummary
	r.data(t, &s)
	return s, true
}

// waitService polls until the service is in state st with healthy instances.
func waitService(t testing.TB, tc *testCluster, id string, st model.LocalServiceState, healthy int, timeout time.Duration) {
	t.Helper()
	var last model.LocalServiceSummary
	require.Eventually(t, func() bool {
		s, ok := serviceSummary(t, tc, id)
		last = s
		return ok && s.State == st && s.HealthyInstances == healthy
	}, timeout, 50*time.Millisecond, "service %s never reached %s with %d healthy (last %+v)", id, st, healthy, last)
}

// serviceInstances lists a service's instances (query: "" for active ones, or "?state=…").
func serviceInstances(t testing.TB, tc *testCluster, id, query string) []model.LocalServiceInstanceInfo {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/localservices/"+id+"/instances"+query, nil)
	requireSuccess(t, r)
	var out []model.LocalServiceInstanceInfo
	r.data(t, &out)
	return out
}

// healthyPerExecutor counts a service's HEALTHY instances per executor.
func healthyPerExecutor(t testing.TB, tc *testCluster, id string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, in := range serviceInstances(t, tc, id, "?state=HEALTHY") {
		out[in.ExecutorID]++
	}
	return out
}

// withOpParallelism sets the parallelism of operations that carry no op
// spec, among them the monitor's own ADJUST_INSTANCES.
func withOpParallelism(n int) clusterOption {
	return func(c *server.ControllerConfig) { c.ClusterOpParallelism = n }
}

// withMaintenanceGrace sets how long the maintenance window outlasts a
// cluster state change.
func withMaintenanceGrace(d time.Duration) clusterOption {
	return func(c *server.ControllerConfig) { c.MaintenanceGrace = d }
}

// requireRefused asserts Drove's 400 "Command validation failure" envelope
// with a validation error containing msg, and returns the errors.
func requireRefused(t testing.TB, r response, msg string) []string {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, r.Code, "body: %s", r.Body)
	require.Equal(t, "FAILED", r.Env.Status, "body: %s", r.Body)
	require.Equal(t, "Command validation failure", r.Env.Message, "body: %s", r.Body)
	var data struct {
		ValidationErrors []string `json:"validationErrors"`
	}
	r.data(t, &data)
	for _, e := range data.ValidationErrors {
		if strings.Contains(e, msg) {
			return data.ValidationErrors
		}
	}
	require.Failf(t, "refused for another reason", "want an error containing %q, got %q", msg, data.ValidationErrors)
	return nil
}

// serviceOpView is GET /localservices/{id}/operation.
type serviceOpView struct {
	model.OperationRecord
	ServiceState model.LocalServiceState `json:"serviceState"`
}

// serviceOperation returns the service's running or last operation (false if none).
func serviceOperation(t testing.TB, tc *testCluster, id string) (serviceOpView, bool) {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/localservices/"+id+"/operation", nil)
	if r.Env.Status != "SUCCESS" {
		return serviceOpView{}, false
	}
	var v serviceOpView
	r.data(t, &v)
	return v, true
}

// serviceSettled reports whether the service is in state st with no running
// operation and exactly n instances holding resources, all HEALTHY.
func serviceSettled(t testing.TB, tc *testCluster, id string, st model.LocalServiceState, n int) (bool, string) {
	t.Helper()
	s, ok := serviceSummary(t, tc, id)
	if !ok {
		return false, "service not found"
	}
	if s.State != st || s.HealthyInstances != n {
		return false, fmt.Sprintf("state %s, %d healthy", s.State, s.HealthyInstances)
	}
	if op, ok := serviceOperation(t, tc, id); ok && op.Status == model.OpRunning {
		return false, fmt.Sprintf("operation %s (%s) running", op.ID, op.Type)
	}
	ins := serviceInstances(t, tc, id, "")
	if len(ins) != n {
		return false, fmt.Sprintf("%d instances hold resources", len(ins))
	}
	for _, in := range ins {
		if in.State != model.InstanceHealthy {
			return false, fmt.Sprintf("instance %s is %s", in.InstanceID, in.State)
		}
	}
	return true, ""
}

// waitServiceSettled polls until serviceSettled holds.
func waitServiceSettled(t testing.TB, tc *testCluster, id string, st model.LocalServiceState, n int, timeout time.Duration) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ok, why := serviceSettled(t, tc, id, st, n)
		assert.True(c, ok, "service %s not settled in %s with %d healthy: %s", id, st, n, why)
	}, timeout, 50*time.Millisecond)
}

// cancelServiceOp asks to cancel the service's running operation.
func cancelServiceOp(t testing.TB, tc *testCluster, id string) response {
	t.Helper()
	return tc.call(tc.follower(), readWrite, "POST", "/apis/v1/localservices/operations/"+id+"/cancel", nil)
}

// serviceStates lists the CURRENT_STATE of every LOCAL_SERVICE_STATE_CHANGE
// event of the service, oldest first, as GET /cluster/events serves them,
// with the events' times (epoch ms).
func serviceStates(t testing.TB, tc *testCluster, id string) ([]model.LocalServiceState, []int64) {
	t.Helper()
	r := tc.call(tc.follower(), readOnly, "GET", "/apis/v1/cluster/events?size=100000", nil)
	requireSuccess(t, r)
	var evs []model.Event
	r.data(t, &evs)
	var states []model.LocalServiceState
	var times []int64
	for i := len(evs) - 1; i >= 0; i-- { // newest first on the wire
		e := evs[i]
		if e.Type == model.EventLocalServiceStateChange && e.Metadata[model.MetaLocalServiceID] == id {
			st, _ := e.Metadata[model.MetaCurrentState].(string)
			states, times = append(states, model.LocalServiceState(st)), append(times, e.Time)
		}
	}
	return states, times
}

// allInstanceStates is a query naming every instance state.
var allInstanceStates = func() string {
	var q []string
	for _, s := range []model.InstanceState{model.InstancePending, model.InstanceProvisioning, model.InstanceProvisioningFailed,
		model.InstanceStarting, model.InstanceStartFailed, model.InstanceUnready, model.InstanceReadinessCheckFailed,
		model.InstanceReady, model.InstanceHealthy, model.InstanceUnhealthy, model.InstanceDeprovisioning,
		model.InstanceStopping, model.InstanceStopped, model.InstanceLost, model.InstanceUnknown} {
		q = append(q, "state="+string(s))
	}
	return "?" + strings.Join(q, "&")
}()

// recordsPerExecutor counts every instance record of a service per
// executor, whatever its state (terminal ones included).
func recordsPerExecutor(t testing.TB, tc *testCluster, id string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, in := range serviceInstances(t, tc, id, allInstanceStates) {
		out[in.ExecutorID]++
	}
	return out
}

// liveServicePerExecutor counts a service's instances holding resources per executor.
func liveServicePerExecutor(t testing.TB, tc *testCluster, id string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, in := range serviceInstances(t, tc, id, "") {
		out[in.ExecutorID]++
	}
	return out
}

// setMaintenance sets (on) or unsets the cluster's maintenance mode.
func setMaintenance(t testing.TB, tc *testCluster, on bool) {
	t.Helper()
	path := "/apis/v1/cluster/maintenance/unset"
	if on {
		path = "/apis/v1/cluster/maintenance/set"
	}
	requireSuccess(t, tc.call(tc.follower(), maintUser, "POST", path, nil))
}
