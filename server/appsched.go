package server

import (
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
)

// schedulerState builds the scheduler's read-only view from the FSM:
// executors that may take new instances now (not REMOVED, not blocked by
// maintenance) with their usage, and active instances.
func (c *Controller) schedulerState() scheduler.State {
	return schedulerStateOf(c.fsm, c.availability(time.Now()).noNew)
}

// schedulerStateOf is schedulerState with the blocked executors given.
func schedulerStateOf(f *fsm.FSM, blocked map[string]string) scheduler.State {
	usage := f.AllExecutorUsage()
	unready := f.UnreadyExecutors()
	var st scheduler.State
	for _, e := range f.Executors() {
		if _, no := blocked[e.ExecutorID]; no || e.State == model.ExecutorRemoved {
			continue
		}
		u := usage[e.ExecutorID]
		state := e.State
		if state == model.ExecutorActive && unready[e.ExecutorID] {
			state = model.ExecutorUnready
		}
		st.Executors = append(st.Executors, scheduler.ExecutorView{
			ID: e.ExecutorID, Hostname: e.Hostname, State: state, Tags: e.Tags, Metadata: e.Metadata,
			Layout: e.Layout, UsedCores: u.Cores, UsedMemory: u.Memory,
		})
	}
	for _, r := range f.Instances(func(r *model.InstanceRecord) bool { return r.Info.State.IsActive() }) {
		st.Instances = append(st.Instances, scheduler.InstanceView{
			GroupID: groupID(r.Kind(), r.Info.AppID), GroupName: r.Info.AppName, ExecutorID: r.Info.ExecutorID, State: r.Info.State})
	}
	return st
}

// placementRequest is what the scheduler needs about one instance of an app.
func placementRequest(spec model.ApplicationSpec) scheduler.Request {
	req := scheduler.Request{GroupID: groupID(model.KindApp, spec.AppID()), GroupName: spec.Name, Cores: spec.Cores(), MemoryMB: spec.MemoryMB(), Env: spec.Env}
	if spec.PlacementPolicy != nil {
		req.Policy = *spec.PlacementPolicy
	} else {
		req.Policy = model.PlacementPolicy{Type: model.PlacementAny}
	}
	return req
}

// instanceSpec is the executor's view of one instance of app on placement
// p (Drove's ApplicationInstanceSpec). Everything the executor needs to
// run, check and stop the container is copied from the app spec. Configs
// are passed as they are: CONTROLLER_HTTP_FETCH configs reach the executor
// unresolved, as the controller does not fetch them. No instance auth
// token is issued.
func instanceSpec(app model.ApplicationInfo, id string, p scheduler.Placement) model.InstanceSpec {
	s := app.Spec
	return model.InstanceSpec{
		AppID: app.AppID, AppName: s.Name, InstanceID: id, Executable: s.Executable,
		Resources: p.Resources(), Ports: s.ExposedPorts, Volumes: s.Volumes, Configs: s.Configs,
		Healthcheck: s.Healthcheck, Readiness: s.Readiness, LoggingSpec: s.Logging,
		Env: s.Env, Args: s.Args, Devices: s.Devices, PreShutdown: s.PreShutdown, UserSpec: s.UserSpec,
	}
}

// groupID is what the scheduler's per-host policies count instances by:
// an app's, a service's or a source app's tasks, each in its own namespace.
func groupID(k model.InstanceKind, id string) string {
	if k == model.KindApp {
		return id
	}
	return string(k) + "/" + id
}
