package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// Error message of an instance whose container ended while the executor
// was down.
const msgExitedWhileDown = "container exited while the executor was down"

// recoveryLabels are the labels of an instance's container: who it belongs
// to, plus what an agent restart needs to re-adopt it (the full spec and
// the allocated host ports, in spec.Ports order).
func recoveryLabels(spec model.InstanceSpec, executorID string, hostPorts []int) map[string]string {
	labels := map[string]string{LabelInstanceID: spec.InstanceID, LabelAppID: spec.AppID, LabelExecutorID: executorID}
	if b, err := json.Marshal(spec); err == nil {
		labels[LabelInstanceSpec] = string(b)
	}
	ports := make(map[string]int, len(spec.Ports))
	for i, p := range spec.Ports {
		if i < len(hostPorts) {
			ports[p.Name] = hostPorts[i]
		}
	}
	if b, err := json.Marshal(ports); err == nil {
		labels[LabelInstancePorts] = string(b)
	}
	return labels
}

// decodeRecoveryLabels reads back the spec and host ports (in spec.Ports
// order) of a container made by recoveryLabels.
func decodeRecoveryLabels(labels map[string]string) (model.InstanceSpec, []int, error) {
	var spec model.InstanceSpec
	raw, ok := labels[LabelInstanceSpec]
	if !ok {
		return spec, nil, errors.New("no " + LabelInstanceSpec + " label")
	}
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return spec, nil, fmt.Errorf("label %s: %w", LabelInstanceSpec, err)
	}
	if spec.InstanceID == "" || spec.AppID == "" || spec.InstanceID != labels[LabelInstanceID] {
		return spec, nil, errors.New("label " + LabelInstanceSpec + " does not match the container's instance")
	}
	var byName map[string]int
	if len(spec.Ports) > 0 {
		if err := json.Unmarshal([]byte(labels[LabelInstancePorts]), &byName); err != nil {
			return spec, nil, fmt.Errorf("label %s: %w", LabelInstancePorts, err)
		}
	}
	ports := make([]int, len(spec.Ports))
	for i, p := range spec.Ports {
		hp, ok := byName[p.Name]
		if !ok || hp <= 0 || hp > 65535 {
			return spec, nil, fmt.Errorf("label %s: no host port for port %q", LabelInstancePorts, p.Name)
		}
		ports[i] = hp
	}
	return spec, ports, nil
}

// hold records ports as held by a new lease of instance owner without
// probing them (the re-adopted container that binds them is the reason they
// are busy). A port held by another lease is taken over. Range and fixed
// (host-level) ports are held alike.
func (a *portAllocator) hold(owner string, ports []int) *portLease {
	lease := &portLease{owner: owner, ports: append([]int(nil), ports...)}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range ports {
		a.held[p] = lease
	}
	return lease
}

// recover re-adopts the containers this executor left behind when it last
// stopped (Drove's InstanceRecovery). It runs once, before the agent takes
// messages. A running container with readable labels becomes an instance
// again, without being restarted: UNKNOWN → UNREADY (reported under the
// new boot from Seq 1), its host ports held again, its output followed,
// then its checks run without their initialDelay. A container that is no
// longer running is removed and its instance recorded (and reported) LOST,
// so the reconciler does not report it LOST a second time. Containers
// whose labels cannot be read are left to the reaper.
func (m *instanceManager) recover(ctx context.Context) error {
	list, err := m.rt.List(ctx, map[string]string{LabelExecutorID: m.executorID})
	if err != nil {
		return err
	}
	for _, c := range list {
		spec, ports, err := decodeRecoveryLabels(c.Labels)
		if err != nil {
			m.logger.Warn("container of this executor cannot be recovered; leaving it to the reaper",
				"container", c.ID, "name", c.Name, "error", err)
			continue
		}
		m.mu.Lock()
		if _, dup := m.instances[spec.InstanceID]; dup {
			m.mu.Unlock()
			m.logger.Warn("second container of a recovered instance; leaving it to the reaper",
				"instance", spec.InstanceID, "container", c.ID)
			continue
		}
		created := c.Created.UnixMilli()
		if c.Created.IsZero() {
			created = m.now().UnixMilli()
		}
		in := &instance{spec: spec, state: model.InstanceUnknown, containerID: c.ID, created: created,
			started: true, ports: &portLease{ports: ports}}
		m.instances[spec.InstanceID] = in
		if spec.Kind == model.KindTask {
			m.recoverTaskLocked(in, c)
			m.mu.Unlock()
			continue
		}
		if c.Status != ContainerRunning {
			msg := msgExitedWhileDown
			if c.Status == ContainerExited {
				msg += " (exit code " + strconv.Itoa(c.ExitCode) + ")"
			}
			m.logger.Warn("container of this executor is not running; removing it",
				"instance", spec.InstanceID, "container", c.ID, "status", c.Status)
			m.setLocked(in, model.InstanceLost, msg)
			m.mu.Unlock()
			if err := m.rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, ErrNotFound) {
				m.logger.Warn("remove dead container failed", "container", c.ID, "error", err)
			}
			continue
		}
		in.ports = m.ports.hold(spec.InstanceID, ports)
		m.byContainer[c.ID] = in
		in.busy = true
		m.setLocked(in, model.InstanceUnready, "")
		m.logger.Info("re-adopted running container", "instance", spec.InstanceID, "container", c.ID)
		m.wg.Add(1)
		go m.drive(in, m.recoverContainer)
		m.mu.Unlock()
	}
	return nil
}

// recoverContainer follows the output of a re-adopted (UNREADY) instance
// and takes it through its checks without their initialDelay.
func (m *instanceManager) recoverContainer(in *instance) {
	ctx, cancel := context.WithCancel(m.ctx)
	defer cancel()
	m.mu.Lock()
	in.cancelStart = cancel
	cid := in.containerID
	exited := in.exited
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		in.cancelStart = nil
		m.mu.Unlock()
	}()
	if exited {
		m.mu.Lock()
		if !in.state.IsTerminal() && !in.stopReq {
			m.loseLocked(in, in.exitMsg, true)
		}
		m.mu.Unlock()
		return
	}
	m.followLogs(in)
	m.checkStarted(ctx, in, cid, true)
}

// ownsContainer reports whether a live instance of the agent has container
// cid (an ended instance's container is removed, or being removed, already;
// should that have failed, the reaper removes it).
func (m *instanceManager) ownsContainer(cid string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byContainer[cid]; ok {
		return true
	}
	for _, in := range m.instances {
		if in.containerID == cid && !in.state.IsTerminal() {
			return true
		}
	}
	return false
}

// reaper stops and removes labelled containers of this executor that no
// instance of the agent has, once they have been seen for the grace period
// (Drove's zombie reaper). Containers the agent knows but the controllers
// do not are the reconciler's stopUnknown's.
type reaper struct {
	mgr   *instanceManager
	grace time.Duration

	firstSeen map[string]time.Time // only touched by the reconciler goroutine

	mu      sync.Mutex
	reaping map[string]bool // containers being stopped and removed
	wg      sync.WaitGroup
}

func newReaper(mgr *instanceManager, grace time.Duration) *reaper {
	return &reaper{mgr: mgr, grace: grace, firstSeen: map[string]time.Time{}, reaping: map[string]bool{}}
}

// once runs one round: track strays, reap those past the grace in the
// background (wait ends them).
func (r *reaper) once(ctx context.Context, now time.Time) {
	m := r.mgr
	list, err := m.rt.List(ctx, map[string]string{LabelExecutorID: m.executorID})
	if err != nil {
		if ctx.Err() == nil {
			m.logger.Warn("reaper: list containers failed", "error", err)
		}
		return
	}
	seen := make(map[string]bool, len(list))
	for _, c := range list {
		if m.ownsContainer(c.ID) {
			continue
		}
		seen[c.ID] = true
		first, ok := r.firstSeen[c.ID]
		if !ok {
			r.firstSeen[c.ID] = now
			m.logger.Debug("container of this executor unknown to the agent", "container", c.ID, "name", c.Name, "grace", r.grace)
			continue
		}
		if now.Sub(first) < r.grace {
			continue
		}
		r.mu.Lock()
		busy := r.reaping[c.ID]
		r.reaping[c.ID] = true
		r.mu.Unlock()
		if busy {
			continue
		}
		m.logger.Warn("stopping and removing container unknown to the agent", "container", c.ID, "name", c.Name,
			"instance", c.Labels[LabelInstanceID], "unknown_for", now.Sub(first))
		r.wg.Add(1)
		go r.reap(ctx, c.ID)
	}
	for id := range r.firstSeen {
		if !seen[id] {
			delete(r.firstSeen, id)
		}
	}
}

func (r *reaper) reap(ctx context.Context, cid string) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.reaping, cid)
		r.mu.Unlock()
	}()
	m := r.mgr
	if err := m.rt.Stop(ctx, cid, m.stopGrace); err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		m.logger.Warn("reaper: stop container failed; removing it anyway", "container", cid, "error", err)
	}
	if err := m.rt.Remove(ctx, cid); err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		m.logger.Warn("reaper: remove container failed", "container", cid, "error", err)
	}
}

// wait waits for reaps in flight.
func (r *reaper) wait() { r.wg.Wait() }
