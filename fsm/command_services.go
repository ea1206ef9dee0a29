package fsm

import "github.com/drove-go/drove/fsm/model"

// Local service and task commands.
const (
	// LocalServiceCreateType registers a local service, INACTIVE.
	LocalServiceCreateType MessageType = 16
	// LocalServiceSetType applies ACTIVATE, DEACTIVATE, DEPLOY_TEST_INSTANCE
	// or UPDATE_INSTANCE_COUNT: a change of intent, no instance touched.
	LocalServiceSetType MessageType = 17
	// LocalServiceOperationStartType starts an instance-changing operation.
	LocalServiceOperationStartType MessageType = 18
	// LocalServiceOperationStepType applies one engine step of it.
	LocalServiceOperationStepType MessageType = 19
	// LocalServiceOperationFinishType ends it.
	LocalServiceOperationFinishType MessageType = 20
	// LocalServiceOperationCancelType asks it to stop early.
	LocalServiceOperationCancelType MessageType = 21
	// LocalServiceDestroyType destroys a service (in two steps while
	// instances are still stopping).
	LocalServiceDestroyType MessageType = 22
	// TaskCreateType records a task and its one instance, PENDING.
	TaskCreateType MessageType = 23
	// TaskKillType asks a task to stop (a user KILL or its timeout).
	TaskKillType MessageType = 24
)

// LocalServiceCreateRequest is the payload of LocalServiceCreateType.
type LocalServiceCreateRequest struct {
	Service   model.LocalServiceInfo `json:"service"`
	Timestamp int64                  `json:"timestamp"`
}

// LocalServiceSetRequest is the payload of LocalServiceSetType. Op is the
// requested operation, checked against the validity table at apply time;
// InstancesPerHost is used by UPDATE_INSTANCE_COUNT.
type LocalServiceSetRequest struct {
	ServiceID        string              `json:"serviceId"`
	Op               model.OperationType `json:"op"`
	InstancesPerHost int                 `json:"instancesPerHost,omitempty"`
	ExpectVersion    uint64              `json:"expectVersion,omitempty"`
	Timestamp        int64               `json:"timestamp"`
}

// LocalServiceOperationStartRequest is the payload of LocalServiceOperationStartType.
type LocalServiceOperationStartRequest struct {
	ServiceID     string                `json:"serviceId"`
	Op            model.OperationRecord `json:"op"`
	ExpectVersion uint64                `json:"expectVersion,omitempty"`
	Timestamp     int64                 `json:"timestamp"`
}

// LocalServiceOperationStepRequest is the payload of LocalServiceOperationStepType.
type LocalServiceOperationStepRequest struct {
	ServiceID string            `json:"serviceId"`
	OpID      string            `json:"opId"`
	Step      int               `json:"step"`
	Place     []PlaceInstance   `json:"place,omitempty"`
	Stop      []string          `json:"stop,omitempty"`
	Fail      map[string]string `json:"fail,omitempty"`
	Timestamp int64             `json:"timestamp"`
}

// LocalServiceOperationFinishRequest is the payload of
// LocalServiceOperationFinishType. Emergency moves the service to
// EMERGENCY_DEACTIVATION_REQUESTED instead of its activation state.
type LocalServiceOperationFinishRequest struct {
	ServiceID string                `json:"serviceId"`
	OpID      string                `json:"opId"`
	Step      int                   `json:"step"`
	Status    model.OperationStatus `json:"status"`
	Message   string                `json:"message,omitempty"`
	Stop      []string              `json:"stop,omitempty"`
	Fail      map[string]string     `json:"fail,omitempty"`
	Emergency bool                  `json:"emergency,omitempty"`
	Timestamp int64                 `json:"timestamp"`
}

// LocalServiceOperationCancelRequest is the payload of LocalServiceOperationCancelType.
type LocalServiceOperationCancelRequest struct {
	ServiceID string `json:"serviceId"`
	Timestamp int64  `json:"timestamp"`
}

// LocalServiceDestroyRequest is the payload of LocalServiceDestroyType.
type LocalServiceDestroyRequest struct {
	ServiceID     string `json:"serviceId"`
	ExpectVersion uint64 `json:"expectVersion,omitempty"`
	Timestamp     int64  `json:"timestamp"`
}

// TaskCreateRequest is the payload of TaskCreateType. Place.Spec.Kind is
// TASK; Deadline (epoch ms, 0: none) is when the task times out.
type TaskCreateRequest struct {
	Place     PlaceInstance `json:"place"`
	Deadline  int64         `json:"deadline,omitempty"`
	Timestamp int64         `json:"timestamp"`
}

// TaskKillRequest is the payload of TaskKillType.
type TaskKillRequest struct {
	InstanceID string `json:"instanceId"`
	TimedOut   bool   `json:"timedOut,omitempty"`
	Timestamp  int64  `json:"timestamp"`
}
