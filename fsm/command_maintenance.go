package fsm

import "github.com/drove-go/drove/fsm/model"

// Executor maintenance and maintenance-schedule commands.
const (
	// ExecutorsBlacklistType moves executors to BLACKLIST_REQUESTED.
	ExecutorsBlacklistType MessageType = 25
	// ExecutorsUnblacklistType moves blacklisted executors back to ACTIVE.
	ExecutorsUnblacklistType MessageType = 26
	// ExecutorBlacklistedType records that an executor's instances were migrated.
	ExecutorBlacklistedType MessageType = 27
	// ExecutorDrainType starts draining an executor.
	ExecutorDrainType MessageType = 28
	// ExecutorDrainedType records that everything on a draining executor ended.
	ExecutorDrainedType MessageType = 29
	// ExecutorActivationType deactivates or reactivates an executor.
	ExecutorActivationType MessageType = 30
	// MaintenanceScheduleType replaces the maintenance schedule.
	MaintenanceScheduleType MessageType = 31
	// MachinesDownType starts maintenance on scheduled machines.
	MachinesDownType MessageType = 32
	// MachinesUpType ends maintenance on DOWN machines.
	MachinesUpType MessageType = 33
	// ExecutorsReadyType latches executors ready (ExecutorsBlacklistRequest payload).
	ExecutorsReadyType MessageType = 34
)

// ExecutorsBlacklistRequest is the payload of ExecutorsBlacklistType and
// ExecutorsUnblacklistType. Apply returns a model.BlacklistResult.
type ExecutorsBlacklistRequest struct {
	ExecutorIDs []string `json:"executorIds"`
	Timestamp   int64    `json:"timestamp"`
}

// ExecutorIDRequest is the payload of ExecutorBlacklistedType and ExecutorDrainedType.
type ExecutorIDRequest struct {
	ExecutorID string `json:"executorId"`
	Timestamp  int64  `json:"timestamp"`
}

// ExecutorDrainRequest is the payload of ExecutorDrainType.
type ExecutorDrainRequest struct {
	ExecutorID       string `json:"executorId"`
	MaxGracePeriodMs int64  `json:"maxGracePeriodMs,omitempty"`
	MarkGone         bool   `json:"markGone,omitempty"`
	Timestamp        int64  `json:"timestamp"`
}

// ExecutorActivationRequest is the payload of ExecutorActivationType.
// Reactivation also ends a finished (DRAINED) drain.
type ExecutorActivationRequest struct {
	ExecutorID string `json:"executorId"`
	Deactivate bool   `json:"deactivate"`
	Timestamp  int64  `json:"timestamp"`
}

// MaintenanceScheduleRequest is the payload of MaintenanceScheduleType.
type MaintenanceScheduleRequest struct {
	Schedule  model.MaintenanceSchedule `json:"schedule"`
	Timestamp int64                     `json:"timestamp"`
}

// MachinesRequest is the payload of MachinesDownType and MachinesUpType.
type MachinesRequest struct {
	Machines  []model.MachineID `json:"machines"`
	Timestamp int64             `json:"timestamp"`
}
