package scheduler

import (
	"errors"
	"strings"

	"github.com/drove-go/drove/fsm/model"
)

// Errors returned by the scheduler. Match them with errors.Is.
var (
	// ErrNoCapacity means no executor passes the placement policy and fits
	// the request. The wrapping error says why, executor by executor count.
	ErrNoCapacity = errors.New("no capacity")
	// ErrInvalidPolicy means the placement policy cannot be evaluated: an
	// unknown type or combiner, a missing field, LOCAL for an application,
	// or a rule that does not compile.
	ErrInvalidPolicy = errors.New("invalid placement policy")
	// ErrInvalidRule means a RULE_BASED rule does not compile or evaluate.
	ErrInvalidRule = errors.New("invalid placement rule")
	// ErrInvalidRequest means the request itself is malformed (negative
	// cores or memory, negative count).
	ErrInvalidRequest = errors.New("invalid scheduling request")
	// ErrUnknownPlacement means Release was given a placement this session
	// did not make, or one it already released.
	ErrUnknownPlacement = errors.New("unknown placement")
)

// CapacityError is the submit-time capacity check failure. Messages are
// Drove's, one per problem found, ready for the API's validationErrors.
type CapacityError struct {
	Messages []string
}

// Error joins the messages.
func (e *CapacityError) Error() string { return strings.Join(e.Messages, "; ") }

// ExecutorView is one executor as the scheduler sees it.
type ExecutorView struct {
	ID       string
	Hostname string
	State    model.ExecutorState
	// Tags include the hostname: executors tag themselves with it.
	Tags     []string
	Metadata map[string]string
	// Layout is the cores and memory offered, per NUMA node.
	Layout model.ResourceLayout
	// UsedCores and UsedMemory are held by active instances, per NUMA node.
	// Core ids absent from Layout are ignored.
	UsedCores  map[int][]int
	UsedMemory map[int]int64
}

// InstanceView is an existing instance that counts for per-host placement
// policies (ONE_PER_HOST, MAX_N_PER_HOST). Only active states count
// (model.InstanceState.IsActive, Drove's resource-consuming states).
type InstanceView struct {
	GroupID    string // appId (or sourceAppName for tasks, serviceId for local services)
	GroupName  string // app name; informational
	ExecutorID string
	State      model.InstanceState
}

// State is the read-only view the scheduler works on, built once per
// operation. The scheduler never modifies it.
type State struct {
	Executors []ExecutorView
	Instances []InstanceView
}

// Request asks for the placement of one instance.
type Request struct {
	// GroupID is what per-host policies count: instances with the same
	// GroupID on an executor (Drove counts the same appId).
	GroupID string
	// GroupName is informational (error messages).
	GroupName string
	Cores     int
	MemoryMB  int64
	// Policy is the application's placement policy; the zero value means
	// ANY. Unless ExplicitPolicy is set, Drove's implicit NO_TAG is applied
	// (see EffectivePolicy).
	Policy model.PlacementPolicy
	// ExplicitPolicy uses Policy exactly as given: no implicit NO_TAG, and
	// LOCAL is accepted and matches every executor, as in Drove's scheduler
	// overload used for local services (whose caller pins instances with
	// MATCH_TAG(hostname)).
	ExplicitPolicy bool
	// AllowedStates are the executor states that may receive the instance;
	// empty means {ACTIVE}.
	AllowedStates []model.ExecutorState
	// Env is the application environment, exposed to rules as
	// applicationEnvironment.
	Env map[string]string
}

// allowedStates returns the request's allowed executor states, defaulted.
func (r Request) allowedStates() []model.ExecutorState {
	if len(r.AllowedStates) == 0 {
		return []model.ExecutorState{model.ExecutorActive}
	}
	return r.AllowedStates
}

// label names the request in messages.
func (r Request) label() string {
	switch {
	case r.GroupID != "":
		return r.GroupID
	case r.GroupName != "":
		return r.GroupName
	}
	return "instance"
}

func stateAllowed(allowed []model.ExecutorState, s model.ExecutorState) bool {
	for _, a := range allowed {
		if a == s {
			return true
		}
	}
	return false
}

// Placement is where one instance goes: an executor, and exact cores and
// memory on one NUMA node of it.
type Placement struct {
	ExecutorID string
	Hostname   string
	// GroupID is the request's GroupID, so Release can uncount it.
	GroupID  string
	Node     int
	Cores    []int // ascending
	MemoryMB int64
}

// Resources is the placement in Drove's wire shape: a CPU allocation
// {cores: {node: ids}} and a MEMORY allocation {memoryInMB: {node: mb}}.
func (p Placement) Resources() []model.ResourceAllocation {
	cores := append([]int{}, p.Cores...)
	return []model.ResourceAllocation{
		{Type: model.ResourceCPU, Cores: map[int][]int{p.Node: cores}},
		{Type: model.ResourceMemory, MemoryInMB: map[int]int64{p.Node: p.MemoryMB}},
	}
}
