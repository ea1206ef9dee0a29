package model

// ExecutorState is an executor's state as the controller sees it (Drove's ExecutorState).
type ExecutorState string

// Executor states.
const (
	ExecutorActive             ExecutorState = "ACTIVE"
	ExecutorUnready            ExecutorState = "UNREADY"
	ExecutorBlacklistRequested ExecutorState = "BLACKLIST_REQUESTED"
	ExecutorBlacklisted        ExecutorState = "BLACKLISTED"
	ExecutorRemoved            ExecutorState = "REMOVED"
)

// IsBlacklisted reports BLACKLIST_REQUESTED or BLACKLISTED.
func (s ExecutorState) IsBlacklisted() bool {
	return s == ExecutorBlacklistRequested || s == ExecutorBlacklisted
}

// TransportType is how the executor's API is reached.
type TransportType string

// Transport types.
const (
	TransportHTTP  TransportType = "HTTP"
	TransportHTTPS TransportType = "HTTPS"
)

// ResourceLayout is the cores and memory an executor offers, per NUMA node.
// Map keys are NUMA node ids (JSON object keys as strings, as in Drove).
type ResourceLayout struct {
	Cores  map[int][]int `json:"cores"`
	Memory map[int]int64 `json:"memory"` // MB
}

// TotalCores counts the cores across NUMA nodes.
func (l ResourceLayout) TotalCores() int {
	n := 0
	for _, c := range l.Cores {
		n += len(c)
	}
	return n
}

// TotalMemory sums memory (MB) across NUMA nodes.
func (l ResourceLayout) TotalMemory() int64 {
	var n int64
	for _, m := range l.Memory {
		n += m
	}
	return n
}

// ExecutorInfo is the replicated registry entry of one executor: its static
// description as registered, and its state. Liveness is not stored here (it
// is gossip's job); only changes are.
type ExecutorInfo struct {
	ExecutorID    string            `json:"executorId"`
	Hostname      string            `json:"hostname"`
	Port          int               `json:"port"`
	TransportType TransportType     `json:"transportType"`
	Layout        ResourceLayout    `json:"layout"`
	Tags          []string          `json:"tags"`
	Metadata      map[string]string `json:"metadata"`
	State         ExecutorState     `json:"state"`
	// PreviousState is the state before REMOVED, restored when the executor rejoins.
	PreviousState ExecutorState `json:"previousState,omitempty"`
	Version       string        `json:"version,omitempty"`
	Registered    int64         `json:"registered"`       // epoch ms of first registration
	Joined        int64         `json:"joined,omitempty"` // epoch ms of the last registration as new or back from REMOVED
	Updated       int64         `json:"updated"`          // epoch ms of the last committed change
	Removed       int64         `json:"removed,omitempty"`
	Boot          int64         `json:"boot,omitempty"` // the registered agent's start time (ExecutorRegistration.Boot)
	// Controller-owned maintenance state: a drain (never cancelled),
	// deactivation (no new placements), and gone (removed for good by a
	// drain with markGone: its id is refused afterwards).
	Drain       *DrainInfo `json:"drain,omitempty"`
	Deactivated bool       `json:"deactivated,omitempty"`
	Gone        bool       `json:"gone,omitempty"`
	// Ready latches, as Drove's executor does, once the executor's local
	// services were all healthy on it after it (re)joined: until then it
	// is UNREADY and takes no application instances or tasks.
	Ready bool `json:"ready,omitempty"`
}

// DrainState is the executor's drain state, or "".
func (e ExecutorInfo) DrainState() DrainState {
	if e.Drain == nil {
		return ""
	}
	return e.Drain.State
}

// ExecutorSummary is one entry of GET /cluster/executors (Drove's shape).
type ExecutorSummary struct {
	ExecutorID    string        `json:"executorId"`
	Hostname      string        `json:"hostname"`
	Port          int           `json:"port"`
	TransportType TransportType `json:"transportType"`
	FreeCores     int           `json:"freeCores"`
	UsedCores     int           `json:"usedCores"`
	FreeMemory    int64         `json:"freeMemory"`
	UsedMemory    int64         `json:"usedMemory"`
	Tags          []string      `json:"tags"`
	State         ExecutorState `json:"state"`
	// drove extensions: maintenance state (omitted when unset).
	DrainState  DrainState `json:"drainState,omitempty"`
	Deactivated bool       `json:"deactivated,omitempty"`
}

// CPUResources is the CPU half of an executor's resource state (Drove's shape).
type CPUResources struct {
	Type      string        `json:"type"` // "CPU"
	FreeCores map[int][]int `json:"freeCores"`
	UsedCores map[int][]int `json:"usedCores"`
}

// MemoryResources is the memory half of an executor's resource state.
type MemoryResources struct {
	Type       string        `json:"type"` // "MEMORY"
	FreeMemory map[int]int64 `json:"freeMemory"`
	UsedMemory map[int]int64 `json:"usedMemory"`
}

// ExecutorResourceState is ExecutorNodeData.state (Drove's ExecutorResourceSnapshot).
type ExecutorResourceState struct {
	ExecutorID string          `json:"executorId"`
	CPUs       CPUResources    `json:"cpus"`
	Memory     MemoryResources `json:"memory"`
	Layout     ResourceLayout  `json:"layout"`
}

// ExecutorNodeData is GET /cluster/executors/{id} (Drove's ExecutorNodeData).
type ExecutorNodeData struct {
	Type          string                     `json:"type"` // "EXECUTOR"
	Hostname      string                     `json:"hostname"`
	Port          int                        `json:"port"`
	TransportType TransportType              `json:"transportType"`
	Updated       int64                      `json:"updated"`
	State         ExecutorResourceState      `json:"state"`
	Instances     []InstanceInfo             `json:"instances"`
	Tasks         []TaskInfo                 `json:"tasks"`
	ServiceInsts  []LocalServiceInstanceInfo `json:"serviceInstances"`
	Tags          []string                   `json:"tags"`
	Metadata      map[string]string          `json:"metadata"`
	ExecutorState ExecutorState              `json:"executorState"`
	DrainState    DrainState                 `json:"drainState,omitempty"`
	Deactivated   bool                       `json:"deactivated,omitempty"`
}
