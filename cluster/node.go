package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Node is one controller's Raft member. It owns the raft instance and its
// stores and transport; bootstrap and membership live in collaborators.
// All methods are safe for concurrent use.
type Node struct {
	cfg     Config
	logger  hclog.Logger
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	store   *raftboltdb.BoltStore
	members Membership

	notifyCh chan bool // raft's NotifyCh (raft blocks on it, so a pump drains it)
	leaderCh chan bool // 1-buffered, holds only the latest leadership value

	shutdownOnce sync.Once
	shutdownCh   chan struct{}
	wg           sync.WaitGroup
}

// NewNode opens (or creates) the Raft state in cfg.DataDir and starts the
// node. A node with existing state simply rejoins its cluster; a fresh one
// bootstraps when cfg.BootstrapExpect controllers are visible through
// members, or waits for the leader to add it.
func NewNode(cfg Config, fsm raft.FSM, members Membership) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	logger := cfg.Logger.Named("raft")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: create data dir: %w", err)
	}
	n := &Node{cfg: cfg, logger: logger, members: members,
		notifyCh: make(chan bool, 16), leaderCh: make(chan bool, 1), shutdownCh: make(chan struct{})}
	if err := n.open(fsm); err != nil {
		n.closeStores()
		return nil, err
	}
	n.wg.Add(1)
	go n.pumpLeadership()
	return n, nil
}

func (n *Node) open(fsm raft.FSM) error {
	var adv net.Addr // nil: advertise the bound address (it must be a concrete IP)
	if n.cfg.RaftAdvertise != "" {
		tcp, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAdvertise)
		if err != nil {
			return fmt.Errorf("cluster: RaftAdvertise %q: %w", n.cfg.RaftAdvertise, err)
		}
		adv = tcp
	}
	sl, err := NewStreamLayer(n.cfg.RaftBind, adv, n.cfg.Secret, n.logger)
	if err != nil {
		return fmt.Errorf("cluster: raft listener on %s: %w", n.cfg.RaftBind, err)
	}
	n.trans = NewRaftTransport(sl, n.logger)
	n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.cfg.DataDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("cluster: open raft.db: %w", err)
	}
	logs, err := raft.NewLogCache(512, n.store)
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, n.cfg.SnapshotRetain, n.logger)
	if err != nil {
		return fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	hasState, err := raft.HasExistingState(logs, n.store, snaps)
	if err != nil {
		return fmt.Errorf("cluster: read raft state: %w", err)
	}
	n.raft, err = raft.NewRaft(n.raftConfig(), fsm, logs, n.store, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	if !hasState {
		n.wg.Add(1)
		go n.bootstrapLoop()
	} else {
		n.logger.Info("existing raft state found; rejoining without bootstrap")
		go n.publishHasState()
	}
	return nil
}

func (n *Node) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = n.logger
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.NotifyCh = n.notifyCh
	// Let the leader hand many queued applies to the log store at once: one
	// fsync per batch is what makes concurrent writers fast.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	return rc
}

// pumpLeadership drains raft's blocking NotifyCh into leaderCh, which keeps
// only the latest value, so a slow consumer never stalls raft and never acts
// on an outdated signal.
func (n *Node) pumpLeadership() {
	defer n.wg.Done()
	for {
		select {
		case v := <-n.notifyCh:
			select {
			case <-n.leaderCh:
			default:
			}
			n.leaderCh <- v
		case <-n.shutdownCh:
			return
		}
	}
}

// LeaderCh delivers the latest leadership value (true = became leader). Values
// may be coalesced; consumers must treat each as the current truth.
func (n *Node) LeaderCh() <-chan bool { return n.leaderCh }

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr is the advertised raft address.
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

// IsLeader reports whether this node currently believes it is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// State is the raft role name (Leader, Follower, Candidate, Shutdown).
func (n *Node) State() string { return n.raft.State().String() }

// Leader returns the current leader's id and raft address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Apply commits a command and returns the FSM's response. It returns only
// after the entry is committed and applied locally; an FSM response that is
// an error is returned as the error.
func (n *Node) Apply(cmd []byte) (any, error) {
	f := n.raft.Apply(cmd, n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return nil, mapRaftErr(err)
	}
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

// Barrier waits until every entry committed before it is applied locally.
func (n *Node) Barrier(timeout time.Duration) error {
	return mapRaftErr(n.raft.Barrier(timeout).Error())
}

// Snapshot forces a snapshot (tests, operators).
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return mapRaftErr(err)
}

// Term is the current raft term (0 if unknown).
func (n *Node) Term() uint64 {
	var t uint64
	_, _ = fmt.Sscan(n.raft.Stats()["term"], &t)
	return t
}

// Status is this node's view of its own raft progress.
type Status struct {
	State        string
	LastContact  time.Time // zero for the leader or when never contacted
	AppliedIndex uint64
	CommitIndex  uint64
	LastIndex    uint64
	Term         string
}

// Status returns this node's raft progress.
func (n *Node) Status() Status {
	return Status{
		State:        n.raft.State().String(),
		LastContact:  n.raft.LastContact(),
		AppliedIndex: n.raft.AppliedIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		LastIndex:    n.raft.LastIndex(),
		Term:         n.raft.Stats()["term"],
	}
}

// Shutdown stops raft and closes the transport and stores (raft.Shutdown
// closes neither). Idempotent.
func (n *Node) Shutdown() error {
	var err error
	n.shutdownOnce.Do(func() {
		close(n.shutdownCh)
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		n.closeStores()
	})
	return err
}

func (n *Node) closeStores() {
	if n.trans != nil {
		_ = n.trans.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
}
