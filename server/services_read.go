package server

import (
	"net/http"
	"sort"

	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

// serviceInstances returns the instance records of a local service.
func (a *api) serviceInstances(id string) []model.InstanceRecord {
	return a.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindLocalService, id) })
}

// serviceSummary is Drove's LocalServiceSummary; the totals are over the
// instances that hold resources now.
func (a *api) serviceSummary(ls model.LocalServiceInfo) model.LocalServiceSummary {
	healthy, active := 0, 0
	for _, r := range a.serviceInstances(ls.ServiceID) {
		if r.Info.State == model.InstanceHealthy {
			healthy++
		}
		if r.Info.State.IsActive() {
			active++
		}
	}
	tags := ls.Spec.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return model.LocalServiceSummary{ID: ls.ServiceID, Name: ls.Spec.Name, InstancesPerHost: ls.InstancesPerHost,
		HealthyInstances: healthy, TotalCPUs: ls.Spec.Cores() * active, TotalMemory: ls.Spec.MemoryMB() * int64(active),
		Tags: tags, ActivationState: ls.ActivationState, State: ls.State, Created: ls.Created, Updated: ls.Updated}
}

// listServices is GET /localservices: {serviceId: LocalServiceSummary}, paged by from/size.
func (a *api) listServices(_ http.ResponseWriter, r *http.Request) (any, error) {
	from, size, err := paging(r, "from", 0, 2147483646)
	if err != nil {
		return nil, err
	}
	out := map[string]model.LocalServiceSummary{}
	for i, ls := range a.fsm.LocalServices() {
		if i >= from && len(out) < size {
			out[ls.ServiceID] = a.serviceSummary(ls)
		}
	}
	return out, nil
}

func (a *api) serviceOr404(r *http.Request) (model.LocalServiceInfo, error) {
	id := mux.Vars(r)["serviceId"]
	ls, ok := a.fsm.LocalService(id)
	if !ok {
		return ls, &failedResult{message: "Local service " + id + " not found"}
	}
	return ls, nil
}

func (a *api) getService(_ http.ResponseWriter, r *http.Request) (any, error) {
	ls, err := a.serviceOr404(r)
	if err != nil {
		return nil, err
	}
	return a.serviceSummary(ls), nil
}

// getServiceSpec returns the spec with secrets masked, on a copy.
func (a *api) getServiceSpec(_ http.ResponseWriter, r *http.Request) (any, error) {
	ls, err := a.serviceOr404(r)
	if err != nil {
		return nil, err
	}
	return ls.Spec.Masked(), nil
}

// serviceOperationProgress is the body of GET /localservices/{id}/operation.
type serviceOperationProgress struct {
	model.OperationRecord
	ServiceState model.LocalServiceState `json:"serviceState"`
}

// getServiceOperation shows the running (or last) instance-changing
// operation of a local service (a drove extension, like the apps one).
func (a *api) getServiceOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	ls, err := a.serviceOr404(r)
	if err != nil {
		return nil, err
	}
	if ls.Operation == nil {
		return nil, &failedResult{message: "No operation recorded for local service " + ls.ServiceID}
	}
	op := *ls.Operation
	op.JobsDone, op.JobsFailed = classify(a.serviceInstances(ls.ServiceID)).jobCounts(op.ID)
	op.JobsTotal = max(op.JobsTotal, op.JobsDone)
	return serviceOperationProgress{OperationRecord: op, ServiceState: ls.State}, nil
}

// getServiceInstances lists instances in the ?state= states (default: active).
func (a *api) getServiceInstances(_ http.ResponseWriter, r *http.Request) (any, error) {
	ls, err := a.serviceOr404(r)
	if err != nil {
		return nil, err
	}
	keep, err := stateFilter(r)
	if err != nil {
		return nil, err
	}
	out := []model.LocalServiceInstanceInfo{}
	for _, rec := range a.serviceInstances(ls.ServiceID) {
		if keep(rec.Info.State) {
			out = append(out, model.LocalServiceInstance(rec))
		}
	}
	return out, nil
}

// getOldServiceInstances lists terminal instances still kept, newest first
// (no paging, as in Drove).
func (a *api) getOldServiceInstances(_ http.ResponseWriter, r *http.Request) (any, error) {
	ls, err := a.serviceOr404(r)
	if err != nil {
		return nil, err
	}
	out := []model.LocalServiceInstanceInfo{}
	for _, rec := range a.serviceInstances(ls.ServiceID) {
		if rec.Info.State.IsTerminal() {
			out = append(out, model.LocalServiceInstance(rec))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated > out[j].Updated })
	return out, nil
}

func (a *api) getServiceInstance(_ http.ResponseWriter, r *http.Request) (any, error) {
	sid, iid := mux.Vars(r)["serviceId"], mux.Vars(r)["instanceId"]
	rec, ok := a.fsm.Instance(iid)
	if !ok || !rec.BelongsTo(model.KindLocalService, sid) {
		return nil, &failedResult{message: "No such local service instance " + sid + "/" + iid}
	}
	return model.LocalServiceInstance(rec), nil
}
