package fsm

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
)

func (f *FSM) applyInstancesPlace(buf []byte) any {
	var req InstancesPlaceRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkPlacementsLocked(req.Instances); err != nil {
		return err
	}
	f.placeLocked(req.Instances, req.Timestamp)
	f.notifyLocked()
	return nil
}

// checkPlacementsLocked validates a batch: all or nothing.
func (f *FSM) checkPlacementsLocked(places []PlaceInstance) error {
	seen := map[string]bool{}
	for _, p := range places {
		if p.Spec.InstanceID == "" || seen[p.Spec.InstanceID] {
			return errInvalid(fmt.Sprintf("instance id %q is empty or repeated", p.Spec.InstanceID))
		}
		seen[p.Spec.InstanceID] = true
		if _, exists := f.st.instances[p.Spec.InstanceID]; exists {
			return errInvalid(fmt.Sprintf("instance %s already exists", p.Spec.InstanceID))
		}
		e := f.st.executors[p.ExecutorID]
		if e == nil || e.State == model.ExecutorRemoved {
			return errInvalid(fmt.Sprintf("executor %s is not available", p.ExecutorID))
		}
		// The proposer read the executor as open; maintenance may have closed
		// it since (a task placed on an executor just blacklisted would stay).
		if e.State.IsBlacklisted() || e.Drain != nil || e.Deactivated {
			return fmt.Errorf("%w: %w: executor %s takes no new instances (blacklisted, draining or deactivated); place again",
				ErrConflict, ErrResourcesTaken, p.ExecutorID)
		}
	}
	return f.checkCoresFreeLocked(places)
}

// checkCoresFreeLocked refuses placements whose cores are held by an active
// instance (or by another placement of the batch): placements are computed
// from a read of the state, and two proposers (an operation step and a
// task creation) may have read the same free cores.
func (f *FSM) checkCoresFreeLocked(places []PlaceInstance) error {
	if len(places) == 0 {
		return nil
	}
	type core struct {
		exec       string
		node, core int
	}
	targets := map[string]bool{}
	for _, p := range places {
		targets[p.ExecutorID] = true
	}
	held := map[core]bool{}
	for _, r := range f.st.instances {
		if !targets[r.Info.ExecutorID] || !r.Info.State.IsActive() {
			continue
		}
		for _, a := range r.Info.Resources {
			for node, ids := range a.Cores {
				for _, c := range ids {
					held[core{r.Info.ExecutorID, node, c}] = true
				}
			}
		}
	}
	for _, p := range places {
		for _, a := range p.Spec.Resources {
			for node, ids := range a.Cores {
				for _, c := range ids {
					k := core{p.ExecutorID, node, c}
					if held[k] {
						return fmt.Errorf("%w: %w: core %d of NUMA node %d on executor %s is already allocated; retry",
							ErrConflict, ErrResourcesTaken, c, node, p.ExecutorID)
					}
					held[k] = true
				}
			}
		}
	}
	return nil
}

// placeLocked records a checked batch of instances, PENDING.
func (f *FSM) placeLocked(places []PlaceInstance, ts int64) {
	for _, p := range places {
		exec := f.st.executors[p.ExecutorID]
		meta := map[string]string{}
		for k, v := range p.Metadata {
			meta[k] = v
		}
		rec := &model.InstanceRecord{Spec: p.Spec, Info: model.InstanceInfo{
			AppID: p.Spec.AppID, AppName: p.Spec.AppName, InstanceID: p.Spec.InstanceID,
			ExecutorID: p.ExecutorID, LocalInfo: model.LocalInstanceInfo{Hostname: exec.Hostname, Ports: map[string]model.InstancePort{}},
			Resources: p.Spec.Resources, State: model.InstancePending, Metadata: meta,
			Created: ts, Updated: ts,
		}}
		f.st.instances[p.Spec.InstanceID] = rec
		f.appendInstanceEventLocked(rec, ts)
	}
}

func (f *FSM) applyInstancesStop(buf []byte) any {
	var req InstancesStopRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopLocked(req.InstanceIDs, req.Timestamp)
	f.notifyLocked()
	return nil
}

// failLocked stops instances as failed jobs, recording why (sorted for determinism).
func (f *FSM) failLocked(fail map[string]string, ts int64) {
	ids := make([]string, 0, len(fail))
	for id := range fail {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if r := f.st.instances[id]; r != nil && !r.Info.State.IsTerminal() {
			n := *r
			n.FailReason = fail[id]
			f.st.instances[id] = &n
		}
	}
	f.stopLocked(ids, ts)
}

// stopLocked marks instances to stop; one never accepted stops at once.
func (f *FSM) stopLocked(ids []string, ts int64) {
	for _, id := range ids {
		r := f.st.instances[id]
		if r == nil || r.StopRequested || r.Info.State.IsTerminal() {
			continue
		}
		// Even a PENDING instance waits for its executor: a START may
		// already be on its way, and only the executor can say it stopped.
		n := *r
		n.StopRequested = true
		f.st.instances[id] = &n
	}
}

func (f *FSM) applyInstanceReport(buf []byte) any {
	var req InstanceReportRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	applied := 0
	for _, rep := range req.Reports {
		r := f.st.instances[rep.Info.InstanceID]
		if !reportApplies(r, req.ExecutorID, rep) {
			continue
		}
		n := *r
		n.ReportBoot, n.ReportSeq = rep.Boot, rep.Seq
		if rep.Info.LocalInfo.Hostname != "" {
			n.Info.LocalInfo.Hostname = rep.Info.LocalInfo.Hostname
		}
		if rep.Info.LocalInfo.Ports != nil {
			n.Info.LocalInfo.Ports = rep.Info.LocalInfo.Ports
		}
		n.Info.ErrorMessage = rep.Info.ErrorMessage
		n.Info.Updated = req.Timestamp
		changed := n.Info.State != rep.Info.State
		n.Info.State = rep.Info.State
		if n.Kind() == model.KindTask {
			n.TaskResult = taskResultOf(r, rep.TaskResult, rep.Info.State)
		}
		f.st.instances[n.Info.InstanceID] = &n
		if changed {
			f.appendInstanceEventLocked(&n, req.Timestamp)
		}
		applied++
	}
	if applied > 0 {
		f.notifyLocked()
	}
	return applied
}

// reportApplies: the instance exists on that executor, is not final, and the
// report is newer than the last one applied.
func reportApplies(r *model.InstanceRecord, executorID string, rep model.InstanceReport) bool {
	return r != nil && r.Info.ExecutorID == executorID && !r.Info.State.IsTerminal() &&
		r.Newer(rep.Boot, rep.Seq) && rep.Info.State != ""
}

func (f *FSM) applyInstancesDelete(buf []byte) any {
	var req InstancesDeleteRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range req.InstanceIDs {
		if r := f.st.instances[id]; r != nil && r.Info.State.IsTerminal() {
			delete(f.st.instances, id)
		}
	}
	f.notifyLocked()
	return nil
}

// setInstanceStateLocked stores a copy of r in a new state, with an event.
func (f *FSM) setInstanceStateLocked(r *model.InstanceRecord, st model.InstanceState, errMsg string, ts int64) {
	n := *r
	n.Info.State, n.Info.Updated = st, ts
	if errMsg != "" {
		n.Info.ErrorMessage = errMsg
	}
	if n.Kind() == model.KindTask {
		n.TaskResult = taskResultOf(r, nil, st)
	}
	f.st.instances[n.Info.InstanceID] = &n
	f.appendInstanceEventLocked(&n, ts)
}

func (f *FSM) appendInstanceEventLocked(r *model.InstanceRecord, ts int64) {
	i := r.Info
	meta := map[string]any{
		model.MetaInstanceID: i.InstanceID, model.MetaExecutorID: i.ExecutorID,
		model.MetaExecutorHost: i.LocalInfo.Hostname, model.MetaCurrentState: string(i.State), model.MetaCreated: i.Created,
	}
	if i.ErrorMessage != "" {
		meta[model.MetaError] = i.ErrorMessage
	}
	typ := model.EventInstanceStateChange
	switch r.Kind() {
	case model.KindLocalService:
		typ = model.EventLocalServiceInstanceStateChange
		meta[model.MetaServiceID], meta[model.MetaServiceName] = i.AppID, i.AppName
		meta[model.MetaPorts] = portsString(i.LocalInfo.Ports)
	case model.KindTask:
		typ = model.EventTaskStateChange
		meta[model.MetaAppName], meta[model.MetaTaskID] = i.AppID, r.Spec.TaskID
		meta[model.MetaExecutable] = r.Spec.Executable.URL
		if res := r.TaskResult; res != nil {
			meta[model.MetaResultStatus], meta[model.MetaResultExitCode] = string(res.Status), res.ExitCode
		}
	default:
		meta[model.MetaAppID], meta[model.MetaAppName] = i.AppID, i.AppName
		meta[model.MetaPorts] = portsString(i.LocalInfo.Ports)
	}
	f.st.events.append(typ, ts, meta)
}

// portsString renders ports as Drove does: "name:hostPort:type,…", sorted by name.
func portsString(ports map[string]model.InstancePort) string {
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		p := ports[n]
		parts = append(parts, n+":"+strconv.Itoa(p.HostPort)+":"+strings.ToLower(string(p.PortType)))
	}
	return strings.Join(parts, ",")
}
