package model

// LocalServiceSpec is a local service's specification (Drove's
// LocalServiceSpec): the application spec's fields without exposureSpec,
// with placement policy {"type":"LOCAL","hostLevel":bool}. It decodes like
// ApplicationSpec (the embedded type's UnmarshalJSON is promoted).
type LocalServiceSpec struct {
	ApplicationSpec
}

// ServiceID is the service's id: "{name}-{version}".
func (s LocalServiceSpec) ServiceID() string { return s.Name + "-" + s.Version }

// HostLevel reports whether instances bind their ports to the same host
// ports (placementPolicy.hostLevel).
func (s LocalServiceSpec) HostLevel() bool {
	return s.PlacementPolicy != nil && s.PlacementPolicy.HostLevel
}

// Validate checks the spec as Validate does an application's, except that
// placement must be LOCAL and an exposureSpec is ignored.
func (s LocalServiceSpec) Validate(o SpecOptions) []string {
	return s.ApplicationSpec.validate(o, true)
}

// Masked returns a copy with secrets hidden (see ApplicationSpec.Masked).
func (s LocalServiceSpec) Masked() LocalServiceSpec {
	return LocalServiceSpec{s.ApplicationSpec.Masked()}
}

// Bounds of instancesPerHost.
const (
	MinInstancesPerHost = 1
	MaxInstancesPerHost = 256
)

// ActivationState is a local service's persisted intent (Drove's ActivationState).
type ActivationState string

// Activation states.
const (
	ActivationActive        ActivationState = "ACTIVE"
	ActivationConfigTesting ActivationState = "CONFIG_TESTING"
	ActivationInactive      ActivationState = "INACTIVE"
)

// LocalServiceState is a local service's runtime state (Drove's LocalServiceState).
type LocalServiceState string

// Local service states.
const (
	LSInit                           LocalServiceState = "INIT"
	LSActivationRequested            LocalServiceState = "ACTIVATION_REQUESTED"
	LSConfigTestingRequested         LocalServiceState = "CONFIG_TESTING_REQUESTED"
	LSDeactivationRequested          LocalServiceState = "DEACTIVATION_REQUESTED"
	LSEmergencyDeactivationRequested LocalServiceState = "EMERGENCY_DEACTIVATION_REQUESTED"
	LSInactive                       LocalServiceState = "INACTIVE"
	LSActive                         LocalServiceState = "ACTIVE"
	LSConfigTesting                  LocalServiceState = "CONFIG_TESTING"
	LSAdjustingInstances             LocalServiceState = "ADJUSTING_INSTANCES"
	LSDeployingTestInstance          LocalServiceState = "DEPLOYING_TEST_INSTANCE"
	LSReplacingInstances             LocalServiceState = "REPLACING_INSTANCES"
	LSStoppingInstances              LocalServiceState = "STOPPING_INSTANCES"
	LSUpdatingInstancesCount         LocalServiceState = "UPDATING_INSTANCES_COUNT"
	LSDestroyRequested               LocalServiceState = "DESTROY_REQUESTED"
	LSDestroyed                      LocalServiceState = "DESTROYED"
)

// LocalServiceStates lists every state, in Drove's declaration order.
var LocalServiceStates = []LocalServiceState{LSInit, LSActivationRequested, LSConfigTestingRequested,
	LSDeactivationRequested, LSEmergencyDeactivationRequested, LSInactive, LSActive, LSConfigTesting,
	LSAdjustingInstances, LSDeployingTestInstance, LSReplacingInstances, LSStoppingInstances,
	LSUpdatingInstancesCount, LSDestroyRequested, LSDestroyed}

// StateOf is the steady state matching an activation state.
func (a ActivationState) StateOf() LocalServiceState { return LocalServiceState(a) }

// Local service operation types (Drove's LocalServiceOperationType JSON
// names). CREATE, REPLACE_INSTANCES, STOP_INSTANCES and DESTROY are the
// application constants of the same names.
const (
	OpActivate            OperationType = "ACTIVATE"
	OpDeactivate          OperationType = "DEACTIVATE"
	OpStopService         OperationType = "STOP" // alias of DEACTIVATE
	OpDeployTestInstance  OperationType = "DEPLOY_TEST_INSTANCE"
	OpUpdateInstanceCount OperationType = "UPDATE_INSTANCE_COUNT"
	OpAdjustInstances     OperationType = "ADJUST_INSTANCES"
	OpRestart             OperationType = "RESTART"
)

// LocalServiceOperations lists the operation types the API accepts.
var LocalServiceOperations = []OperationType{OpCreate, OpActivate, OpDeactivate, OpDeployTestInstance,
	OpUpdateInstanceCount, OpAdjustInstances, OpReplaceInstances, OpRestart, OpStopInstances, OpDestroy}

// allowedLSOps is §4.2/§5.4 of the reference: the operations a local
// service accepts per state (RESTART is REPLACE_INSTANCES of all).
var allowedLSOps = map[LocalServiceState][]OperationType{
	LSInactive:                       {OpActivate, OpDeployTestInstance, OpUpdateInstanceCount, OpAdjustInstances, OpDestroy},
	LSActive:                         {OpDeactivate, OpUpdateInstanceCount, OpAdjustInstances, OpReplaceInstances, OpRestart, OpStopInstances},
	LSConfigTesting:                  {OpActivate, OpDeactivate, OpAdjustInstances, OpReplaceInstances, OpRestart, OpStopInstances},
	LSEmergencyDeactivationRequested: {OpDeactivate},
}

// AllowedLocalServiceOperations returns the operations accepted in st (nil: none).
func AllowedLocalServiceOperations(st LocalServiceState) []OperationType { return allowedLSOps[st] }

// LocalServiceOperationAllowed reports whether op is accepted in st.
func LocalServiceOperationAllowed(st LocalServiceState, op OperationType) bool {
	if op == OpStopService {
		op = OpDeactivate
	}
	for _, o := range allowedLSOps[st] {
		if o == op {
			return true
		}
	}
	return false
}

// LocalServiceInfo is what the FSM stores per local service. Operation is
// the running (or last) instance-changing operation (ADJUST_INSTANCES,
// REPLACE_INSTANCES, STOP_INSTANCES); its AppID field holds the service id.
type LocalServiceInfo struct {
	ServiceID        string            `json:"serviceId"`
	Spec             LocalServiceSpec  `json:"spec"`
	InstancesPerHost int               `json:"instancesPerHost"`
	ActivationState  ActivationState   `json:"activationState"`
	State            LocalServiceState `json:"state"`
	Operation        *OperationRecord  `json:"operation,omitempty"`
	Created          int64             `json:"created"`
	Updated          int64             `json:"updated"`
	// Version grows with every change (compare-and-set, as for apps).
	Version uint64 `json:"version"`
}

// ActiveOperation returns the running operation, or nil.
func (s LocalServiceInfo) ActiveOperation() *OperationRecord {
	if s.Operation != nil && s.Operation.Status == OpRunning {
		return s.Operation
	}
	return nil
}

// LocalServiceSummary is one entry of GET /localservices (Drove's shape).
type LocalServiceSummary struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	InstancesPerHost int               `json:"instancesPerHost"`
	HealthyInstances int               `json:"healthyInstances"`
	TotalCPUs        int               `json:"totalCPUs"`
	TotalMemory      int64             `json:"totalMemory"`
	Tags             map[string]string `json:"tags"`
	ActivationState  ActivationState   `json:"activationState"`
	State            LocalServiceState `json:"state"`
	Created          int64             `json:"created"`
	Updated          int64             `json:"updated"`
}

// LocalServiceInstanceInfo is a local-service instance as the API shows it.
type LocalServiceInstanceInfo struct {
	ServiceID    string               `json:"serviceId"`
	ServiceName  string               `json:"serviceName"`
	InstanceID   string               `json:"instanceId"`
	ExecutorID   string               `json:"executorId"`
	LocalInfo    LocalInstanceInfo    `json:"localInfo"`
	Resources    []ResourceAllocation `json:"resources"`
	State        InstanceState        `json:"state"`
	Metadata     map[string]string    `json:"metadata"`
	ErrorMessage string               `json:"errorMessage"`
	Created      int64                `json:"created"`
	Updated      int64                `json:"updated"`
}

// LocalServiceInstance renders a local-service instance record for the API.
func LocalServiceInstance(r InstanceRecord) LocalServiceInstanceInfo {
	i := r.Info
	return LocalServiceInstanceInfo{ServiceID: i.AppID, ServiceName: i.AppName, InstanceID: i.InstanceID,
		ExecutorID: i.ExecutorID, LocalInfo: i.LocalInfo, Resources: i.Resources, State: i.State,
		Metadata: i.Metadata, ErrorMessage: i.ErrorMessage, Created: i.Created, Updated: i.Updated}
}
