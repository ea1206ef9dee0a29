package server

import (
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// availability says, per executor, what maintenance allows there. An
// executor absent from every map is fully available.
type availability struct {
	noNew     map[string]string // no new instances of any kind, with the reason
	evictApps map[string]bool   // application instances are migrated away, new first
	evictLS   map[string]bool   // local-service instances are stopped
	drain     map[string]bool   // everything is stopped, tasks included
}

// availability classifies the executors: blacklisted ones take nothing
// and lose their application (migrated) and local-service instances;
// draining ones lose everything; deactivated and drained ones take nothing
// but keep what runs; executors on a machine scheduled for maintenance take
// nothing and have their applications migrated from MaintenanceLeadTime
// before the window opens.
func (c *Controller) availability(now time.Time) availability {
	av := availability{noNew: map[string]string{}, evictApps: map[string]bool{}, evictLS: map[string]bool{}, drain: map[string]bool{}}
	machines := c.fsm.Machines()
	for _, e := range c.fsm.Executors() {
		if e.State == model.ExecutorRemoved {
			continue
		}
		id := e.ExecutorID
		switch { // a drain wins over blacklisting: it stops tasks too
		case e.DrainState() == model.DrainDraining:
			av.noNew[id], av.evictApps[id], av.evictLS[id], av.drain[id] = "draining", true, true, true
		case e.State.IsBlacklisted():
			av.noNew[id], av.evictApps[id], av.evictLS[id] = "blacklisted", true, true
		case e.DrainState() == model.DrainDrained:
			av.noNew[id] = "drained"
		case e.Deactivated:
			av.noNew[id] = "deactivated"
		}
		for _, m := range machines {
			if !m.ID.Matches(e.Hostname) || m.Mode == model.MachineUp {
				continue
			}
			if m.Mode == model.MachineDown || !now.Before(m.Unavailability.StartTime().Add(-c.cfg.MaintenanceLeadTime)) {
				if _, blocked := av.noNew[id]; !blocked {
					av.noNew[id] = "machine " + m.ID.String() + " is scheduled for maintenance"
				}
				av.evictApps[id] = true
			}
		}
	}
	return av
}
