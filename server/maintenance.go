package server

import (
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// Cluster maintenance mode. While the cluster is in MAINTENANCE, writes to
// applications, local services and tasks are refused with Drove's message,
// and the monitors that act on failures (outage detection, lost
// executors, local-service adjustment, migrations) do nothing, so
// controllers and executors can be restarted without a container being
// touched. After maintenance is unset writes are accepted at once (Drove
// refuses them for 40 s after either change); the monitors wait until every
// live executor has sent a full report since the unset — their view is
// then fresh — or MaintenanceGrace has passed, whichever comes first.

// inMaintenance reports whether the cluster is in MAINTENANCE.
func (c *Controller) inMaintenance() bool {
	return c.fsm.ClusterState().State == model.ClusterMaintenance
}

// maintenanceEnded is when the cluster last left maintenance (zero if it
// is in maintenance or never was).
func (c *Controller) maintenanceEnded() time.Time {
	st := c.fsm.ClusterState()
	if st.State != model.ClusterNormal || st.Updated == 0 {
		return time.Time{}
	}
	return time.UnixMilli(st.Updated)
}

// monitorsPaused reports whether the failure monitors must not act now.
func (c *Controller) monitorsPaused(now time.Time) bool {
	st := c.fsm.ClusterState()
	if st.State == model.ClusterMaintenance {
		return true
	}
	unset := time.UnixMilli(st.Updated)
	if st.Updated == 0 || now.Sub(unset) >= c.cfg.MaintenanceGrace {
		return false
	}
	for _, e := range c.fsm.Executors() {
		if e.State == model.ExecutorRemoved {
			continue
		}
		if r, ok := c.lastFullReport(e.ExecutorID); !ok || r.at.Before(unset) {
			return true
		}
	}
	return false
}

// fullReport is what the leader remembers of an executor's last full report.
type fullReport struct {
	at     time.Time
	active int // instances not yet ended on the executor
}

// noteFullReport records that this node (as leader) received a full
// report from an executor.
func (c *Controller) noteFullReport(executorID string, at time.Time, active int) {
	c.fullReports.Store(executorID, fullReport{at: at, active: active})
}

func (c *Controller) lastFullReport(executorID string) (fullReport, bool) {
	v, ok := c.fullReports.Load(executorID)
	if !ok {
		return fullReport{}, false
	}
	return v.(fullReport), true
}
