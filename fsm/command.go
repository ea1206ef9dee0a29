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
