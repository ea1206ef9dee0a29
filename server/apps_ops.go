package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
	"github.com/gorilla/mux"
)

// appOperationBody is Drove's ApplicationOperation: one JSON shape for every
// type, with the fields each type uses.
type appOperationBody struct {
	Type              string                 `json:"type"`
	AppID             string                 `json:"appId"`
	Spec              *model.ApplicationSpec `json:"spec"`
	Instances         *int                   `json:"instances"`
	RequiredInstances *int                   `json:"requiredInstances"`
	InstanceIDs       []string               `json:"instanceIds"`
	SkipRespawn       bool                   `json:"skipRespawn"`
	StopFirst         bool                   `json:"stopFirst"`
	OpSpec            *opSpecBody            `json:"opSpec"`
}

// opSpecBody is Drove's ClusterOpSpec.
type opSpecBody struct {
	Timeout         *model.Duration `json:"timeout"`
	Parallelism     *int            `json:"parallelism"`
	FailureStrategy string          `json:"failureStrategy"`
}

// parse validates an opSpec (required, as in Drove) and fills defaults.
func (b *opSpecBody) parse(cfg ControllerConfig) (opSpec, []string) {
	if b == nil {
		return opSpec{}, []string{"opSpec - must not be null"}
	}
	s := defaultOpSpec(cfg)
	var errs []string
	if b.Timeout == nil || b.Timeout.D() <= 0 {
		errs = append(errs, "opSpec.timeout - must not be null or zero")
	} else {
		s.Timeout = b.Timeout.D()
	}
	if b.Parallelism != nil {
		if *b.Parallelism < 1 || *b.Parallelism > 512 {
			errs = append(errs, fmt.Sprintf("opSpec.parallelism - must be between 1 and 512, got %d", *b.Parallelism))
		}
		s.Parallelism = *b.Parallelism
	}
	switch model.FailureStrategy(strings.ToUpper(b.FailureStrategy)) {
	case "", model.FailureStop:
	case model.FailureRollback:
		s.FailureStrategy = model.FailureRollback
	default:
		errs = append(errs, fmt.Sprintf("opSpec.failureStrategy - must be STOP or ROLLBACK, got %q", b.FailureStrategy))
	}
	return s, errs
}

// submitOperation is POST /applications/operations (and /operations).
// The operation is committed to Raft before the API answers.
func (a *api) submitOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body appOperationBody
	if err := decodeJSON(r, &body, false); err != nil {
		return nil, err
	}
	body.Type = strings.ToUpper(strings.TrimSpace(body.Type))
	if a.c.inMaintenance() {
		return nil, invalid("Cluster is in maintenance mode")
	}
	if body.Type == string(model.OpCreate) {
		return a.createApp(body)
	}
	if body.AppID == "" {
		return nil, invalid("no app id found in operation")
	}
	app, ok := a.fsm.Application(body.AppID)
	if !ok {
		return nil, invalid("No state found for app: " + body.AppID)
	}
	t := model.OperationType(body.Type)
	if err := checkAllowed(app, t); err != nil {
		return nil, err
	}
	if t == model.OpDestroy {
		return map[string]string{"appId": app.AppID}, a.applyCmd(fsm.AppDestroyType, fsm.AppDestroyRequest{AppID: app.AppID, Timestamp: time.Now().UnixMilli()})
	}
	start, err := a.planOperation(app, t, body)
	if err != nil {
		return nil, err
	}
	if err := a.applyCmd(fsm.AppOperationStartType, start); err != nil {
		return nil, err
	}
	return map[string]string{"appId": app.AppID}, nil
}

// checkAllowed applies Drove's per-state table, and refuses a second
// operation while one runs (only SCALE may supersede a running SCALE/RECOVER).
func checkAllowed(app model.ApplicationInfo, t model.OperationType) error {
	switch t {
	case model.OpStartInstances, model.OpScale, model.OpSuspend, model.OpStopInstances,
		model.OpReplaceInstances, model.OpDestroy, model.OpRecover:
	default:
		return invalid(fmt.Sprintf("type - unknown operation %q; must be one of CREATE, START_INSTANCES, SCALE, SUSPEND, STOP_INSTANCES, REPLACE_INSTANCES, DESTROY, RECOVER", t))
	}
	allowed := model.AllowedOperations(app.State)
	if model.OperationAllowed(app.State, t) {
		return nil
	}
	msg := fmt.Sprintf("No operations allowed for %s as it is in %s state", app.AppID, app.State)
	if len(allowed) > 0 {
		names := make([]string, len(allowed))
		for i, o := range allowed {
			names[i] = string(o)
		}
		msg = fmt.Sprintf("Only [%s] allowed for app %s as it is in %s state", strings.Join(names, ", "), app.AppID, app.State)
	}
	if op := app.ActiveOperation(); op != nil {
		msg += fmt.Sprintf("; operation %s (%s) is in progress: cancel it or wait for it to finish", op.ID, op.Source)
	}
	return invalid(msg)
}

// planOperation turns a validated request into the operation to record.
func (a *api) planOperation(app model.ApplicationInfo, t model.OperationType, b appOperationBody) (fsm.AppOperationStartRequest, error) {
	now := time.Now()
	s, errs := b.OpSpec.parse(a.c.cfg)
	if t == model.OpRecover {
		s, errs = defaultOpSpec(a.c.cfg), nil
	}
	if len(errs) > 0 {
		return fsm.AppOperationStartRequest{}, invalid(errs...)
	}
	v := classify(a.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindApp, app.AppID) }))
	// ExpectVersion: counts below are relative to what was read; the FSM
	// refuses the operation if the app changed meanwhile.
	req := fsm.AppOperationStartRequest{AppID: app.AppID, Desired: app.Instances, ExpectVersion: app.Version, Timestamp: now.UnixMilli()}
	op := a.c.newOperation(app.AppID, model.OpScale, t, s, now)
	switch t {
	case model.OpStartInstances, model.OpScale, model.OpSuspend, model.OpRecover:
		n, err := a.targetCount(app, t, b, v)
		if err != nil {
			return req, err
		}
		op.RequiredInstances, req.Desired, req.State = n, n, model.AppScalingRequested
		op.JobsTotal = abs(n - len(v.live))
		req.Supersede = app.ActiveOperation() != nil
		if t == model.OpRecover {
			op.Type, req.State = model.OpRecover, model.AppOutageDetected
		}
		if err := a.checkCapacity(app, n-len(v.live)); err != nil {
			return req, err
		}
	case model.OpStopInstances:
		ids, err := activeTargets(app, b.InstanceIDs, v)
		if err != nil {
			return req, err
		}
		op.InstanceIDs, op.SkipRespawn, req.State = ids, b.SkipRespawn, model.AppStopInstancesRequested
		op.JobsTotal = len(ids)
		if b.SkipRespawn {
			op.Type, req.Desired = model.OpStopInstances, max(app.Instances-len(ids), 0)
		} else {
			op.Type = model.OpReplaceInstances // replacements start before the old ones stop
		}
	case model.OpReplaceInstances:
		ids, err := healthyTargets(app, b.InstanceIDs, v)
		if err != nil {
			return req, err
		}
		op.Type, op.InstanceIDs, op.StopFirst, req.State = model.OpReplaceInstances, ids, b.StopFirst, model.AppReplaceInstancesRequested
		op.JobsTotal = len(ids)
	}
	req.Op = op
	return req, nil
}

func (a *api) targetCount(app model.ApplicationInfo, t model.OperationType, b appOperationBody, v appInstances) (int, error) {
	switch t {
	case model.OpStartInstances:
		if b.Instances == nil || *b.Instances < 0 || *b.Instances > 1024 {
			return 0, invalid("instances - must be between 0 and 1024")
		}
		return app.Instances + *b.Instances, nil // on top of what is desired, whatever is healthy right now
	case model.OpScale:
		if b.RequiredInstances == nil || *b.RequiredInstances < 0 || *b.RequiredInstances > 2048 {
			return 0, invalid("requiredInstances - must be between 0 and 2048")
		}
		return *b.RequiredInstances, nil
	case model.OpRecover:
		return app.Instances, nil
	}
	return 0, nil // SUSPEND
}

// activeTargets checks STOP_INSTANCES ids: they must be active instances.
func activeTargets(app model.ApplicationInfo, ids []string, v appInstances) ([]string, error) {
	if len(ids) == 0 {
		return nil, invalid("instanceIds - must not be empty")
	}
	var missing []string
	for _, id := range ids {
		if r, ok := v.byID[id]; !ok || !r.Info.State.IsActive() || r.StopRequested {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, invalid(fmt.Sprintf("App %s does not have any instances with the following ids: %s", app.AppID, strings.Join(missing, ", ")))
	}
	return dedupe(ids), nil
}

// healthyTargets checks REPLACE_INSTANCES ids (default: every healthy instance).
func healthyTargets(app model.ApplicationInfo, ids []string, v appInstances) ([]string, error) {
	return healthyIDs(ids, v, "There are no replaceable healthy instances for app "+app.AppID,
		"There are no replaceable healthy instances with ids: ")
}

// healthyIDs checks that ids are healthy instances of v (none given: every
// healthy one, oldest first); none / badPrefix are the refusal messages.
func healthyIDs(ids []string, v appInstances, none, badPrefix string) ([]string, error) {
	if len(ids) == 0 {
		for _, r := range oldestFirst(v.healthy) {
			ids = append(ids, r.Info.InstanceID)
		}
		if len(ids) == 0 {
			return nil, invalid(none)
		}
		return ids, nil
	}
	var bad []string
	for _, id := range ids {
		if r, ok := v.byID[id]; !ok || r.Info.State != model.InstanceHealthy || r.StopRequested {
			bad = append(bad, id)
		}
	}
	if len(bad) > 0 {
		return nil, invalid(badPrefix + strings.Join(bad, ", "))
	}
	return dedupe(ids), nil
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// checkCapacity is the submit-time resource check for extra instances.
func (a *api) checkCapacity(app model.ApplicationInfo, extra int) error {
	if extra <= 0 {
		return nil
	}
	if err := scheduler.CheckCapacity(a.c.schedulerState(), placementRequest(app.Spec), extra); err != nil {
		return capacityError(err)
	}
	return nil
}

// cancelOperation is POST /applications/operations/{appId}/cancel.
func (a *api) cancelOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["appId"]
	err := a.applyCmd(fsm.AppOperationCancelType, fsm.AppOperationCancelRequest{AppID: id, Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return nil, &statusError{code: http.StatusBadRequest, message: "Current operation could not be cancelled"}
	}
	return nil, nil
}

// applyCmd encodes and commits one command.
func (a *api) applyCmd(t fsm.MessageType, payload any) error {
	cmd, err := fsm.Encode(t, payload)
	if err != nil {
		return err
	}
	_, err = a.node.Apply(cmd)
	return err
}
