package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/drove-go/drove/cmd/drove/flagconf"
	"github.com/drove-go/drove/server"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
)

// controllerFlags are the raw flag values of `drove controller`.
type controllerFlags struct {
	config, nodeID, dataDir, httpAddr, raftAddr, gossipAddr, advertise string
	join, users                                                        []string
	bootstrapExpect, eventCapacity                                     int
	secret, logLevel                                                   string
	dev, insecureNoAuth, leaveOnTerminate, logJSON                     bool
	heartbeat, election, snapshotInterval, forwardWait                 time.Duration
	snapshotThreshold                                                  uint64
	opTimeout, recoverBackoff, maintGrace, maintLead                   time.Duration
	opParallelism                                                      int
}

func newControllerCommand() *cobra.Command {
	f := &controllerFlags{}
	def := server.DefaultControllerConfig()
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run a controller (a member of the Raft group that serves the API)",
		Long: `Run a controller. Every flag can also be set by environment variable
(DROVE_ + the flag name in upper snake case, e.g. DROVE_HTTP_ADDR) or in a YAML
file given with --config (keys are flag names). Flags win over environment,
environment over the file.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagconf.Apply(cmd.Flags(), "DROVE_", f.config); err != nil {
				return err
			}
			return runController(f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.config, "config", "", "YAML config file (keys are flag names)")
	fs.StringVar(&f.nodeID, "node-id", "", "unique id of this controller (default: the hostname)")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for raft log, stable store and snapshots")
	fs.StringVar(&f.httpAddr, "http-addr", def.HTTPAddr, "HTTP API listen address")
	fs.StringVar(&f.raftAddr, "raft-addr", def.RaftAddr, "raft transport listen address")
	fs.StringVar(&f.gossipAddr, "gossip-addr", def.GossipAddr, "gossip (memberlist) listen address, TCP and UDP")
	fs.StringVar(&f.advertise, "advertise", "", "host or IP other nodes use to reach this one")
	fs.StringSliceVar(&f.join, "join", nil, "gossip addresses (host:port) of controllers to join; may include this node")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "bootstrap the raft group once this many controllers see each other (0: join an existing cluster)")
	fs.StringArrayVar(&f.users, "user", nil, "API user name:password:ROLE (repeatable; password plain or bcrypt)")
	fs.StringVar(&f.secret, "cluster-secret", "", "shared secret for node-to-node traffic and gossip encryption")
	fs.BoolVar(&f.dev, "dev", false, "single-node development mode: temp data dir, admin/admin unless --user is given")
	fs.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve the API without authentication (every caller is root)")
	fs.BoolVar(&f.leaveOnTerminate, "leave-on-terminate", false, "leave the cluster (be removed from raft) on SIGTERM/SIGINT instead of just stopping")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.BoolVar(&f.logJSON, "log-json", false, "log in JSON")
	fs.DurationVar(&f.heartbeat, "raft-heartbeat-timeout", def.Raft.HeartbeatTimeout, "raft heartbeat timeout (failover detection)")
	fs.DurationVar(&f.election, "raft-election-timeout", def.Raft.ElectionTimeout, "raft election timeout")
	fs.Uint64Var(&f.snapshotThreshold, "snapshot-threshold", def.Raft.SnapshotThreshold, "raft log entries between snapshots")
	fs.DurationVar(&f.snapshotInterval, "snapshot-interval", def.Raft.SnapshotInterval, "how often to check whether a snapshot is due")
	fs.IntVar(&f.eventCapacity, "event-capacity", def.FSM.EventCapacity, "events kept in the replicated event log")
	fs.DurationVar(&f.forwardWait, "forward-wait", def.ForwardWait, "how long a request waits for a leader before 503")
	fs.DurationVar(&f.opTimeout, "cluster-op-timeout", def.ClusterOpTimeout, "timeout of internal operations and of operations sent without opSpec")
	fs.IntVar(&f.opParallelism, "cluster-op-parallelism", def.ClusterOpParallelism, "parallelism of internal operations (recovery, migration, local-service adjustment)")
	fs.DurationVar(&f.recoverBackoff, "recover-backoff", def.RecoverBackoff, "wait after a failed recovery, adjustment or migration before the next try")
	fs.DurationVar(&f.maintGrace, "maintenance-grace", def.MaintenanceGrace, "after maintenance is unset, the longest the monitors wait for fresh executor reports")
	fs.DurationVar(&f.maintLead, "maintenance-lead-time", def.MaintenanceLeadTime, "how long before a scheduled maintenance window its machines are emptied")
	return cmd
}

// controllerConfig turns flags into the server's configuration.
func (f *controllerFlags) controllerConfig(logger hclog.Logger) (server.ControllerConfig, error) {
	cfg := server.DefaultControllerConfig()
	cfg.NodeID, cfg.DataDir, cfg.Advertise = f.nodeID, f.dataDir, f.advertise
	cfg.HTTPAddr, cfg.RaftAddr, cfg.GossipAddr = f.httpAddr, f.raftAddr, f.gossipAddr
	cfg.Join, cfg.BootstrapExpect, cfg.ClusterSecret = f.join, f.bootstrapExpect, f.secret
	cfg.InsecureNoAuth, cfg.ForwardWait, cfg.Version = f.insecureNoAuth, f.forwardWait, Version
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout = f.heartbeat, f.election
	cfg.Raft.LeaderLeaseTimeout = min(cfg.Raft.LeaderLeaseTimeout, f.heartbeat)
	cfg.Raft.SnapshotThreshold, cfg.Raft.SnapshotInterval = f.snapshotThreshold, f.snapshotInterval
	cfg.FSM.EventCapacity = f.eventCapacity
	cfg.ClusterOpTimeout, cfg.ClusterOpParallelism, cfg.RecoverBackoff = f.opTimeout, f.opParallelism, f.recoverBackoff
	cfg.MaintenanceGrace, cfg.MaintenanceLeadTime = f.maintGrace, f.maintLead
	cfg.Logger = logger
	for _, u := range f.users {
		user, err := server.ParseUser(u)
		if err != nil {
			return cfg, fmt.Errorf("--user: %w", err)
		}
		cfg.Users = append(cfg.Users, user)
	}
	if cfg.NodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("--node-id not given and hostname unknown: %w", err)
		}
		cfg.NodeID = h
	}
	if f.dev {
		if err := applyDevDefaults(&cfg, logger); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// applyDevDefaults makes a single-node cluster that bootstraps itself.
func applyDevDefaults(cfg *server.ControllerConfig, logger hclog.Logger) error {
	cfg.BootstrapExpect = 1
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "drove-dev-")
		if err != nil {
			return fmt.Errorf("--dev: create temp data dir: %w", err)
		}
		cfg.DataDir = dir
		logger.Info("dev mode: using temporary data dir", "dir", dir)
	}
	if cfg.Advertise == "" {
		cfg.Advertise = "127.0.0.1"
	}
	if len(cfg.Users) == 0 && !cfg.InsecureNoAuth {
		cfg.Users = []server.User{{Name: "admin", Password: "admin", Role: server.RoleRoot}}
		logger.Warn("dev mode: API user admin/admin (EXTERNAL_ROOT)")
	}
	return nil
}

func newLogger(level string, json bool) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "drove", Level: hclog.LevelFromString(level), JSONFormat: json, Output: os.Stderr})
}

func runController(f *controllerFlags) error {
	logger := newLogger(f.logLevel, f.logJSON)
	cfg, err := f.controllerConfig(logger)
	if err != nil {
		return err
	}
	c, err := server.NewController(cfg)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sigs:
		logger.Info("signal received", "signal", s.String())
		if f.leaveOnTerminate {
			if err := c.Leave(nil); err != nil {
				logger.Error("graceful leave failed", "error", err)
			}
		}
	case <-c.Left():
	}
	c.Shutdown()
	logger.Info("controller stopped")
	return nil
}
