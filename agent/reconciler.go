package agent

import (
	"context"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// Error message of an instance the leader believes runs here but the agent
// does not have.
const msgNotFoundOnExecutor = "instance not found on executor"

// reconciler periodically compares the agent with the leader's expected
// instances and heals the differences: lost START and STOP messages,
// instances lost across an agent restart, instances the controllers do
// not know, and (the reaper) labelled containers the agent does not know.
type reconciler struct {
	client   *controllerClient
	mgr      *instanceManager
	reg      *registrar
	rep      *reporter
	interval time.Duration
	grace    time.Duration
	logger   hclog.Logger
	now      func() time.Time

	unknownSince map[string]time.Time // only touched by the reconciler goroutine
	reaper       *reaper
}

func newReconciler(client *controllerClient, mgr *instanceManager, reg *registrar, rep *reporter, cfg Config) *reconciler {
	return &reconciler{client: client, mgr: mgr, reg: reg, rep: rep, interval: cfg.ReconcileInterval,
		grace: cfg.UnknownGrace, logger: cfg.Logger.Named("reconcile"), now: time.Now,
		unknownSince: map[string]time.Time{}, reaper: newReaper(mgr, cfg.UnknownGrace)}
}

func (r *reconciler) run(ctx context.Context) {
	defer r.reaper.wait()
	if !r.reg.waitAnswered(ctx) {
		return
	}
	for sleep(ctx, jitter(r.interval)) {
		r.once(ctx)
	}
}

// once runs one reconciliation round.
func (r *reconciler) once(ctx context.Context) {
	r.mgr.sweep()
	r.mgr.checkContainers(ctx)
	r.reaper.once(ctx, r.now())
	exp, err := r.client.expected(ctx, r.reg.current().Hostname)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("fetching expected instances failed", "error", err)
		}
		return
	}
	if !exp.Known && exp.Shutdown {
		r.shutdownAll(exp.StopGracePeriodMs)
		return
	}
	if !exp.Known {
		// Not registered (or removed): register, and stop nothing on the
		// word of a controller that does not know us.
		r.logger.Info("controllers do not know this executor; registering again")
		r.reg.trigger()
		return
	}
	have := r.mgr.views()
	wanted := make(map[string]bool, len(exp.Run)+len(exp.Stop))
	for _, e := range exp.Run {
		id := e.Spec.InstanceID
		wanted[id] = true
		if v, ok := have[id]; ok {
			if v.state != e.State {
				r.mgr.requeue(id) // the leader has an older state: send ours again
			}
			continue
		}
		if e.State == model.InstancePending {
			r.logger.Info("starting expected instance that was never started here", "instance", id)
			if _, err := r.mgr.start(e.Spec); err != nil {
				r.logger.Warn("cannot start expected instance", "instance", id, "error", err)
			}
			continue
		}
		r.logger.Warn("leader expects an instance this executor does not have; reporting it lost",
			"instance", id, "leader_state", e.State)
		r.rep.enqueue(r.mgr.lostReport(e.Spec, msgNotFoundOnExecutor))
	}
	for _, id := range exp.Stop {
		wanted[id] = true
		v, ok := have[id]
		switch {
		case !ok:
			// Never started here (or forgotten across a restart): it is
			// stopped as far as this executor is concerned. Without this
			// report the leader would wait for the stop forever.
			r.rep.enqueue(r.mgr.stoppedReport(model.InstanceSpec{InstanceID: id}))
		case !v.state.IsTerminal() && !v.stopReq:
			r.logger.Info("stopping instance the leader wants stopped", "instance", id)
			if exp.StopGracePeriodMs > 0 {
				r.mgr.limitStopGrace(id, time.Duration(exp.StopGracePeriodMs)*time.Millisecond)
			}
			r.mgr.stop(id)
		}
	}
	r.stopUnknown(have, wanted)
}

// stopUnknown stops live instances the controllers have not known for the
// whole grace period.
func (r *reconciler) stopUnknown(have map[string]instanceView, wanted map[string]bool) {
	now := r.now()
	for id := range r.unknownSince {
		if _, ok := have[id]; !ok || wanted[id] {
			delete(r.unknownSince, id)
		}
	}
	for id, v := range have {
		if wanted[id] || v.state.IsTerminal() || v.stopReq {
			delete(r.unknownSince, id)
			continue
		}
		first, seen := r.unknownSince[id]
		if !seen {
			r.unknownSince[id] = now
			r.logger.Debug("instance unknown to the controllers", "instance", id, "grace", r.grace)
			continue
		}
		if now.Sub(first) >= r.grace {
			r.logger.Warn("stopping instance unknown to the controllers", "instance", id, "unknown_for", now.Sub(first))
			r.mgr.stop(id)
			delete(r.unknownSince, id)
		}
	}
}

// stoppedReport is the report of an instance the leader wants stopped but
// the agent does not have: it is STOPPED here (Seq 1 under the current boot).
func (m *instanceManager) stoppedReport(spec model.InstanceSpec) model.InstanceReport {
	info := instanceInfo(spec, m.executorID, m.hostname)
	now := m.now().UnixMilli()
	info.State, info.Created, info.Updated = model.InstanceStopped, now, now
	return model.InstanceReport{Info: info, Boot: m.boot, Seq: 1}
}

// shutdownAll stops every live instance: the controllers retired this
// executor (drained with markGone, or its machine is DOWN for maintenance).
func (r *reconciler) shutdownAll(graceMs int64) {
	for id, v := range r.mgr.views() {
		if v.state.IsTerminal() || v.stopReq {
			continue
		}
		r.logger.Warn("controllers retired this executor; stopping instance", "instance", id)
		if graceMs > 0 {
			r.mgr.limitStopGrace(id, time.Duration(graceMs)*time.Millisecond)
		}
		r.mgr.stop(id)
	}
}
