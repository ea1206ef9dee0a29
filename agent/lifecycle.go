package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// Container labels the agent sets on every container it creates.
const (
	LabelInstanceID = "drove.instance.id"
	LabelAppID      = "drove.app.id"
	LabelExecutorID = "drove.executor.id"
	// LabelInstanceSpec holds the full model.InstanceSpec as JSON (Drove's
	// label of that name): what an agent restart re-adopts the container by.
	LabelInstanceSpec = "drove.instance.spec"
	// LabelInstancePorts holds the allocated host ports as JSON
	// {"<port name>": hostPort}, so a restart restores them exactly.
	LabelInstancePorts = "drove.instance.ports"
)

// start accepts spec and starts it asynchronously: an application or
// local-service instance through startContainer, a task through startTask
// (an unknown kind is refused). It is idempotent by instance id: a known
// id (in any state) is accepted and nothing happens.
func (m *instanceManager) start(spec model.InstanceSpec) (created bool, err error) {
	if spec.InstanceID == "" || spec.AppID == "" {
		return false, errors.New("spec needs appId and instanceId")
	}
	run := m.startContainer
	switch spec.Kind {
	case model.KindApp, model.KindLocalService:
	case model.KindTask:
		spec, run = taskSpec(spec), m.startTask
	default:
		return false, fmt.Errorf("unknown instance kind %q", spec.Kind)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, errClosed
	}
	if _, ok := m.instances[spec.InstanceID]; ok {
		return false, nil
	}
	now := m.now().UnixMilli()
	in := &instance{spec: spec, created: now, busy: true}
	m.instances[spec.InstanceID] = in
	m.setLocked(in, model.InstancePending, "")
	m.wg.Add(1)
	go m.drive(in, run)
	return true, nil
}

// stop asks for id to stop. It is idempotent: an unknown, ended or already
// stopping instance is left alone.
func (m *instanceManager) stop(id string) (known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.instances[id]
	if !ok {
		return false
	}
	if m.closed || in.state.IsTerminal() || in.stopReq {
		return true
	}
	in.stopReq = true
	if in.busy {
		if in.cancelStart != nil {
			in.cancelStart() // do not wait for a slow pull or start
		}
		return true // the transition in flight turns into a stop
	}
	in.busy = true
	m.wg.Add(1)
	go m.drive(in, nil)
	return true
}

// drive is the goroutine of one transition: first (a start or a recovery;
// nil for a plain stop), then whatever became due meanwhile (see next).
func (m *instanceManager) drive(in *instance, first func(*instance)) {
	defer m.wg.Done()
	if first != nil {
		first(in)
	}
	for step := m.next(in); step != nil; step = m.next(in) {
		step(in)
	}
}

// next returns the work due on a live instance, or ends the transition
// (clears busy) and returns nil. Due are: the deprovisioning of a task
// that completed, and a pending stop. Deciding under mu, where events set
// the same state, means no completion or stop is missed between the end of
// one step and the end of the transition.
func (m *instanceManager) next(in *instance) func(*instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !in.state.IsTerminal() && m.ctx.Err() == nil {
		switch {
		case in.isTask() && in.state == model.TaskRunCompleted:
			return m.deprovisionTask
		case in.isTask() && in.stopReq:
			return m.stopTask
		case in.stopReq:
			return m.stopContainer
		}
	}
	in.busy = false
	return nil
}

// advance moves in to st and reports whether the start may carry on. It
// does not when the instance ended, a stop is pending or the agent is
// shutting down; a container death seen meanwhile makes the instance LOST.
func (m *instanceManager) advance(in *instance, st model.InstanceState) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.advanceLocked(in, st)
}

// advanceLocked is advance with mu held.
func (m *instanceManager) advanceLocked(in *instance, st model.InstanceState) bool {
	switch {
	case in.state.IsTerminal() || in.stopReq || m.ctx.Err() != nil:
		return false
	case in.exited:
		m.loseLocked(in, in.exitMsg, true)
		return false
	}
	m.setLocked(in, st, "")
	return true
}

func (m *instanceManager) startContainer(in *instance) {
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
	if !m.advance(in, model.InstanceProvisioning) {
		return
	}
	lease, ok := m.allocatePorts(in)
	if !ok || !m.advance(in, model.InstanceStarting) {
		return
	}
	cid, ok := m.createAndStart(ctx, in, lease.ports, model.InstanceStartFailed)
	if !ok || !m.advance(in, model.InstanceUnready) {
		return
	}
	m.checkStarted(ctx, in, cid, false)
}

// releasePortsLocked gives the instance's host ports back; its container
// must be gone (removed, or never created). The ports stay in its reports.
// Idempotent. mu must be held.
func (m *instanceManager) releasePortsLocked(in *instance) {
	m.ports.release(in.ports)
}

// fail records a failed start, then deprovisions the instance. A start
// that failed because it was stopped or the agent is shutting down is not
// a failure of the instance: the stop (or nothing) follows.
func (m *instanceManager) fail(in *instance, st model.InstanceState, msg string) {
	m.mu.Lock()
	if in.state.IsTerminal() || in.stopReq || m.ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.logger.Warn("instance failed to start", "instance", in.spec.InstanceID, "state", st, "error", msg)
	if in.isTask() {
		in.result = &model.TaskResult{Status: model.TaskFailed, ExitCode: -1}
	}
	m.setLocked(in, st, msg)
	m.setLocked(in, model.InstanceDeprovisioning, "")
	cid := in.containerID
	m.mu.Unlock()
	m.finishStop(in, cid, "")
}

// stopContainer runs STOPPING → shutdown (pre-shutdown hooks, stop) →
// DEPROVISIONING → remove → STOPPED.
func (m *instanceManager) stopContainer(in *instance) {
	m.mu.Lock()
	if in.state.IsTerminal() {
		m.mu.Unlock()
		return
	}
	m.setLocked(in, model.InstanceStopping, "")
	m.mu.Unlock()
	m.shutdown(in)
}

// shutdown runs the pre-shutdown hooks (if the container was started),
// stops the container, then DEPROVISIONING → remove → STOPPED. Failed
// hooks are logged; the container is stopped anyway.
func (m *instanceManager) shutdown(in *instance) {
	m.mu.Lock()
	cid, started := in.containerID, in.started
	m.mu.Unlock()
	var msg string
	if cid != "" {
		if started {
			m.preShutdown(in, cid)
		}
		if err := m.rt.Stop(m.ctx, cid, m.stopGraceOf(in)); err != nil && !errors.Is(err, ErrNotFound) {
			m.logger.Warn("stop container failed; removing it anyway", "instance", in.spec.InstanceID, "container", cid, "error", err)
			msg = "stop container: " + err.Error()
		}
	}
	m.mu.Lock()
	if in.state.IsTerminal() || m.ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.setLocked(in, model.InstanceDeprovisioning, "")
	m.mu.Unlock()
	m.finishStop(in, cid, msg)
}

// finishStop removes the container (if any), releases the host ports and
// records STOPPED. When the removal fails the ports are released anyway:
// the container is stopped, so it no longer binds them (and the host probe
// of the next allocation skips any port still bound).
func (m *instanceManager) finishStop(in *instance, cid, msg string) {
	if cid != "" {
		if err := m.rt.Remove(m.ctx, cid); err != nil && !errors.Is(err, ErrNotFound) {
			if m.ctx.Err() != nil {
				return
			}
			m.logger.Warn("remove container failed", "instance", in.spec.InstanceID, "container", cid, "error", err)
			msg = strings.TrimPrefix(msg+"; remove container: "+err.Error(), "; ")
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.releasePortsLocked(in)
	if !in.state.IsTerminal() {
		m.setLocked(in, model.InstanceStopped, msg)
	}
}

// loseLocked marks in LOST and removes its container in the background
// unless it is already gone; its host ports are released once the
// container is gone. mu must be held.
func (m *instanceManager) loseLocked(in *instance, msg string, remove bool) {
	m.logger.Warn("instance lost", "instance", in.spec.InstanceID, "reason", msg)
	if in.cancelStart != nil {
		in.cancelStart() // end readiness or health checks in flight
	}
	cid := in.containerID
	if in.isTask() {
		in.result = &model.TaskResult{Status: model.TaskLost, ExitCode: -1}
	}
	m.setLocked(in, model.InstanceLost, msg)
	if !remove || cid == "" || m.closed {
		m.releasePortsLocked(in)
		return
	}
	lease := in.ports
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.rt.Remove(m.ctx, cid); err != nil && !errors.Is(err, ErrNotFound) && m.ctx.Err() == nil {
			m.logger.Warn("remove dead container failed", "container", cid, "error", err)
		}
		m.ports.release(lease)
	}()
}

// containerGone handles a container that died (with exitCode) or vanished
// (removed) outside our calls. A running app or local-service instance
// becomes LOST; a running task RUN_COMPLETED with its exit code (LOST if
// its container vanished). One whose start is in flight is flagged so that
// the start ends that way. Stopping or ended instances are left alone.
func (m *instanceManager) containerGone(cid string, exitCode int, removed bool) {
	msg := "container exited with code " + strconv.Itoa(exitCode)
	if removed {
		msg = "container was removed"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.byContainer[cid]
	if !ok || in.stopReq || in.state.IsTerminal() {
		return
	}
	switch {
	case in.isTask() && in.state == model.TaskRunning && !removed:
		m.completeTaskLocked(in, exitCode)
	case in.state.IsRunning() || in.state == model.InstanceUnhealthy || (in.isTask() && in.state == model.TaskRunning):
		m.loseLocked(in, msg, !removed)
	case in.state == model.InstanceStarting || in.state == model.InstanceProvisioning || in.state == model.InstanceUnknown:
		in.exited, in.exitMsg, in.exitCode, in.vanished = true, msg, exitCode, removed
	}
}

// watchEvents handles runtime events from ch, then resubscribes (with
// backoff) whenever a subscription ends, until ctx ends. The first
// subscription is made by the caller so that no event is missed before the
// agent takes instances.
func (m *instanceManager) watchEvents(ctx context.Context, ch <-chan ContainerEvent) {
	bo := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		for ev := range ch {
			switch ev.Status {
			case ContainerExited:
				m.containerGone(ev.ContainerID, ev.ExitCode, false)
			case "":
				m.containerGone(ev.ContainerID, 0, true)
			}
		}
		for {
			if !sleep(ctx, bo.next()) {
				return
			}
			var err error
			if ch, err = m.rt.Events(ctx); err == nil {
				bo.reset()
				break
			}
			m.logger.Warn("runtime events subscription failed", "error", err)
		}
	}
}

// checkContainers heals missed events: a running instance whose container
// is gone or exited (and that did not change while we looked) is LOST, or
// for a task whose container exited, RUN_COMPLETED with its exit code.
func (m *instanceManager) checkContainers(ctx context.Context) {
	before := m.views()
	list, err := m.rt.List(ctx, map[string]string{LabelExecutorID: m.executorID})
	if err != nil {
		m.logger.Warn("list containers failed", "error", err)
		return
	}
	live := make(map[string]Container, len(list))
	for _, c := range list {
		live[c.ID] = c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, v := range before {
		in, ok := m.instances[id]
		if !ok || in.seq != v.seq || in.busy || in.stopReq || in.containerID == "" ||
			!(in.state.IsRunning() || in.state == model.InstanceUnhealthy || in.state == model.TaskRunning) {
			continue
		}
		c, found := live[in.containerID]
		switch {
		case !found:
			m.loseLocked(in, "container was removed", false)
		case c.Status == ContainerExited && in.isTask():
			m.completeTaskLocked(in, c.ExitCode)
		case c.Status == ContainerExited:
			m.loseLocked(in, "container exited with code "+strconv.Itoa(c.ExitCode), true)
		}
	}
}

// parsePullTimeout accepts Go durations ("90s") and Dropwizard ones
// ("100 seconds", "2 minutes"); anything else means no timeout.
func parsePullTimeout(s string) time.Duration {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	var n int64
	var unit string
	if _, err := fmt.Sscanf(s, "%d %s", &n, &unit); err != nil || n <= 0 {
		return 0
	}
	units := map[string]time.Duration{"ms": time.Millisecond, "millisecond": time.Millisecond,
		"s": time.Second, "second": time.Second, "m": time.Minute, "minute": time.Minute, "h": time.Hour, "hour": time.Hour}
	unit = strings.ToLower(unit)
	if u, ok := units[unit]; ok {
		return time.Duration(n) * u
	}
	if u, ok := units[strings.TrimSuffix(unit, "s")]; ok {
		return time.Duration(n) * u
	}
	return 0
}

// createAndStart creates and starts in's container and follows its logs.
// A failure ends the instance in failState (PROVISIONING_FAILED for image
// problems) and returns false.
func (m *instanceManager) createAndStart(ctx context.Context, in *instance, hostPorts []int, failState model.InstanceState) (string, bool) {
	cs, err := m.containerSpec(ctx, in.spec, hostPorts)
	if err != nil {
		m.fail(in, failState, err.Error())
		return "", false
	}
	cid, err := m.rt.Create(ctx, cs)
	if err != nil {
		st := failState
		if errors.Is(err, ErrImage) {
			st = model.InstanceProvisioningFailed
		}
		m.fail(in, st, "create container: "+err.Error())
		return "", false
	}
	m.mu.Lock()
	in.containerID = cid
	if !in.state.IsTerminal() {
		m.byContainer[cid] = in
	}
	m.mu.Unlock()
	if err := m.rt.Start(ctx, cid); err != nil {
		m.fail(in, failState, "start container: "+err.Error())
		return "", false
	}
	m.mu.Lock()
	in.started = true
	m.mu.Unlock()
	m.followLogs(in)
	return cid, true
}
