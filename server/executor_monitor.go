package server

import (
	"context"
	"time"

	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
)

// executorMonitor turns gossip liveness into Raft commands, on the leader
// only: an executor that gossip declares dead or departed, or that is absent
// from gossip longer than absentGrace after this node became leader, is
// marked lost (REMOVED, its instances LOST). Heartbeats never reach Raft;
// only these changes do. REMOVED executors are purged after retention.
type executorMonitor struct {
	c           *Controller
	absentGrace time.Duration
	retention   time.Duration
	now         func() time.Time
}

func (m *executorMonitor) run(ctx context.Context) {
	events, unsubscribe := m.c.pool.Subscribe()
	defer unsubscribe()
	since := m.now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		m.reconcile(since)
		select {
		case ev := <-events:
			if ev.Member.Meta.Role != gossip.RoleExecutor {
				continue
			}
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (m *executorMonitor) reconcile(leaderSince time.Time) {
	members := map[string]gossip.Member{}
	for _, mem := range m.c.pool.Members() {
		if mem.Meta.Role == gossip.RoleExecutor {
			members[mem.Meta.ID] = mem
		}
	}
	now := m.now()
	var purge []string
	for _, e := range m.c.fsm.Executors() {
		if e.State == model.ExecutorRemoved {
			if now.Sub(time.UnixMilli(e.Removed)) > m.retention {
				purge = append(purge, e.ExecutorID)
			}
			continue
		}
		mem, seen := members[e.ExecutorID]
		var reason string
		switch {
		case seen && mem.State == gossip.MemberDead:
			reason = "executor failed (gossip)"
		case seen && mem.State == gossip.MemberLeft:
			reason = "executor left"
		case !seen && now.Sub(leaderSince) > m.absentGrace:
			reason = "executor not seen in gossip"
		default:
			continue
		}
		m.markLost(e.ExecutorID, reason, now)
	}
	if len(purge) > 0 {
		cmd, _ := fsm.Encode(fsm.ExecutorPurgeType, fsm.ExecutorPurgeRequest{ExecutorIDs: purge, Timestamp: now.UnixMilli()})
		if _, err := m.c.node.Apply(cmd); err != nil {
			m.c.logger.Warn("purging removed executors failed", "error", err)
		}
	}
}

func (m *executorMonitor) markLost(id, reason string, now time.Time) {
	m.c.logger.Info("executor lost", "executor", id, "reason", reason)
	cmd, _ := fsm.Encode(fsm.ExecutorLostType, fsm.ExecutorLostRequest{ExecutorID: id, Reason: reason, Timestamp: now.UnixMilli()})
	if _, err := m.c.node.Apply(cmd); err != nil {
		m.c.logger.Warn("marking executor lost failed", "executor", id, "error", err)
	}
}
