package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

// registerExecutor is POST /internal/executors/register. The leader commits
// the registration only when it changes what is stored.
func (a *api) registerExecutor(_ http.ResponseWriter, r *http.Request) (any, error) {
	var reg model.ExecutorRegistration
	if err := decodeJSON(r, &reg, false); err != nil {
		return nil, err
	}
	if errs := validateRegistration(reg); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	if !a.fsm.RegistrationChanges(reg) {
		return model.ReportAck{}, nil
	}
	cmd, err := fsm.Encode(fsm.ExecutorRegisterType, fsm.ExecutorRegisterRequest{Registration: reg, Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	if _, err := a.node.Apply(cmd); err != nil {
		return nil, err
	}
	return model.ReportAck{}, nil
}

func validateRegistration(reg model.ExecutorRegistration) []string {
	var errs []string
	if reg.ExecutorID == "" {
		errs = append(errs, "executorId must not be empty")
	}
	if reg.Hostname == "" {
		errs = append(errs, "hostname must not be empty")
	}
	if reg.Port < 1 || reg.Port > 65535 {
		errs = append(errs, fmt.Sprintf("port must be 1-65535, got %d", reg.Port))
	}
	if reg.Layout.TotalCores() == 0 || reg.Layout.TotalMemory() <= 0 {
		errs = append(errs, "layout must offer at least one core and some memory")
	}
	return errs
}

// executorReport is POST /internal/executors/{id}/report: instance states.
// Only reports that change something are committed.
func (a *api) executorReport(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["id"]
	var rep model.ExecutorReport
	if err := decodeJSON(r, &rep, false); err != nil {
		return nil, err
	}
	if rep.ExecutorID != id {
		return nil, invalid(fmt.Sprintf("executorId in body (%q) must match the path (%q)", rep.ExecutorID, id))
	}
	e, ok := a.fsm.Executor(id)
	if !ok || e.State == model.ExecutorRemoved {
		return model.ReportAck{Reregister: true}, nil
	}
	if rep.Full {
		active := 0
		for _, in := range rep.Instances {
			if !in.Info.State.IsTerminal() {
				active++
			}
		}
		a.c.noteFullReport(id, time.Now(), active)
	}
	changing := a.fsm.ChangingReports(id, rep.Instances)
	if len(changing) == 0 {
		return model.ReportAck{}, nil
	}
	cmd, err := fsm.Encode(fsm.InstanceReportType, fsm.InstanceReportRequest{
		ExecutorID: id, Reports: changing, Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	res, err := a.node.Apply(cmd)
	if err != nil {
		return nil, err
	}
	applied, _ := res.(int)
	return model.ReportAck{Applied: applied}, nil
}

// expectedInstances is GET /internal/executors/{id}/instances/expected: what
// the executor should run and stop, for its reconciliation loop.
func (a *api) expectedInstances(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["id"]
	out := model.ExpectedInstances{ExecutorID: id, Run: []model.ExpectedSpec{}, Stop: []string{}}
	e, ok := a.fsm.Executor(id)
	out.Known = ok && e.State != model.ExecutorRemoved
	if !out.Known {
		// An executor purged from the registry is still told to stop when
		// the hostname it gives is on a DOWN machine.
		host := r.URL.Query().Get("hostname")
		if ok {
			host = e.Hostname
		}
		out.Shutdown = (ok && e.Gone) || (host != "" && a.fsm.MachineDown(host))
		return out, nil
	}
	if e.Drain != nil && e.Drain.State == model.DrainDraining {
		out.StopGracePeriodMs = e.Drain.MaxGracePeriodMs
	}
	for _, rec := range a.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.Info.ExecutorID == id && !r.Info.State.IsTerminal()
	}) {
		if rec.StopRequested {
			out.Stop = append(out.Stop, rec.Info.InstanceID)
		} else {
			out.Run = append(out.Run, model.ExpectedSpec{Spec: rec.Spec, State: rec.Info.State})
		}
	}
	return out, nil
}
