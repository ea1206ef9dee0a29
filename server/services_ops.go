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

// serviceOperationBody is Drove's LocalServiceOperation: one JSON shape for
// every type. RESTART's op spec is clusterOpSpec in Drove's model while the
// CLI sends opSpec: both are accepted.
type serviceOperationBody struct {
	Type             string                  `json:"type"`
	ServiceID        string                  `json:"serviceId"`
	Spec             *model.LocalServiceSpec `json:"spec"`
	InstancesPerHost *int                    `json:"instancesPerHost"`
	InstanceIDs      []string                `json:"instanceIds"`
	StopFirst        bool                    `json:"stopFirst"`
	OpSpec           *opSpecBody             `json:"opSpec"`
	ClusterOpSpec    *opSpecBody             `json:"clusterOpSpec"`
}

// opSpec returns the operation's op spec, defaults when none was sent.
func (b serviceOperationBody) opSpec(cfg ControllerConfig) (opSpec, error) {
	body := b.OpSpec
	if body == nil {
		body = b.ClusterOpSpec
	}
	if body == nil {
		return defaultOpSpec(cfg), nil
	}
	s, errs := body.parse(cfg)
	if len(errs) > 0 {
		return s, invalid(errs...)
	}
	return s, nil
}

func (a *api) serviceRoutes() []route {
	return []route{
		{method: "POST", path: "/apis/v1/localservices/validate/spec", h: a.validateServiceSpec},
		{method: "POST", path: "/apis/v1/localservices/operations", roles: rwRole, h: a.submitServiceOperation},
		{method: "POST", path: "/apis/v1/localservices/operations/{serviceId}/cancel", roles: rwRole, h: a.cancelServiceOperation},
		{method: "GET", path: "/apis/v1/localservices", h: a.listServices},
		{method: "GET", path: "/apis/v1/localservices/{serviceId}", h: a.getService},
		{method: "GET", path: "/apis/v1/localservices/{serviceId}/spec", h: a.getServiceSpec},
		{method: "GET", path: "/apis/v1/localservices/{serviceId}/operation", h: a.getServiceOperation},
		{method: "GET", path: "/apis/v1/localservices/{serviceId}/instances", h: a.getServiceInstances},
		{method: "GET", path: "/apis/v1/localservices/{serviceId}/instances/old", h: a.getOldServiceInstances},
		{method: "GET", path: "/apis/v1/localservices/{serviceId}/instances/{instanceId}", h: a.getServiceInstance},
	}
}

// validateServiceSpec is POST /localservices/validate/spec.
func (a *api) validateServiceSpec(_ http.ResponseWriter, r *http.Request) (any, error) {
	var spec model.LocalServiceSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return nil, err
	}
	if errs := spec.Validate(a.specOptions()); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	return map[string]bool{"valid": true}, nil
}

// submitServiceOperation is POST /localservices/operations. Every
// operation is committed to Raft before the API answers; the state check
// is repeated by the FSM against the state the command meets.
func (a *api) submitServiceOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body serviceOperationBody
	if err := decodeJSON(r, &body, false); err != nil {
		return nil, err
	}
	t := model.OperationType(strings.ToUpper(strings.TrimSpace(body.Type)))
	if a.c.inMaintenance() {
		return nil, invalid("Cluster is in maintenance mode")
	}
	if !knownServiceOp(t) {
		return nil, invalid(fmt.Sprintf("type - unknown operation %q; must be one of %s", body.Type, serviceOpNames()))
	}
	if t == model.OpCreate {
		return a.createService(body)
	}
	if body.ServiceID == "" {
		return nil, invalid("no service id found in operation")
	}
	ls, ok := a.fsm.LocalService(body.ServiceID)
	if !ok {
		return nil, invalid("No state found for local service: " + body.ServiceID)
	}
	if !model.LocalServiceOperationAllowed(ls.State, t) {
		msg := fsm.LocalServiceOpRefusal(&ls, t)
		if op := ls.ActiveOperation(); op != nil {
			msg += fmt.Sprintf("; operation %s (%s) is in progress: cancel it or wait for it to finish", op.ID, op.Source)
		}
		return nil, invalid(msg)
	}
	now := time.Now()
	done := map[string]string{"serviceId": ls.ServiceID}
	switch t {
	case model.OpActivate, model.OpDeactivate, model.OpStopService, model.OpDeployTestInstance, model.OpUpdateInstanceCount:
		req := fsm.LocalServiceSetRequest{ServiceID: ls.ServiceID, Op: t, ExpectVersion: ls.Version, Timestamp: now.UnixMilli()}
		if t == model.OpUpdateInstanceCount {
			if body.InstancesPerHost == nil {
				return nil, invalid(fmt.Sprintf("instancesPerHost - is required (%d to %d)", model.MinInstancesPerHost, model.MaxInstancesPerHost))
			}
			n, err := instancesPerHost(body.InstancesPerHost, ls.Spec)
			if err != nil {
				return nil, err
			}
			if ls.Spec.HostLevel() {
				return nil, invalid(fmt.Sprintf("Instance count cannot be updated for host level local service %s", ls.ServiceID))
			}
			req.InstancesPerHost = n
		}
		if err := a.checkServiceCapacity(ls, t, req.InstancesPerHost); err != nil {
			return nil, err
		}
		return done, a.applyCmd(fsm.LocalServiceSetType, req)
	case model.OpDestroy:
		return done, a.applyCmd(fsm.LocalServiceDestroyType, fsm.LocalServiceDestroyRequest{ServiceID: ls.ServiceID,
			ExpectVersion: ls.Version, Timestamp: now.UnixMilli()})
	}
	start, err := a.planServiceOperation(ls, t, body, now)
	if err != nil {
		return nil, err
	}
	return done, a.applyCmd(fsm.LocalServiceOperationStartType, start)
}

func knownServiceOp(t model.OperationType) bool {
	if t == model.OpStopService {
		return true
	}
	for _, o := range model.LocalServiceOperations {
		if o == t {
			return true
		}
	}
	return false
}

func serviceOpNames() string {
	names := make([]string, len(model.LocalServiceOperations))
	for i, o := range model.LocalServiceOperations {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// instancesPerHost checks an instancesPerHost field (absent: 1).
func instancesPerHost(n *int, spec model.LocalServiceSpec) (int, error) {
	v := 1
	if n != nil {
		v = *n
	}
	if v < model.MinInstancesPerHost || v > model.MaxInstancesPerHost {
		return 0, invalid(fmt.Sprintf("instancesPerHost - must be between %d and %d, got %d",
			model.MinInstancesPerHost, model.MaxInstancesPerHost, v))
	}
	if spec.HostLevel() && v != 1 {
		return 0, invalid(fmt.Sprintf("instancesPerHost - must be 1 for a host level local service (placementPolicy.hostLevel), got %d", v))
	}
	return v, nil
}

// createService handles CREATE: a valid, new spec; the service starts
// INACTIVE (ACTIVATE or DEPLOY_TEST_INSTANCE starts instances).
func (a *api) createService(b serviceOperationBody) (any, error) {
	if b.Spec == nil {
		return nil, invalid("spec - must not be null")
	}
	b.Spec.ExposureSpec = nil // not part of Drove's LocalServiceSpec
	errs := b.Spec.Validate(a.specOptions())
	n, err := instancesPerHost(b.InstancesPerHost, *b.Spec)
	if err != nil {
		errs = append(errs, err.(*ValidationError).Errors...)
	}
	if len(errs) > 0 {
		return nil, invalid(errs...)
	}
	id := b.Spec.ServiceID()
	if _, exists := a.fsm.LocalService(id); exists {
		return nil, invalid(fmt.Sprintf("Local service %s already exists", id))
	}
	ls := model.LocalServiceInfo{ServiceID: id, Spec: *b.Spec, InstancesPerHost: n}
	if err := a.applyCmd(fsm.LocalServiceCreateType, fsm.LocalServiceCreateRequest{Service: ls, Timestamp: time.Now().UnixMilli()}); err != nil {
		return nil, err
	}
	return map[string]string{"serviceId": id}, nil
}

// planServiceOperation builds ADJUST_INSTANCES, REPLACE_INSTANCES (and
// RESTART, which replaces every healthy instance) and STOP_INSTANCES.
func (a *api) planServiceOperation(ls model.LocalServiceInfo, t model.OperationType, b serviceOperationBody, now time.Time) (fsm.LocalServiceOperationStartRequest, error) {
	req := fsm.LocalServiceOperationStartRequest{ServiceID: ls.ServiceID, ExpectVersion: ls.Version, Timestamp: now.UnixMilli()}
	s, err := b.opSpec(a.c.cfg)
	if err != nil {
		return req, err
	}
	op := a.c.newOperation(ls.ServiceID, t, t, s, now)
	v := classify(a.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindLocalService, ls.ServiceID) }))
	switch t {
	case model.OpReplaceInstances, model.OpRestart:
		if ls.Spec.HostLevel() && !b.StopFirst {
			return req, invalid(fmt.Sprintf("Local service %s is host level: its instances bind fixed host ports, so a new instance cannot start "+
				"next to the old one. Use stopFirst=true to %s it", ls.ServiceID, strings.ToLower(string(t))))
		}
		ids := b.InstanceIDs
		if t == model.OpRestart {
			ids = nil
		}
		targets, err := healthyServiceTargets(ls, ids, v)
		if err != nil {
			return req, err
		}
		op.Type, op.InstanceIDs, op.StopFirst, op.JobsTotal = model.OpReplaceInstances, targets, b.StopFirst, len(targets)
	case model.OpStopInstances:
		if len(b.InstanceIDs) == 0 {
			return req, invalid("instanceIds - must not be empty")
		}
		targets, err := healthyServiceTargets(ls, b.InstanceIDs, v)
		if err != nil {
			return req, err
		}
		op.InstanceIDs, op.JobsTotal = targets, len(targets)
	}
	req.Op = op
	return req, nil
}

// healthyServiceTargets checks REPLACE/STOP ids: they must be healthy
// instances of the service (none given: every healthy one).
func healthyServiceTargets(ls model.LocalServiceInfo, ids []string, v appInstances) ([]string, error) {
	return healthyIDs(ids, v, "There are no healthy instances for local service "+ls.ServiceID,
		"There are no healthy instances with ids: ")
}

// cancelServiceOperation is POST /localservices/operations/{serviceId}/cancel.
func (a *api) cancelServiceOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["serviceId"]
	err := a.applyCmd(fsm.LocalServiceOperationCancelType, fsm.LocalServiceOperationCancelRequest{ServiceID: id, Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return nil, &statusError{code: http.StatusBadRequest, message: "Current operation could not be cancelled"}
	}
	return nil, nil
}

// checkServiceCapacity refuses an ACTIVATE or UPDATE_INSTANCE_COUNT that
// would not fit: every eligible executor must have room for the instances
// it would have to add (Drove reserves local-service capacity; a service
// that cannot run somewhere would leave that executor without it for
// good). DEPLOY_TEST_INSTANCE needs room for one instance somewhere.
func (a *api) checkServiceCapacity(ls model.LocalServiceInfo, t model.OperationType, perHost int) error {
	switch t {
	case model.OpActivate:
		perHost = ls.InstancesPerHost
	case model.OpUpdateInstanceCount:
		if ls.ActivationState != model.ActivationActive {
			return nil // takes effect on activation, checked then
		}
	case model.OpDeployTestInstance:
		perHost = 1
	default:
		return nil
	}
	hosts := hostsFor(a.fsm.Executors(), a.c.availability(time.Now()))
	live := map[string]int{}
	for _, r := range a.serviceInstances(ls.ServiceID) {
		if !r.Info.State.IsTerminal() && !r.StopRequested {
			live[r.Info.ExecutorID]++
		}
	}
	st, req := a.c.schedulerState(), serviceRequest(ls.Spec)
	var short []string
	fits := 0
	for id := range hosts.eligible {
		need := perHost - live[id]
		if t == model.OpDeployTestInstance {
			need = 1
		}
		if need <= 0 {
			fits++
			continue
		}
		if _, err := scheduler.NewSession(onlyExecutor(st, id), nil).PlaceN(req, need); err != nil {
			short = append(short, id)
		} else {
			fits++
		}
	}
	switch {
	case len(hosts.eligible) == 0 && t == model.OpDeployTestInstance:
		return invalid("No executors on cluster that can run local service " + ls.ServiceID)
	case len(hosts.eligible) == 0:
		// Nothing to fit yet: executors that join later get the instances
		// (activating daemon-like services before the executors is how a
		// cluster is brought up).
		return nil
	case t == model.OpDeployTestInstance && fits == 0:
		return invalid(fmt.Sprintf("No executor has room for a test instance of %s (%d cores, %d MB)", ls.ServiceID, ls.Spec.Cores(), ls.Spec.MemoryMB()))
	case t != model.OpDeployTestInstance && len(short) > 0:
		sort.Strings(short)
		return invalid(fmt.Sprintf("Local service %s needs %d instance(s) of %d cores and %d MB on every executor; not enough free resources on: %s",
			ls.ServiceID, perHost, ls.Spec.Cores(), ls.Spec.MemoryMB(), strings.Join(short, ", ")))
	}
	return nil
}
