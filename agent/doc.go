// Package agent is the executor: it registers with the controllers, runs
// instances through a container Runtime, reports their state, takes start and
// stop commands from the leader and reconciles against the leader's view.
// Runtimes plug in behind the Runtime interface (agent/fakeruntime in memory,
// agent/docker for real containers).
package agent
