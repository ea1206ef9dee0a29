package server

import (
	"context"
	"errors"
	"math/rand"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// serviceEngine runs local services on the leader. Like the application
// operation engine it keeps no state of its own: every pass reads the
// replicated service and instance records and commits its next step. It
// steps running operations, and otherwise acts as Drove's local-service
// monitor: a service whose instances differ from what it wants (an
// executor joined, an instance died or turned unhealthy, an executor was
// blacklisted) gets an ADJUST_INSTANCES operation; a service in
// EMERGENCY_DEACTIVATION_REQUESTED gets its DEACTIVATE; a destroy waiting
// for instances to stop is completed. In cluster maintenance nothing
// happens; after it the monitor part waits for fresh executor reports.
type serviceEngine struct {
	c       *Controller
	logger  hclog.Logger
	rng     *rand.Rand
	now     func() time.Time
	backoff time.Duration // after a failed ADJUST, before the next
}

func newServiceEngine(c *Controller) *serviceEngine {
	return &serviceEngine{c: c, logger: c.logger.Named("localservices"), now: time.Now,
		rng: rand.New(rand.NewSource(time.Now().UnixNano())), backoff: c.cfg.RecoverBackoff}
}

func (e *serviceEngine) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		changed := e.c.fsm.Changed()
		e.pass(ctx)
		select {
		case <-changed:
			select { // coalesce bursts, as the operation engine does
			case <-time.After(passInterval):
			case <-ctx.Done():
				return
			}
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (e *serviceEngine) pass(ctx context.Context) {
	if ids := e.c.fsm.ExecutorsToLatch(); len(ids) > 0 {
		if err := e.apply(fsm.ExecutorsReadyType, fsm.ExecutorsBlacklistRequest{ExecutorIDs: ids, Timestamp: e.now().UnixMilli()}); err != nil {
			e.logger.Warn("recording executors ready failed", "error", err)
		}
	}
	services := e.c.fsm.LocalServices()
	if len(services) == 0 {
		return
	}
	now := e.now()
	// In maintenance operations freeze too (a step acts on failures); they
	// resume with the monitors, once the executors' reports are fresh.
	maintenance := e.c.monitorsPaused(now)
	hosts := hostsFor(e.c.fsm.Executors(), e.c.availability(now))
	for _, ls := range services {
		if ctx.Err() != nil {
			return
		}
		v := classify(e.c.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindLocalService, ls.ServiceID) }))
		v.resumed = e.c.maintenanceEnded()
		var err error
		switch op := ls.ActiveOperation(); {
		case maintenance:
		case op != nil:
			err = e.step(ls, op, targetOf(ls, hosts, v, e.pick), v, now)
		case ls.State == model.LSEmergencyDeactivationRequested:
			e.logger.Warn("emergency deactivation", "service", ls.ServiceID)
			err = e.apply(fsm.LocalServiceSetType, fsm.LocalServiceSetRequest{ServiceID: ls.ServiceID, Op: model.OpDeactivate,
				ExpectVersion: ls.Version, Timestamp: now.UnixMilli()})
		case ls.State == model.LSDestroyRequested:
			if len(v.live)+len(v.stopping) == 0 {
				err = e.apply(fsm.LocalServiceDestroyType, fsm.LocalServiceDestroyRequest{ServiceID: ls.ServiceID, Timestamp: now.UnixMilli()})
			}
		case e.needsAdjust(ls, targetOf(ls, hosts, v, e.pick), v, now):
			op := e.c.newOperation(ls.ServiceID, model.OpAdjustInstances, model.OpAdjustInstances, defaultOpSpec(e.c.cfg), now)
			err = e.apply(fsm.LocalServiceOperationStartType, fsm.LocalServiceOperationStartRequest{ServiceID: ls.ServiceID,
				Op: op, ExpectVersion: ls.Version, Timestamp: now.UnixMilli()})
		}
		if err != nil && !errors.Is(err, fsm.ErrConflict) {
			e.logger.Warn("local service step failed", "service", ls.ServiceID, "error", err)
		}
	}
}

// needsAdjust: a steady service whose instances differ from its target,
// unless its last adjust failed within the backoff.
func (e *serviceEngine) needsAdjust(ls model.LocalServiceInfo, t serviceTarget, v appInstances, now time.Time) bool {
	switch ls.State {
	case model.LSActive, model.LSConfigTesting, model.LSInactive:
	default:
		return false
	}
	if len(v.stopping) > 0 || serviceConverged(t, v) {
		return false
	}
	last := ls.Operation
	return last == nil || last.Status != model.OpFailed || now.Sub(time.UnixMilli(last.Finished)) >= e.backoff
}

func (e *serviceEngine) pick(ids []string) string { return ids[e.rng.Intn(len(ids))] }

func (e *serviceEngine) step(ls model.LocalServiceInfo, op *model.OperationRecord, t serviceTarget, v appInstances, now time.Time) error {
	var plan servicePlan
	switch op.Type {
	case model.OpAdjustInstances:
		plan = planAdjust(op, t, v, ls.Spec.HostLevel(), now)
	case model.OpReplaceInstances:
		plan = planServiceReplace(op, v, now)
	case model.OpStopInstances:
		plan = planServiceStop(op, v)
	default:
		plan.finish = &serviceFinish{status: model.OpFailed, message: "unknown operation type " + string(op.Type)}
	}
	if plan.finish != nil {
		f := plan.finish
		e.logger.Info("operation finished", "service", ls.ServiceID, "op", op.ID, "type", op.Type, "status", f.status, "message", f.message)
		return e.apply(fsm.LocalServiceOperationFinishType, fsm.LocalServiceOperationFinishRequest{ServiceID: ls.ServiceID,
			OpID: op.ID, Step: op.Steps, Status: f.status, Message: f.message, Emergency: f.emergency,
			Stop: plan.stop, Fail: plan.fail, Timestamp: now.UnixMilli()})
	}
	if plan.empty() {
		return nil
	}
	req := fsm.LocalServiceOperationStepRequest{ServiceID: ls.ServiceID, OpID: op.ID, Step: op.Steps,
		Stop: plan.stop, Fail: plan.fail, Timestamp: now.UnixMilli()}
	places, err := e.placements(ls, op, plan)
	req.Place = places
	if err != nil && len(places) == 0 && len(v.starting)+len(v.stopping)+len(req.Stop)+len(req.Fail) == 0 {
		return e.apply(fsm.LocalServiceOperationFinishType, fsm.LocalServiceOperationFinishRequest{ServiceID: ls.ServiceID,
			OpID: op.ID, Step: op.Steps, Status: model.OpFailed, Message: "could not place instances: " + err.Error(),
			Timestamp: now.UnixMilli()})
	}
	if len(req.Place)+len(req.Stop)+len(req.Fail) == 0 {
		return nil
	}
	return e.apply(fsm.LocalServiceOperationStepType, req)
}

// placements places each planned instance on its executor: one scheduling
// session per executor over a state holding only that executor, which pins
// the instance there (Drove pins with an implicit MATCH_TAG(hostname)).
// It returns what fits, and the last error if not all did.
func (e *serviceEngine) placements(ls model.LocalServiceInfo, op *model.OperationRecord, plan servicePlan) ([]fsm.PlaceInstance, error) {
	if len(plan.placeOn) == 0 {
		return nil, nil
	}
	st := e.c.schedulerState()
	sessions := map[string]*scheduler.Session{}
	req := serviceRequest(ls.Spec)
	var out []fsm.PlaceInstance
	var lastErr error
	for i, exec := range plan.placeOn {
		sess, ok := sessions[exec]
		if !ok {
			sess = scheduler.NewSession(onlyExecutor(st, exec), nil)
			sessions[exec] = sess
		}
		p, err := sess.Place(req)
		if err != nil {
			lastErr = err
			continue
		}
		id := "SI-" + uuid.NewString()
		meta := map[string]string{metaOperation: op.ID}
		if old := plan.replaces[i]; old != "" {
			meta[metaReplaces] = old
		}
		out = append(out, fsm.PlaceInstance{Spec: serviceInstanceSpec(ls, id, p), ExecutorID: p.ExecutorID, Metadata: meta})
	}
	return out, lastErr
}

func (e *serviceEngine) apply(t fsm.MessageType, payload any) error {
	cmd, err := fsm.Encode(t, payload)
	if err != nil {
		return err
	}
	_, err = e.c.node.Apply(cmd)
	return err
}

// onlyExecutor restricts a scheduler state to one executor.
func onlyExecutor(st scheduler.State, id string) scheduler.State {
	var out scheduler.State
	for _, ev := range st.Executors {
		if ev.ID == id {
			out.Executors = append(out.Executors, ev)
		}
	}
	for _, in := range st.Instances {
		if in.ExecutorID == id {
			out.Instances = append(out.Instances, in)
		}
	}
	return out
}

// serviceRequest is what the scheduler needs about one local-service
// instance: LOCAL matches every executor, UNREADY ones included.
func serviceRequest(spec model.LocalServiceSpec) scheduler.Request {
	return scheduler.Request{GroupID: groupID(model.KindLocalService, spec.ServiceID()), GroupName: spec.Name,
		Cores: spec.Cores(), MemoryMB: spec.MemoryMB(), Env: spec.Env,
		Policy: model.PlacementPolicy{Type: model.PlacementLocal}, ExplicitPolicy: true,
		AllowedStates: []model.ExecutorState{model.ExecutorActive, model.ExecutorUnready}}
}

// serviceInstanceSpec is the executor's view of one local-service instance
// (Drove's LocalServiceInstanceSpec).
func serviceInstanceSpec(ls model.LocalServiceInfo, id string, p scheduler.Placement) model.InstanceSpec {
	s := ls.Spec
	return model.InstanceSpec{
		Kind: model.KindLocalService, AppID: ls.ServiceID, AppName: s.Name, InstanceID: id, Executable: s.Executable,
		Resources: p.Resources(), Ports: s.ExposedPorts, Volumes: s.Volumes, Configs: s.Configs,
		Healthcheck: s.Healthcheck, Readiness: s.Readiness, LoggingSpec: s.Logging,
		Env: s.Env, Args: s.Args, Devices: s.Devices, PreShutdown: s.PreShutdown, UserSpec: s.UserSpec,
		HostLevel: s.HostLevel(),
	}
}
