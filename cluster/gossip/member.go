package gossip

import "fmt"

// MemberState is this node's view of a member's liveness.
type MemberState int

const (
	// MemberAlive is a member that answers probes.
	MemberAlive MemberState = iota
	// MemberSuspect is a member suspected of failure and not yet declared
	// dead. memberlist v0.6.0 gives no race-free way to observe suspicion
	// (no event, and the Node values it hands out are read without its lock),
	// so Pool currently never reports it: a suspected member stays
	// MemberAlive until it refutes or is declared MemberDead.
	MemberSuspect
	// MemberDead is a member declared failed by the failure detector
	// (it stopped without leaving).
	MemberDead
	// MemberLeft is a member that announced a graceful leave (Pool.Leave).
	// Leave intent is gossiped before the leave itself; a member that missed
	// it reports the departed node as MemberDead instead.
	MemberLeft
)

// String returns "alive", "suspect", "dead" or "left".
func (s MemberState) String() string {
	switch s {
	case MemberAlive:
		return "alive"
	case MemberSuspect:
		return "suspect"
	case MemberDead:
		return "dead"
	case MemberLeft:
		return "left"
	}
	return fmt.Sprintf("MemberState(%d)", int(s))
}

// Member is one node of the pool as seen by this node.
type Member struct {
	// Name is the member's unique memberlist name (its node id).
	Name string
	// Addr is the member's advertised gossip address, ip:port.
	Addr string
	// Meta is the member's decoded metadata; zero if it could not be decoded.
	Meta Meta
	// State is the member's last known state.
	State MemberState
}

// Alive reports whether the member has neither failed nor left
// (MemberAlive or MemberSuspect).
func (m Member) Alive() bool {
	return m.State == MemberAlive || m.State == MemberSuspect
}

func (m Member) clone() Member {
	m.Meta = m.Meta.Clone()
	return m
}

// EventType is the kind of membership change an Event reports.
type EventType int

const (
	// EventJoin reports a member that joined (or came back after failing or
	// leaving).
	EventJoin EventType = iota
	// EventLeave reports a member that is gone: Member.State tells whether it
	// failed (MemberDead) or left gracefully (MemberLeft).
	EventLeave
	// EventUpdate reports a change of a member's metadata.
	EventUpdate
)

// String returns "join", "leave" or "update".
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventUpdate:
		return "update"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is a membership change delivered to subscribers.
type Event struct {
	// Type is the kind of change.
	Type EventType
	// Member is the member's state after the change.
	Member Member
}
