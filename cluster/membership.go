package cluster

import (
	"fmt"
	"sort"
	"time"

	"github.com/drove-go/drove/cluster/gossip"
	"github.com/hashicorp/raft"
)

// Membership is what the node needs from the gossip pool: who is out there
// and a way to publish that this node has raft state. *gossip.Pool satisfies
// it. Implementations must be safe for concurrent use.
type Membership interface {
	Members() []gossip.Member
	UpdateMeta(func(*gossip.Meta)) error
}

// Server is one member of the Raft configuration.
type Server struct {
	ID      string
	Address string // raft address
	Voter   bool
}

// Servers returns the current Raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, mapRaftErr(err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AddVoter adds (or re-addresses) a voting controller. Leader only.
func (n *Node) AddVoter(id, addr string) error {
	return mapRaftErr(n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 10*time.Second).Error())
}

// RemoveServer removes a controller from the Raft configuration. Leader only.
func (n *Node) RemoveServer(id string) error {
	servers, err := n.Servers()
	if err != nil {
		return err
	}
	found := false
	for _, s := range servers {
		found = found || s.ID == id
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknownServer, id)
	}
	return mapRaftErr(n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error())
}

// TransferLeadership hands leadership to another voter (graceful leave).
func (n *Node) TransferLeadership() error {
	return mapRaftErr(n.raft.LeadershipTransfer().Error())
}

// aliveControllers returns controllers gossip sees alive, sorted by id.
func aliveControllers(m Membership) []gossip.Member {
	var out []gossip.Member
	for _, mem := range m.Members() {
		if mem.Meta.Role == gossip.RoleController && mem.State == gossip.MemberAlive && mem.Meta.Raft != "" {
			out = append(out, mem)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Meta.ID < out[j].Meta.ID })
	return out
}

// bootstrapLoop bootstraps a fresh node, Nomad style: once BootstrapExpect
// controllers see each other and none of them already has raft state, each
// bootstraps with the same sorted server list, so they agree on the first
// configuration. If any peer already has state, a cluster exists and its
// leader adds this node instead.
func (n *Node) bootstrapLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	bootstrapped := n.cfg.BootstrapExpect == 0 // never bootstrap; wait to be added
	for {
		if !bootstrapped {
			bootstrapped = n.tryBootstrap()
		}
		if n.raft.LastIndex() > 0 {
			// Not awaited: the meta applies locally at once and spreads by
			// gossip; waiting for broadcast confirmation must not delay Shutdown.
			go n.publishHasState()
			return
		}
		select {
		case <-tick.C:
		case <-n.shutdownCh:
			return
		}
	}
}

// tryBootstrap reports whether bootstrapping is settled (done or not ours to do).
func (n *Node) tryBootstrap() bool {
	var peers []gossip.Member
	if n.members != nil {
		peers = aliveControllers(n.members)
	}
	for _, p := range peers {
		if p.Meta.HasState && p.Meta.ID != n.cfg.NodeID {
			n.logger.Info("found a controller with raft state; waiting to be added by the leader", "peer", p.Meta.ID)
			return true
		}
	}
	servers := []raft.Server{{ID: raft.ServerID(n.cfg.NodeID), Address: n.trans.LocalAddr()}}
	if n.cfg.BootstrapExpect > 1 {
		if len(peers) < n.cfg.BootstrapExpect {
			return false
		}
		servers = servers[:0]
		for _, p := range peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.Meta.ID), Address: raft.ServerAddress(p.Meta.Raft)})
		}
	}
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && err != raft.ErrCantBootstrap {
		n.logger.Error("bootstrap failed", "error", err)
		return false
	}
	n.logger.Info("bootstrapped raft cluster", "servers", len(servers))
	return true
}

func (n *Node) publishHasState() {
	if n.members == nil {
		return
	}
	err := n.members.UpdateMeta(func(m *gossip.Meta) { m.HasState = true })
	select {
	case <-n.shutdownCh: // shut down meanwhile; nothing to report
	default:
		if err != nil {
			// The meta is applied locally and reaches peers by push/pull
			// even when the broadcast was not confirmed in time.
			n.logger.Debug("raft state published in gossip without broadcast confirmation", "error", err)
		}
	}
}

// ReconcileControllers makes the Raft configuration follow gossip: alive
// controllers missing from it are added as voters (or re-addressed), and
// controllers that left gracefully are removed. Failed controllers are kept
// (they may come back); operators remove them explicitly. Leader only.
func (n *Node) ReconcileControllers() error {
	if n.members == nil || !n.IsLeader() {
		return nil
	}
	servers, err := n.Servers()
	if err != nil {
		return err
	}
	known := map[string]Server{}
	for _, s := range servers {
		known[s.ID] = s
	}
	for _, m := range n.members.Members() {
		if m.Meta.Role != gossip.RoleController || m.Meta.ID == "" || m.Meta.ID == n.cfg.NodeID {
			continue
		}
		s, inConfig := known[m.Meta.ID]
		switch {
		case m.State == gossip.MemberAlive && m.Meta.Raft != "" && (!inConfig || s.Address != m.Meta.Raft):
			n.logger.Info("adding controller as voter", "id", m.Meta.ID, "addr", m.Meta.Raft)
			if err := n.AddVoter(m.Meta.ID, m.Meta.Raft); err != nil {
				return fmt.Errorf("add voter %s: %w", m.Meta.ID, err)
			}
		case m.State == gossip.MemberLeft && inConfig:
			n.logger.Info("removing controller that left", "id", m.Meta.ID)
			if err := n.RemoveServer(m.Meta.ID); err != nil {
				return fmt.Errorf("remove %s: %w", m.Meta.ID, err)
			}
		}
	}
	return nil
}
