package fsm

import (
	"encoding/json"
	"fmt"

	"github.com/drove-go/drove/fsm/model"
)

// MessageType identifies a command in the Raft log. Values are numbered
// explicitly and only ever appended: a log written by one version must mean
// the same thing to every later one.
type MessageType uint8

const (
	// SetClusterStateType sets NORMAL or MAINTENANCE.
	SetClusterStateType MessageType = 0
	// LeadershipAcquiredType records that a controller became leader.
	LeadershipAcquiredType MessageType = 1
	// NoopType changes nothing; it is used to measure and exercise the log.
	NoopType MessageType = 2
)

// IgnoreUnknownFlag marks a command an older FSM may skip if it does not know
// the type, so a newer leader cannot crash older followers mid-upgrade.
const IgnoreUnknownFlag MessageType = 128

// SetClusterStateRequest is the payload of SetClusterStateType.
type SetClusterStateRequest struct {
	State     model.ClusterState `json:"state"`
	Hostname  string             `json:"hostname"`         // controller that took the request
	Timestamp int64              `json:"timestamp"`        // epoch ms, chosen by the proposer
	Reason    string             `json:"reason,omitempty"` // optional operator note, kept in the event
}

// LeadershipRequest is the payload of LeadershipAcquiredType.
type LeadershipRequest struct {
	NodeID    string `json:"nodeId"`
	Hostname  string `json:"hostname"`
	Timestamp int64  `json:"timestamp"`
}

// NoopRequest is the payload of NoopType.
type NoopRequest struct {
	Data []byte `json:"data,omitempty"`
}

// Encode builds a log entry: the type byte followed by the JSON payload.
// Timestamps travel inside payloads because Apply must be deterministic:
// every replica derives the same state and events from the same bytes.
func Encode(t MessageType, payload any) ([]byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	buf := make([]byte, 0, len(body)+1)
	buf = append(buf, byte(t))
	return append(buf, body...), nil
}

// String names a message type for logs.
func (t MessageType) String() string {
	switch t &^ IgnoreUnknownFlag {
	case SetClusterStateType:
		return "SetClusterState"
	case LeadershipAcquiredType:
		return "LeadershipAcquired"
	case NoopType:
		return "Noop"
	case ExecutorRegisterType:
		return "ExecutorRegister"
	case ExecutorLostType:
		return "ExecutorLost"
	case ExecutorPurgeType:
		return "ExecutorPurge"
	case InstancesPlaceType:
		return "InstancesPlace"
	case InstancesStopType:
		return "InstancesStop"
	case InstanceReportType:
		return "InstanceReport"
	case InstancesDeleteType:
		return "InstancesDelete"
	case AppCreateType:
		return "AppCreate"
	case AppOperationStartType:
		return "AppOperationStart"
	case AppOperationStepType:
		return "AppOperationStep"
	case AppOperationFinishType:
		return "AppOperationFinish"
	case AppOperationCancelType:
		return "AppOperationCancel"
	case AppDestroyType:
		return "AppDestroy"
	}
	return serviceCommandName(t)
}

func serviceCommandName(t MessageType) string {
	switch t &^ IgnoreUnknownFlag {
	case LocalServiceCreateType:
		return "LocalServiceCreate"
	case LocalServiceSetType:
		return "LocalServiceSet"
	case LocalServiceOperationStartType:
		return "LocalServiceOperationStart"
	case LocalServiceOperationStepType:
		return "LocalServiceOperationStep"
	case LocalServiceOperationFinishType:
		return "LocalServiceOperationFinish"
	case LocalServiceOperationCancelType:
		return "LocalServiceOperationCancel"
	case LocalServiceDestroyType:
		return "LocalServiceDestroy"
	case TaskCreateType:
		return "TaskCreate"
	case TaskKillType:
		return "TaskKill"
	}
	return maintenanceCommandName(t)
}

func maintenanceCommandName(t MessageType) string {
	switch t &^ IgnoreUnknownFlag {
	case ExecutorsBlacklistType:
		return "ExecutorsBlacklist"
	case ExecutorsUnblacklistType:
		return "ExecutorsUnblacklist"
	case ExecutorBlacklistedType:
		return "ExecutorBlacklisted"
	case ExecutorDrainType:
		return "ExecutorDrain"
	case ExecutorDrainedType:
		return "ExecutorDrained"
	case ExecutorActivationType:
		return "ExecutorActivation"
	case MaintenanceScheduleType:
		return "MaintenanceSchedule"
	case MachinesDownType:
		return "MachinesDown"
	case MachinesUpType:
		return "MachinesUp"
	case ExecutorsReadyType:
		return "ExecutorsReady"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Executor and instance commands.
const (
	// ExecutorRegisterType adds or updates an executor (ExecutorRegisterRequest).
	ExecutorRegisterType MessageType = 3
	// ExecutorLostType marks an executor REMOVED and its instances LOST.
	ExecutorLostType MessageType = 4
	// ExecutorPurgeType forgets REMOVED executors.
	ExecutorPurgeType MessageType = 5
	// InstancesPlaceType records new instances, PENDING on their executors.
	InstancesPlaceType MessageType = 6
	// InstancesStopType requests instances to stop.
	InstancesStopType MessageType = 7
	// InstanceReportType applies executors' instance state reports.
	InstanceReportType MessageType = 8
	// InstancesDeleteType forgets terminal instances.
	InstancesDeleteType MessageType = 9
)

// ExecutorRegisterRequest is the payload of ExecutorRegisterType.
type ExecutorRegisterRequest struct {
	Registration model.ExecutorRegistration `json:"registration"`
	Timestamp    int64                      `json:"timestamp"`
}

// ExecutorLostRequest is the payload of ExecutorLostType.
type ExecutorLostRequest struct {
	ExecutorID string `json:"executorId"`
	Reason     string `json:"reason"`
	Timestamp  int64  `json:"timestamp"`
}

// ExecutorPurgeRequest is the payload of ExecutorPurgeType.
type ExecutorPurgeRequest struct {
	ExecutorIDs []string `json:"executorIds"`
	Timestamp   int64    `json:"timestamp"`
}

// PlaceInstance is one instance to record on an executor.
type PlaceInstance struct {
	Spec       model.InstanceSpec `json:"spec"`
	ExecutorID string             `json:"executorId"`
	Metadata   map[string]string  `json:"metadata,omitempty"` // e.g. the operation that placed it
}

// InstancesPlaceRequest is the payload of InstancesPlaceType.
type InstancesPlaceRequest struct {
	Instances []PlaceInstance `json:"instances"`
	Timestamp int64           `json:"timestamp"`
}

// InstancesStopRequest is the payload of InstancesStopType.
type InstancesStopRequest struct {
	InstanceIDs []string `json:"instanceIds"`
	Timestamp   int64    `json:"timestamp"`
}

// InstanceReportRequest is the payload of InstanceReportType.
type InstanceReportRequest struct {
	ExecutorID string                 `json:"executorId"`
	Reports    []model.InstanceReport `json:"reports"`
	Timestamp  int64                  `json:"timestamp"`
}

// InstancesDeleteRequest is the payload of InstancesDeleteType.
type InstancesDeleteRequest struct {
	InstanceIDs []string `json:"instanceIds"`
}

// Application commands.
const (
	// AppCreateType registers an application (AppCreateRequest).
	AppCreateType MessageType = 10
	// AppOperationStartType records an accepted operation on an application.
	AppOperationStartType MessageType = 11
	// AppOperationStepType applies one engine step: placements, stops, progress.
	AppOperationStepType MessageType = 12
	// AppOperationFinishType ends an operation.
	AppOperationFinishType MessageType = 13
	// AppOperationCancelType asks the running operation to stop early.
	AppOperationCancelType MessageType = 14
	// AppDestroyType deletes an application and its instances.
	AppDestroyType MessageType = 15
)

// AppCreateRequest is the payload of AppCreateType. App.Operation may carry
// the first operation (CREATE with instances starts a scale at once).
type AppCreateRequest struct {
	App       model.ApplicationInfo `json:"app"`
	Timestamp int64                 `json:"timestamp"`
}

// AppOperationStartRequest is the payload of AppOperationStartType. Desired
// is the new desired instance count; State the app state while it runs.
// Supersede lets a SCALE replace a running SCALE or RECOVER (Drove accepts
// SCALE in SCALING_REQUESTED).
type AppOperationStartRequest struct {
	AppID     string                 `json:"appId"`
	Op        model.OperationRecord  `json:"op"`
	Desired   int                    `json:"desired"`
	State     model.ApplicationState `json:"state"`
	Supersede bool                   `json:"supersede,omitempty"`
	// ExpectVersion is the app Version the proposer planned against; the
	// FSM refuses the operation if the app changed since (when non-zero).
	ExpectVersion uint64 `json:"expectVersion,omitempty"`
	Timestamp     int64  `json:"timestamp"`
}

// AppOperationStepRequest is the payload of AppOperationStepType. It applies
// only while OpID is the app's running operation, so a step computed by a
// deposed leader is refused.
type AppOperationStepRequest struct {
	AppID     string                 `json:"appId"`
	OpID      string                 `json:"opId"`
	Step      int                    `json:"step"` // the op's Steps count the step was planned against
	Place     []PlaceInstance        `json:"place,omitempty"`
	Stop      []string               `json:"stop,omitempty"`
	Fail      map[string]string      `json:"fail,omitempty"`  // instances to stop as failed jobs, with the reason
	State     model.ApplicationState `json:"state,omitempty"` // new app state, if it changes
	Timestamp int64                  `json:"timestamp"`
}

// AppOperationFinishRequest is the payload of AppOperationFinishType.
type AppOperationFinishRequest struct {
	AppID     string                `json:"appId"`
	OpID      string                `json:"opId"`
	Step      int                   `json:"step"` // the op's Steps count the decision was made against
	Status    model.OperationStatus `json:"status"`
	Message   string                `json:"message,omitempty"`
	Desired   *int                  `json:"desired,omitempty"` // set when the outcome changes the desired count
	Stop      []string              `json:"stop,omitempty"`    // instances to stop as the op ends
	Fail      map[string]string     `json:"fail,omitempty"`    // instances to stop as failed jobs as the op ends
	Timestamp int64                 `json:"timestamp"`
}

// AppOperationCancelRequest is the payload of AppOperationCancelType.
type AppOperationCancelRequest struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
}

// AppDestroyRequest is the payload of AppDestroyType.
type AppDestroyRequest struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
}
