package gossip

import (
	"cmp"
	"reflect"
	"slices"
	"sync"

	"github.com/hashicorp/memberlist"
)

// subscriberBuffer is the capacity of each subscriber's channel.
const subscriberBuffer = 256

type subscriber struct {
	ch      chan Event
	dropped uint64 // guarded by Pool.mu
}

// delegate implements memberlist.Delegate and memberlist.EventDelegate for a
// Pool. memberlist calls the Notify methods one at a time while holding its
// node lock, so they must not block nor call back into memberlist.
type delegate struct{ p *Pool }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

// NodeMeta returns the encoded local metadata.
func (d *delegate) NodeMeta(limit int) []byte {
	d.p.metaMu.Lock()
	b := d.p.metaBytes
	d.p.metaMu.Unlock()
	if len(b) > limit { // cannot happen: sizes are checked on every change
		d.p.logger.Error("local meta over memberlist limit, advertising none", "size", len(b), "limit", limit)
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg([]byte)                {}
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}
func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.p.observe(EventJoin, n) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.p.observe(EventLeave, n) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.p.observe(EventUpdate, n) }

// observe records a membership change and fans it out to subscribers
// without blocking. memberlist's Node.State is not usable here (it is always
// StateAlive in v0.6.0), so the state follows from the event type and, for
// a leave, from the leave marker in the member's last meta.
func (p *Pool) observe(t EventType, n *memberlist.Node) {
	m := Member{Name: n.Name, Addr: n.Address(), State: MemberAlive}
	meta, leaving, err := decodeWire(n.Meta)
	if err != nil {
		p.logger.Warn("cannot decode member meta, keeping member with empty meta",
			"member", n.Name, "addr", m.Addr, "error", err)
	} else {
		m.Meta = meta
	}
	if t == EventLeave {
		m.State = MemberDead
		if leaving {
			m.State = MemberLeft
		}
	}
	p.logger.Debug("member event", "event", t, "member", m.Name, "addr", m.Addr, "state", m.State)

	p.mu.Lock()
	defer p.mu.Unlock()
	prev, known := p.members[m.Name]
	p.members[m.Name] = m
	if p.subsClosed {
		return
	}
	if t == EventUpdate && known && prev.State == m.State && prev.Addr == m.Addr &&
		reflect.DeepEqual(prev.Meta, m.Meta) {
		return // only the leave marker changed: not a meta update for callers
	}
	for s := range p.subs {
		select {
		case s.ch <- Event{Type: t, Member: m.clone()}:
		default:
			s.dropped++
			p.dropped.Add(1)
			if s.dropped&(s.dropped-1) == 0 { // log at 1, 2, 4, 8, ... drops
				p.logger.Warn("subscriber buffer full, dropping membership event",
					"event", t, "member", m.Name, "dropped_for_subscriber", s.dropped)
			}
		}
	}
}

// Subscribe returns a channel receiving every membership event seen after the
// call (including events about this node), and a function that cancels the
// subscription and closes the channel (safe to call more than once).
//
// Each subscriber has its own buffer of 256 events. memberlist is never
// blocked: when a subscriber's buffer is full the event is dropped for that
// subscriber and counted (DroppedEvents). Consumers must therefore also
// reconcile periodically from Members. Shutdown closes all channels; after
// Shutdown, Subscribe returns a closed channel.
func (p *Pool) Subscribe() (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, subscriberBuffer)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.subsClosed {
		close(s.ch)
		return s.ch, func() {}
	}
	p.subs[s] = struct{}{}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if _, ok := p.subs[s]; ok {
				delete(p.subs, s)
				close(s.ch)
			}
		})
	}
}

// DroppedEvents returns how many events were dropped, summed over all
// subscribers, because a subscriber's buffer was full.
func (p *Pool) DroppedEvents() uint64 { return p.dropped.Load() }

// Members returns every member this node has heard of, itself included,
// sorted by Name. Members that failed or left stay listed with their last
// known state (MemberDead or MemberLeft) until they come back.
func (p *Pool) Members() []Member {
	p.mu.Lock()
	out := make([]Member, 0, len(p.members))
	for _, m := range p.members {
		out = append(out, m.clone())
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// AliveMembers returns the members with the given role that have neither
// failed nor left (see Member.Alive), sorted by Name. An empty role matches
// every role.
func (p *Pool) AliveMembers(role Role) []Member {
	all := p.Members()
	out := all[:0]
	for _, m := range all {
		if m.Alive() && (role == "" || m.Meta.Role == role) {
			out = append(out, m)
		}
	}
	return out
}

// Member returns the member called name, in whatever state was last seen.
func (p *Pool) Member(name string) (Member, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.members[name]
	return m.clone(), ok
}
