package server

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
	"github.com/gorilla/mux"
)

func (a *api) appSummary(app model.ApplicationInfo) model.AppSummary {
	healthy := len(a.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.BelongsTo(model.KindApp, app.AppID) && r.Info.State == model.InstanceHealthy
	}))
	tags := app.Spec.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return model.AppSummary{ID: app.AppID, Name: app.Spec.Name, RequiredInstances: app.Instances,
		HealthyInstances: healthy, TotalCPUs: app.Spec.Cores() * app.Instances,
		TotalMemory: app.Spec.MemoryMB() * int64(app.Instances), Tags: tags, State: app.State,
		Created: app.Created, Updated: app.Updated}
}

// listApps is GET /applications: {appId: AppSummary}, paged by from/size over sorted ids.
func (a *api) listApps(_ http.ResponseWriter, r *http.Request) (any, error) {
	from, size, err := paging(r, "from", 0, 2147483646)
	if err != nil {
		return nil, err
	}
	out := map[string]model.AppSummary{}
	for i, app := range a.fsm.Applications() {
		if i >= from && len(out) < size {
			out[app.AppID] = a.appSummary(app)
		}
	}
	return out, nil
}

func paging(r *http.Request, startName string, defStart, defSize int) (int, int, error) {
	q := r.URL.Query()
	start, size := defStart, defSize
	var errs []string
	if v := q.Get(startName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("%s must be a non-negative integer, got %q", startName, v))
		}
		start = n
	}
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("size must be a non-negative integer, got %q", v))
		}
		size = n
	}
	if len(errs) > 0 {
		return 0, 0, invalid(errs...)
	}
	return start, size, nil
}

func (a *api) appOr404(r *http.Request, key string) (model.ApplicationInfo, error) {
	id := mux.Vars(r)[key]
	app, ok := a.fsm.Application(id)
	if !ok {
		return app, &failedResult{message: "App " + id + " not found"}
	}
	return app, nil
}

func (a *api) getApp(_ http.ResponseWriter, r *http.Request) (any, error) {
	app, err := a.appOr404(r, "id")
	if err != nil {
		return nil, err
	}
	return a.appSummary(app), nil
}

// getAppSpec returns the spec with secrets masked, on a copy.
func (a *api) getAppSpec(_ http.ResponseWriter, r *http.Request) (any, error) {
	app, err := a.appOr404(r, "id")
	if err != nil {
		return nil, err
	}
	return app.Spec.Masked(), nil
}

// getAppInstances lists instances in the ?state= states (default: active).
func (a *api) getAppInstances(_ http.ResponseWriter, r *http.Request) (any, error) {
	app, err := a.appOr404(r, "id")
	if err != nil {
		return nil, err
	}
	keep, err := stateFilter(r)
	if err != nil {
		return nil, err
	}
	out := []model.InstanceInfo{}
	for _, rec := range a.fsm.Instances(func(rec *model.InstanceRecord) bool { return rec.BelongsTo(model.KindApp, app.AppID) }) {
		if keep(rec.Info.State) {
			out = append(out, rec.Info)
		}
	}
	return out, nil
}

// getOldInstances lists terminal instances still kept, newest first.
func (a *api) getOldInstances(_ http.ResponseWriter, r *http.Request) (any, error) {
	app, err := a.appOr404(r, "id")
	if err != nil {
		return nil, err
	}
	start, size, err := paging(r, "start", 0, 2147483646)
	if err != nil {
		return nil, err
	}
	var old []model.InstanceInfo
	for _, rec := range a.fsm.Instances(func(rec *model.InstanceRecord) bool {
		return rec.BelongsTo(model.KindApp, app.AppID) && rec.Info.State.IsTerminal()
	}) {
		old = append(old, rec.Info)
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].Updated > old[j].Updated })
	out := []model.InstanceInfo{}
	for i := start; i < len(old) && len(out) < size; i++ {
		out = append(out, old[i])
	}
	return out, nil
}

func (a *api) getAppInstance(_ http.ResponseWriter, r *http.Request) (any, error) {
	appID, iid := mux.Vars(r)["appId"], mux.Vars(r)["instanceId"]
	rec, ok := a.fsm.Instance(iid)
	if !ok || !rec.BelongsTo(model.KindApp, appID) {
		return nil, &failedResult{message: "No such application instance " + appID + "/" + iid}
	}
	return rec.Info, nil
}

// validateSpec is POST /applications/validate/spec.
func (a *api) validateSpec(_ http.ResponseWriter, r *http.Request) (any, error) {
	var spec model.ApplicationSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return nil, err
	}
	if errs := spec.Validate(a.specOptions()); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	return map[string]bool{"valid": true}, nil
}

// operationProgress is the body of GET /applications/{appId}/operation.
type operationProgress struct {
	model.OperationRecord
	AppState model.ApplicationState `json:"appState"`
}

// getOperation shows the running (or last) operation of an app and its progress.
func (a *api) getOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	app, err := a.appOr404(r, "appId")
	if err != nil {
		return nil, err
	}
	if app.Operation == nil {
		return nil, &failedResult{message: "No operation recorded for app " + app.AppID}
	}
	op := *app.Operation
	v := classify(a.fsm.Instances(func(rec *model.InstanceRecord) bool { return rec.BelongsTo(model.KindApp, app.AppID) }))
	op.JobsDone, op.JobsFailed = v.jobCounts(op.ID)
	op.JobsTotal = max(op.JobsTotal, op.JobsDone)
	return operationProgress{OperationRecord: op, AppState: app.State}, nil
}

// exposedHost is one backend of an exposed app (Drove's ExposedAppInfo host).
type exposedHost struct {
	Host     string         `json:"host"`
	Port     int            `json:"port"`
	PortType model.PortType `json:"portType"`
}

// exposedApp is Drove's ExposedAppInfo.
type exposedApp struct {
	AppName string            `json:"appName"`
	AppID   string            `json:"appId"`
	Vhost   string            `json:"vhost"`
	Tags    map[string]string `json:"tags"`
	Hosts   []exposedHost     `json:"hosts"`
}

// endpoints is GET /endpoints[?app=name…] and /endpoints/app/{appName}: apps
// with an exposureSpec and their HEALTHY instances (updated in the last 60 s
// unless in the maintenance window), for gateways.
func (a *api) endpoints(_ http.ResponseWriter, r *http.Request) (any, error) {
	names := r.URL.Query()["app"]
	if n := mux.Vars(r)["appName"]; n != "" {
		names = []string{n}
	}
	out := []exposedApp{}
	for _, app := range a.fsm.Applications() {
		s := app.Spec
		if !app.State.IsActive() || s.ExposureSpec == nil || len(s.ExposedPorts) == 0 ||
			(len(names) > 0 && !containsFold(names, s.Name)) {
			continue
		}
		e := exposedApp{AppName: s.Name, AppID: app.AppID, Vhost: s.ExposureSpec.Vhost, Tags: s.Tags, Hosts: []exposedHost{}}
		for _, rec := range a.fsm.Instances(func(rec *model.InstanceRecord) bool {
			return rec.BelongsTo(model.KindApp, app.AppID) && rec.Info.State == model.InstanceHealthy && !rec.StopRequested
		}) {
			if p, ok := rec.Info.LocalInfo.Ports[s.ExposureSpec.PortName]; ok {
				e.Hosts = append(e.Hosts, exposedHost{Host: rec.Info.LocalInfo.Hostname, Port: p.HostPort, PortType: p.PortType})
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ruleDryRunBody is Drove's rule dry-run request.
type ruleDryRunBody struct {
	RuleBasedPlacementPolicy model.PlacementPolicy    `json:"ruleBasedPlacementPolicy"`
	SchedulingInfo           scheduler.SchedulingInfo `json:"schedulingInfo"`
}

// ruleStatus is Drove's RuleCheckResponse / RuleEvalResponse.
type ruleStatus struct {
	Status string `json:"status"` // SUCCESS | FAILURE
	Result *bool  `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ruleDryRun is POST /applications/placementpolicy/rule/dryrun: compile a
// RULE_BASED policy's rule and evaluate it against the given scheduling info.
func (a *api) ruleDryRun(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body ruleDryRunBody
	if err := decodeJSON(r, &body, false); err != nil {
		return nil, err
	}
	p := body.RuleBasedPlacementPolicy
	if p.Type != model.PlacementRuleBased {
		return nil, invalid(fmt.Sprintf("ruleBasedPlacementPolicy.type - must be RULE_BASED, got %q", p.Type))
	}
	check, eval := ruleStatus{Status: "SUCCESS"}, ruleStatus{Status: "SUCCESS"}
	if err := scheduler.CheckRule(p.Rule, p.RuleType); err != nil {
		check = ruleStatus{Status: "FAILURE", Error: err.Error()}
		eval = ruleStatus{Status: "FAILURE", Error: "rule did not compile"}
	} else if ok, err := scheduler.EvalRule(p.Rule, p.RuleType, body.SchedulingInfo); err != nil {
		eval = ruleStatus{Status: "FAILURE", Error: err.Error()}
	} else {
		eval.Result = &ok
	}
	return map[string]any{"status": check.Status == "SUCCESS" && eval.Result != nil && *eval.Result,
		"checkResult": check, "evalResult": eval}, nil
}

// stateFilter parses the repeatable ?state= parameter of the instance
// lists: the states asked for, or Drove's active states when none is.
func stateFilter(r *http.Request) (func(model.InstanceState) bool, error) {
	want := map[model.InstanceState]bool{}
	for _, s := range r.URL.Query()["state"] {
		st, ok := model.ParseInstanceState(s)
		if !ok {
			return nil, invalid(fmt.Sprintf("state - unknown instance state %q", s))
		}
		want[st] = true
	}
	return func(st model.InstanceState) bool { return (len(want) == 0 && st.IsActive()) || want[st] }, nil
}
