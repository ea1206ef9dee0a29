package server

import (
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/scheduler"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
)

// taskOperationBody is Drove's TaskOperation (CREATE and KILL). opSpec is
// accepted and checked but not needed: a task is one container.
type taskOperationBody struct {
	Type          string          `json:"type"`
	Spec          *model.TaskSpec `json:"spec"`
	SourceAppName string          `json:"sourceAppName"`
	TaskID        string          `json:"taskId"`
	OpSpec        *opSpecBody     `json:"opSpec"`
}

func (a *api) taskRoutes() []route {
	return []route{
		{method: "POST", path: "/apis/v1/tasks/validate/spec", h: a.validateTaskSpec},
		{method: "POST", path: "/apis/v1/tasks/operations", roles: rwRole, h: a.submitTaskOperation},
		{method: "GET", path: "/apis/v1/tasks", h: a.listTasks},
		{method: "GET", path: "/apis/v1/tasks/{sourceAppName}/instances/{taskId}", h: a.getTask},
		{method: "DELETE", path: "/apis/v1/tasks/{sourceAppName}/instances/{taskId}", h: a.deleteTask},
		{method: "POST", path: "/apis/v1/tasks/search", raw: a.searchTask},
	}
}

// searchTask is Drove's UI search form, POST /tasks/search
// (taskSearchAppName, taskSearchTaskID): 303 to the task's page
// /tasks/{app}/{task} when the task is known, else to /.
func (a *api) searchTask(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, invalid("form: "+err.Error()))
		return
	}
	app, task := r.PostForm.Get("taskSearchAppName"), r.PostForm.Get("taskSearchTaskID")
	var errs []string
	for _, f := range [][2]string{{"taskSearchAppName", app}, {"taskSearchTaskID", task}} {
		if f[1] != "" {
			if msg := model.ValidateName(f[0], f[1]); msg != "" {
				errs = append(errs, msg)
			}
		}
	}
	if len(errs) > 0 {
		writeError(w, invalid(errs...))
		return
	}
	target := "/"
	if _, ok := a.fsm.Task(app, task); ok && app != "" && task != "" {
		target = "/tasks/" + url.PathEscape(app) + "/" + url.PathEscape(task)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// validateTaskSpec is POST /tasks/validate/spec (data omitted on success, as Drove).
func (a *api) validateTaskSpec(_ http.ResponseWriter, r *http.Request) (any, error) {
	var spec model.TaskSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return nil, err
	}
	if errs := spec.Validate(a.specOptions()); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	return nil, nil
}

// submitTaskOperation is POST /tasks/operations.
func (a *api) submitTaskOperation(_ http.ResponseWriter, r *http.Request) (any, error) {
	var body taskOperationBody
	if err := decodeJSON(r, &body, false); err != nil {
		return nil, err
	}
	if a.c.inMaintenance() {
		return nil, invalid("Cluster is in maintenance mode")
	}
	if body.OpSpec != nil {
		if _, errs := body.OpSpec.parse(a.c.cfg); len(errs) > 0 {
			return nil, invalid(errs...)
		}
	}
	switch strings.ToUpper(strings.TrimSpace(body.Type)) {
	case "CREATE":
		return a.createTask(body)
	case "KILL":
		return a.killTask(body)
	}
	return nil, invalid(fmt.Sprintf("type - unknown operation %q; must be one of CREATE, KILL", body.Type))
}

// createTask places the task at once and records it; the dispatcher
// starts it. The record is committed before the API answers, so a new
// leader carries on with it and no second instance is ever placed.
func (a *api) createTask(b taskOperationBody) (any, error) {
	if b.Spec == nil {
		return nil, invalid("spec - must not be null")
	}
	s := *b.Spec
	if errs := s.Validate(a.specOptions()); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	if _, exists := a.fsm.Task(s.SourceAppName, s.TaskID); exists {
		return nil, invalid(fmt.Sprintf("Task already exists for %s/%s with taskID: %s", s.SourceAppName, s.TaskID, s.ID()))
	}
	// Creates are serialised on the leader (every write reaches it), so
	// each placement sees the previous one; an operation engine step may
	// still take the same cores first, hence the retries.
	a.taskMu.Lock()
	defer a.taskMu.Unlock()
	var err error
	for range 3 {
		if err = a.placeTask(s); !errors.Is(err, fsm.ErrResourcesTaken) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"taskId": s.ID()}, nil
}

// placeTask places and records one task.
func (a *api) placeTask(s model.TaskSpec) error {
	st := a.c.schedulerState()
	req := taskRequest(s)
	if err := scheduler.CheckCapacity(st, req, 1); err != nil {
		return capacityError(err)
	}
	p, err := scheduler.NewSession(st, rand.New(rand.NewSource(time.Now().UnixNano()))).Place(req)
	if err != nil {
		if errors.Is(err, scheduler.ErrNoCapacity) || errors.Is(err, scheduler.ErrInvalidPolicy) {
			return invalid(err.Error())
		}
		return err
	}
	now := time.Now()
	spec := model.InstanceSpec{Kind: model.KindTask, AppID: s.SourceAppName, AppName: s.SourceAppName, TaskID: s.TaskID,
		InstanceID: "TI-" + uuid.NewString(), Executable: s.Executable, Resources: p.Resources(), Volumes: s.Volumes,
		Configs: s.Configs, LoggingSpec: s.Logging, Env: s.Env, Args: s.Args, Devices: s.Devices, UserSpec: s.UserSpec}
	cr := fsm.TaskCreateRequest{Place: fsm.PlaceInstance{Spec: spec, ExecutorID: p.ExecutorID}, Timestamp: now.UnixMilli()}
	if !s.Timeout.IsZero() {
		cr.Deadline = now.Add(s.Timeout.D()).UnixMilli()
	}
	return a.applyCmd(fsm.TaskCreateType, cr)
}

// taskRequest is what the scheduler needs about a task; tasks of one
// sourceAppName count together for per-host policies, as in Drove.
func taskRequest(s model.TaskSpec) scheduler.Request {
	req := scheduler.Request{GroupID: groupID(model.KindTask, s.SourceAppName), GroupName: s.SourceAppName,
		Cores: s.Cores(), MemoryMB: s.MemoryMB(), Env: s.Env, Policy: model.PlacementPolicy{Type: model.PlacementAny}}
	if s.PlacementPolicy != nil {
		req.Policy = *s.PlacementPolicy
	}
	return req
}

// killTask is KILL: the container is stopped and the result is CANCELLED.
func (a *api) killTask(b taskOperationBody) (any, error) {
	var errs []string
	for _, f := range [][2]string{{"sourceAppName", b.SourceAppName}, {"taskId", b.TaskID}} {
		if msg := model.ValidateName(f[0], f[1]); msg != "" {
			errs = append(errs, msg)
		}
	}
	if len(errs) > 0 {
		return nil, invalid(errs...)
	}
	rec, ok := a.fsm.Task(b.SourceAppName, b.TaskID)
	if !ok || rec.Info.State.IsTerminal() || rec.StopRequested {
		return nil, invalid(fmt.Sprintf("Either task does not exist or has already finished for %s/%s", b.SourceAppName, b.TaskID))
	}
	err := a.applyCmd(fsm.TaskKillType, fsm.TaskKillRequest{InstanceID: rec.Info.InstanceID, Timestamp: time.Now().UnixMilli()})
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, invalid(fmt.Sprintf("Either task does not exist or has already finished for %s/%s", b.SourceAppName, b.TaskID))
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"taskId": b.TaskID}, nil
}

// listTasks is GET /tasks: tasks in Drove's active task states.
func (a *api) listTasks(_ http.ResponseWriter, _ *http.Request) (any, error) {
	out := []model.TaskInfo{}
	for _, r := range a.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.Kind() == model.KindTask && r.Info.State.IsTaskActive()
	}) {
		out = append(out, model.TaskView(r))
	}
	return out, nil
}

// getTask is GET /tasks/{sourceAppName}/instances/{taskId}, finished
// tasks included until they are cleaned up.
func (a *api) getTask(_ http.ResponseWriter, r *http.Request) (any, error) {
	v := mux.Vars(r)
	rec, ok := a.fsm.Task(v["sourceAppName"], v["taskId"])
	if !ok {
		return nil, &failedResult{message: "No such task instance " + v["sourceAppName"] + "/" + v["taskId"]}
	}
	return model.TaskView(rec), nil
}

// deleteTask forgets a finished task's record (Drove answers a failure
// with 200 FAILED and {"deleted": false}).
func (a *api) deleteTask(_ http.ResponseWriter, r *http.Request) (any, error) {
	v := mux.Vars(r)
	app, task := v["sourceAppName"], v["taskId"]
	rec, ok := a.fsm.Task(app, task)
	fail := &failedResult{message: "Could not delete " + app + "/" + task, data: map[string]bool{"deleted": false}}
	if !ok || !rec.Info.State.IsTerminal() {
		return nil, fail
	}
	if err := a.applyCmd(fsm.InstancesDeleteType, fsm.InstancesDeleteRequest{InstanceIDs: []string{rec.Info.InstanceID}}); err != nil {
		return nil, err
	}
	if _, still := a.fsm.Task(app, task); still {
		return nil, fail
	}
	return map[string]bool{"deleted": true}, nil
}
