package fsm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
)

func (f *FSM) applyAppCreate(buf []byte) any {
	var req AppCreateRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.App.AppID
	if id == "" {
		return errInvalid("appId is required")
	}
	if _, exists := f.st.apps[id]; exists {
		return fmt.Errorf("%w: App %s already exists", ErrConflict, id)
	}
	app := req.App
	app.Created, app.Updated = req.Timestamp, req.Timestamp
	app.Version = 1
	f.st.apps[id] = &app
	f.appendAppEventLocked(&app, req.Timestamp)
	f.notifyLocked()
	return nil
}

func (f *FSM) applyAppOperationStart(buf []byte) any {
	var req AppOperationStartRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.st.apps[req.AppID]
	if !ok {
		return fmt.Errorf("%w: App %s not found", ErrNotFound, req.AppID)
	}
	if active := old.ActiveOperation(); active != nil && !(req.Supersede && supersedable(active.Type)) {
		return fmt.Errorf("%w: operation %s (%s) is still running on app %s", ErrConflict, active.ID, active.Type, req.AppID)
	}
	if req.ExpectVersion != 0 && old.Version != req.ExpectVersion {
		return fmt.Errorf("%w: app %s changed while the operation was being prepared; retry", ErrConflict, req.AppID)
	}
	app := *old
	op := req.Op
	app.Operation, app.Instances, app.Updated = &op, req.Desired, req.Timestamp
	app.Version++
	f.st.apps[req.AppID] = &app
	f.setAppStateLocked(&app, req.State, req.Timestamp)
	f.notifyLocked()
	return nil
}

// supersedable: a new SCALE may take over from these (Drove accepts SCALE in SCALING_REQUESTED).
func supersedable(t model.OperationType) bool { return t == model.OpScale || t == model.OpRecover }

func (f *FSM) applyAppOperationStep(buf []byte) any {
	var req AppOperationStepRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := f.runningOpLocked(req.AppID, req.OpID)
	if err != nil {
		return err
	}
	if old.Operation.Steps != req.Step {
		return fmt.Errorf("%w: step %d of operation %s was planned against an outdated view (now at %d)",
			ErrConflict, req.Step, req.OpID, old.Operation.Steps)
	}
	if err := f.checkPlacementsLocked(req.Place); err != nil {
		return err
	}
	f.placeLocked(req.Place, req.Timestamp)
	f.stopLocked(req.Stop, req.Timestamp)
	f.failLocked(req.Fail, req.Timestamp)
	app := *old
	op := *old.Operation
	op.Steps++
	app.Operation, app.Updated = &op, req.Timestamp
	app.Version++
	f.st.apps[req.AppID] = &app
	if req.State != "" {
		f.setAppStateLocked(&app, req.State, req.Timestamp)
	}
	f.notifyLocked()
	return nil
}

// runningOpLocked returns the app if opID is its running operation.
func (f *FSM) runningOpLocked(appID, opID string) (*model.ApplicationInfo, error) {
	app, ok := f.st.apps[appID]
	if !ok {
		return nil, fmt.Errorf("%w: App %s not found", ErrNotFound, appID)
	}
	if op := app.ActiveOperation(); op == nil || op.ID != opID {
		return nil, fmt.Errorf("%w: operation %s is not running on app %s", ErrConflict, opID, appID)
	}
	return app, nil
}

func (f *FSM) applyAppOperationFinish(buf []byte) any {
	var req AppOperationFinishRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := f.runningOpLocked(req.AppID, req.OpID)
	if err != nil {
		return err
	}
	if old.Operation.Steps != req.Step {
		return fmt.Errorf("%w: end of operation %s was decided on an outdated view", ErrConflict, req.OpID)
	}
	f.stopLocked(req.Stop, req.Timestamp)
	f.failLocked(req.Fail, req.Timestamp)
	app := *old
	op := *old.Operation
	op.Status, op.Message, op.Finished = req.Status, req.Message, req.Timestamp
	if req.Desired != nil {
		app.Instances = *req.Desired
	}
	app.Operation, app.Updated = &op, req.Timestamp
	app.Version++
	f.st.apps[req.AppID] = &app
	f.setAppStateLocked(&app, idleState(app.Instances), req.Timestamp)
	f.notifyLocked()
	return nil
}

// idleState is an app's state with no operation running.
func idleState(desired int) model.ApplicationState {
	if desired > 0 {
		return model.AppRunning
	}
	return model.AppMonitoring
}

func (f *FSM) applyAppOperationCancel(buf []byte) any {
	var req AppOperationCancelRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.st.apps[req.AppID]
	if !ok {
		return fmt.Errorf("%w: App %s not found", ErrNotFound, req.AppID)
	}
	active := old.ActiveOperation()
	if active == nil {
		return fmt.Errorf("%w: Current operation could not be cancelled", ErrConflict)
	}
	app := *old
	op := *active
	op.CancelRequested = true
	app.Operation, app.Updated = &op, req.Timestamp
	app.Version++
	f.st.apps[req.AppID] = &app
	f.notifyLocked()
	return nil
}

func (f *FSM) applyAppDestroy(buf []byte) any {
	var req AppDestroyRequest
	decode(buf, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	app, ok := f.st.apps[req.AppID]
	if !ok {
		return fmt.Errorf("%w: App %s not found", ErrNotFound, req.AppID)
	}
	if app.State != model.AppMonitoring || app.ActiveOperation() != nil {
		return fmt.Errorf("%w: Only [DESTROY] allowed in MONITORING; app %s is in %s state", ErrConflict, req.AppID, app.State)
	}
	for id, r := range f.st.instances {
		if r.BelongsTo(model.KindApp, req.AppID) {
			if !r.Info.State.IsTerminal() {
				return fmt.Errorf("%w: app %s still has instance %s in state %s", ErrConflict, req.AppID, id, r.Info.State)
			}
		}
	}
	for id, r := range f.st.instances {
		if r.BelongsTo(model.KindApp, req.AppID) {
			delete(f.st.instances, id)
		}
	}
	gone := *app
	f.setAppStateLocked(&gone, model.AppDestroyRequested, req.Timestamp)
	f.setAppStateLocked(&gone, model.AppDestroyed, req.Timestamp)
	delete(f.st.apps, req.AppID)
	f.notifyLocked()
	return nil
}

// setAppStateLocked stores app in state st, with an event if it changed.
func (f *FSM) setAppStateLocked(app *model.ApplicationInfo, st model.ApplicationState, ts int64) {
	changed := app.State != st
	app.State, app.Updated = st, ts
	if _, stored := f.st.apps[app.AppID]; stored && st != model.AppDestroyed {
		f.st.apps[app.AppID] = app
	}
	if changed {
		f.appendAppEventLocked(app, ts)
	}
}

// appendAppEventLocked records APP_STATE_CHANGE with Drove's metadata.
func (f *FSM) appendAppEventLocked(app *model.ApplicationInfo, ts int64) {
	s := app.Spec
	ports := make([]string, 0, len(s.ExposedPorts))
	for _, p := range s.ExposedPorts {
		ports = append(ports, p.Name+":"+strconv.Itoa(p.Port)+":"+strings.ToLower(string(p.Type)))
	}
	meta := map[string]any{
		model.MetaAppID: app.AppID, model.MetaAppName: s.Name, model.MetaAppVersion: s.Version,
		model.MetaExecutable: s.Executable.URL, model.MetaCPUCount: s.Cores(), model.MetaMemory: s.MemoryMB(),
		model.MetaPorts: strings.Join(ports, ","), model.MetaCurrentInstances: app.Instances,
		model.MetaCurrentState: string(app.State),
	}
	if s.PlacementPolicy != nil {
		meta[model.MetaPlacementPolicy] = string(s.PlacementPolicy.Type)
	}
	if s.ExposureSpec != nil {
		meta[model.MetaVhost] = s.ExposureSpec.Vhost
	}
	f.st.events.append(model.EventAppStateChange, ts, meta)
}
