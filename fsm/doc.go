// Package fsm is drove's replicated state machine: typed commands applied by
// Raft, the state they build (cluster state and the durable event log so far),
// read accessors for the API, and snapshot/restore. It knows nothing of Raft's
// transport, HTTP or agents; the data model lives in fsm/model.
package fsm
