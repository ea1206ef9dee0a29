package cluster

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config configures a controller's Raft node.
type Config struct {
	NodeID  string
	DataDir string // raft.db and snapshots/ live here
	// RaftBind is the listen address ("0.0.0.0:4001"); RaftAdvertise the
	// address other controllers dial (an IP, not a hostname: raft needs a TCP address).
	RaftBind      string
	RaftAdvertise string
	// Secret authenticates raft connections (challenge–response); "" disables it.
	Secret string
	// BootstrapExpect: bootstrap once this many controllers have found each
	// other through gossip. 0 never bootstraps (join a running cluster); 1
	// bootstraps alone.
	BootstrapExpect int

	// Raft timing. HeartbeatTimeout bounds how long followers wait for the
	// leader before starting an election; together with ElectionTimeout it
	// sets failover time (roughly 1–2 × HeartbeatTimeout plus one vote round).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// ApplyTimeout bounds how long a command may wait to be enqueued.
	ApplyTimeout time.Duration

	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	SnapshotRetain    int

	Logger hclog.Logger
}

// DefaultConfig returns timeouts tuned for fast failover on a LAN: a dead
// leader is noticed within 0.5–1 s and replaced a few hundred ms later, while
// a 2-core machine under load does not trigger spurious elections (raft's
// defaults, 1 s, give 2–3 s failovers; 200 ms flapped under load in probes).
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
	}
}

// Validate checks the configuration; messages name the field and the value.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("cluster: NodeID is required")
	case c.DataDir == "":
		return fmt.Errorf("cluster: DataDir is required")
	case c.RaftBind == "":
		return fmt.Errorf("cluster: RaftBind is required")
	case c.BootstrapExpect < 0:
		return fmt.Errorf("cluster: BootstrapExpect must be >= 0, got %d", c.BootstrapExpect)
	case c.HeartbeatTimeout < 5*time.Millisecond:
		return fmt.Errorf("cluster: HeartbeatTimeout must be >= 5ms, got %s", c.HeartbeatTimeout)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return fmt.Errorf("cluster: ElectionTimeout (%s) must be >= HeartbeatTimeout (%s)", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return fmt.Errorf("cluster: LeaderLeaseTimeout (%s) must be <= HeartbeatTimeout (%s)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	case c.SnapshotRetain < 1:
		return fmt.Errorf("cluster: SnapshotRetain must be >= 1, got %d", c.SnapshotRetain)
	}
	return nil
}
