package model

// Wire types between controllers and executors (agents). Messages from the
// leader to an agent go to the agent's POST /apis/v1/messages; reports and
// registrations from an agent go to any controller's /apis/v1/internal/…
// endpoints and are forwarded to the leader. Both directions authenticate
// with the cluster secret (headers Cluster-Authorization and NodeId).

// MessageType is the type of a message to an executor (Drove's names).
type MessageType string

// Executor message types.
const (
	MsgStartInstance MessageType = "START_INSTANCE"
	MsgStopInstance  MessageType = "STOP_INSTANCE"
)

// MessageHeader is Drove's message header.
type MessageHeader struct {
	ID          string `json:"id"`
	SenderType  string `json:"senderType"` // CONTROLLER | EXECUTOR
	Direction   string `json:"direction"`  // REQUEST | REPLY
	ReplyToID   string `json:"replyToId,omitempty"`
	MessageTime int64  `json:"messageTime"`
}

// ExecutorAddress identifies the executor a message is for.
type ExecutorAddress struct {
	ExecutorID    string        `json:"executorId"`
	Hostname      string        `json:"hostname"`
	Port          int           `json:"port"`
	TransportType TransportType `json:"transportType"`
}

// ExecutorMessage is a command from the leader to an executor. START_INSTANCE
// carries Spec; STOP_INSTANCE carries InstanceID. Both are idempotent by
// instance id: repeating one is harmless.
type ExecutorMessage struct {
	Type       MessageType     `json:"type"`
	Header     MessageHeader   `json:"header"`
	Address    ExecutorAddress `json:"address"`
	Spec       *InstanceSpec   `json:"spec,omitempty"`
	InstanceID string          `json:"instanceId,omitempty"`
	// GracePeriodMs, on a stop, bounds the time between SIGTERM and
	// SIGKILL below the executor's own stop grace (a drain's
	// maxGracePeriod); 0 keeps the executor's.
	GracePeriodMs int64 `json:"gracePeriodMs,omitempty"`
}

// MessageStatus is an executor's answer to a message.
type MessageStatus string

// Message statuses.
const (
	MessageAccepted MessageStatus = "ACCEPTED"
	MessageHandled  MessageStatus = "HANDLED"
	MessageRejected MessageStatus = "REJECTED"
	MessageFailed   MessageStatus = "FAILED"
)

// MessageResponse is the reply to an ExecutorMessage.
type MessageResponse struct {
	Header  MessageHeader `json:"header"`
	Status  MessageStatus `json:"status"`
	Message string        `json:"message,omitempty"`
}

// ExecutorRegistration is what an executor sends to register (and re-sends
// when anything changes, and periodically to heal). The leader commits it
// only when it differs from what is stored.
type ExecutorRegistration struct {
	ExecutorID    string            `json:"executorId"`
	Hostname      string            `json:"hostname"`
	Port          int               `json:"port"`
	TransportType TransportType     `json:"transportType"`
	Layout        ResourceLayout    `json:"layout"`
	Tags          []string          `json:"tags"`
	Metadata      map[string]string `json:"metadata"`
	// State is what the executor asks for: ACTIVE, or UNREADY while it is not
	// ready for application instances. Blacklisting is the controller's.
	State   ExecutorState `json:"state"`
	Version string        `json:"version,omitempty"`
	// Boot is the agent's start time (epoch ms): it tells this incarnation
	// of the executor from earlier ones (the "boot" tag of its gossip meta).
	Boot int64 `json:"boot,omitempty"`
}

// InstanceReport is an executor's report of one instance. Boot (the agent's
// start time, epoch ms) and Seq (incremented on every change of that
// instance within one boot) order reports: the leader ignores a report that
// is not newer than the last one it applied, so a delayed report never
// overwrites a newer state.
//
// TaskResult is set for a task once its container has ended (or it was
// killed, or it failed to start).
type InstanceReport struct {
	Info       InstanceInfo `json:"info"`
	Boot       int64        `json:"boot"`
	Seq        uint64       `json:"seq"`
	TaskResult *TaskResult  `json:"taskResult,omitempty"`
}

// ExecutorReport is an executor's report: the state of instances that
// changed (or all of them, on the slow healing period) and the resources it
// believes are in use.
type ExecutorReport struct {
	ExecutorID string           `json:"executorId"`
	Instances  []InstanceReport `json:"instances"`
	UsedCores  int              `json:"usedCores"`
	UsedMemory int64            `json:"usedMemory"`
	Full       bool             `json:"full"` // every instance the agent runs is included
}

// ReportAck is the leader's answer to a report or registration.
type ReportAck struct {
	// Reregister asks the executor to register again (the leader does not
	// know it, or has marked it REMOVED).
	Reregister bool `json:"reregister"`
	Applied    int  `json:"applied"` // instance reports that changed state
}

// ExpectedInstances is the leader's view of what an executor should run
// (GET /apis/v1/internal/executors/{id}/instances/expected): Run lists
// instances that must be running (or starting), Stop those that must stop.
type ExpectedInstances struct {
	ExecutorID string         `json:"executorId"`
	Known      bool           `json:"known"` // false: the executor is not registered (or REMOVED)
	Run        []ExpectedSpec `json:"run"`
	Stop       []string       `json:"stop"`
	// StopGracePeriodMs bounds the kill grace of those stops (a drain's
	// maxGracePeriod), as GracePeriodMs does on a STOP_INSTANCE message.
	StopGracePeriodMs int64 `json:"stopGracePeriodMs,omitempty"`
	// Shutdown (with Known false) tells an executor the controllers retired
	// (drained with markGone, or on a machine DOWN for maintenance) to stop
	// everything it runs.
	Shutdown bool `json:"shutdown,omitempty"`
}

// ExpectedSpec is one instance an executor should run, with the state the
// leader last recorded for it.
type ExpectedSpec struct {
	Spec  InstanceSpec  `json:"spec"`
	State InstanceState `json:"state"`
}
