package fsm

import (
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
	info := &model.ExecutorInfo{
		ExecutorID: reg.ExecutorID, Hostname: reg.Hostname, Port: reg.Port, TransportType: reg.TransportType,
		Layout: reg.Layout, Tags: slices.Clone(reg.Tags), Metadata: maps.Clone(reg.Metadata),
		State: registeredState(old, reg.State), Version: reg.Version,
		Registered: req.Timestamp, Updated: req.Timestamp,
	}
	if old != nil {
		info.Registered = old.Registered
	}
	f.st.executors[reg.ExecutorID] = info
	if old == nil || old.State == model.ExecutorRemoved {
		f.st.events.append(model.EventExecutorAdded, req.Timestamp, map[string]any{
			model.MetaExecutorID: info.ExecutorID, model.MetaHostname: info.Hostname, model.MetaPort: info.Port})
	}
	f.notifyLocked()
	return *info
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
	old := f.st.executors[req.ExecutorID]
	if old == nil || old.State == model.ExecutorRemoved {
		return nil
	}
	info := *old
	info.PreviousState, info.State = old.State, model.ExecutorRemoved
	info.Removed, info.Updated = req.Timestamp, req.Timestamp
	f.st.executors[req.ExecutorID] = &info
	f.st.events.append(model.EventExecutorRemoved, req.Timestamp, map[string]any{model.MetaExecutorID: req.ExecutorID})
	// Map order is random: sort so every replica appends the same events in
	// the same order.
	var lost []*model.InstanceRecord
	for _, r := range f.st.instances {
		if r.Info.ExecutorID == req.ExecutorID && !r.Info.State.IsTerminal() {
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
		f.setInstanceStateLocked(r, model.InstanceLost, "Executor lost: "+req.Reason, req.Timestamp)
	}
	f.notifyLocked()
	return nil
}

func (f *FSM) applyExecutorPurge(buf []byte) any {
	var req ExecutorPurgeRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range req.ExecutorIDs {
		if e := f.st.executors[id]; e != nil && e.State == model.ExecutorRemoved {
			delete(f.st.executors, id)
		}
	}
	f.notifyLocked()
	return nil
}
