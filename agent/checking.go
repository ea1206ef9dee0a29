package agent

import (
	"context"

	"github.com/drove-go/drove/agent/checks"
	"github.com/drove-go/drove/fsm/model"
)

// HTTPProber is an optional Runtime capability for runtimes whose
// containers cannot be reached on their host ports (agent/fakeruntime
// simulates containers without running them). When the runtime has it,
// HTTP checks and HTTP pre-shutdown hooks ask it for the status code the
// call would get instead of calling http(s)://127.0.0.1:<hostPort><path>.
type HTTPProber interface {
	ProbeHTTP(ctx context.Context, id string, mode model.CheckModeSpec) (status int, err error)
}

// checkStarted takes a started (UNREADY) instance through its checks, as
// Drove's executor does: the readiness check (if any) makes it READY or
// READINESS_CHECK_FAILED; one health-check pass (if any) makes it HEALTHY
// or STOPPING; an instance without checks goes straight to HEALTHY. Both
// failures stop and remove the container (pre-shutdown hooks included)
// and end STOPPED with the reason. A healthy instance with a health check
// gets a health monitor. ctx is the start's context: a stop, a container
// death or an agent shutdown cuts the checks short, and the stop (or
// nothing) follows. skipInitialDelay (a container re-adopted after an agent
// restart) runs the checks without their initialDelay.
func (m *instanceManager) checkStarted(ctx context.Context, in *instance, cid string, skipInitialDelay bool) {
	spec := in.spec // immutable after start
	if r := spec.Readiness; r != nil {
		ok, detail := checks.WaitReady(ctx, m.checker(in, cid, *r), *r, skipInitialDelay)
		if !ok {
			m.checkFailed(in, model.InstanceReadinessCheckFailed, "readiness check failed: "+detail)
			return
		}
	}
	if !m.advance(in, model.InstanceReady) {
		return
	}
	var hc checks.Checker
	if h := spec.Healthcheck; h != nil {
		hc = m.checker(in, cid, *h)
		ok, detail := checks.WaitReady(ctx, hc, *h, skipInitialDelay)
		if !ok {
			m.checkFailed(in, model.InstanceStopping, "health check failed: "+detail)
			return
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.advanceLocked(in, model.InstanceHealthy) || hc == nil || m.closed {
		return
	}
	mctx, cancel := context.WithCancel(m.ctx)
	in.cancelMonitor = cancel
	m.wg.Add(1) // the caller's transition holds the group: not racing close's Wait
	go m.monitor(mctx, in, hc, *spec.Healthcheck)
}

// checkFailed records a failed check as st with msg and shuts the
// instance down, unless the check was cut short by a stop, a container
// death or an agent shutdown.
func (m *instanceManager) checkFailed(in *instance, st model.InstanceState, msg string) {
	m.mu.Lock()
	if in.state.IsTerminal() || in.stopReq || m.ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.logger.Warn("instance failed its checks; stopping it", "instance", in.spec.InstanceID, "state", st, "error", msg)
	m.setLocked(in, st, msg)
	m.mu.Unlock()
	m.shutdown(in)
}

// monitor runs the periodic health check of a HEALTHY instance until ctx
// ends (the instance leaves HEALTHY / UNHEALTHY, or the agent shuts down).
// spec.attempts consecutive failures make it UNHEALTHY with the reason; a
// pass makes it HEALTHY again. The agent does not stop an UNHEALTHY
// instance: the controllers replace it.
func (m *instanceManager) monitor(ctx context.Context, in *instance, hc checks.Checker, spec model.CheckSpec) {
	defer m.wg.Done()
	checks.Monitor(ctx, hc, spec, func(healthy bool, detail string) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if ctx.Err() != nil || in.stopReq {
			return
		}
		switch {
		case !healthy && in.state == model.InstanceHealthy:
			m.logger.Warn("instance became unhealthy", "instance", in.spec.InstanceID, "reason", detail)
			m.setLocked(in, model.InstanceUnhealthy, "health check failed: "+detail)
		case healthy && in.state == model.InstanceUnhealthy:
			m.logger.Info("instance is healthy again", "instance", in.spec.InstanceID)
			in.errMsg = ""
			m.setLocked(in, model.InstanceHealthy, "")
		}
	})
}

// preShutdown runs the instance's pre-shutdown hooks and waitBeforeKill.
// Only the agent's shutdown cuts them short.
func (m *instanceManager) preShutdown(in *instance, cid string) {
	ps := in.spec.PreShutdown
	if ps == nil || (len(ps.Hooks) == 0 && ps.WaitBeforeKill.D() <= 0) {
		return
	}
	ports := m.hostPorts(in)
	policy := checks.DefaultHookPolicy
	policy.Probe = m.probeIn(cid)
	err := policy.Run(m.ctx, *ps, func(name string) (int, bool) {
		p, ok := ports[name]
		return p, ok
	}, m.execIn(cid))
	if err != nil && m.ctx.Err() == nil {
		m.logger.Warn("pre-shutdown hooks failed; stopping the container anyway",
			"instance", in.spec.InstanceID, "error", err)
	}
}

// checker builds the checker of spec for an instance: HTTP checks call the
// host port of their named port on this host (or ask an HTTPProber
// runtime), CMD checks exec in the container. A check naming an unknown port (or of an unknown mode) always
// fails, saying why.
func (m *instanceManager) checker(in *instance, cid string, spec model.CheckSpec) checks.Checker {
	switch spec.Mode.Type {
	case model.CheckHTTP:
		port, ok := m.hostPorts(in)[spec.Mode.PortName]
		if !ok {
			return failing("no port named " + spec.Mode.PortName)
		}
		if probe := m.probeIn(cid); probe != nil {
			return checks.NewHTTPProbe(spec.Mode, probe, spec.Timeout.D())
		}
		return checks.NewHTTP(spec.Mode, port, spec.Timeout.D())
	case model.CheckCmd:
		return checks.NewCmd(spec.Mode, m.execIn(cid), spec.Timeout.D())
	}
	return failing("unknown check mode " + string(spec.Mode.Type))
}

// failing is a checker that always fails with detail.
func failing(detail string) checks.Checker {
	return checks.CheckerFunc(func(context.Context) checks.Result { return checks.Result{Detail: detail} })
}

// hostPorts maps the instance's port names to their host ports.
func (m *instanceManager) hostPorts(in *instance) map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(in.spec.Ports))
	if in.ports != nil {
		for i, p := range in.spec.Ports {
			out[p.Name] = in.ports.ports[i]
		}
	}
	return out
}

// probeIn answers HTTP calls to container cid through the runtime, or is
// nil when the runtime is no HTTPProber (calls go to the host port).
func (m *instanceManager) probeIn(cid string) checks.HTTPProbe {
	p, ok := m.rt.(HTTPProber)
	if !ok {
		return nil
	}
	return func(ctx context.Context, mode model.CheckModeSpec) (int, error) { return p.ProbeHTTP(ctx, cid, mode) }
}

// execIn runs commands in container cid.
func (m *instanceManager) execIn(cid string) checks.ExecFunc {
	return func(ctx context.Context, cmd []string) (int, []byte, error) { return m.rt.Exec(ctx, cid, cmd) }
}
