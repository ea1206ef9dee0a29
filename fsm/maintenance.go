package fsm

import (
	"fmt"
	"sort"

	"github.com/drove-go/drove/fsm/model"
)

// applyExecutorsBlacklist blacklists (or unblacklists) executors. Unknown,
// REMOVED and gone executors land in Failed; blacklisting a blacklisted
// executor (or unblacklisting an active one) succeeds and changes nothing.
func (f *FSM) applyExecutorsBlacklist(buf []byte, blacklist bool) any {
	var req ExecutorsBlacklistRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	res := model.BlacklistResult{Successful: []string{}, Failed: []string{}}
	seen := map[string]bool{}
	for _, id := range req.ExecutorIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		old := f.st.executors[id]
		if old == nil || old.State == model.ExecutorRemoved || old.Gone {
			res.Failed = append(res.Failed, id)
			continue
		}
		res.Successful = append(res.Successful, id)
		e := *old
		switch {
		case blacklist && !old.State.IsBlacklisted():
			e.State = model.ExecutorBlacklistRequested
			f.appendExecutorEventLocked(model.EventExecutorBlacklistRequested, &e, req.Timestamp)
		case !blacklist && old.State.IsBlacklisted():
			// Blacklisting stopped its local-service instances: UNREADY
			// until they are healthy again (Drove: UNBLACKLIST → UNREADY →
			// ACTIVE).
			e.State, e.Ready = model.ExecutorActive, false
			f.appendExecutorEventLocked(model.EventExecutorUnBlacklisted, &e, req.Timestamp)
		default:
			continue
		}
		e.Updated = req.Timestamp
		f.st.executors[id] = &e
	}
	f.notifyLocked()
	return res
}

func (f *FSM) appendExecutorEventLocked(t model.EventType, e *model.ExecutorInfo, ts int64) {
	f.st.events.append(t, ts, map[string]any{
		model.MetaExecutorID: e.ExecutorID, model.MetaHostname: e.Hostname, model.MetaPort: e.Port})
}

func (f *FSM) applyExecutorBlacklisted(buf []byte) any {
	var req ExecutorIDRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.st.executors[req.ExecutorID]
	if old == nil || old.State != model.ExecutorBlacklistRequested {
		return fmt.Errorf("%w: executor %s is not BLACKLIST_REQUESTED", ErrConflict, req.ExecutorID)
	}
	e := *old
	e.State, e.Updated = model.ExecutorBlacklisted, req.Timestamp
	f.st.executors[e.ExecutorID] = &e
	f.appendExecutorEventLocked(model.EventExecutorBlacklisted, &e, req.Timestamp)
	f.notifyLocked()
	return nil
}

func (f *FSM) applyExecutorDrain(buf []byte) any {
	var req ExecutorDrainRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.st.executors[req.ExecutorID]
	switch {
	case old == nil || old.Gone:
		return fmt.Errorf("%w: No executor found with id: %s", ErrNotFound, req.ExecutorID)
	case old.Drain != nil && old.Drain.State == model.DrainDraining:
		return fmt.Errorf("%w: executor %s is already draining", ErrConflict, req.ExecutorID)
	}
	e := *old
	e.Drain = &model.DrainInfo{State: model.DrainDraining, MaxGracePeriodMs: req.MaxGracePeriodMs,
		MarkGone: req.MarkGone, Started: req.Timestamp, WasRemoved: old.State == model.ExecutorRemoved}
	e.Updated = req.Timestamp
	f.st.executors[e.ExecutorID] = &e
	f.notifyLocked()
	return nil
}

// applyExecutorDrained ends a drain: DRAINED, and with markGone the
// executor is removed for good (its instances are all terminal already).
func (f *FSM) applyExecutorDrained(buf []byte) any {
	var req ExecutorIDRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.st.executors[req.ExecutorID]
	if old == nil || old.Drain == nil || old.Drain.State != model.DrainDraining {
		return fmt.Errorf("%w: executor %s is not draining", ErrConflict, req.ExecutorID)
	}
	for _, r := range f.st.instances {
		if r.Info.ExecutorID == req.ExecutorID && !r.Info.State.IsTerminal() {
			return fmt.Errorf("%w: instance %s still runs on executor %s", ErrConflict, r.Info.InstanceID, req.ExecutorID)
		}
	}
	e := *old
	d := *old.Drain
	d.State, d.Finished = model.DrainDrained, req.Timestamp
	e.Drain, e.Updated = &d, req.Timestamp
	if d.MarkGone {
		e.Gone = true
		if e.State != model.ExecutorRemoved {
			e.PreviousState, e.State, e.Removed = e.State, model.ExecutorRemoved, req.Timestamp
			f.st.events.append(model.EventExecutorRemoved, req.Timestamp, map[string]any{model.MetaExecutorID: e.ExecutorID})
		}
	}
	f.st.executors[e.ExecutorID] = &e
	f.notifyLocked()
	return nil
}

func (f *FSM) applyExecutorActivation(buf []byte) any {
	var req ExecutorActivationRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.st.executors[req.ExecutorID]
	switch {
	case old == nil || old.Gone:
		return fmt.Errorf("%w: No executor found with id: %s", ErrNotFound, req.ExecutorID)
	case !req.Deactivate && old.Drain != nil && old.Drain.State == model.DrainDraining:
		return fmt.Errorf("%w: executor %s is draining; a drain cannot be cancelled, reactivate it once DRAINED", ErrConflict, req.ExecutorID)
	}
	e := *old
	e.Deactivated, e.Updated = req.Deactivate, req.Timestamp
	if !req.Deactivate && old.Drain != nil {
		// The drain stopped its local-service instances: UNREADY until
		// they are healthy again.
		e.Drain, e.Ready = nil, false
	}
	f.st.executors[e.ExecutorID] = &e
	f.notifyLocked()
	return nil
}

// downMachinesLocked returns the DOWN machines by key.
func (f *FSM) downMachinesLocked() map[string]model.MachineID {
	out := map[string]model.MachineID{}
	for k, m := range f.st.machines {
		if m.Mode == model.MachineDown {
			out[k] = m.ID
		}
	}
	return out
}

// applyMaintenanceSchedule replaces the schedule: every scheduled machine
// is DRAINING (DOWN ones stay DOWN), machines no longer scheduled are UP.
func (f *FSM) applyMaintenanceSchedule(buf []byte) any {
	var req MaintenanceScheduleRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if errs := model.ValidateSchedule(req.Schedule, f.downMachinesLocked()); len(errs) > 0 {
		return &ScheduleError{Errors: errs}
	}
	machines := map[string]*model.MachineStatus{}
	for _, w := range req.Schedule.Windows {
		for _, id := range w.MachineIDs {
			m := &model.MachineStatus{ID: id, Mode: model.MachineDraining, Unavailability: *w.Unavailability, Since: req.Timestamp}
			if old := f.st.machines[id.Key()]; old != nil {
				m.Mode, m.Since = old.Mode, old.Since
			}
			machines[id.Key()] = m
		}
	}
	f.st.schedule, f.st.machines = req.Schedule, machines
	f.notifyLocked()
	return nil
}

// ScheduleError lists the violations of a refused schedule or machine list.
type ScheduleError struct{ Errors []string }

func (e *ScheduleError) Error() string {
	return fmt.Sprintf("invalid maintenance request: %v", e.Errors)
}

// applyMachinesDown puts scheduled machines DOWN: their executors are
// removed (instances LOST) and refused registration until the machine is UP.
func (f *FSM) applyMachinesDown(buf []byte) any {
	var req MachinesRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := model.ValidateMachineList(req.Machines, func(m model.MachineID) string {
		if f.st.machines[m.Key()] == nil {
			return "machine " + m.String() + " is not in the maintenance schedule"
		}
		return ""
	})
	if len(errs) > 0 {
		return &ScheduleError{Errors: errs}
	}
	for _, id := range req.Machines {
		m := *f.st.machines[id.Key()]
		if m.Mode != model.MachineDown { // down again keeps when it went down
			m.Mode, m.Since = model.MachineDown, req.Timestamp
		}
		f.st.machines[id.Key()] = &m
		for _, eid := range f.executorsOnLocked(id) {
			f.loseExecutorLocked(eid, "machine "+id.String()+" is down for maintenance", req.Timestamp)
		}
	}
	f.notifyLocked()
	return nil
}

// applyMachinesUp ends maintenance on DOWN machines: they leave the
// schedule (their windows are done) and may register again.
func (f *FSM) applyMachinesUp(buf []byte) any {
	var req MachinesRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := model.ValidateMachineList(req.Machines, func(m model.MachineID) string {
		if s := f.st.machines[m.Key()]; s == nil || s.Mode != model.MachineDown {
			return "machine " + m.String() + " is not DOWN"
		}
		return ""
	})
	if len(errs) > 0 {
		return &ScheduleError{Errors: errs}
	}
	up := map[string]bool{}
	for _, id := range req.Machines {
		up[id.Key()] = true
		delete(f.st.machines, id.Key())
	}
	var windows []model.MaintenanceWindow
	for _, w := range f.st.schedule.Windows {
		var keep []model.MachineID
		for _, id := range w.MachineIDs {
			if !up[id.Key()] {
				keep = append(keep, id)
			}
		}
		if len(keep) > 0 {
			w.MachineIDs = keep
			windows = append(windows, w)
		}
	}
	f.st.schedule = model.MaintenanceSchedule{Windows: windows}
	f.notifyLocked()
	return nil
}

// executorsOnLocked returns the ids of live executors on machine m, sorted.
func (f *FSM) executorsOnLocked(m model.MachineID) []string {
	var out []string
	for id, e := range f.st.executors {
		if e.State != model.ExecutorRemoved && m.Matches(e.Hostname) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// machineDownLocked returns the DOWN machine hostname runs on, if any.
func (f *FSM) machineDownLocked(hostname string) (model.MachineID, bool) {
	for _, m := range f.st.machines {
		if m.Mode == model.MachineDown && m.ID.Matches(hostname) {
			return m.ID, true
		}
	}
	return model.MachineID{}, false
}
