// Package agent is the executor: it registers with the controllers, runs
// instances through a container Runtime, reports their state, takes start and
// stop commands from the leader and reconciles against the leader's view.
// Runtimes plug in behind the Runtime interface (agent/fakeruntime in memory,
// agent/docker for real containers).
//
// # Structure
//
// Agent (agent.go) owns the lifecycle only. Behaviour lives in small
// collaborators:
//
//   - controllerClient (client.go) calls the controllers' internal executor
//     endpoints with the cluster secret, trying each controller in turn from
//     the last one that answered (5s per attempt by default).
//   - instanceManager (instances.go, lifecycle.go) holds the instances and
//     drives them through the runtime. A goroutine exists only while an
//     instance transitions; container deaths arrive as runtime events (and
//     are double-checked against Runtime.List on every reconcile round).
//   - registrar (registrar.go) registers at start (retrying with backoff),
//     when asked, when the registration changes, and every RegisterInterval.
//   - reporter (reporter.go) batches state changes for ReportBatch and sends
//     them (Full=false), and every ReportInterval sends all instances
//     (Full=true). Failed sends are retried with backoff; only the newest
//     report of each instance is kept.
//   - reconciler (reconciler.go) compares the agent with the leader's
//     expected instances every ReconcileInterval.
//   - api (api.go) serves POST /apis/v1/messages, GET /apis/v1/instances and
//     GET /healthz.
//
// # Instance lifecycle
//
// PENDING → PROVISIONING (host ports allocated) → STARTING → (create,
// start) → UNREADY → readiness check → READY → one health check → HEALTHY
// (without checks straight through). No free host port, like a failed
// create for want of the image, is PROVISIONING_FAILED; other failed
// creates and failed starts are START_FAILED; all continue DEPROVISIONING →
// STOPPED with the error message. A failed readiness check is
// READINESS_CHECK_FAILED and a failed first health check STOPPING; both then
// stop the container like a stop. An instance with a health check has a
// monitor that reports UNHEALTHY after `attempts` failures in a row and
// HEALTHY again on a pass; the agent does not stop UNHEALTHY instances (the
// controller replaces them). A stop runs STOPPING → pre-shutdown hooks and
// waitBeforeKill (started containers only) → stop → DEPROVISIONING → remove →
// STOPPED. A container that dies on its own makes the instance LOST
// ("container exited with code N") and is removed.
// STOPPED and LOST instances are kept for TerminalRetention, then forgotten.
// Every change increments the instance's Seq; reports carry Seq and the
// agent's Boot so that the leader can ignore stale ones.
//
// Local-service instances (Kind LOCAL_SERVICE) live exactly like
// application instances; only a host-level one binds its ports
// differently (see Host ports).
//
// # Tasks
//
// A task instance (Kind TASK, tasks.go) runs a container to completion, as
// Drove's task state machine: PENDING → PROVISIONING → STARTING → RUNNING
// (container started) → RUN_COMPLETED → DEPROVISIONING (waits up to 5s for
// the output to be copied, removes the container) → STOPPED. Tasks have no
// ports, checks or pre-shutdown hooks (the spec's are ignored); they get
// DROVE_TASK_ID and DROVE_SOURCE_APP_NAME besides the usual variables.
// Reports carry a TaskResult from RUN_COMPLETED (or a failure) on, up to
// and including STOPPED:
//
//   - the container exits by itself with code N: RUN_COMPLETED, result
//     model.ExitResult(N) (SUCCESSFUL/0, else FAILED/N), even when it exits
//     before the agent recorded RUNNING;
//   - a stop (STOP_INSTANCE: Drove's KILL) stops the container like an
//     app's (SIGTERM, StopGrace, SIGKILL): RUN_COMPLETED, CANCELLED/-1;
//   - a failed create is PROVISIONING_FAILED (image unavailable) or
//     RUN_FAILED, a failed start RUN_FAILED, all with the error message
//     and FAILED/-1, then DEPROVISIONING → STOPPED;
//   - a container removed behind the agent's back: LOST, LOST/-1 (Docker
//     reports a forced removal of a running container as a death first,
//     which completes the task with exit code 137).
//
// Tasks write their output to the same log store as other instances, in
// the directory of (appId = the task's sourceAppName, instanceId), so the
// log-file endpoints serve it under that pair.
//
// # Recovery after an agent restart
//
// Every container is labelled drove.instance.id, drove.app.id,
// drove.executor.id, drove.instance.spec (the full InstanceSpec as JSON, as
// Drove does) and drove.instance.ports (the allocated host ports as JSON
// {"<port name>": hostPort}). At start, after subscribing to runtime events
// and before serving messages, the agent lists the containers labelled with
// its executor id (recovery.go; Drove's InstanceRecovery). A running one is
// re-adopted without a restart: its instance is recreated UNKNOWN →
// UNREADY (the first report under the new Boot, Seq 1), its host ports are
// held again exactly as labelled, its output is followed again (a runtime
// that replays the whole output, as Docker does, repeats earlier lines in
// the log file), and its readiness check and first health check run
// without their initialDelay → READY → HEALTHY, then the health monitor.
// A container that is not running is removed and its instance recorded
// LOST ("container exited while the executor was down"); the reconciler
// then sees it as known and does not report it LOST a second time. A
// container whose spec or ports labels cannot be read is left to the
// reaper. A task's container is re-adopted RUNNING (Seq 1) when it still
// runs, its exit then handled as usual; one that exited meanwhile is
// reported RUN_COMPLETED with its exit code and removed (→ DEPROVISIONING →
// STOPPED); either way its output is followed again first. A task
// container that never started is removed and the task reported LOST.
// The agent asks the controllers nothing at recovery: a re-adopted
// instance they do not expect is stopped after UnknownGrace like any
// unknown instance.
//
// The reaper (Drove's zombie reaper) runs on every reconcile round: a
// container labelled with this executor's id that no live instance of the
// agent has is stopped (StopGrace) and removed once it has been seen for
// UnknownGrace. Containers of other executors are left alone.
//
// # Host ports
//
// The agent, not the runtime, picks host ports (portalloc.go): each exposed
// port of an instance gets a distinct port of Config.PortRange (--port-range,
// default 20000-29999, below the Linux ephemeral range), chosen round-robin
// after the last one handed out and skipping ports some other process has
// bound. The container gets PortBinding{ContainerPort, HostPort} and the
// environment variable PORT_<containerPort>=<hostPort>; reports carry the
// mapping in LocalInfo.Ports. A host-level local-service instance
// (hostLevelInstance, hostports.go) instead binds every container port to
// the same host port; when one is held by another instance of the agent or
// bound by anything on the host (the same probe, except that a probe
// refused for want of privilege does not count) the instance fails
// PROVISIONING_FAILED naming the port. Fixed ports are held in the same
// set as range ports, so the range allocator skips them meanwhile. Ports
// are released when the instance ends (STOPPED or LOST) and its container
// is gone. Allocations are persisted only in the containers'
// drove.instance.ports label: an agent restart holds the ports of the
// containers it re-adopts again, fixed ones included.
//
// # Contract with the controllers
//
//   - Messages are idempotent by instance id: a START for a known id and a
//     STOP for an unknown, stopping or ended id are ACCEPTED and change
//     nothing. A message addressed to another executor id is REJECTED.
//   - The expected view must list every instance the leader considers
//     active on this executor in Run (with its leader-recorded state) or in
//     Stop. An active instance in neither list is stopped after
//     UnknownGrace. When Known is false the agent registers again and stops
//     nothing.
//   - A Run entry the agent lacks is started if its state is PENDING, and
//     otherwise reported LOST ("instance not found on executor", Seq 1 under
//     the current Boot; a task's with TaskResult LOST/-1). Tasks count as
//     instances here: an active task missing from both lists is stopped
//     (CANCELLED) after UnknownGrace.
//   - A report answered with Reregister is treated as not applied: the agent
//     registers and sends the same changes again.
//   - Shutdown leaves gossip gracefully; containers keep running. Kill
//     stops without leaving (a crash, as far as the cluster can tell). A
//     new agent with the same executor id re-adopts the containers (see
//     Recovery); its reports carry a newer Boot, so they win.
package agent
