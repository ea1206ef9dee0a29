package server

import (
	"context"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/google/uuid"
)

// outageMonitor detects applications whose instances differ from what is
// desired — instances lost with their executor, crashed, or UNHEALTHY — and
// submits RECOVER (OUTAGE_DETECTED → SCALING_REQUESTED), on the leader only.
// It never acts inside the maintenance window. An app whose last operation
// failed is retried only after recoverBackoff, so a permanent failure (no
// capacity, a broken image) does not spin.
type outageMonitor struct {
	c              *Controller
	interval       time.Duration
	recoverBackoff time.Duration
	now            func() time.Time
}

func (m *outageMonitor) run(ctx context.Context) {
	tick := time.NewTicker(m.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			m.check()
		case <-ctx.Done():
			return
		}
	}
}

func (m *outageMonitor) check() {
	now := m.now()
	if m.c.monitorsPaused(now) {
		return
	}
	for _, app := range m.c.fsm.Applications() {
		if app.ActiveOperation() != nil || (app.State != model.AppRunning && app.State != model.AppMonitoring) {
			continue
		}
		if last := app.Operation; last != nil && last.Status == model.OpFailed &&
			now.Sub(time.UnixMilli(last.Finished)) < m.recoverBackoff {
			continue
		}
		v := classify(m.c.fsm.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindApp, app.AppID) }))
		if len(v.live) == app.Instances && !anyUnhealthy(v.live) {
			continue
		}
		m.c.logger.Info("outage detected; recovering", "app", app.AppID, "desired", app.Instances, "live", len(v.live))
		op := m.c.newOperation(app.AppID, model.OpRecover, model.OpRecover, defaultOpSpec(m.c.cfg), now)
		op.RequiredInstances, op.JobsTotal = app.Instances, abs(app.Instances-len(v.live))
		cmd, _ := fsm.Encode(fsm.AppOperationStartType, fsm.AppOperationStartRequest{AppID: app.AppID, Op: op,
			Desired: app.Instances, State: model.AppOutageDetected, ExpectVersion: app.Version, Timestamp: now.UnixMilli()})
		if _, err := m.c.node.Apply(cmd); err != nil {
			m.c.logger.Warn("submitting RECOVER failed", "app", app.AppID, "error", err)
		}
	}
}

func anyUnhealthy(recs []model.InstanceRecord) bool {
	for _, r := range recs {
		if r.Info.State == model.InstanceUnhealthy {
			return true
		}
	}
	return false
}

// opSpec is an operation's timeout, parallelism and failure strategy.
type opSpec struct {
	Timeout         time.Duration
	Parallelism     int
	FailureStrategy model.FailureStrategy
}

// defaultOpSpec is used by internal operations (Drove: clusterOpTimeout,
// clusterOpParallelism).
func defaultOpSpec(cfg ControllerConfig) opSpec {
	return opSpec{Timeout: cfg.ClusterOpTimeout, Parallelism: max(cfg.ClusterOpParallelism, 1), FailureStrategy: model.FailureStop}
}

// newOperation builds an operation record; ids are "OP-" + UUID.
func (c *Controller) newOperation(appID string, t, source model.OperationType, s opSpec, now time.Time) model.OperationRecord {
	return model.OperationRecord{
		ID: "OP-" + uuid.NewString(), AppID: appID, Type: t, Source: source,
		TimeoutMs: s.Timeout.Milliseconds(), Parallelism: s.Parallelism, FailureStrategy: s.FailureStrategy,
		Status: model.OpRunning, Started: now.UnixMilli(), Deadline: now.Add(s.Timeout).UnixMilli(),
	}
}
