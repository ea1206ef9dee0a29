package server

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm"
	"github.com/hashicorp/go-hclog"
)

// api holds what the HTTP handlers need. Handlers are methods on it, one
// file per resource.
type api struct {
	c        *Controller
	nodeID   string
	hostname string // this controller's host, recorded in events
	apiAddr  string // advertised host:port of this API
	version  string
	logger   hclog.Logger

	fsm  *fsm.FSM
	node *cluster.Node
	pool *gossip.Pool
	auth *authenticator
	fwd  *forwarder

	taskMu sync.Mutex // serialises task placement (see createTask)
	peers  *nodeClient

	// leaderReady is set once this node, as leader, has applied every entry
	// committed before its term (a barrier), and cleared when leadership is
	// lost. Until then a new leader's FSM may lag, so it serves nothing.
	leaderReady atomic.Bool

	leaveFn    func(auth http.Header) error
	shutdownCh <-chan struct{}
}

// leaderAPI returns the leader's advertised HTTP address, looked up by its
// raft id in gossip metadata. This node counts as leader only once ready.
func (a *api) leaderAPI() (addr string, self bool, ok bool) {
	id, _ := a.node.Leader()
	if id == "" {
		return "", false, false
	}
	if id == a.nodeID {
		if !a.isReadyLeader() {
			return "", false, false
		}
		return a.apiAddr, true, true
	}
	m, found := a.pool.Member(id)
	if !found || m.Meta.API == "" {
		return "", false, false
	}
	return m.Meta.API, false, true
}

func (a *api) leaveCluster(auth http.Header) error { return a.leaveFn(auth) }

// isReadyLeader reports whether this node is the leader and has caught up.
func (a *api) isReadyLeader() bool { return a.leaderReady.Load() && a.node.IsLeader() }
