package fsm

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/drove-go/drove/fsm/model"
)

func (f *FSM) applyExecutorRegister(buf []byte) any {
	var req ExecutorRegisterRequest
	decode(buf, &req)
	reg := req.Registration
	if reg.ExecutorID == "" {
		return errInvalid("executorId is required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.st.executors[reg.ExecutorID]
	if err := f.registrationRefusalLocked(old, reg); err != nil {
		return err
	}
	info := &model.ExecutorInfo{
		ExecutorID: reg.ExecutorID, Hostname: reg.Hostname, Port: reg.Port, TransportType: reg.TransportType,
		Layout: reg.Layout, Tags: slices.Clone(reg.Tags), Metadata: maps.Clone(reg.Metadata),
		State: registeredState(old, reg.State), Version: reg.Version, Boot: reg.Boot,
		Registered: req.Timestamp, Updated: req.Timestamp, Joined: req.Timestamp,
	}
	if old != nil {
		info.Registered = old.Registered
		info.Drain, info.Deactivated = old.Drain, old.Deactivated
		// Readiness survives re-registration, not a return from REMOVED.
		info.Ready = old.Ready && old.State != model.ExecutorRemoved
		if old.State != model.ExecutorRemoved {
			info.Joined = old.Joined
		}
	}
	f.st.executors[reg.ExecutorID] = info
	if old == nil || old.State == model.ExecutorRemoved {
		f.st.events.append(model.EventExecutorAdded, req.Timestamp, map[string]any{
			model.MetaExecutorID: info.ExecutorID, model.MetaHostname: info.Hostname, model.MetaPort: info.Port})
	}
	f.notifyLocked()
	return *info
}

// registrationRefusalLocked refuses executors removed for good (drained
// with markGone) and executors on a machine that is DOWN for maintenance.
func (f *FSM) registrationRefusalLocked(old *model.ExecutorInfo, reg model.ExecutorRegistration) error {
	if old != nil && old.Gone {
		return fmt.Errorf("%w: executor %s was drained and marked gone; it cannot rejoin", ErrConflict, reg.ExecutorID)
	}
	if m, down := f.machineDownLocked(reg.Hostname); down {
		return fmt.Errorf("%w: machine %s is DOWN for maintenance; executor %s may register once it is UP", ErrConflict, m, reg.ExecutorID)
	}
	return nil
}

// registeredState keeps controller-owned states (blacklisting) across
// re-registration; otherwise the executor's own ACTIVE/UNREADY applies.
func registeredState(old *model.ExecutorInfo, asked model.ExecutorState) model.ExecutorState {
	if old != nil && old.State.IsBlacklisted() {
		return old.State
	}
	if old != nil && old.State == model.ExecutorRemoved && old.PreviousState.IsBlacklisted() {
		return old.PreviousState
	}
	if asked != model.ExecutorUnready {
		return model.ExecutorActive
	}
	return asked
}

func (f *FSM) applyExecutorLost(buf []byte) any {
	var req ExecutorLostRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loseExecutorLocked(req.ExecutorID, req.Reason, req.Timestamp) {
		f.notifyLocked()
	}
	return nil
}

// loseExecutorLocked marks an executor REMOVED and its instances LOST;
// false when it was unknown or REMOVED already.
func (f *FSM) loseExecutorLocked(id, reason string, ts int64) bool {
	old := f.st.executors[id]
	if old == nil || old.State == model.ExecutorRemoved {
		return false
	}
	info := *old
	info.PreviousState, info.State = old.State, model.ExecutorRemoved
	info.Removed, info.Updated = ts, ts
	if d := old.Drain; d != nil && d.State == model.DrainDraining {
		nd := *d
		nd.WasRemoved = true
		info.Drain = &nd
	}
	f.st.executors[id] = &info
	f.st.events.append(model.EventExecutorRemoved, ts, map[string]any{model.MetaExecutorID: id})
	// Map order is random: sort so every replica appends the same events in
	// the same order.
	var lost []*model.InstanceRecord
	for _, r := range f.st.instances {
		if r.Info.ExecutorID == id && !r.Info.State.IsTerminal() {
			lost = append(lost, r)
		}
	}
	sort.Slice(lost, func(i, j int) bool {
		if lost[i].Info.Created != lost[j].Info.Created {
			return lost[i].Info.Created < lost[j].Info.Created
		}
		return lost[i].Info.InstanceID < lost[j].Info.InstanceID
	})
	for _, r := range lost {
		f.setInstanceStateLocked(r, model.InstanceLost, "Executor lost: "+reason, ts)
	}
	return true
}

func (f *FSM) applyExecutorPurge(buf []byte) any {
	var req ExecutorPurgeRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range req.ExecutorIDs {
		// A gone executor stays, as the tombstone that refuses its id.
		// So does one whose drain is not over: it completes when it returns.
		if e := f.st.executors[id]; e != nil && e.State == model.ExecutorRemoved && !e.Gone && e.DrainState() != model.DrainDraining {
			delete(f.st.executors, id)
		}
	}
	f.notifyLocked()
	return nil
}

// applyExecutorsReady latches executors ready (see ExecutorInfo.Ready).
func (f *FSM) applyExecutorsReady(buf []byte) any {
	var req ExecutorsBlacklistRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range req.ExecutorIDs {
		if old := f.st.executors[id]; old != nil && !old.Ready && old.State != model.ExecutorRemoved {
			e := *old
			e.Ready = true
			f.st.executors[id] = &e
		}
	}
	f.notifyLocked()
	return nil
}
