package fsm

import (
	"sort"

	"github.com/drove-go/drove/fsm/model"
)

// MaintenanceSchedule returns the current maintenance schedule.
func (f *FSM) MaintenanceSchedule() model.MaintenanceSchedule {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.schedule
}

// Machines returns every scheduled machine with its mode, sorted by key.
func (f *FSM) Machines() []model.MachineStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]model.MachineStatus, 0, len(f.st.machines))
	for _, m := range f.st.machines {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Key() < out[j].ID.Key() })
	return out
}

// MachineDown reports whether an executor registered with hostname runs on
// a machine that is DOWN for maintenance.
func (f *FSM) MachineDown(hostname string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, down := f.machineDownLocked(hostname)
	return down
}
