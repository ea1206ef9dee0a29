package model

// InstanceKind says what an instance record belongs to.
type InstanceKind string

// Instance kinds. Applications are the zero value, so records written
// before local services and tasks existed keep their meaning.
const (
	KindApp          InstanceKind = ""
	KindLocalService InstanceKind = "LOCAL_SERVICE"
	KindTask         InstanceKind = "TASK"
)

// Task states (Drove's TaskState) that application instances do not have;
// PENDING, PROVISIONING, PROVISIONING_FAILED, STARTING, DEPROVISIONING,
// STOPPED, LOST and UNKNOWN are shared with InstanceState.
const (
	TaskRunning      InstanceState = "RUNNING"
	TaskRunCompleted InstanceState = "RUN_COMPLETED"
	TaskRunFailed    InstanceState = "RUN_FAILED"
)

// IsTaskActive reports Drove's TaskState.ACTIVE_STATES.
func (s InstanceState) IsTaskActive() bool {
	switch s {
	case InstancePending, InstanceProvisioning, InstanceStarting, TaskRunning, TaskRunCompleted, InstanceDeprovisioning:
		return true
	}
	return false
}

// TaskResultStatus is how a task ended (Drove's TaskResult.Status).
type TaskResultStatus string

// Task result statuses.
const (
	TaskSuccessful TaskResultStatus = "SUCCESSFUL"
	TaskTimedOut   TaskResultStatus = "TIMED_OUT"
	TaskCancelled  TaskResultStatus = "CANCELLED"
	TaskFailed     TaskResultStatus = "FAILED"
	TaskLost       TaskResultStatus = "LOST"
)

// TaskResult is a finished task's outcome (Drove's TaskResult). ExitCode
// is -1 when the container did not exit by itself.
type TaskResult struct {
	Status   TaskResultStatus `json:"status"`
	ExitCode int64            `json:"exitCode"`
}

// ExitResult is the result of a task container that exited with code.
func ExitResult(code int64) TaskResult {
	if code == 0 {
		return TaskResult{Status: TaskSuccessful}
	}
	return TaskResult{Status: TaskFailed, ExitCode: code}
}
