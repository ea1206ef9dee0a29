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
// A container can also be told to exit by itself through its environment,
// imitating integration/testtask (the program of the task tests): when
// EXIT_CODE is set (and not empty) the running container exits with that
// code SLEEP (a Go duration, default 0: at once, though after Start has
// returned) after it started. The exit is like a crash's: the container
// ends exited with the code (Inspect and List show it, Error is empty), the
// log line "exited <name> with code N" is added and an exited event with
// the code is emitted. An EXIT_CODE or SLEEP that does not parse makes it
// exit at once with code 2, as testtask does. Stop before then is a plain
// stop (exit code 143, no event). With CrashAfter too, whichever comes
// first happens. Containers without EXIT_CODE are not affected.
//
// Test and simulation helpers (Kill, RemoveExternally, Count, Spec,
// DroppedEvents) let callers simulate things happening outside the agent.
//
// Timers (StartDelay, CrashAfter, SLEEP) always run on real time; Config.Now only
// supplies the timestamps recorded in agent.Container.
//
// All state lives behind one mutex per Runtime; critical sections are short
// and never block (event delivery drops instead of waiting), so calls for
// different containers do not hold each other up.
package fakeruntime
