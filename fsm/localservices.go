package fsm

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
)

func (f *FSM) applyLocalServiceCreate(buf []byte) any {
	var req LocalServiceCreateRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.Service.ServiceID
	if id == "" {
		return errInvalid("serviceId is required")
	}
	if _, exists := f.st.services[id]; exists {
		return fmt.Errorf("%w: Local service %s already exists", ErrConflict, id)
	}
	ls := req.Service
	ls.Created, ls.Updated, ls.Version = req.Timestamp, req.Timestamp, 1
	ls.ActivationState, ls.State, ls.Operation = model.ActivationInactive, model.LSInit, nil
	f.st.services[id] = &ls
	f.appendServiceEventLocked(&ls, req.Timestamp)
	f.setServiceStateLocked(&ls, model.LSInactive, req.Timestamp)
	f.notifyLocked()
	return nil
}

// serviceForOpLocked returns the service if op is allowed in its state and
// it is still at expectVersion (when non-zero).
func (f *FSM) serviceForOpLocked(id string, op model.OperationType, expectVersion uint64) (*model.LocalServiceInfo, error) {
	ls, ok := f.st.services[id]
	if !ok {
		return nil, fmt.Errorf("%w: No state found for local service: %s", ErrNotFound, id)
	}
	if expectVersion != 0 && ls.Version != expectVersion {
		return nil, fmt.Errorf("%w: local service %s changed while the operation was being prepared; retry", ErrConflict, id)
	}
	if !model.LocalServiceOperationAllowed(ls.State, op) {
		return nil, fmt.Errorf("%w: %s", ErrConflict, LocalServiceOpRefusal(ls, op))
	}
	return ls, nil
}

// LocalServiceOpRefusal is Drove's message for an operation the service's
// state does not allow.
func LocalServiceOpRefusal(ls *model.LocalServiceInfo, op model.OperationType) string {
	allowed := model.AllowedLocalServiceOperations(ls.State)
	if len(allowed) == 0 {
		return fmt.Sprintf("No operations allowed for %s as it is in %s state", ls.ServiceID, ls.State)
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return fmt.Sprintf("Only [%s] allowed for local service %s as it is in %s state; %s is not",
		strings.Join(names, ", "), ls.ServiceID, ls.State, op)
}

func (f *FSM) applyLocalServiceSet(buf []byte) any {
	var req LocalServiceSetRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := f.serviceForOpLocked(req.ServiceID, req.Op, req.ExpectVersion)
	if err != nil {
		return err
	}
	ls := *old
	ls.Version++
	var via model.LocalServiceState
	switch req.Op {
	case model.OpActivate:
		via, ls.ActivationState = model.LSActivationRequested, model.ActivationActive
	case model.OpDeactivate, model.OpStopService:
		via, ls.ActivationState = model.LSDeactivationRequested, model.ActivationInactive
	case model.OpDeployTestInstance:
		via, ls.ActivationState = model.LSConfigTestingRequested, model.ActivationConfigTesting
	case model.OpUpdateInstanceCount:
		if ls.Spec.HostLevel() && req.InstancesPerHost != 1 {
			return errInvalid("instancesPerHost must be 1 for host level local service " + ls.ServiceID)
		}
		if req.InstancesPerHost < model.MinInstancesPerHost || req.InstancesPerHost > model.MaxInstancesPerHost {
			return errInvalid("instancesPerHost must be between 1 and 256, got " + strconv.Itoa(req.InstancesPerHost))
		}
		via, ls.InstancesPerHost = model.LSUpdatingInstancesCount, req.InstancesPerHost
	default:
		return errInvalid("operation " + string(req.Op) + " is not a state change")
	}
	f.st.services[ls.ServiceID] = &ls
	f.setServiceStateLocked(&ls, via, req.Timestamp)
	f.setServiceStateLocked(&ls, ls.ActivationState.StateOf(), req.Timestamp)
	f.notifyLocked()
	return nil
}

// lsOpStates maps an instance-changing operation to the state the service
// is in while it runs.
var lsOpStates = map[model.OperationType]model.LocalServiceState{
	model.OpAdjustInstances:  model.LSAdjustingInstances,
	model.OpReplaceInstances: model.LSReplacingInstances,
	model.OpStopInstances:    model.LSStoppingInstances,
}

func (f *FSM) applyLocalServiceOperationStart(buf []byte) any {
	var req LocalServiceOperationStartRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := lsOpStates[req.Op.Type]
	if !ok {
		return errInvalid("operation " + string(req.Op.Type) + " does not change instances")
	}
	old, err := f.serviceForOpLocked(req.ServiceID, req.Op.Type, req.ExpectVersion)
	if err != nil {
		return err
	}
	if active := old.ActiveOperation(); active != nil {
		return fmt.Errorf("%w: operation %s (%s) is still running on local service %s", ErrConflict, active.ID, active.Type, req.ServiceID)
	}
	ls := *old
	op := req.Op
	op.Status = model.OpRunning
	ls.Operation = &op
	ls.Version++
	f.st.services[ls.ServiceID] = &ls
	f.setServiceStateLocked(&ls, st, req.Timestamp)
	f.notifyLocked()
	return nil
}

// runningServiceOpLocked returns the service if opID is its running
// operation and step matches the operation's step count.
func (f *FSM) runningServiceOpLocked(id, opID string, step int) (*model.LocalServiceInfo, error) {
	ls, ok := f.st.services[id]
	if !ok {
		return nil, fmt.Errorf("%w: local service %s not found", ErrNotFound, id)
	}
	op := ls.ActiveOperation()
	if op == nil || op.ID != opID {
		return nil, fmt.Errorf("%w: operation %s is not running on local service %s", ErrConflict, opID, id)
	}
	if op.Steps != step {
		return nil, fmt.Errorf("%w: step %d of operation %s was planned against an outdated view (now at %d)",
			ErrConflict, step, opID, op.Steps)
	}
	return ls, nil
}

func (f *FSM) applyLocalServiceOperationStep(buf []byte) any {
	var req LocalServiceOperationStepRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := f.runningServiceOpLocked(req.ServiceID, req.OpID, req.Step)
	if err != nil {
		return err
	}
	if err := f.checkPlacementsLocked(req.Place); err != nil {
		return err
	}
	f.placeLocked(req.Place, req.Timestamp)
	f.stopLocked(req.Stop, req.Timestamp)
	f.failLocked(req.Fail, req.Timestamp)
	ls := *old
	op := *old.Operation
	op.Steps++
	ls.Operation, ls.Updated = &op, req.Timestamp
	ls.Version++
	f.st.services[ls.ServiceID] = &ls
	f.notifyLocked()
	return nil
}

func (f *FSM) applyLocalServiceOperationFinish(buf []byte) any {
	var req LocalServiceOperationFinishRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := f.runningServiceOpLocked(req.ServiceID, req.OpID, req.Step)
	if err != nil {
		return err
	}
	f.stopLocked(req.Stop, req.Timestamp)
	f.failLocked(req.Fail, req.Timestamp)
	ls := *old
	op := *old.Operation
	op.Status, op.Message, op.Finished = req.Status, req.Message, req.Timestamp
	ls.Operation, ls.Updated = &op, req.Timestamp
	ls.Version++
	f.st.services[ls.ServiceID] = &ls
	next := ls.ActivationState.StateOf()
	if req.Emergency && ls.ActivationState != model.ActivationInactive {
		next = model.LSEmergencyDeactivationRequested
	}
	f.setServiceStateLocked(&ls, next, req.Timestamp)
	f.notifyLocked()
	return nil
}

func (f *FSM) applyLocalServiceOperationCancel(buf []byte) any {
	var req LocalServiceOperationCancelRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.st.services[req.ServiceID]
	if !ok {
		return fmt.Errorf("%w: local service %s not found", ErrNotFound, req.ServiceID)
	}
	active := old.ActiveOperation()
	if active == nil {
		return fmt.Errorf("%w: Current operation could not be cancelled", ErrConflict)
	}
	ls := *old
	op := *active
	op.CancelRequested = true
	ls.Operation, ls.Updated = &op, req.Timestamp
	ls.Version++
	f.st.services[ls.ServiceID] = &ls
	f.notifyLocked()
	return nil
}

// applyLocalServiceDestroy destroys an INACTIVE service: at once when none
// of its instances is running, else it stops them and waits in
// DESTROY_REQUESTED for the leader to repeat the command once they ended.
func (f *FSM) applyLocalServiceDestroy(buf []byte) any {
	var req LocalServiceDestroyRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.st.services[req.ServiceID]
	if !ok {
		return fmt.Errorf("%w: No state found for local service: %s", ErrNotFound, req.ServiceID)
	}
	if old.State != model.LSDestroyRequested {
		if _, err := f.serviceForOpLocked(req.ServiceID, model.OpDestroy, req.ExpectVersion); err != nil {
			return err
		}
	}
	var live []string
	for id, r := range f.st.instances {
		if r.BelongsTo(model.KindLocalService, req.ServiceID) && !r.Info.State.IsTerminal() {
			live = append(live, id)
		}
	}
	ls := *old
	ls.Version++
	f.st.services[ls.ServiceID] = &ls
	f.setServiceStateLocked(&ls, model.LSDestroyRequested, req.Timestamp)
	if len(live) > 0 {
		sort.Strings(live)
		f.stopLocked(live, req.Timestamp)
		f.notifyLocked()
		return nil
	}
	for id, r := range f.st.instances {
		if r.BelongsTo(model.KindLocalService, req.ServiceID) {
			delete(f.st.instances, id)
		}
	}
	delete(f.st.services, ls.ServiceID)
	f.setServiceStateLocked(&ls, model.LSDestroyed, req.Timestamp)
	f.notifyLocked()
	return nil
}

// setServiceStateLocked stores ls in state st (unless it was deleted),
// with an event if the state changed.
func (f *FSM) setServiceStateLocked(ls *model.LocalServiceInfo, st model.LocalServiceState, ts int64) {
	changed := ls.State != st
	ls.State, ls.Updated = st, ts
	if _, stored := f.st.services[ls.ServiceID]; stored {
		f.st.services[ls.ServiceID] = ls
	}
	if changed {
		f.appendServiceEventLocked(ls, ts)
	}
}

// appendServiceEventLocked records LOCAL_SERVICE_STATE_CHANGE with Drove's metadata.
func (f *FSM) appendServiceEventLocked(ls *model.LocalServiceInfo, ts int64) {
	s := ls.Spec
	ports := make([]string, 0, len(s.ExposedPorts))
	for _, p := range s.ExposedPorts {
		ports = append(ports, p.Name+":"+strconv.Itoa(p.Port)+":"+strings.ToLower(string(p.Type)))
	}
	meta := map[string]any{
		model.MetaLocalServiceID: ls.ServiceID, model.MetaLocalServiceName: s.Name, model.MetaLocalServiceVersion: s.Version,
		model.MetaExecutable: s.Executable.URL, model.MetaCPUCount: s.Cores(), model.MetaMemory: s.MemoryMB(),
		model.MetaPorts: strings.Join(ports, ","), model.MetaCurrentInstancesPerHost: ls.InstancesPerHost,
		model.MetaCurrentState: string(ls.State),
	}
	if s.PlacementPolicy != nil {
		meta[model.MetaPlacementPolicy] = string(s.PlacementPolicy.Type)
	}
	f.st.events.append(model.EventLocalServiceStateChange, ts, meta)
}
