package model

// EventType is the type of a cluster event (Drove's DroveEventType).
type EventType string

// Event types, with Drove's names.
const (
	EventAppStateChange                  EventType = "APP_STATE_CHANGE"
	EventInstanceStateChange             EventType = "INSTANCE_STATE_CHANGE"
	EventTaskStateChange                 EventType = "TASK_STATE_CHANGE"
	EventLocalServiceStateChange         EventType = "LOCAL_SERVICE_STATE_CHANGE"
	EventLocalServiceInstanceStateChange EventType = "LOCAL_SERVICE_INSTANCE_STATE_CHANGE"
	EventExecutorAdded                   EventType = "EXECUTOR_ADDED"
	EventExecutorRemoved                 EventType = "EXECUTOR_REMOVED"
	EventExecutorBlacklistRequested      EventType = "EXECUTOR_BLACKLIST_REQUESTED"
	EventExecutorBlacklisted             EventType = "EXECUTOR_BLACKLISTED"
	EventExecutorUnBlacklisted           EventType = "EXECUTOR_UN_BLACKLISTED"
	EventMaintenanceModeSet              EventType = "MAINTENANCE_MODE_SET"
	EventMaintenanceModeRemoved          EventType = "MAINTENANCE_MODE_REMOVED"
	EventLeadershipAcquired              EventType = "LEADERSHIP_ACQUIRED"
	EventLeadershipLost                  EventType = "LEADERSHIP_LOST"
)

// Event metadata keys used so far (Drove's EventDataType names).
const (
	MetaHostname = "HOSTNAME"
	MetaNodeID   = "NODE_ID"
	MetaReason   = "REASON"
)

// Event is one cluster event (Drove's DroveEvent): id, type, epoch-ms time
// and typed metadata.
type Event struct {
	Type     EventType      `json:"type"`
	ID       string         `json:"id"`
	Time     int64          `json:"time"`
	Metadata map[string]any `json:"metadata"`
}

// IndexedEvent is an event with its position in the replicated event log.
// Index grows by one per event and never repeats, so watchers resume from it.
type IndexedEvent struct {
	Index uint64 `json:"index"`
	Event
}

// EventsList is the body of GET /cluster/events/latest.
type EventsList struct {
	Events       []Event `json:"events"`
	LastSyncTime int64   `json:"lastSyncTime"`
}

// EventsSummary is the body of GET /cluster/events/summary.
type EventsSummary struct {
	EventsCount  map[EventType]int `json:"eventsCount"`
	LastSyncTime int64             `json:"lastSyncTime"`
}

// Executor and instance event metadata keys (Drove's EventDataType names).
const (
	MetaExecutorID   = "EXECUTOR_ID"
	MetaPort         = "PORT"
	MetaAppID        = "APP_ID"
	MetaAppName      = "APP_NAME"
	MetaInstanceID   = "INSTANCE_ID"
	MetaExecutorHost = "EXECUTOR_HOST"
	MetaPorts        = "PORTS"
	MetaCurrentState = "CURRENT_STATE"
	MetaCreated      = "CREATED"
	MetaError        = "ERROR"
)

// Application event metadata keys (Drove's EventDataType names).
const (
	MetaAppVersion       = "APP_VERSION"
	MetaExecutable       = "EXECUTABLE"
	MetaCPUCount         = "CPU_COUNT"
	MetaMemory           = "MEMORY"
	MetaPlacementPolicy  = "PLACEMENT_POLICY"
	MetaVhost            = "VHOST"
	MetaCurrentInstances = "CURRENT_INSTANCES"
)

// Local service and task event metadata keys (Drove's EventDataType names).
const (
	MetaLocalServiceID          = "LOCAL_SERVICE_ID"
	MetaLocalServiceName        = "LOCAL_SERVICE_NAME"
	MetaLocalServiceVersion     = "LOCAL_SERVICE_VERSION"
	MetaCurrentInstancesPerHost = "CURRENT_INSTANCES_PER_HOST"
	MetaServiceID               = "SERVICE_ID"
	MetaServiceName             = "SERVICE_NAME"
	MetaTaskID                  = "TASK_ID"
	MetaResultStatus            = "RESULT_STATUS"
	MetaResultExitCode          = "RESULT_EXIT_CODE"
)
