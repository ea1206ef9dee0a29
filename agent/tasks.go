package agent

import (
	"context"
	"errors"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// Tasks (Kind TASK) run a container to completion, following Drove's task
// state machine:
//
//	PENDING → PROVISIONING → STARTING → RUNNING → RUN_COMPLETED → DEPROVISIONING → STOPPED
//
// RUN_COMPLETED carries the outcome (model.TaskResult): the exit code of a
// container that exited by itself, CANCELLED when it was stopped, and the
// result stays on every later report. A failed create or start ends
// PROVISIONING_FAILED or RUN_FAILED (result FAILED), a vanished container
// LOST (result LOST). Tasks have no ports, checks or pre-shutdown hooks;
// their output goes to the log store like any instance's.
//
// As for apps, a goroutine exists only while a task transitions: its
// container's exit arrives as a runtime event (containerGone), which moves
// it to RUN_COMPLETED and starts the deprovisioning (drive, next).

// taskLogDrain bounds how long a finished task's deprovisioning waits for
// the output follower to copy the container's last lines before removing
// the container (which may cut the runtime's log stream short).
const taskLogDrain = 5 * time.Second

// cancelledResult is the result of a task stopped before it ended by itself.
var cancelledResult = model.TaskResult{Status: model.TaskCancelled, ExitCode: -1}

// taskSpec drops what tasks do not have, so that nothing downstream (port
// allocation, checks, hooks, the recovery labels) acts on it.
func taskSpec(spec model.InstanceSpec) model.InstanceSpec {
	spec.Ports, spec.Readiness, spec.Healthcheck, spec.PreShutdown, spec.HostLevel = nil, nil, nil, nil, false
	return spec
}

// startTask creates and starts a task's container and records RUNNING. A
// failed create is PROVISIONING_FAILED for image problems and RUN_FAILED
// otherwise; a failed start RUN_FAILED. A stop asked for meanwhile cuts the
// runtime calls short and is carried out by drive (stopTask).
func (m *instanceManager) startTask(in *instance) {
	ctx, cancel := context.WithCancel(m.ctx)
	defer cancel()
	m.mu.Lock()
	in.cancelStart = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		in.cancelStart = nil
		m.mu.Unlock()
	}()
	if !m.advance(in, model.InstanceProvisioning) || !m.advance(in, model.InstanceStarting) {
		return
	}
	if _, ok := m.createAndStart(ctx, in, nil, model.TaskRunFailed); !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.taskStartedLocked(in)
}

// taskStartedLocked records RUNNING for a task whose container started,
// then applies an end seen while the start was in flight: a container
// that already exited completes the task with its real exit code (a fast
// task must not look lost), one that vanished makes it LOST. mu must be
// held.
func (m *instanceManager) taskStartedLocked(in *instance) {
	if in.state.IsTerminal() || in.stopReq || m.ctx.Err() != nil {
		return // a stop follows (drive), or the agent is shutting down
	}
	m.setLocked(in, model.TaskRunning, "")
	switch {
	case !in.exited:
	case in.vanished:
		m.loseLocked(in, in.exitMsg, false)
	default:
		m.completeTaskLocked(in, in.exitCode)
	}
}

// completeTaskLocked records that the task's container exited by itself
// with code: RUN_COMPLETED with the exit result. The deprovisioning
// follows, in the transition in flight if there is one, else in a new one.
// mu must be held.
func (m *instanceManager) completeTaskLocked(in *instance, code int) {
	r := model.ExitResult(int64(code))
	in.result = &r
	m.logger.Info("task completed", "instance", in.spec.InstanceID, "exit_code", code, "result", r.Status)
	m.setLocked(in, model.TaskRunCompleted, "")
	m.deprovisionLaterLocked(in)
}

// deprovisionLaterLocked starts a transition that deprovisions a completed
// task, unless one is in flight (its drive loop does it) or the agent is
// shutting down (the next agent recovers the exited container). mu must
// be held.
func (m *instanceManager) deprovisionLaterLocked(in *instance) {
	if in.busy || m.closed || m.ctx.Err() != nil {
		return
	}
	in.busy = true
	m.wg.Add(1) // not closed, so close's Wait has not begun
	go m.drive(in, nil)
}

// stopTask carries out a stop (Drove's task KILL): the container, if any,
// is stopped (SIGTERM, StopGrace, SIGKILL) and the task ends RUN_COMPLETED
// with result CANCELLED, then is deprovisioned (by drive).
func (m *instanceManager) stopTask(in *instance) {
	m.mu.Lock()
	cid := in.containerID
	m.mu.Unlock()
	var msg string
	if cid != "" {
		if err := m.rt.Stop(m.ctx, cid, m.stopGraceOf(in)); err != nil && !errors.Is(err, ErrNotFound) {
			m.logger.Warn("stop task container failed; removing it anyway", "instance", in.spec.InstanceID, "container", cid, "error", err)
			msg = "stop container: " + err.Error()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if in.state.IsTerminal() || in.state == model.TaskRunCompleted || m.ctx.Err() != nil {
		return
	}
	r := cancelledResult
	in.result = &r
	m.setLocked(in, model.TaskRunCompleted, msg)
}

// deprovisionTask removes a completed task's container once its output
// has been copied (bounded by taskLogDrain) and records DEPROVISIONING →
// STOPPED.
func (m *instanceManager) deprovisionTask(in *instance) {
	m.mu.Lock()
	if in.state.IsTerminal() || m.ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.setLocked(in, model.InstanceDeprovisioning, "")
	cid, done := in.containerID, in.logsDone
	m.mu.Unlock()
	if done != nil {
		t := time.NewTimer(taskLogDrain)
		select {
		case <-done:
		case <-t.C:
			m.logger.Warn("task output still being copied; removing its container anyway", "instance", in.spec.InstanceID)
		case <-m.ctx.Done():
		}
		t.Stop()
	}
	m.finishStop(in, cid, "")
}

// recoverTaskLocked re-adopts the container of a task found at an agent
// restart (in is UNKNOWN, c its container): a running one becomes RUNNING
// again and its exit is later handled like any; one that exited meanwhile
// is RUN_COMPLETED with its exit code and then removed. Either way its
// output is followed again (Docker replays all of it), so the log holds
// the task's last lines. A container that never started is LOST. mu must
// be held.
func (m *instanceManager) recoverTaskLocked(in *instance, c Container) {
	switch c.Status {
	case ContainerRunning:
		m.byContainer[c.ID] = in
		m.setLocked(in, model.TaskRunning, "")
		m.logger.Info("re-adopted running task container", "instance", in.spec.InstanceID, "container", c.ID)
	case ContainerExited:
		r := model.ExitResult(int64(c.ExitCode))
		in.result = &r
		m.setLocked(in, model.TaskRunCompleted, "")
		m.logger.Info("task container exited while the executor was down", "instance", in.spec.InstanceID,
			"container", c.ID, "exit_code", c.ExitCode)
	default:
		m.logger.Warn("task container was never started; removing it", "instance", in.spec.InstanceID, "container", c.ID)
		in.result = &model.TaskResult{Status: model.TaskLost, ExitCode: -1}
		m.setLocked(in, model.InstanceLost, "container was not started when the executor went down")
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := m.rt.Remove(m.ctx, c.ID); err != nil && !errors.Is(err, ErrNotFound) && m.ctx.Err() == nil {
				m.logger.Warn("remove unstarted task container failed", "container", c.ID, "error", err)
			}
		}()
		return
	}
	in.busy = true
	m.wg.Add(1)
	go m.drive(in, m.followLogs)
}
