package model

import "time"

// InstanceState is the state of an application instance (Drove's InstanceState).
type InstanceState string

// Instance states, as in Drove.
const (
	InstancePending              InstanceState = "PENDING"
	InstanceProvisioning         InstanceState = "PROVISIONING"
	InstanceProvisioningFailed   InstanceState = "PROVISIONING_FAILED"
	InstanceStarting             InstanceState = "STARTING"
	InstanceStartFailed          InstanceState = "START_FAILED"
	InstanceUnready              InstanceState = "UNREADY"
	InstanceReadinessCheckFailed InstanceState = "READINESS_CHECK_FAILED"
	InstanceReady                InstanceState = "READY"
	InstanceHealthy              InstanceState = "HEALTHY"
	InstanceUnhealthy            InstanceState = "UNHEALTHY"
	InstanceDeprovisioning       InstanceState = "DEPROVISIONING"
	InstanceStopping             InstanceState = "STOPPING"
	InstanceStopped              InstanceState = "STOPPED"
	InstanceLost                 InstanceState = "LOST"
	InstanceUnknown              InstanceState = "UNKNOWN"
)

// IsTerminal reports STOPPED or LOST: the instance will never run again.
func (s InstanceState) IsTerminal() bool { return s == InstanceStopped || s == InstanceLost }

// IsActive reports Drove's ACTIVE_STATES (the instance holds or will hold resources).
func (s InstanceState) IsActive() bool {
	switch s {
	case InstancePending, InstanceProvisioning, InstanceStarting, InstanceUnready, InstanceReady,
		InstanceHealthy, InstanceUnhealthy, InstanceDeprovisioning, InstanceStopping,
		TaskRunning, TaskRunCompleted:
		return true
	}
	return false
}

// IsRunning reports Drove's RUNNING_STATES (UNREADY, READY, HEALTHY).
func (s InstanceState) IsRunning() bool {
	return s == InstanceUnready || s == InstanceReady || s == InstanceHealthy
}

// ParseInstanceState accepts a state name case-insensitively.
func ParseInstanceState(s string) (InstanceState, bool) {
	st := InstanceState(upper(s))
	switch st {
	case InstancePending, InstanceProvisioning, InstanceProvisioningFailed, InstanceStarting,
		InstanceStartFailed, InstanceUnready, InstanceReadinessCheckFailed, InstanceReady, InstanceHealthy,
		InstanceUnhealthy, InstanceDeprovisioning, InstanceStopping, InstanceStopped, InstanceLost, InstanceUnknown,
		TaskRunning, TaskRunCompleted, TaskRunFailed:
		return st, true
	}
	return "", false
}

// PortType is the protocol of an exposed port.
type PortType string

// Port types.
const (
	PortHTTP  PortType = "HTTP"
	PortHTTPS PortType = "HTTPS"
	PortTCP   PortType = "TCP"
	PortUDP   PortType = "UDP"
)

// PortSpec is a port a container exposes (Drove's PortSpec).
type PortSpec struct {
	Name string   `json:"name"`
	Port int      `json:"port"`
	Type PortType `json:"type"`
}

// InstancePort is where an exposed port ended up on the executor host.
type InstancePort struct {
	ContainerPort int      `json:"containerPort"`
	HostPort      int      `json:"hostPort"`
	PortType      PortType `json:"portType"`
}

// LocalInstanceInfo is InstanceInfo.localInfo: host and port mapping.
type LocalInstanceInfo struct {
	Hostname string                  `json:"hostname"`
	Ports    map[string]InstancePort `json:"ports"`
}

// Resource allocation types.
const (
	ResourceCPU    = "CPU"
	ResourceMemory = "MEMORY"
)

// ResourceAllocation is a CPU or memory allocation on one executor, per NUMA
// node (Drove's polymorphic ResourceAllocation: type CPU with cores, or type
// MEMORY with memoryInMB).
type ResourceAllocation struct {
	Type       string        `json:"type"`
	Cores      map[int][]int `json:"cores,omitempty"`
	MemoryInMB map[int]int64 `json:"memoryInMB,omitempty"`
}

// Executable is what to run (Drove's ExecutableCoordinates; only DOCKER exists).
type Executable struct {
	Type              string `json:"type"`
	URL               string `json:"url"`
	DockerPullTimeout string `json:"dockerPullTimeout,omitempty"`
}

// InstanceSpec is everything an executor needs to run one instance (Drove's
// ApplicationInstanceSpec, with its JSON field names). The controller copies
// the application spec's volumes, configs, checks, logging, devices,
// pre-shutdown and user into it when it places the instance (configs as
// they are: CONTROLLER_HTTP_FETCH configs are not fetched by the controller
// yet and reach the executor unresolved). Nil members mean "not set":
// no checks, the executor's default logging, no pre-shutdown hooks.
//
// Kind says what the instance belongs to. For an application AppID/AppName
// are the app's id and name; for a local-service instance the service's id
// and name (HostLevel binds every port to the same host port); for a task
// both are the task's sourceAppName and TaskID is the client's task id.
type InstanceSpec struct {
	Kind              InstanceKind         `json:"kind,omitempty"`
	AppID             string               `json:"appId"`
	AppName           string               `json:"appName"`
	InstanceID        string               `json:"instanceId"`
	Executable        Executable           `json:"executable"`
	Resources         []ResourceAllocation `json:"resources"`
	Ports             []PortSpec           `json:"ports"`
	Volumes           []MountedVolume      `json:"volumes,omitempty"`
	Configs           []ConfigSpec         `json:"configs,omitempty"`
	Healthcheck       *CheckSpec           `json:"healthcheck,omitempty"`
	Readiness         *CheckSpec           `json:"readiness,omitempty"`
	LoggingSpec       *LoggingSpec         `json:"loggingSpec,omitempty"`
	Env               map[string]string    `json:"env,omitempty"`
	Args              []string             `json:"args,omitempty"`
	Devices           []DeviceSpec         `json:"devices,omitempty"`
	PreShutdown       *PreShutdownSpec     `json:"preShutdown,omitempty"`
	UserSpec          *UserSpec            `json:"userSpec,omitempty"`
	InstanceAuthToken string               `json:"instanceAuthToken,omitempty"`
	HostLevel         bool                 `json:"hostLevelInstance,omitempty"`
	TaskID            string               `json:"taskId,omitempty"`
}

// InstanceInfo is an instance as the API shows it (Drove's InstanceInfo).
type InstanceInfo struct {
	AppID        string               `json:"appId"`
	AppName      string               `json:"appName"`
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

// InstanceRecord is what the FSM stores per instance: the API view, the spec
// to run, whether a stop was requested, and the newest report applied.
type InstanceRecord struct {
	Info          InstanceInfo `json:"info"`
	Spec          InstanceSpec `json:"spec"`
	StopRequested bool         `json:"stopRequested,omitempty"`
	// FailReason is why the controller stopped this instance as a failed
	// job (timed out, unhealthy); reports never overwrite it.
	FailReason string `json:"failReason,omitempty"`
	ReportBoot int64  `json:"reportBoot,omitempty"`
	ReportSeq  uint64 `json:"reportSeq,omitempty"`

	// Task bookkeeping (Kind TASK only): the result once known, whether
	// the controller killed it for exceeding its timeout, and that
	// deadline (epoch ms, 0: none).
	TaskResult   *TaskResult `json:"taskResult,omitempty"`
	TaskTimedOut bool        `json:"taskTimedOut,omitempty"`
	TaskDeadline int64       `json:"taskDeadline,omitempty"`
}

// Kind is the record's instance kind.
func (r *InstanceRecord) Kind() InstanceKind { return r.Spec.Kind }

// BelongsTo reports whether the instance is of kind k and owned by id (an
// app id, a service id, or a task's sourceAppName).
func (r *InstanceRecord) BelongsTo(k InstanceKind, id string) bool {
	return r.Spec.Kind == k && r.Info.AppID == id
}

// Newer reports whether a report with boot and seq is newer than the last one applied.
func (r InstanceRecord) Newer(boot int64, seq uint64) bool {
	if boot != r.ReportBoot {
		return boot > r.ReportBoot
	}
	return seq > r.ReportSeq
}

// StartBudget is the least time an operation gives a start of this instance
// before it counts as failed (Drove's ControllerUtils.computeTimeout): the
// image pull plus every readiness and health check attempt.
func (s InstanceSpec) StartBudget() time.Duration {
	return DockerPullTimeout(s.Executable) + s.Readiness.budget() + s.Healthcheck.budget()
}

// budget is a check's initial delay plus all of its attempts.
func (c *CheckSpec) budget() time.Duration {
	if c == nil {
		return 0
	}
	return c.InitialDelay.D() + time.Duration(c.Attempts)*(c.Timeout.D()+c.Interval.D())
}
