package server

import (
	"context"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
)

// taskMonitor enforces task timeouts on the leader (a drove extension):
// a task still running past its deadline is killed and ends TIMED_OUT. The
// deadline is replicated with the task, so a new leader enforces it too.
type taskMonitor struct {
	c        *Controller
	interval time.Duration
	now      func() time.Time
}

func (m *taskMonitor) run(ctx context.Context) {
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

func (m *taskMonitor) check() {
	if m.c.monitorsPaused(m.now()) {
		return // a task past its deadline is killed once maintenance is over
	}
	now := m.now().UnixMilli()
	for _, r := range m.c.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.Kind() == model.KindTask && r.TaskDeadline > 0 && now >= r.TaskDeadline &&
			!r.StopRequested && !r.Info.State.IsTerminal()
	}) {
		cmd, _ := fsm.Encode(fsm.TaskKillType, fsm.TaskKillRequest{InstanceID: r.Info.InstanceID, TimedOut: true, Timestamp: now})
		if _, err := m.c.node.Apply(cmd); err != nil {
			m.c.logger.Warn("killing timed out task failed", "task", r.Spec.TaskID, "instance", r.Info.InstanceID, "error", err)
			continue
		}
		m.c.logger.Info("task timed out; killing it", "sourceApp", r.Info.AppID, "task", r.Spec.TaskID)
	}
}
