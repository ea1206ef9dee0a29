package server

import (
	"context"
	"strconv"
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
	// deadSince is when this leader first saw an executor dead or gone in
	// gossip. An executor that registered again after that is back: the
	// entry is its old incarnation, which gossip replaces once the new
	// one's alive message spreads (memberlist does not expose when a
	// member's state changed).
	deadSince map[string]time.Time
	// staleSince is when this leader first saw a dead or departed gossip
	// entry of an earlier incarnation than the executor registered now (a
	// quick restart registers before gossip declares the old one dead).
	staleSince map[string]time.Time
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
	// In maintenance executors restart (upgrades): marking one lost would
	// make its instances LOST and its containers be stopped when it returns.
	paused := m.c.monitorsPaused(now)
	var purge []string
	for _, e := range m.c.fsm.Executors() {
		if e.State == model.ExecutorRemoved {
			if now.Sub(time.UnixMilli(e.Removed)) > m.retention && !e.Gone && e.DrainState() != model.DrainDraining {
				purge = append(purge, e.ExecutorID)
			}
			continue
		}
		if paused {
			continue
		}
		mem, seen := members[e.ExecutorID]
		if seen && mem.Alive() {
			delete(m.deadSince, e.ExecutorID)
			delete(m.staleSince, e.ExecutorID)
		} else if seen && (m.earlierIncarnation(e, mem, now) || m.rejoinedSinceDeath(e, now)) {
			continue
		}
		// A new leader's gossip view is the least settled (after a restart of
		// every controller its pool may briefly hold stale deaths that the
		// executors then refute): a death counts only after deathSettle.
		var reason string
		switch {
		case now.Sub(leaderSince) <= min(m.absentGrace, deathSettle):
			continue
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

// deathSettle is how long a new leader waits before acting on a gossip
// death (bounded by the absence grace).
const deathSettle = 5 * time.Second

// earlierIncarnation reports whether the dead or departed gossip entry mem
// belongs to an agent that started before the one registered as e, for up
// to absentGrace after this leader first saw it so: the new incarnation's
// alive message replaces the entry by then, or it is as good as absent.
func (m *executorMonitor) earlierIncarnation(e model.ExecutorInfo, mem gossip.Member, now time.Time) bool {
	boot, err := strconv.ParseInt(mem.Meta.Tags[gossip.TagBoot], 10, 64)
	if err != nil || e.Boot == 0 || boot >= e.Boot {
		delete(m.staleSince, e.ExecutorID)
		return false
	}
	if m.staleSince == nil {
		m.staleSince = map[string]time.Time{}
	}
	since, ok := m.staleSince[e.ExecutorID]
	if !ok {
		since = now
		m.staleSince[e.ExecutorID] = now
	}
	return now.Sub(since) < m.absentGrace
}

// rejoinedSinceDeath records when the executor was first seen dead and
// reports whether it registered again (as new, or back from REMOVED)
// since then.
func (m *executorMonitor) rejoinedSinceDeath(e model.ExecutorInfo, now time.Time) bool {
	if m.deadSince == nil {
		m.deadSince = map[string]time.Time{}
	}
	since, ok := m.deadSince[e.ExecutorID]
	if !ok {
		m.deadSince[e.ExecutorID] = now
		return false
	}
	return e.Joined > since.UnixMilli()
}
