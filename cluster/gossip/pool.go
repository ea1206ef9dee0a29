package gossip

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// ErrShutdown is returned by Pool methods called after Shutdown.
var ErrShutdown = errors.New("gossip: pool is shut down")

// ErrBroadcastUnconfirmed wraps the UpdateMeta error returned when the new
// metadata is in effect locally but memberlist did not confirm its broadcast
// in time (a loaded host, or peers that still think this node is dead). The
// metadata still reaches every member by gossip and push/pull, so callers
// usually log it and go on.
var ErrBroadcastUnconfirmed = errors.New("gossip: meta broadcast not confirmed")

// metaUpdateTimeout bounds how long UpdateMeta waits for memberlist to
// confirm the broadcast of the new metadata.
const metaUpdateTimeout = 5 * time.Second

// Pool is this node's membership in the gossip pool. Create it with New.
// All methods are safe for concurrent use.
type Pool struct {
	name      string
	logger    hclog.Logger
	ml        *memberlist.Memberlist
	selfAddr  string // advertised ip:port
	boundPort int    // port actually bound (resolved when BindPort was 0)
	bindAddr  string

	updateMu  sync.Mutex // serialises UpdateMeta and Leave's meta change
	metaMu    sync.Mutex // guards meta, leaving and metaBytes
	meta      Meta
	leaving   bool   // set by Leave; adds the leave marker to metaBytes
	metaBytes []byte // wire form of meta (+ leave marker) for NodeMeta

	life   sync.Mutex // orders Leave, JoinBackground and Shutdown
	shut   atomic.Bool
	stopCh chan struct{} // closed by Shutdown; stops background goroutines
	doneCh chan struct{} // closed when Shutdown has finished
	wg     sync.WaitGroup

	mu         sync.Mutex // guards members, subs, subsClosed
	members    map[string]Member
	subs       map[*subscriber]struct{}
	subsClosed bool
	dropped    atomic.Uint64
}

// New validates cfg, starts listening and returns a Pool that contains only
// this node; call Join or JoinBackground to reach other members.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.Default().Named("gossip")
	}
	meta := cfg.Meta.Clone()
	metaBytes, err := meta.validate()
	if err != nil {
		return nil, fmt.Errorf("gossip: Config.Meta: %w", err)
	}
	p := &Pool{
		name:      cfg.NodeName,
		logger:    logger,
		bindAddr:  cfg.BindAddr,
		meta:      meta,
		metaBytes: metaBytes,
		stopCh:    make(chan struct{}),
		doneCh:    make(chan struct{}),
		members:   make(map[string]Member),
		subs:      make(map[*subscriber]struct{}),
	}
	mc, err := cfg.memberlistConfig(logger, &delegate{p: p})
	if err != nil {
		return nil, err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	p.ml = ml
	// memberlist has written the real port back into mc and announced us
	// (NotifyJoin for ourselves) before Create returned.
	p.boundPort = mc.BindPort
	if self, ok := p.Member(p.name); ok {
		p.selfAddr = self.Addr
	}
	logger.Info("gossip pool started", "name", p.name, "addr", p.selfAddr,
		"encrypted", cfg.Secret != "", "role", meta.Role)
	return p, nil
}

// LocalAddr returns the advertised gossip address of this node, ip:port.
func (p *Pool) LocalAddr() string { return p.selfAddr }

// LocalMeta returns a copy of this node's current metadata.
func (p *Pool) LocalMeta() Meta {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	return p.meta.Clone()
}

// UpdateMeta applies f to a copy of the local metadata and, if the result is
// valid and within the size limit (see Meta), makes it the local metadata and
// broadcasts it, waiting up to 5s for the broadcast. If f's result is
// invalid nothing changes and the error says why; a broadcast timeout is
// returned as an error although the new metadata is already in effect (it
// still spreads via gossip and push/pull). Calls are serialised.
func (p *Pool) UpdateMeta(f func(*Meta)) error {
	if p.shut.Load() {
		return ErrShutdown
	}
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	m := p.LocalMeta()
	f(&m)
	m = m.Clone() // f may keep a reference to m.Tags
	b, err := m.validate()
	if err != nil {
		return fmt.Errorf("gossip: UpdateMeta: %w", err)
	}
	p.metaMu.Lock()
	if p.leaving {
		b, err = encodeWire(m, true) // fits: the marker's room is reserved
	}
	if err == nil {
		p.meta, p.metaBytes = m, b
	}
	p.metaMu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: UpdateMeta: %w", err)
	}
	if err := p.ml.UpdateNode(metaUpdateTimeout); err != nil {
		return fmt.Errorf("%w (new meta applied locally): %w", ErrBroadcastUnconfirmed, err)
	}
	return nil
}

// Leave announces that this node leaves the pool gracefully, so that other
// members report it as MemberLeft rather than MemberDead. It first
// re-advertises the local meta with a leave marker (waiting for that
// broadcast), then broadcasts memberlist's leave; timeout bounds the whole
// call (0 or less waits without limit, as memberlist does). The node keeps
// answering gossip until Shutdown, which should follow; Shutdown waits for a
// Leave in progress. A member that misses the marker reports MemberDead.
func (p *Pool) Leave(timeout time.Duration) error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.shut.Load() {
		return ErrShutdown
	}
	start := time.Now()
	if err := p.announceLeave(timeout); err != nil {
		p.logger.Warn("leave intent broadcast not confirmed; some members may report this node dead", "error", err)
	}
	if timeout > 0 {
		timeout = max(timeout-time.Since(start), time.Millisecond)
	}
	if err := p.ml.Leave(timeout); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// announceLeave re-advertises the local meta with the leave marker.
func (p *Pool) announceLeave(timeout time.Duration) error {
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	p.metaMu.Lock()
	b, err := encodeWire(p.meta, true)
	if err == nil {
		p.leaving, p.metaBytes = true, b
	}
	p.metaMu.Unlock()
	if err != nil {
		return err
	}
	return p.ml.UpdateNode(timeout)
}

// Shutdown stops gossiping without announcing a leave (others will declare
// this node MemberDead; call Leave first for a graceful exit), stops the
// JoinBackground goroutines and closes all subscriber channels. It is
// idempotent; concurrent callers wait for the first one to finish.
func (p *Pool) Shutdown() error {
	p.life.Lock()
	if p.shut.Load() {
		p.life.Unlock()
		<-p.doneCh
		return nil
	}
	p.shut.Store(true)
	close(p.stopCh)
	p.life.Unlock()
	defer close(p.doneCh)

	err := p.ml.Shutdown()
	p.wg.Wait()
	p.mu.Lock()
	p.subsClosed = true
	for s := range p.subs {
		close(s.ch)
		delete(p.subs, s)
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	p.logger.Info("gossip pool shut down", "name", p.name)
	return nil
}
