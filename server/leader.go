package server

import (
	"context"
	"sync"
	"time"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm"
	"github.com/hashicorp/go-hclog"
)

// leaderTask is leader-only work. It runs until ctx is cancelled, which
// happens as soon as leadership is lost.
type leaderTask func(ctx context.Context)

// leadershipMonitor starts leader-only work when this node becomes leader and
// stops it when leadership is lost. Raft's signals can be coalesced, so it
// also re-checks the node's state and term every second: a dropped or
// repeated signal never leaves work running on a follower or missing on the
// leader, and a leadership regained in a new term restarts everything.
// establish runs first, alone; the tasks start only once it succeeded, so no
// task acts on an FSM that has not caught up with the log.
type leadershipMonitor struct {
	node      *cluster.Node
	establish func(ctx context.Context) bool
	tasks     []leaderTask
	onLost    func() // called after leader-only work has stopped
	logger    hclog.Logger
}

func (m *leadershipMonitor) run(ctx context.Context) {
	var stop func() // non-nil while leader-only work runs
	var term uint64
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		var leader bool
		select {
		case leader = <-m.node.LeaderCh():
		case <-check.C:
			leader = m.node.IsLeader()
		case <-ctx.Done():
			return
		}
		if stop != nil && (!leader || m.node.Term() != term) {
			m.logger.Info("leadership lost or term changed; stopping leader-only work")
			stop()
			stop = nil
		}
		if leader && stop == nil && m.node.IsLeader() {
			term = m.node.Term()
			m.logger.Info("leadership acquired; starting leader-only work", "term", term)
			stop = m.start(ctx)
		}
	}
}

// start runs establish, then every task in its own goroutine; the returned
// function cancels them and waits for all to return.
func (m *leadershipMonitor) start(ctx context.Context) func() {
	taskCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if m.establish != nil && !m.establish(taskCtx) {
			return
		}
		for _, t := range m.tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t(taskCtx)
			}()
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		if m.onLost != nil {
			m.onLost()
		}
	}
}

// establishLeadership waits until every earlier entry is applied locally,
// then marks the API ready (a new leader's FSM may lag until then, and it
// must not serve stale reads) and records the new leader as an event. It retries until it succeeds or leadership is lost.
// It reports whether leadership was established (false: ctx ended first).
func (c *Controller) establishLeadership(ctx context.Context) bool {
	for ctx.Err() == nil {
		err := c.node.Barrier(5 * time.Second)
		if err == nil {
			c.api.leaderReady.Store(true)
			cmd, _ := fsm.Encode(fsm.LeadershipAcquiredType, fsm.LeadershipRequest{
				NodeID: c.cfg.NodeID, Hostname: c.api.hostname, Timestamp: time.Now().UnixMilli()})
			if _, err = c.node.Apply(cmd); err == nil {
				return true
			}
		}
		c.logger.Warn("establishing leadership failed; retrying", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return false
}

// reconcileControllers keeps the raft configuration in step with gossip, on
// every membership event and periodically (events can be dropped).
func (c *Controller) reconcileControllers(ctx context.Context) {
	events, unsubscribe := c.pool.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if err := c.node.ReconcileControllers(); err != nil {
			c.logger.Warn("controller membership reconciliation failed", "error", err)
		}
		select {
		case ev := <-events:
			if ev.Member.Meta.Role != gossip.RoleController {
				continue
			}
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}
