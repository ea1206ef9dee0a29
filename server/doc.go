// Package server is the controller: it wires the FSM, the Raft node and the
// gossip pool together (Controller), serves Drove's HTTP API on one gorilla/mux
// route table, authenticates callers, forwards requests to the leader, and runs
// leader-only work from one leadership monitor.
package server
