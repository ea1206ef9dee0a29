package agent

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/drove-go/drove/fsm/model"
)

// hostLevel reports whether spec binds every port to the same host port:
// only local-service instances with hostLevelInstance do (Drove's
// host-level local services, reachable at a well-known port on every
// executor). The flag means nothing for other kinds.
func hostLevel(spec model.InstanceSpec) bool {
	return spec.Kind == model.KindLocalService && spec.HostLevel
}

// allocatePorts reserves a host port for each of the instance's ports:
// from the port range, or for a host-level instance the container ports
// themselves. When that fails the instance fails PROVISIONING_FAILED with
// the reason. The lease is released once the instance ends (see
// releasePortsLocked).
func (m *instanceManager) allocatePorts(in *instance) (*portLease, bool) {
	udp := make([]bool, len(in.spec.Ports))
	for i, p := range in.spec.Ports {
		udp[i] = p.Type == model.PortUDP
	}
	var lease *portLease
	var err error
	if hostLevel(in.spec) {
		fixed := make([]int, len(in.spec.Ports))
		for i, p := range in.spec.Ports {
			fixed[i] = p.Port
		}
		if lease, err = m.ports.allocateFixed(in.spec.InstanceID, fixed, udp); err != nil {
			m.fail(in, model.InstanceProvisioningFailed, "bind host-level ports: "+err.Error())
			return nil, false
		}
	} else if lease, err = m.ports.allocate(in.spec.InstanceID, udp); err != nil {
		m.fail(in, model.InstanceProvisioningFailed, "allocate host ports: "+err.Error())
		return nil, false
	}
	m.mu.Lock()
	in.ports = lease
	m.mu.Unlock()
	return lease, true
}

// allocateFixed reserves exactly ports (udp as in allocate) for instance
// owner, all or nothing. It fails, naming the port, when one is held by an
// instance of this agent or bound by anything else on the host. The ports
// go into the same held set as range allocations, so the range allocator
// skips them while the lease lives (a fixed port may well lie inside the
// range). The same port number may appear twice with different protocols
// (a DNS server on 53/tcp and 53/udp).
func (a *portAllocator) allocateFixed(owner string, ports []int, udp []bool) (_ *portLease, err error) {
	lease := &portLease{owner: owner, ports: append([]int(nil), ports...)}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer func() {
		if err != nil { // all or nothing: give back what was taken
			for _, p := range ports {
				if a.held[p] == lease {
					delete(a.held, p)
				}
			}
		}
	}()
	type key struct {
		port int
		udp  bool
	}
	seen := make(map[key]bool, len(ports))
	for i, p := range ports {
		k := key{p, udp[i]}
		switch {
		case p < 1 || p > 65535:
			return nil, fmt.Errorf("host port %d is not a valid port number", p)
		case seen[k]:
			return nil, fmt.Errorf("host port %d is asked for twice", p)
		case a.held[p] != nil && a.held[p] != lease:
			return nil, fmt.Errorf("host port %d is already held by instance %s on this executor", p, a.held[p].owner)
		}
		seen[k] = true
		// Probed under the lock, like allocate, so two host-level
		// instances cannot both pass the probe for one port.
		if err := a.probe(p, udp[i]); err != nil && !permissionDenied(err) {
			return nil, fmt.Errorf("host port %d is in use on the host: %w", p, err)
		}
		a.held[p] = lease // taken at once: a later duplicate is caught above
	}
	return lease, nil
}

// permissionDenied reports a probe that could not bind for want of
// privilege (a port below 1024 and an unprivileged executor): that says
// nothing about whether the port is free, and the runtime (Docker runs as
// root) binds it, failing the start should it be taken after all.
func permissionDenied(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}
