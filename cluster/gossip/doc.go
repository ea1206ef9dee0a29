// Package gossip owns cluster membership for drove: it wraps
// hashicorp/memberlist so that controllers and executors form one gossip
// pool in which every member advertises a small, JSON-encoded Meta (role,
// id, HTTP API and raft addresses, whether a controller already has raft
// state, version and a few tags).
//
// The package owns:
//   - the memberlist configuration (failure-detection tuning, encryption
//     derived from a shared secret, logging through hclog);
//   - the encoding of node metadata and its size limit (memberlist.MetaMaxSize);
//   - a local view of every member ever seen, including the last known state
//     of members that failed (MemberDead) or left gracefully (MemberLeft);
//   - fan-out of membership events to subscribers.
//
// It does not decide anything from membership (raft bootstrap, scheduling):
// callers read Members/AliveMembers or Subscribe and act on it. It imports
// no other drove package.
//
// # Concurrency
//
// All methods of *Pool are safe for concurrent use. Membership callbacks from
// memberlist are handled without blocking: events are delivered to each
// subscriber's buffered channel and dropped for a subscriber whose buffer is
// full (see Pool.Subscribe and Pool.DroppedEvents). Because events can be
// dropped, consumers must also reconcile periodically from Pool.Members,
// which is always authoritative for this node's view.
//
// # Leave versus failure
//
// memberlist v0.6.0 does not tell its event delegate whether a node left or
// failed (hashicorp/memberlist#293). Pool.Leave therefore first
// re-advertises the local meta with a leave marker and only then broadcasts
// memberlist's leave; members that saw the marker report MemberLeft, the
// others MemberDead. MemberSuspect is never reported for the same reason:
// memberlist exposes no race-free view of suspicion.
//
// # Names
//
// Every member's NodeName must be unique in the pool (use the node id).
// Two live processes with the same name are not detected by this package;
// memberlist will log address conflicts and the pool view will flap. Avoiding
// that is the caller's responsibility.
package gossip
