package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	joinBackoffMin = 200 * time.Millisecond
	joinBackoffMax = 5 * time.Second
)

// Join contacts the given members ("host:port", "host" for our bound port,
// or memberlist's "name/host:port") and syncs state with them. Addresses
// that designate this node are dropped first, so a shared seed list can be
// passed to every node. It returns how many addresses were contacted; the
// error is nil if at least one was. With no address left after filtering it
// returns (0, nil).
func (p *Pool) Join(addrs []string) (int, error) {
	if p.shut.Load() {
		return 0, ErrShutdown
	}
	others := p.withoutSelf(addrs)
	if len(others) == 0 {
		return 0, nil
	}
	n, err := p.ml.Join(others)
	if err != nil {
		return n, fmt.Errorf("gossip: join %v: %w", others, err)
	}
	return n, nil
}

// JoinBackground starts a goroutine that calls Join(addrs), retrying with a
// backoff doubling from 200ms to 5s, until at least one other node has been
// contacted, ctx is done, or the pool is shut down. After joining it keeps
// watching: when none of the seed addresses is an alive member any more (all
// seeds restarted, or a partition isolated this node) it joins them again,
// since memberlist never reconnects to members it declared dead. Failures are logged. If
// addrs holds only this node's own address there is nothing to join and the
// goroutine ends at once. It returns immediately; Shutdown waits for the
// goroutine to end.
func (p *Pool) JoinBackground(ctx context.Context, addrs []string) {
	p.life.Lock()
	defer p.life.Unlock()
	if p.shut.Load() {
		return
	}
	addrs = slices.Clone(addrs)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.joinLoop(ctx, addrs)
	}()
}

func (p *Pool) joinLoop(ctx context.Context, addrs []string) {
	if len(p.withoutSelf(addrs)) == 0 {
		p.logger.Debug("no join addresses other than our own", "addrs", addrs)
		return
	}
	backoff := joinBackoffMin
	for attempt := 1; ; attempt++ {
		n, err := p.Join(addrs)
		switch {
		case errors.Is(err, ErrShutdown):
			return
		case err != nil:
			p.logger.Warn("join failed, retrying", "attempt", attempt, "retry_in", backoff, "error", err)
		case n > 0 && p.ml.NumMembers() > 1:
			p.logger.Info("joined gossip pool", "contacted", n, "members", p.ml.NumMembers())
			p.watchSeeds(ctx, addrs)
			return
		default:
			p.logger.Warn("join reached no other member, retrying", "attempt", attempt, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.stopCh:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, joinBackoffMax)
	}
}

// withoutSelf returns addrs minus the entries that designate this node.
func (p *Pool) withoutSelf(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" || p.isSelf(a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// isSelf reports whether addr designates this node: our name prefix, our
// advertised ip:port, or a local IP with our bound port.
func (p *Pool) isSelf(addr string) bool {
	if name, rest, ok := strings.Cut(addr, "/"); ok {
		if name == p.name {
			return true
		}
		addr = rest
	}
	if addr == p.selfAddr {
		return true
	}
	host, port := addr, p.boundPort
	if h, ps, err := net.SplitHostPort(addr); err == nil {
		n, err := strconv.Atoi(ps)
		if err != nil {
			return false
		}
		host, port = h, n
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ips, _ = net.DefaultResolver.LookupIP(ctx, "ip", host)
	}
	advHost, advPortStr, _ := net.SplitHostPort(p.selfAddr)
	advIP := net.ParseIP(advHost)
	advPort, _ := strconv.Atoi(advPortStr)
	for _, ip := range ips {
		if ip.Equal(advIP) && port == advPort {
			return true
		}
		if port == p.boundPort && p.listensOn(ip) {
			return true
		}
	}
	return false
}

// listensOn reports whether our bind address accepts traffic sent to ip.
func (p *Pool) listensOn(ip net.IP) bool {
	bind := net.ParseIP(p.bindAddr)
	if !bind.IsUnspecified() {
		return ip.Equal(bind)
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// rejoinInterval is how often a joined pool checks that a seed is still alive.
const rejoinInterval = 2 * time.Second

// watchSeeds rejoins addrs whenever no seed is an alive member.
func (p *Pool) watchSeeds(ctx context.Context, addrs []string) {
	t := time.NewTicker(rejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stopCh:
			return
		case <-t.C:
		}
		if p.anySeedAlive(addrs) {
			continue
		}
		if n, err := p.Join(addrs); err != nil || n == 0 {
			p.logger.Debug("no seed alive; rejoin failed", "error", err)
		} else {
			p.logger.Info("no seed was alive; rejoined", "contacted", n)
		}
	}
}

// anySeedAlive reports whether an alive member other than this node has the
// address of one of the seeds (hostnames are resolved).
func (p *Pool) anySeedAlive(addrs []string) bool {
	alive := map[string]bool{}
	for _, m := range p.Members() {
		if m.Name != p.name && m.State == MemberAlive {
			alive[m.Addr] = true
		}
	}
	for _, a := range p.withoutSelf(addrs) {
		if _, rest, ok := strings.Cut(a, "/"); ok {
			a = rest
		}
		if tcp, err := net.ResolveTCPAddr("tcp", a); err == nil && alive[tcp.String()] {
			return true
		}
	}
	return false
}
