package server

import (
	"testing"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// After maintenance is unset the monitors wait until every live executor
// sent a full report since the unset, or MaintenanceGrace passed; in
// maintenance they never act; writes are refused only in maintenance.
func TestMonitorsPaused_UntilFreshReports(t *testing.T) {
	h := newOpHarness(t) // executors E1 and E2
	cfg := DefaultControllerConfig()
	cfg.MaintenanceGrace = 40 * time.Second
	c := &Controller{cfg: cfg, fsm: h.f}
	t0 := h.now
	require.False(t, c.monitorsPaused(t0), "never in maintenance")

	h.apply(fsm.SetClusterStateType, fsm.SetClusterStateRequest{State: model.ClusterMaintenance, Timestamp: t0.UnixMilli()})
	require.True(t, c.inMaintenance())
	require.True(t, c.monitorsPaused(t0.Add(time.Hour)), "in maintenance, however long")

	unset := t0.Add(time.Minute)
	h.apply(fsm.SetClusterStateType, fsm.SetClusterStateRequest{State: model.ClusterNormal, Timestamp: unset.UnixMilli()})
	require.False(t, c.inMaintenance(), "writes are accepted at once")
	c.noteFullReport("E1", unset.Add(-time.Second), 0) // before the unset: stale
	require.True(t, c.monitorsPaused(unset.Add(time.Second)), "no fresh report yet")
	c.noteFullReport("E1", unset.Add(2*time.Second), 3)
	require.True(t, c.monitorsPaused(unset.Add(3*time.Second)), "E2 has not reported")
	c.noteFullReport("E2", unset.Add(4*time.Second), 1)
	require.False(t, c.monitorsPaused(unset.Add(5*time.Second)), "every executor reported afresh")

	c2 := &Controller{cfg: cfg, fsm: h.f} // a new leader has seen no report
	require.True(t, c2.monitorsPaused(unset.Add(39*time.Second)))
	require.False(t, c2.monitorsPaused(unset.Add(40*time.Second)), "the grace caps the wait")

	h.apply(fsm.ExecutorLostType, fsm.ExecutorLostRequest{ExecutorID: "E2", Reason: "test", Timestamp: unset.UnixMilli()})
	c2.noteFullReport("E1", unset.Add(time.Second), 0)
	require.False(t, c2.monitorsPaused(unset.Add(2*time.Second)), "a lost executor is not waited for")
}
