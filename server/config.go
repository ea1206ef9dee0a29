package server

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	sockaddr "github.com/hashicorp/go-sockaddr"
)

// ControllerConfig configures a controller process.
type ControllerConfig struct {
	NodeID  string
	DataDir string
	// Listen addresses. Ports must be fixed in production; port 0 (tests)
	// works when the host part is a concrete IP such as 127.0.0.1.
	HTTPAddr   string
	RaftAddr   string
	GossipAddr string
	// Advertise is the host or IP other nodes use to reach this one; empty
	// picks the bind IP if concrete, else the host's first private IP.
	Advertise       string
	Join            []string
	BootstrapExpect int
	Users           []User
	ClusterSecret   string
	InsecureNoAuth  bool
	// ForwardWait bounds how long a request waits for a leader to exist.
	ForwardWait time.Duration
	// ExecutorAbsentGrace is how long a new leader waits for a registered
	// executor to show up in gossip before declaring it lost.
	ExecutorAbsentGrace time.Duration
	// RemovedExecutorRetention is how long a lost executor stays listed as REMOVED.
	RemovedExecutorRetention time.Duration
	// ClusterOpTimeout and ClusterOpParallelism are the opSpec of internal
	// operations (RECOVER), as Drove's clusterOpTimeout/clusterOpParallelism.
	ClusterOpTimeout     time.Duration
	ClusterOpParallelism int
	// OutageCheckInterval is how often the leader compares applications'
	// instances with what is desired; RecoverBackoff delays retrying an app
	// whose last operation failed.
	OutageCheckInterval time.Duration
	RecoverBackoff      time.Duration
	// MaintenanceGrace extends the maintenance window past a state change
	// (Drove: 40 s, so executors report fresh state before monitors act).
	MaintenanceGrace time.Duration
	// MaintenanceLeadTime is how long before a scheduled maintenance
	// window opens its machines stop taking instances and their
	// applications are migrated elsewhere.
	MaintenanceLeadTime time.Duration
	// AllowedMountDirs, DisableCmdlArgs and EnableRawDeviceAccess are
	// Drove's options constraining specs (volumes, args, devices).
	AllowedMountDirs      []string
	DisableCmdlArgs       bool
	EnableRawDeviceAccess bool
	// DropDispatch is fault injection for tests: a leader→executor message
	// for which it returns true is dropped as if lost on the network, while
	// the dispatcher believes it was delivered. Nil in production.
	DropDispatch func(model.ExecutorMessage) bool
	Version      string

	Raft   cluster.Config // timing and snapshot settings; ids and addresses are filled in by New
	Gossip gossip.Config  // probe settings; ids and addresses are filled in by New
	FSM    fsm.Config
	Logger hclog.Logger
}

// DefaultControllerConfig returns production defaults (Drove's controller port 4000).
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{
		HTTPAddr:                 ":4000",
		RaftAddr:                 ":4001",
		GossipAddr:               ":4002",
		ForwardWait:              5 * time.Second,
		ExecutorAbsentGrace:      15 * time.Second,
		RemovedExecutorRetention: 48 * time.Hour,
		ClusterOpTimeout:         300 * time.Second,
		ClusterOpParallelism:     1,
		OutageCheckInterval:      5 * time.Second,
		RecoverBackoff:           time.Minute,
		MaintenanceGrace:         model.MaintenanceWindowGrace,
		MaintenanceLeadTime:      15 * time.Minute,
		Raft:                     cluster.DefaultConfig(),
		Gossip:                   gossip.DefaultConfig(),
		FSM:                      fsm.DefaultConfig(),
	}
}

// Validate checks the configuration; messages name the field and the value.
func (c ControllerConfig) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("controller: node-id is required")
	case c.DataDir == "":
		return errors.New("controller: data-dir is required")
	case len(c.Users) == 0 && !c.InsecureNoAuth:
		return errors.New("controller: no users configured: pass --user name:password:ROLE, or --insecure-no-auth to disable authentication")
	case c.BootstrapExpect < 0:
		return fmt.Errorf("controller: bootstrap-expect must be >= 0, got %d", c.BootstrapExpect)
	case c.ForwardWait <= 0:
		return fmt.Errorf("controller: ForwardWait must be > 0, got %s", c.ForwardWait)
	case c.ExecutorAbsentGrace <= 0 || c.RemovedExecutorRetention <= 0:
		return fmt.Errorf("controller: ExecutorAbsentGrace (%s) and RemovedExecutorRetention (%s) must be > 0",
			c.ExecutorAbsentGrace, c.RemovedExecutorRetention)
	}
	for _, a := range []struct{ name, v string }{{"http-addr", c.HTTPAddr}, {"raft-addr", c.RaftAddr}, {"gossip-addr", c.GossipAddr}} {
		if _, _, err := splitHostPort(a.v); err != nil {
			return fmt.Errorf("controller: %s %q: %v", a.name, a.v, err)
		}
	}
	return nil
}

// splitHostPort parses "host:port" where the port is 0..65535 and host may be empty.
func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port must be a number 0-65535, got %q", p)
	}
	return h, port, nil
}

// advertiseIP resolves the address other nodes use: the configured advertise
// host, else a concrete bind host, else the host's private IP.
func advertiseIP(advertise, bindHost string) (string, error) {
	if advertise != "" {
		if ip := net.ParseIP(advertise); ip != nil {
			return ip.String(), nil
		}
		ips, err := net.LookupIP(advertise)
		if err != nil || len(ips) == 0 {
			return "", fmt.Errorf("advertise %q does not resolve: %v", advertise, err)
		}
		for _, ip := range ips {
			if ip.To4() != nil {
				return ip.String(), nil
			}
		}
		return ips[0].String(), nil
	}
	if ip := net.ParseIP(bindHost); ip != nil && !ip.IsUnspecified() {
		return ip.String(), nil
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "127.0.0.1", nil
	}
	return ip, nil
}
