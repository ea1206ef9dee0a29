package fsm

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Config configures the FSM.
type Config struct {
	// EventCapacity bounds the replicated event log; older events are dropped.
	EventCapacity int
	Logger        hclog.Logger
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{EventCapacity: 10000}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.EventCapacity < 1 || c.EventCapacity > 1_000_000 {
		return fmt.Errorf("fsm: EventCapacity must be between 1 and 1000000, got %d", c.EventCapacity)
	}
	return nil
}

// state is everything the FSM replicates. Replaced whole on Restore.
// Entries in the maps are never modified in place: an apply stores a new
// value, so a snapshot only needs to copy the maps.
type state struct {
	cluster   model.ClusterStateData
	events    *eventLog
	executors map[string]*model.ExecutorInfo
	instances map[string]*model.InstanceRecord
	apps      map[string]*model.ApplicationInfo
	services  map[string]*model.LocalServiceInfo
	schedule  model.MaintenanceSchedule
	machines  map[string]*model.MachineStatus // by MachineID.Key: machines in the schedule
}

func newState(cfg Config) *state {
	return &state{
		cluster:   model.ClusterStateData{State: model.ClusterNormal},
		events:    newEventLog(cfg.EventCapacity),
		executors: map[string]*model.ExecutorInfo{},
		instances: map[string]*model.InstanceRecord{},
		apps:      map[string]*model.ApplicationInfo{},
		services:  map[string]*model.LocalServiceInfo{},
		machines:  map[string]*model.MachineStatus{},
	}
}

// FSM is drove's raft.FSM. Apply is called by Raft from one goroutine; the
// read accessors may be called concurrently from any goroutine.
type FSM struct {
	cfg    Config
	logger hclog.Logger

	mu      sync.RWMutex
	st      *state
	changed chan struct{} // closed and replaced whenever events are appended or state restored
}

// New returns an FSM with empty state.
func New(cfg Config) (*FSM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &FSM{cfg: cfg, logger: cfg.Logger.Named("fsm"), st: newState(cfg), changed: make(chan struct{})}, nil
}

// Apply applies one committed log entry. Domain failures are returned as an
// error value (the proposer turns it into an API error); a payload that does
// not decode is a programming error and panics.
func (f *FSM) Apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		panic(fmt.Errorf("fsm: empty log entry at index %d", l.Index))
	}
	t := MessageType(l.Data[0])
	ignoreUnknown := t&IgnoreUnknownFlag != 0
	buf := l.Data[1:]
	switch t &^ IgnoreUnknownFlag {
	case SetClusterStateType:
		return f.applySetClusterState(buf)
	case LeadershipAcquiredType:
		return f.applyLeadershipAcquired(buf)
	case NoopType:
		return nil
	case ExecutorRegisterType:
		return f.applyExecutorRegister(buf)
	case ExecutorLostType:
		return f.applyExecutorLost(buf)
	case ExecutorPurgeType:
		return f.applyExecutorPurge(buf)
	case InstancesPlaceType:
		return f.applyInstancesPlace(buf)
	case InstancesStopType:
		return f.applyInstancesStop(buf)
	case InstanceReportType:
		return f.applyInstanceReport(buf)
	case InstancesDeleteType:
		return f.applyInstancesDelete(buf)
	case AppCreateType:
		return f.applyAppCreate(buf)
	case AppOperationStartType:
		return f.applyAppOperationStart(buf)
	case AppOperationStepType:
		return f.applyAppOperationStep(buf)
	case AppOperationFinishType:
		return f.applyAppOperationFinish(buf)
	case AppOperationCancelType:
		return f.applyAppOperationCancel(buf)
	case AppDestroyType:
		return f.applyAppDestroy(buf)
	case LocalServiceCreateType:
		return f.applyLocalServiceCreate(buf)
	case LocalServiceSetType:
		return f.applyLocalServiceSet(buf)
	case LocalServiceOperationStartType:
		return f.applyLocalServiceOperationStart(buf)
	case LocalServiceOperationStepType:
		return f.applyLocalServiceOperationStep(buf)
	case LocalServiceOperationFinishType:
		return f.applyLocalServiceOperationFinish(buf)
	case LocalServiceOperationCancelType:
		return f.applyLocalServiceOperationCancel(buf)
	case LocalServiceDestroyType:
		return f.applyLocalServiceDestroy(buf)
	case TaskCreateType:
		return f.applyTaskCreate(buf)
	case TaskKillType:
		return f.applyTaskKill(buf)
	case ExecutorsBlacklistType:
		return f.applyExecutorsBlacklist(buf, true)
	case ExecutorsUnblacklistType:
		return f.applyExecutorsBlacklist(buf, false)
	case ExecutorBlacklistedType:
		return f.applyExecutorBlacklisted(buf)
	case ExecutorDrainType:
		return f.applyExecutorDrain(buf)
	case ExecutorDrainedType:
		return f.applyExecutorDrained(buf)
	case ExecutorActivationType:
		return f.applyExecutorActivation(buf)
	case MaintenanceScheduleType:
		return f.applyMaintenanceSchedule(buf)
	case MachinesDownType:
		return f.applyMachinesDown(buf)
	case MachinesUpType:
		return f.applyMachinesUp(buf)
	case ExecutorsReadyType:
		return f.applyExecutorsReady(buf)
	}
	if ignoreUnknown {
		f.logger.Warn("ignoring unknown message type", "type", uint8(t), "index", l.Index)
		return nil
	}
	panic(fmt.Errorf("fsm: unknown message type %d at index %d", uint8(t), l.Index))
}

func decode(buf []byte, v any) {
	if err := json.Unmarshal(buf, v); err != nil {
		panic(fmt.Errorf("fsm: failed to decode %T: %w", v, err))
	}
}

func (f *FSM) applySetClusterState(buf []byte) any {
	var req SetClusterStateRequest
	decode(buf, &req)
	st, ok := model.ParseClusterState(string(req.State))
	if !ok {
		return fmt.Errorf("%w: %q", ErrInvalidClusterState, req.State)
	}
	data := model.ClusterStateData{State: st, Updated: req.Timestamp}
	evType := model.EventMaintenanceModeRemoved
	if st == model.ClusterMaintenance {
		evType = model.EventMaintenanceModeSet
	}
	f.mu.Lock()
	f.st.cluster = data
	meta := map[string]any{model.MetaHostname: req.Hostname}
	if req.Reason != "" {
		meta[model.MetaReason] = req.Reason
	}
	f.st.events.append(evType, req.Timestamp, meta)
	f.notifyLocked()
	f.mu.Unlock()
	return data
}

func (f *FSM) applyLeadershipAcquired(buf []byte) any {
	var req LeadershipRequest
	decode(buf, &req)
	f.mu.Lock()
	f.st.events.append(model.EventLeadershipAcquired, req.Timestamp,
		map[string]any{model.MetaHostname: req.Hostname, model.MetaNodeID: req.NodeID})
	f.notifyLocked()
	f.mu.Unlock()
	return nil
}

// notifyLocked wakes every watcher. Callers hold f.mu.
func (f *FSM) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Snapshot takes a cheap point-in-time copy; Persist does the encoding.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	snap := &snapshot{cluster: f.st.cluster, events: f.st.events.all(), nextEventIndex: f.st.events.nextIndex,
		executors: make([]*model.ExecutorInfo, 0, len(f.st.executors)),
		instances: make([]*model.InstanceRecord, 0, len(f.st.instances)),
		apps:      make([]*model.ApplicationInfo, 0, len(f.st.apps)),
		services:  make([]*model.LocalServiceInfo, 0, len(f.st.services)),
		schedule:  f.st.schedule,
		machines:  make([]*model.MachineStatus, 0, len(f.st.machines))}
	for _, m := range f.st.machines {
		snap.machines = append(snap.machines, m)
	}
	for _, s := range f.st.services {
		snap.services = append(snap.services, s)
	}
	for _, a := range f.st.apps {
		snap.apps = append(snap.apps, a)
	}
	for _, e := range f.st.executors {
		snap.executors = append(snap.executors, e)
	}
	for _, r := range f.st.instances {
		snap.instances = append(snap.instances, r)
	}
	snap.sort()
	return snap, nil
}

// Restore replaces the whole state with the snapshot's, built fresh.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc, f.cfg, f.logger)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	f.notifyLocked()
	f.mu.Unlock()
	return nil
}
