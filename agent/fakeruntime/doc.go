// Package fakeruntime is an in-memory implementation of agent.Runtime that
// simulates containers without running anything.
//
// It backs unit tests, benchmarks and scale simulations (hundreds of
// executors in one process, each with thousands of containers) and can be
// selected in production with `drove executor --runtime fake`.
//
// Behaviour is driven by Config:
//
//   - StartDelay: Start blocks (on a timer, in the caller's goroutine) for this
//     long before the container is running.
//   - FailureRate: probability that Start fails; the container then ends
//     exited with exit code 1 and an event is emitted.
//   - CrashAfter: a running container exits by itself with exit code 137
//     after this long (one time.AfterFunc timer per running container, no
//     goroutine), emitting an event.
//   - MissingImages: Create fails with an error wrapping agent.ErrImage.
//   - Seed and Now make failures and timestamps reproducible.
//
// Test and simulation helpers (Kill, RemoveExternally, Count, Spec,
// DroppedEvents) let callers simulate things happening outside the agent.
//
// Timers (StartDelay, CrashAfter) always run on real time; Config.Now only
// supplies the timestamps recorded in agent.Container.
//
// All state lives behind one mutex per Runtime; critical sections are short
// and never block (event delivery drops instead of waiting), so calls for
// different containers do not hold each other up.
package fakeruntime
