package model

import "time"

// ClusterState is the cluster-wide operating mode.
type ClusterState string

const (
	// ClusterNormal is the default mode: failures are acted upon and writes accepted.
	ClusterNormal ClusterState = "NORMAL"
	// ClusterMaintenance pauses failure handling and rejects write operations.
	ClusterMaintenance ClusterState = "MAINTENANCE"
)

// MaintenanceWindowGrace is how long after any cluster state change the
// cluster still counts as in maintenance (Drove: 2 × executor refresh interval),
// so executors have reported fresh state before monitors act again.
const MaintenanceWindowGrace = 40 * time.Second

// ClusterStateData is the replicated cluster state (Drove's ClusterStateData).
type ClusterStateData struct {
	State   ClusterState `json:"state"`
	Updated int64        `json:"updated"` // epoch milliseconds of the last change
}

// InMaintenanceWindow reports whether the cluster is in maintenance or has
// left it less than MaintenanceWindowGrace before now (Drove's isInMaintenanceWindow).
func (c ClusterStateData) InMaintenanceWindow(now time.Time) bool {
	if c.State == ClusterMaintenance {
		return true
	}
	return c.Updated > 0 && now.Sub(time.UnixMilli(c.Updated)) < MaintenanceWindowGrace
}

// ParseClusterState accepts a state name case-insensitively, as Drove's JSON mapper does.
func ParseClusterState(s string) (ClusterState, bool) {
	switch ClusterState(upper(s)) {
	case ClusterNormal:
		return ClusterNormal, true
	case ClusterMaintenance:
		return ClusterMaintenance, true
	}
	return "", false
}
