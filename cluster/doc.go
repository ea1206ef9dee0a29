// Package cluster owns the controllers' consensus: the hashicorp/raft node
// with its bolt log/stable store, file snapshots and authenticated TCP
// transport, bootstrap (bootstrap-expect over gossip), joining and removing
// controllers, and leadership signals. It imports no other drove package
// except cluster/gossip; the FSM is passed in as a raft.FSM.
package cluster
