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
		if e := f.st.executors[p.ExecutorID]; e == nil || e.State == model.ExecutorRemoved {
			return errInvalid(fmt.Sprintf("executor %s is not available", p.ExecutorID))
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
	f.st.instances[n.Info.InstanceID] = &n
	f.appendInstanceEventLocked(&n, ts)
}

func (f *FSM) appendInstanceEventLocked(r *model.InstanceRecord, ts int64) {
	meta := map[string]any{
		model.MetaAppID: r.Info.AppID, model.MetaAppName: r.Info.AppName, model.MetaInstanceID: r.Info.InstanceID,
		model.MetaExecutorID: r.Info.ExecutorID, model.MetaExecutorHost: r.Info.LocalInfo.Hostname,
		model.MetaPorts: portsString(r.Info.LocalInfo.Ports), model.MetaCurrentState: string(r.Info.State),
		model.MetaCreated: r.Info.Created,
	}
	if r.Info.ErrorMessage != "" {
		meta[model.MetaError] = r.Info.ErrorMessage
	}
	f.st.events.append(model.EventInstanceStateChange, ts, meta)
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
