package model

// ApplicationState is an application's state (Drove's ApplicationState).
type ApplicationState string

// Application states.
const (
	AppInit                      ApplicationState = "INIT"
	AppMonitoring                ApplicationState = "MONITORING"
	AppRunning                   ApplicationState = "RUNNING"
	AppOutageDetected            ApplicationState = "OUTAGE_DETECTED"
	AppScalingRequested          ApplicationState = "SCALING_REQUESTED"
	AppStopInstancesRequested    ApplicationState = "STOP_INSTANCES_REQUESTED"
	AppReplaceInstancesRequested ApplicationState = "REPLACE_INSTANCES_REQUESTED"
	AppDestroyRequested          ApplicationState = "DESTROY_REQUESTED"
	AppDestroyed                 ApplicationState = "DESTROYED"
	AppFailed                    ApplicationState = "FAILED"
)

// IsActive reports Drove's ACTIVE_APP_STATES (the app is running or changing).
func (s ApplicationState) IsActive() bool {
	switch s {
	case AppRunning, AppOutageDetected, AppScalingRequested, AppStopInstancesRequested,
		AppReplaceInstancesRequested, AppDestroyRequested:
		return true
	}
	return false
}

// OperationType is an application operation (Drove's ApplicationOperationType
// JSON names).
type OperationType string

// Application operation types.
const (
	OpCreate           OperationType = "CREATE"
	OpStartInstances   OperationType = "START_INSTANCES"
	OpScale            OperationType = "SCALE"
	OpSuspend          OperationType = "SUSPEND"
	OpStopInstances    OperationType = "STOP_INSTANCES"
	OpReplaceInstances OperationType = "REPLACE_INSTANCES"
	OpDestroy          OperationType = "DESTROY"
	OpRecover          OperationType = "RECOVER"
)

// FailureStrategy is what an operation does when jobs fail (Drove's
// FailureStrategy; Drove ignores it, drove stops the operation on STOP).
type FailureStrategy string

// Failure strategies.
const (
	FailureStop     FailureStrategy = "STOP"
	FailureRollback FailureStrategy = "ROLLBACK"
)

// OperationStatus is where a replicated operation record stands.
type OperationStatus string

// Operation statuses.
const (
	OpRunning   OperationStatus = "RUNNING"
	OpCompleted OperationStatus = "COMPLETED"
	OpFailed    OperationStatus = "FAILED"
	OpCancelled OperationStatus = "CANCELLED"
)

// OperationRecord is an accepted application operation as replicated in the
// FSM. The engine on the leader derives every next step from it and from the
// instance records, so a new leader resumes exactly where the old one was.
type OperationRecord struct {
	ID     string        `json:"id"`
	AppID  string        `json:"appId"`
	Type   OperationType `json:"type"` // SCALE, REPLACE_INSTANCES, STOP_INSTANCES or RECOVER after translation
	Source OperationType `json:"source"`

	RequiredInstances int      `json:"requiredInstances"`     // target count (SCALE, RECOVER)
	InstanceIDs       []string `json:"instanceIds,omitempty"` // REPLACE / STOP targets
	StopFirst         bool     `json:"stopFirst,omitempty"`
	SkipRespawn       bool     `json:"skipRespawn,omitempty"`

	TimeoutMs       int64           `json:"timeoutMs"`
	Parallelism     int             `json:"parallelism"`
	FailureStrategy FailureStrategy `json:"failureStrategy"`

	// Steps counts committed engine steps; a step planned against another
	// count is refused, so a leader acting on a stale view cannot act twice.
	Steps           int             `json:"steps"`
	Status          OperationStatus `json:"status"`
	CancelRequested bool            `json:"cancelRequested,omitempty"`
	Message         string          `json:"message,omitempty"`
	JobsTotal       int             `json:"jobsTotal"`
	JobsDone        int             `json:"jobsDone"`
	JobsFailed      int             `json:"jobsFailed"`
	Started         int64           `json:"started"`
	Deadline        int64           `json:"deadline"`
	Finished        int64           `json:"finished,omitempty"`
}

// ApplicationInfo is what the FSM stores per application (Drove's
// ApplicationInfo plus its state and current or last operation).
type ApplicationInfo struct {
	AppID     string            `json:"appId"`
	Spec      ApplicationSpec   `json:"spec"`
	Instances int               `json:"instances"` // desired count
	State     ApplicationState  `json:"state"`
	Operation *OperationRecord  `json:"operation,omitempty"` // active, or the last finished one
	Created   int64             `json:"created"`
	Updated   int64             `json:"updated"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	// Version grows with every change, so a proposer can ask the FSM to
	// apply a command only if the app is still as it read it.
	Version uint64 `json:"version"`
}

// ActiveOperation returns the running operation, or nil.
func (a ApplicationInfo) ActiveOperation() *OperationRecord {
	if a.Operation != nil && a.Operation.Status == OpRunning {
		return a.Operation
	}
	return nil
}

// AppSummary is one entry of GET /applications (Drove's AppSummary).
type AppSummary struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	RequiredInstances int               `json:"requiredInstances"`
	HealthyInstances  int               `json:"healthyInstances"`
	TotalCPUs         int               `json:"totalCPUs"`
	TotalMemory       int64             `json:"totalMemory"`
	Tags              map[string]string `json:"tags"`
	State             ApplicationState  `json:"state"`
	Created           int64             `json:"created"`
	Updated           int64             `json:"updated"`
}
