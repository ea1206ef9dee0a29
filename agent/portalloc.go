package agent

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// portLease is the set of host ports one instance holds, in the order of
// its spec's ports. The ports stay readable after release (reports keep
// showing where the instance ran).
type portLease struct {
	owner string // instance id, to name the holder of a taken fixed port
	ports []int
}

// portAllocator hands out host ports from a range so that the agent, not
// the runtime, decides which host port a container binds. Drove picked a
// free port by binding port 0 and let Docker bind it later, so two starts
// (or any other process) could race for it; here a port belongs to one
// live instance of this agent from allocation until its container is
// removed.
//
// Ports are chosen round-robin from the one after the last port handed
// out, so a just-freed port is reused only once the cursor has gone round
// the range (a client still talking to the old instance does not reach a
// new one). A port that cannot be bound on the host right now (some other
// process has it) is skipped.
//
// Safe for concurrent use. It never calls out while holding its lock
// except to probe, so callers may hold their own locks around release.
type portAllocator struct {
	rng   PortRange
	probe func(port int, udp bool) error // nil when the port is free on the host

	mu   sync.Mutex
	held map[int]*portLease
	next int // where the next search starts
}

func newPortAllocator(rng PortRange) *portAllocator {
	return &portAllocator{rng: rng, probe: probeHostPort, held: map[int]*portLease{}, next: rng.Min}
}

// allocate reserves len(udp) distinct host ports for instance owner, all
// or nothing; udp[i] tells whether the i-th port is UDP (it is then probed
// for UDP as well as TCP). With no ports it returns an empty lease.
func (a *portAllocator) allocate(owner string, udp []bool) (*portLease, error) {
	lease := &portLease{owner: owner, ports: make([]int, 0, len(udp))}
	if len(udp) == 0 {
		return lease, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.rng.Size()
	var held, busy int
	var busyErr error
	p := a.next
	for range size {
		if len(lease.ports) == len(udp) {
			break
		}
		cand := p
		if p++; p > a.rng.Max {
			p = a.rng.Min
		}
		if a.held[cand] != nil {
			held++
			continue
		}
		// Probing under the lock keeps two allocations from probing (and
		// taking) the same port; a probe is a bind and close on loopback.
		if err := a.probe(cand, udp[len(lease.ports)]); err != nil {
			busy++
			busyErr = err
			continue
		}
		lease.ports = append(lease.ports, cand)
	}
	if len(lease.ports) < len(udp) {
		return nil, a.exhausted(len(udp), len(lease.ports), held, busy, busyErr)
	}
	for _, port := range lease.ports {
		a.held[port] = lease
	}
	a.next = p
	return lease, nil
}

// exhausted explains a failed allocation.
func (a *portAllocator) exhausted(need, found, held, busy int, busyErr error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no free host port in range %s (needed %d, found %d", a.rng, need, found)
	if held > 0 {
		fmt.Fprintf(&b, "; %d held by instances on this executor", held)
	}
	if busy > 0 {
		fmt.Fprintf(&b, "; %d in use on the host", busy)
		if busyErr != nil && !errors.Is(busyErr, syscall.EADDRINUSE) {
			fmt.Fprintf(&b, ", last: %v", busyErr)
		}
	}
	b.WriteString(")")
	return errors.New(b.String())
}

// release gives the lease's ports back. Idempotent; a nil lease is fine.
func (a *portAllocator) release(lease *portLease) {
	if lease == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, port := range lease.ports {
		if a.held[port] == lease {
			delete(a.held, port)
		}
	}
}

// probeHostPort checks that port can be bound on all interfaces (as
// Docker publishes it) for TCP, and for UDP too when udp is set, by binding
// and closing at once. Any error counts as busy.
func probeHostPort(port int, udp bool) error {
	addr := ":" + strconv.Itoa(port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	_ = ln.Close()
	if udp {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		_ = pc.Close()
	}
	return nil
}
