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

// opEngine runs application operations on the leader. It keeps no state of
// its own: each step reads the replicated operation record and instance
// records, decides what to do next, and commits that as one Raft command
// (placements are committed before the dispatcher sends them). A new
// leader's engine therefore resumes every operation exactly where it was,
// and a step computed by a deposed leader is refused by the FSM.
type opEngine struct {
	c      *Controller
	logger hclog.Logger
	rng    *rand.Rand
	now    func() time.Time
}

func newOpEngine(c *Controller) *opEngine {
	return &opEngine{c: c, logger: c.logger.Named("operations"), rng: rand.New(rand.NewSource(time.Now().UnixNano())), now: time.Now}
}

func (e *opEngine) run(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		changed := e.c.fsm.Changed()
		// In maintenance operations freeze: stepping would act on failures
		// (failing instances are stopped and replaced). They resume with the
		// monitors, once the executors' reports are fresh.
		paused := e.c.monitorsPaused(e.now())
		for _, app := range e.c.fsm.Applications() {
			if paused {
				break
			}
			if op := app.ActiveOperation(); op != nil && ctx.Err() == nil {
				e.step(app, op)
			}
		}
		select {
		case <-changed:
			// Coalesce bursts of changes (every report is one): at most one
			// pass per passInterval.
			select {
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

// passInterval bounds how often the engine and the dispatcher rescan after
// state changes.
const passInterval = 25 * time.Millisecond

// stepPlan is what one step of an operation wants committed.
type stepPlan struct {
	replaces []string // one entry per instance to place: the instance it replaces, or ""
	stop     []string
	fail     map[string]string
	state    model.ApplicationState
	finish   *fsm.AppOperationFinishRequest
}

func (p stepPlan) empty() bool {
	return len(p.replaces) == 0 && len(p.stop) == 0 && len(p.fail) == 0 && p.state == "" && p.finish == nil
}

func (e *opEngine) step(app model.ApplicationInfo, op *model.OperationRecord) {
	v := classify(e.c.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindApp, app.AppID) }))
	v.resumed = e.c.maintenanceEnded()
	now := e.now()
	var plan stepPlan
	switch op.Type {
	case model.OpScale, model.OpRecover:
		plan = planScale(app, op, v, now)
	case model.OpReplaceInstances:
		plan = planReplace(op, v, now)
	case model.OpStopInstances:
		plan = planStop(app, op, v)
	default:
		plan.finish = &fsm.AppOperationFinishRequest{Status: model.OpFailed, Message: "unknown operation type " + string(op.Type)}
	}
	if err := e.commit(app, op, plan, now); err != nil && !errors.Is(err, fsm.ErrConflict) {
		e.logger.Warn("operation step failed", "app", app.AppID, "op", op.ID, "error", err)
	}
}

func (e *opEngine) commit(app model.ApplicationInfo, op *model.OperationRecord, plan stepPlan, now time.Time) error {
	if plan.finish != nil {
		f := *plan.finish
		f.AppID, f.OpID, f.Step, f.Timestamp = app.AppID, op.ID, op.Steps, now.UnixMilli()
		f.Stop, f.Fail = plan.stop, plan.fail // whatever else this pass decided still happens
		e.logger.Info("operation finished", "app", app.AppID, "op", op.ID, "type", op.Type, "status", f.Status, "message", f.Message)
		return e.apply(fsm.AppOperationFinishType, f)
	}
	if plan.empty() {
		return nil
	}
	req := fsm.AppOperationStepRequest{AppID: app.AppID, OpID: op.ID, Step: op.Steps, Stop: plan.stop, Fail: plan.fail,
		State: plan.state, Timestamp: now.UnixMilli()}
	if len(plan.replaces) > 0 {
		places, err := e.placements(app, op, plan.replaces)
		req.Place = places
		if len(places) == 0 && err != nil {
			return e.noCapacity(app, op, err, plan, now)
		}
	}
	if len(req.Place) == 0 && len(req.Stop) == 0 && len(req.Fail) == 0 && req.State == "" {
		return nil
	}
	return e.apply(fsm.AppOperationStepType, req)
}

// noCapacity ends an operation that cannot place anything and has nothing in
// flight; otherwise it waits for in-flight work (which may free resources).
func (e *opEngine) noCapacity(app model.ApplicationInfo, op *model.OperationRecord, err error, plan stepPlan, now time.Time) error {
	v := classify(e.c.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindApp, app.AppID) }))
	if len(v.starting) > 0 || len(v.stopping) > 0 || len(plan.stop) > 0 || len(plan.fail) > 0 {
		plan.replaces = nil
		return e.commit(app, op, plan, now)
	}
	return e.apply(fsm.AppOperationFinishType, fsm.AppOperationFinishRequest{AppID: app.AppID, OpID: op.ID, Step: op.Steps,
		Status: model.OpFailed, Message: "could not place instances: " + err.Error(), Timestamp: now.UnixMilli()})
}

func (e *opEngine) apply(t fsm.MessageType, payload any) error {
	cmd, err := fsm.Encode(t, payload)
	if err != nil {
		return err
	}
	_, err = e.c.node.Apply(cmd)
	return err
}

// placements asks the scheduler for one executor per entry of replaces and
// builds the instances; it returns what fits, and the error if not all did.
func (e *opEngine) placements(app model.ApplicationInfo, op *model.OperationRecord, replaces []string) ([]fsm.PlaceInstance, error) {
	sess := scheduler.NewSession(e.c.schedulerState(), e.rng)
	req := placementRequest(app.Spec)
	var out []fsm.PlaceInstance
	for _, old := range replaces {
		p, err := sess.Place(req)
		if err != nil {
			return out, err
		}
		id := "AI-" + uuid.NewString()
		meta := map[string]string{metaOperation: op.ID}
		if old != "" {
			meta[metaReplaces] = old
		}
		out = append(out, fsm.PlaceInstance{Spec: instanceSpec(app, id, p), ExecutorID: p.ExecutorID, Metadata: meta})
	}
	return out, nil
}
