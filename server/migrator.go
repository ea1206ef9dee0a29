package server

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
)

// migrator empties executors that maintenance takes out of service, on
// the leader only. Application instances on blacklisted, draining or
// soon-to-be-maintained executors are migrated new first: one
// REPLACE_INSTANCES per application covering all its instances on every
// such executor (blacklisting several executors together migrates each app
// once), so each app's healthy count never drops below its desired count.
// Tasks and local-service instances on a draining executor are stopped;
// tasks elsewhere are never touched. It then records BLACKLISTED (no
// application or local-service instance left) and DRAINED (nothing left,
// executor reachable). It does nothing while the monitors are paused
// (cluster maintenance). Like every leader loop it derives all it does from
// replicated state.
type migrator struct {
	c        *Controller
	interval time.Duration
	backoff  time.Duration // after a failed migration of an app, before the next try
	now      func() time.Time
}

// OpMigrate is the source recorded on REPLACE_INSTANCES operations the
// migrator starts.
const OpMigrate model.OperationType = "MIGRATE_INSTANCES"

func (m *migrator) run(ctx context.Context) {
	tick := time.NewTicker(m.interval)
	defer tick.Stop()
	for {
		changed := m.c.fsm.Changed()
		m.pass(ctx)
		select {
		case <-changed:
			select {
			case <-time.After(passInterval):
			case <-ctx.Done():
				return
			}
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (m *migrator) pass(ctx context.Context) {
	now := m.now()
	if m.c.monitorsPaused(now) {
		return
	}
	av := m.c.availability(now)
	if len(av.evictApps) == 0 && len(av.drain) == 0 {
		return
	}
	live := m.c.fsm.Instances(func(r *model.InstanceRecord) bool { return !r.Info.State.IsTerminal() })
	byApp := map[string][]string{}
	var stop []string
	for _, r := range live {
		exec := r.Info.ExecutorID
		switch {
		case r.StopRequested:
		case r.Kind() == model.KindApp && av.evictApps[exec]:
			byApp[r.Info.AppID] = append(byApp[r.Info.AppID], r.Info.InstanceID)
		case av.drain[exec]: // tasks and local services on a draining executor
			stop = append(stop, r.Info.InstanceID)
		}
	}
	apps := make([]string, 0, len(byApp))
	for id := range byApp {
		apps = append(apps, id)
	}
	sort.Strings(apps)
	for _, appID := range apps {
		stop = append(stop, m.migrate(appID, byApp[appID], av, live, now)...)
	}
	if len(stop) > 0 {
		m.apply(fsm.InstancesStopType, fsm.InstancesStopRequest{InstanceIDs: stop, Timestamp: now.UnixMilli()})
	}
	m.finish(ctx, av, live, now)
}

// migrate starts the migration of an app's instances, or returns the
// ones to stop outright: a drain whose migration failed (no room
// elsewhere) stops them anyway, as a drain must end.
func (m *migrator) migrate(appID string, ids []string, av availability, live []model.InstanceRecord, now time.Time) []string {
	app, ok := m.c.fsm.Application(appID)
	if !ok || app.ActiveOperation() != nil {
		return nil // an operation in progress places nothing here; migrate once it ends
	}
	if last := app.Operation; last != nil && last.Source == OpMigrate && last.Status == model.OpFailed &&
		now.Sub(time.UnixMilli(last.Finished)) < m.backoff {
		var forced []string
		for _, r := range live {
			if av.drain[r.Info.ExecutorID] && r.BelongsTo(model.KindApp, appID) && !r.StopRequested {
				forced = append(forced, r.Info.InstanceID)
			}
		}
		return forced
	}
	if app.State != model.AppRunning {
		return nil
	}
	sort.Strings(ids)
	op := m.c.newOperation(appID, model.OpReplaceInstances, OpMigrate, defaultOpSpec(m.c.cfg), now)
	op.InstanceIDs, op.JobsTotal = ids, len(ids)
	m.c.logger.Info("migrating application instances off executors under maintenance", "app", appID, "instances", len(ids))
	m.apply(fsm.AppOperationStartType, fsm.AppOperationStartRequest{AppID: appID, Op: op, Desired: app.Instances,
		State: model.AppReplaceInstancesRequested, ExpectVersion: app.Version, Timestamp: now.UnixMilli()})
	return nil
}

// finish records BLACKLISTED and DRAINED executors.
func (m *migrator) finish(ctx context.Context, av availability, live []model.InstanceRecord, now time.Time) {
	busy := map[string]bool{}    // executors with application or local-service instances
	anyLive := map[string]bool{} // executors with any instance
	for _, r := range live {
		anyLive[r.Info.ExecutorID] = true
		if r.Kind() != model.KindTask {
			busy[r.Info.ExecutorID] = true
		}
	}
	for _, e := range m.c.fsm.Executors() {
		id := e.ExecutorID
		switch {
		case e.State == model.ExecutorBlacklistRequested && !busy[id]:
			m.c.logger.Info("executor blacklisted: its instances were migrated", "executor", id)
			m.apply(fsm.ExecutorBlacklistedType, fsm.ExecutorIDRequest{ExecutorID: id, Timestamp: now.UnixMilli()})
		case av.drain[id] && !anyLive[id] && m.nothingRunsOn(ctx, e):
			// A REMOVED executor is not in av: its drain completes once it is back.
			m.c.logger.Info("executor drained", "executor", id)
			m.apply(fsm.ExecutorDrainedType, fsm.ExecutorIDRequest{ExecutorID: id, Timestamp: now.UnixMilli()})
		}
	}
}

func (m *migrator) apply(t fsm.MessageType, payload any) {
	cmd, err := fsm.Encode(t, payload)
	if err == nil {
		_, err = m.c.node.Apply(cmd)
	}
	if err != nil && !errors.Is(err, fsm.ErrConflict) {
		m.c.logger.Warn("maintenance step failed", "command", t, "error", err)
	}
}

// nothingRunsOn reports whether the executor itself runs nothing, beyond
// the controllers' records: an executor that was unreachable (before or
// during the drain) may still run containers the controllers marked LOST
// until its agent stops them as unknown. A full report since the drain
// started that shows nothing settles it (nothing new is placed on a
// draining executor); otherwise the executor is asked.
func (m *migrator) nothingRunsOn(ctx context.Context, e model.ExecutorInfo) bool {
	if e.Drain == nil {
		return false
	}
	if r, ok := m.c.lastFullReport(e.ExecutorID); ok && r.active == 0 && !r.at.Before(time.UnixMilli(e.Drain.Started)) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n, err := m.c.executorActiveInstances(ctx, e)
	if err != nil {
		m.c.logger.Debug("cannot ask draining executor what it runs", "executor", e.ExecutorID, "error", err)
		return false
	}
	return n == 0
}
