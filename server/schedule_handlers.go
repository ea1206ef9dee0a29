package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
)

// Mesos-style maintenance primitives: one replicated schedule of windows,
// and machine modes UP → DRAINING (scheduled) → DOWN (machine/down) → UP
// (machine/up). See docs/maintenance.md.

func (a *api) scheduleRoutes() []route {
	return []route{
		{method: "GET", path: "/apis/v1/cluster/maintenance/schedule", h: a.getSchedule},
		{method: "POST", path: "/apis/v1/cluster/maintenance/schedule", roles: maintenanceRole, h: a.postSchedule},
		{method: "GET", path: "/apis/v1/cluster/maintenance/status", h: a.maintenanceStatus},
		{method: "POST", path: "/apis/v1/cluster/machines/down", roles: maintenanceRole, h: a.machines(fsm.MachinesDownType)},
		{method: "POST", path: "/apis/v1/cluster/machines/up", roles: maintenanceRole, h: a.machines(fsm.MachinesUpType)},
	}
}

func (a *api) getSchedule(http.ResponseWriter, *http.Request) (any, error) {
	s := a.fsm.MaintenanceSchedule()
	if s.Windows == nil {
		s.Windows = []model.MaintenanceWindow{}
	}
	return s, nil
}

// postSchedule replaces the schedule (an empty one cancels it). The rules
// are checked again by the FSM against the state the command meets.
func (a *api) postSchedule(_ http.ResponseWriter, r *http.Request) (any, error) {
	var s model.MaintenanceSchedule
	if err := decodeJSON(r, &s, false); err != nil {
		return nil, err
	}
	down := map[string]model.MachineID{}
	for _, m := range a.fsm.Machines() {
		if m.Mode == model.MachineDown {
			down[m.ID.Key()] = m.ID
		}
	}
	if errs := model.ValidateSchedule(s, down); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	if err := a.applyCmd(fsm.MaintenanceScheduleType, fsm.MaintenanceScheduleRequest{Schedule: s, Timestamp: time.Now().UnixMilli()}); err != nil {
		return nil, scheduleError(err)
	}
	return a.maintenanceStatus(nil, r)
}

// machines is POST /cluster/machines/down and /up: a JSON list of MachineIDs.
func (a *api) machines(t fsm.MessageType) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		var ms []model.MachineID
		if err := decodeJSON(r, &ms, false); err != nil {
			return nil, err
		}
		if err := a.applyCmd(t, fsm.MachinesRequest{Machines: ms, Timestamp: time.Now().UnixMilli()}); err != nil {
			return nil, scheduleError(err)
		}
		return a.maintenanceStatus(nil, r)
	}
}

// scheduleError turns the FSM's refusal into a 400 listing every violation.
func scheduleError(err error) error {
	var se *fsm.ScheduleError
	if errors.As(err, &se) {
		return invalid(se.Errors...)
	}
	return err
}

// machineView is one machine of the status: its mode and window, and the
// executors registered from it.
type machineView struct {
	model.MachineStatus
	Executors []string `json:"executors"`
}

// maintenanceStatus is Mesos' ClusterStatus (draining_machines,
// down_machines) plus every scheduled machine with its mode, window and
// executors.
func (a *api) maintenanceStatus(http.ResponseWriter, *http.Request) (any, error) {
	type draining struct {
		ID model.MachineID `json:"id"`
	}
	out := struct {
		DrainingMachines []draining        `json:"draining_machines"`
		DownMachines     []model.MachineID `json:"down_machines"`
		Machines         []machineView     `json:"machines"`
	}{DrainingMachines: []draining{}, DownMachines: []model.MachineID{}, Machines: []machineView{}}
	execs := a.fsm.Executors()
	for _, m := range a.fsm.Machines() {
		v := machineView{MachineStatus: m, Executors: []string{}}
		for _, e := range execs {
			if e.State != model.ExecutorRemoved && m.ID.Matches(e.Hostname) {
				v.Executors = append(v.Executors, e.ExecutorID)
			}
		}
		out.Machines = append(out.Machines, v)
		switch m.Mode {
		case model.MachineDraining:
			out.DrainingMachines = append(out.DrainingMachines, draining{ID: m.ID})
		case model.MachineDown:
			out.DownMachines = append(out.DownMachines, m.ID)
		}
	}
	return out, nil
}
