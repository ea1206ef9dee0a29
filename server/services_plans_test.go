package server

import (
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// lsRec is a local-service instance record on exec in state st.
func lsRec(id, exec string, st model.InstanceState, created int64) model.InstanceRecord {
	return model.InstanceRecord{Spec: model.InstanceSpec{Kind: model.KindLocalService, AppID: "S-1", InstanceID: id, Executable: quickPull},
		Info: model.InstanceInfo{AppID: "S-1", InstanceID: id, ExecutorID: exec, State: st, Created: created,
			Metadata: map[string]string{}}}
}

func lsOp(par int, now time.Time) *model.OperationRecord {
	return &model.OperationRecord{ID: "OP-1", Type: model.OpAdjustInstances, TimeoutMs: 60_000, Parallelism: par,
		Status: model.OpRunning, Started: now.UnixMilli()}
}

func TestTargetOf(t *testing.T) {
	eligible := serviceHosts{eligible: map[string]bool{"E1": true, "E2": true, "E3": true}, keep: map[string]bool{"E4": true}}
	first := func(ids []string) string { return ids[0] }
	active := model.LocalServiceInfo{ActivationState: model.ActivationActive, InstancesPerHost: 2}
	require.Equal(t, map[string]int{"E1": 2, "E2": 2, "E3": 2}, targetOf(active, eligible, classify(nil), first).want)
	onKeep := classify([]model.InstanceRecord{lsRec("SI-1", "E4", model.InstanceHealthy, 1), lsRec("SI-2", "E4", model.InstanceHealthy, 2),
		lsRec("SI-3", "E4", model.InstanceHealthy, 3)})
	require.Equal(t, map[string]int{"E1": 2, "E2": 2, "E3": 2, "E4": 2}, targetOf(active, eligible, onKeep, first).want,
		"a keep executor keeps what runs, up to instancesPerHost")

	conftest := model.LocalServiceInfo{ActivationState: model.ActivationConfigTesting, InstancesPerHost: 3}
	require.Equal(t, map[string]int{"E1": 1}, targetOf(conftest, eligible, classify(nil), first).want, "one instance, picked")
	running := classify([]model.InstanceRecord{lsRec("SI-1", "E3", model.InstanceHealthy, 1)})
	require.Equal(t, map[string]int{"E3": 1}, targetOf(conftest, eligible, running, first).want, "kept where it runs")
	gone := classify([]model.InstanceRecord{lsRec("SI-1", "E9", model.InstanceHealthy, 1)})
	require.Equal(t, map[string]int{"E1": 1}, targetOf(conftest, eligible, gone, first).want, "not on an ineligible executor")

	inactive := model.LocalServiceInfo{ActivationState: model.ActivationInactive, InstancesPerHost: 1}
	require.Empty(t, targetOf(inactive, eligible, classify(nil), first).want)
}

func TestPlanAdjust(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	target := serviceTarget{want: map[string]int{"E1": 1, "E2": 2}, eligible: map[string]bool{"E1": true, "E2": true}}

	t.Run("places what is missing within parallelism", func(t *testing.T) {
		p := planAdjust(lsOp(2, now), target, classify(nil), false, now)
		require.Equal(t, []string{"E1", "E2"}, p.placeOn, "3 missing, 2 at a time, executors in order")
		require.Nil(t, p.finish)
	})
	t.Run("stops excess and instances on ineligible executors", func(t *testing.T) {
		v := classify([]model.InstanceRecord{
			lsRec("a", "E1", model.InstanceHealthy, 1), lsRec("b", "E1", model.InstanceHealthy, 2),
			lsRec("c", "E1", model.InstanceReady, 3), // not healthy: stopped first
			lsRec("d", "E2", model.InstanceHealthy, 1), lsRec("e", "E2", model.InstanceHealthy, 2),
			lsRec("x", "E9", model.InstanceHealthy, 1), // blacklisted or removed executor
		})
		p := planAdjust(lsOp(10, now), target, v, false, now)
		require.ElementsMatch(t, []string{"c", "b", "x"}, p.stop)
		require.Empty(t, p.placeOn)
	})
	t.Run("completes when converged and healthy", func(t *testing.T) {
		v := classify([]model.InstanceRecord{lsRec("a", "E1", model.InstanceHealthy, 1),
			lsRec("d", "E2", model.InstanceHealthy, 1), lsRec("e", "E2", model.InstanceHealthy, 2)})
		require.True(t, serviceConverged(target, v))
		p := planAdjust(lsOp(1, now), target, v, false, now)
		require.Equal(t, model.OpCompleted, p.finish.status)
	})
	t.Run("waits for starting instances", func(t *testing.T) {
		v := classify([]model.InstanceRecord{lsRec("a", "E1", model.InstanceStarting, now.UnixMilli()),
			lsRec("d", "E2", model.InstanceHealthy, 1), lsRec("e", "E2", model.InstanceHealthy, 2)})
		require.False(t, serviceConverged(target, v))
		p := planAdjust(lsOp(1, now), target, v, false, now)
		require.True(t, p.empty(), "nothing to do but wait")
	})
	t.Run("replaces unhealthy instances", func(t *testing.T) {
		v := classify([]model.InstanceRecord{lsRec("a", "E1", model.InstanceUnhealthy, 1),
			lsRec("d", "E2", model.InstanceHealthy, 1), lsRec("e", "E2", model.InstanceHealthy, 2)})
		p := planAdjust(lsOp(2, now), target, v, false, now)
		require.Contains(t, p.fail, "a")
		require.Equal(t, []string{"E1"}, p.placeOn, "replacement placed at once")
		hl := planAdjust(lsOp(2, now), target, v, true, now)
		require.Contains(t, hl.fail, "a")
		require.Empty(t, hl.placeOn, "host level: not while the old one holds the ports")
	})
	t.Run("cancel ends with emergency once nothing is in flight", func(t *testing.T) {
		op := lsOp(1, now)
		op.CancelRequested = true
		busy := classify([]model.InstanceRecord{lsRec("a", "E1", model.InstanceStarting, now.UnixMilli())})
		require.Nil(t, planAdjust(op, target, busy, false, now).finish)
		p := planAdjust(op, target, classify(nil), false, now)
		require.Equal(t, &serviceFinish{status: model.OpCancelled, message: "cancelled", emergency: true}, p.finish)
		require.Empty(t, p.placeOn)
	})
}
