package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
)

// specOptions are the cluster's rules for specs (Drove's controller options).
func (a *api) specOptions() model.SpecOptions {
	return model.SpecOptions{AllowedMountDirs: a.c.cfg.AllowedMountDirs, DisableCmdlArgs: a.c.cfg.DisableCmdlArgs,
		EnableRawDeviceAccess: a.c.cfg.EnableRawDeviceAccess}
}

// createApp handles CREATE: a valid, new spec; with instances > 0 a scale
// operation starts in the same Raft command.
func (a *api) createApp(b appOperationBody) (any, error) {
	if b.Spec == nil {
		return nil, invalid("spec - must not be null")
	}
	errs := b.Spec.Validate(a.specOptions())
	n := 0
	if b.Instances != nil {
		n = *b.Instances
	}
	if n < 0 || n > 2048 {
		errs = append(errs, fmt.Sprintf("instances - must be between 0 and 2048, got %d", n))
	}
	s, opErrs := b.OpSpec.parse(a.c.cfg)
	errs = append(errs, opErrs...)
	if len(errs) > 0 {
		return nil, invalid(errs...)
	}
	id := b.Spec.AppID()
	if _, exists := a.fsm.Application(id); exists {
		return nil, invalid(fmt.Sprintf("App %s already exists", id))
	}
	now := time.Now()
	app := model.ApplicationInfo{AppID: id, Spec: *b.Spec, Instances: n, State: model.AppMonitoring}
	if n > 0 {
		if err := scheduler.CheckCapacity(a.c.schedulerState(), placementRequest(*b.Spec), n); err != nil {
			return nil, capacityError(err)
		}
		op := a.c.newOperation(id, model.OpScale, model.OpCreate, s, now)
		op.RequiredInstances, op.JobsTotal = n, n
		app.Operation, app.State = &op, model.AppScalingRequested
	}
	if err := a.applyCmd(fsm.AppCreateType, fsm.AppCreateRequest{App: app, Timestamp: now.UnixMilli()}); err != nil {
		return nil, err
	}
	return map[string]string{"appId": id}, nil
}

// capacityError turns the scheduler's capacity report into a 400 with
// Drove's messages.
func capacityError(err error) error {
	var ce *scheduler.CapacityError
	if errors.As(err, &ce) {
		return invalid(ce.Messages...)
	}
	return invalid(err.Error())
}
