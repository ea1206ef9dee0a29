package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/docker"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/agent/resources"
	"github.com/drove-go/drove/cmd/drove/flagconf"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
)

// executorFlags are the raw flag values of `drove executor`.
type executorFlags struct {
	logDir                                                    string
	logMaxSize                                                int64
	logMaxFiles                                               int
	logRetention                                              time.Duration
	config, nodeID, hostname, httpAddr, gossipAddr, advertise string
	join, controllers, tags, metadata                         []string
	secret, runtime, logLevel, portRange                      string
	fakeStartDelay, fakeCrashAfter                            time.Duration
	fakeFailureRate                                           float64
	cores, reservedCores, exposedMemPercent                   int
	memoryMB                                                  int64
	disableNUMA, logJSON                                      bool
	registerInterval, reportInterval, reconcileInterval       time.Duration
	unknownGrace, stopGrace                                   time.Duration

	dockerHost            string
	dockerPullTimeout     time.Duration
	allowedMountDirs      []string
	enableRawDeviceAccess bool
	maxOpenFiles          int64
}

func newExecutorCommand() *cobra.Command { return executorCommand(&executorFlags{}) }

// executorCommand is `drove executor` with its flags bound to f.
func executorCommand(f *executorFlags) *cobra.Command {
	def := agent.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Run an executor (an agent that runs application containers)",
		Long: `Run an executor. It registers with the controllers, runs the instances the
leader sends it and reports their state. Every flag can also be set by
environment variable (DROVE_ + the flag name in upper snake case, e.g.
DROVE_CONTROLLERS) or in a YAML file given with --config (keys are flag names).
Flags win over environment, environment over the file.

With a subcommand (list, info, appinstances) it is instead the client that
shows executors through the controllers' API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagconf.Apply(cmd.Flags(), "DROVE_", f.config); err != nil {
				return err
			}
			return runExecutor(f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.config, "config", "", "YAML config file (keys are flag names)")
	fs.StringVar(&f.nodeID, "node-id", "", "executor id (default: Drove's UUID of hostname:http-port)")
	fs.StringVar(&f.hostname, "hostname", "", "host name controllers use to reach this executor (default: the hostname)")
	fs.StringVar(&f.httpAddr, "http-addr", def.HTTPAddr, "HTTP API listen address")
	fs.StringVar(&f.gossipAddr, "gossip-addr", def.GossipAddr, "gossip (memberlist) listen address, TCP and UDP")
	fs.StringVar(&f.advertise, "advertise", "", "host or IP other nodes use to reach this one over gossip")
	fs.StringSliceVar(&f.join, "join", nil, "gossip addresses (host:port) of controllers to join")
	fs.StringSliceVar(&f.controllers, "controllers", nil, "controller API URLs, e.g. http://c1:4000,http://c2:4000")
	fs.StringVar(&f.secret, "cluster-secret", "", "shared secret for node-to-node traffic and gossip encryption")
	fs.StringVar(&f.runtime, "runtime", "docker", "container runtime: docker or fake")
	fs.StringVar(&f.dockerHost, "docker-host", "", "Docker daemon address, e.g. unix:///var/run/docker.sock or tcp://host:2376 (default: $DOCKER_HOST or the local socket)")
	fs.DurationVar(&f.dockerPullTimeout, "docker-pull-timeout", docker.DefaultPullTimeout, "image pull timeout for specs that set no dockerPullTimeout")
	fs.StringSliceVar(&f.allowedMountDirs, "allowed-mount-dirs", nil, "host directories instance volumes may mount (comma list of absolute paths; empty: any)")
	fs.BoolVar(&f.enableRawDeviceAccess, "enable-raw-device-access", false, "let instances use host devices (device specs); without it such instances fail to start")
	fs.Int64Var(&f.maxOpenFiles, "max-open-files", def.MaxOpenFiles, "nofile ulimit of every container (0: the runtime's default; Drove uses 470000)")
	fs.StringVar(&f.portRange, "port-range", def.PortRange.String(),
		"host ports given to instances, min-max within 1024-65535; keep it out of the kernel's ephemeral range (Linux: 32768-60999) and free of other services")
	fs.DurationVar(&f.fakeStartDelay, "fake-start-delay", 0, "fake runtime: how long a container takes to start")
	fs.Float64Var(&f.fakeFailureRate, "fake-failure-rate", 0, "fake runtime: probability (0..1) that a start fails")
	fs.DurationVar(&f.fakeCrashAfter, "fake-crash-after", 0, "fake runtime: containers crash this long after starting (0: never)")
	fs.StringSliceVar(&f.tags, "tags", nil, "executor tags (comma list); the hostname is always added")
	fs.StringArrayVar(&f.metadata, "metadata", nil, "executor metadata key=value (repeatable)")
	fs.IntVar(&f.cores, "cores", 0, "offer only the first N cores (0: all)")
	fs.Int64Var(&f.memoryMB, "memory-mb", 0, "offer this much memory in MB instead of the discovered total (0: discovered)")
	fs.IntVar(&f.reservedCores, "reserved-cores", 0, "cores kept for the operating system")
	fs.IntVar(&f.exposedMemPercent, "exposed-memory-percent", 0, "percentage (1-100) of memory offered (0: 100)")
	fs.BoolVar(&f.disableNUMA, "disable-numa", false, "offer all cores and memory as one NUMA node")
	fs.DurationVar(&f.registerInterval, "register-interval", def.RegisterInterval, "how often to register again (healing)")
	fs.DurationVar(&f.reportInterval, "report-interval", def.ReportInterval, "how often to send a full instance report")
	fs.DurationVar(&f.reconcileInterval, "reconcile-interval", def.ReconcileInterval, "how often to reconcile with the leader's expected instances")
	fs.DurationVar(&f.unknownGrace, "unknown-grace", def.UnknownGrace, "stop instances the controllers do not know after this long")
	fs.DurationVar(&f.stopGrace, "stop-grace", def.StopGrace, "kill grace period of a container stop: SIGKILL this long after SIGTERM (a drain's maxGracePeriod may shorten it)")
	fs.StringVar(&f.logDir, "log-dir", def.LogDir, "directory for instance output logs, <dir>/<appId>/<instanceId>/output.log, served by the log-file APIs (empty: no instance logs)")
	fs.Int64Var(&f.logMaxSize, "log-max-size", def.LogMaxSize, "rotate an instance's output.log when it reaches this many bytes")
	fs.IntVar(&f.logMaxFiles, "log-max-files", def.LogMaxFiles, "rotated instance log files kept besides output.log (output.log.1 …)")
	fs.DurationVar(&f.logRetention, "log-retention", def.LogRetention, "delete an ended instance's logs this long after their last write (0: never)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.BoolVar(&f.logJSON, "log-json", false, "log in JSON")
	return cmd
}

// agentConfig turns flags into the agent's configuration.
func (f *executorFlags) agentConfig(logger hclog.Logger) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	cfg.ExecutorID, cfg.Hostname, cfg.Advertise = f.nodeID, f.hostname, f.advertise
	cfg.HTTPAddr, cfg.GossipAddr = f.httpAddr, f.gossipAddr
	cfg.Join, cfg.Controllers, cfg.ClusterSecret, cfg.Tags = f.join, f.controllers, f.secret, f.tags
	cfg.RegisterInterval, cfg.ReportInterval = f.registerInterval, f.reportInterval
	cfg.ReconcileInterval, cfg.UnknownGrace = f.reconcileInterval, f.unknownGrace
	cfg.StopGrace = f.stopGrace
	cfg.Version, cfg.Logger = Version, logger
	cfg.EnableRawDeviceAccess, cfg.MaxOpenFiles = f.enableRawDeviceAccess, f.maxOpenFiles
	cfg.AllowedMountDirs = nil
	for _, d := range f.allowedMountDirs {
		if d = strings.TrimSpace(d); d != "" {
			cfg.AllowedMountDirs = append(cfg.AllowedMountDirs, d)
		}
	}
	pr, err := agent.ParsePortRange(f.portRange)
	if err != nil {
		return cfg, fmt.Errorf("--port-range %q: %w", f.portRange, err)
	}
	cfg.PortRange = pr
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("--hostname not given and the host name is unknown: %w", err)
		}
		cfg.Hostname = h
	}
	// With --node-id unset the agent derives Drove's id from the hostname
	// and the port it actually bound (which also covers port 0).
	cfg.Metadata = map[string]string{}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return cfg, fmt.Errorf("--metadata %q: expected key=value", kv)
		}
		cfg.Metadata[strings.TrimSpace(k)] = v
	}
	opts := resources.Options{Cores: f.cores, MemoryMB: f.memoryMB, ReservedOSCores: f.reservedCores,
		ExposedMemPercent: f.exposedMemPercent, DisableNUMA: f.disableNUMA}
	if err := opts.Validate(); err != nil {
		return cfg, err
	}
	layout, err := resources.Discover(opts)
	if err != nil && f.runtime == "fake" && f.cores > 0 && f.memoryMB > 0 {
		// Simulated executors may offer more than the host has.
		layout, err = resources.Synthetic(f.cores, f.memoryMB, 1)
	}
	if err != nil {
		return cfg, fmt.Errorf("discover resources: %w", err)
	}
	cfg.Layout = layout
	cfg.LogDir, cfg.LogMaxSize, cfg.LogMaxFiles, cfg.LogRetention = f.logDir, f.logMaxSize, f.logMaxFiles, f.logRetention
	return cfg, cfg.Validate()
}

// newRuntime builds the container runtime named by --runtime.
func (f *executorFlags) newRuntime(logger hclog.Logger) (agent.Runtime, error) {
	switch f.runtime {
	case "fake":
		rt, err := fakeruntime.New(fakeruntime.Config{StartDelay: f.fakeStartDelay,
			FailureRate: f.fakeFailureRate, CrashAfter: f.fakeCrashAfter})
		if err != nil {
			return nil, fmt.Errorf("--runtime fake: %w", err)
		}
		return rt, nil
	case "docker":
		if f.dockerPullTimeout <= 0 {
			return nil, fmt.Errorf("--docker-pull-timeout must be > 0, got %s", f.dockerPullTimeout)
		}
		rt, err := docker.New(docker.Config{Host: f.dockerHost, PullTimeout: f.dockerPullTimeout,
			Logger: logger.Named("docker")})
		if err != nil {
			return nil, fmt.Errorf("--runtime docker: %w", err)
		}
		return rt, nil
	default:
		return nil, fmt.Errorf("--runtime %q: must be docker or fake", f.runtime)
	}
}

func runExecutor(f *executorFlags) error {
	logger := newLogger(f.logLevel, f.logJSON)
	cfg, err := f.agentConfig(logger)
	if err != nil {
		return err
	}
	rt, err := f.newRuntime(logger)
	if err != nil {
		return err
	}
	if c, ok := rt.(io.Closer); ok {
		defer c.Close()
	}
	a, err := agent.New(cfg, rt)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	s := <-sigs
	logger.Info("signal received", "signal", s.String())
	a.Shutdown()
	return nil
}
