package agent

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drove-go/drove/agent/logs"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// Config configures an Agent. Start from DefaultConfig. Error messages of
// Validate name the command-line flag and the offending value.
type Config struct {
	// ExecutorID is the executor's id; "" means resources.ExecutorID of
	// Hostname and the bound HTTP port (Drove's derivation).
	ExecutorID string
	// Hostname is the name controllers use to reach the agent's API and the
	// hostname reported for instances; "" means os.Hostname().
	Hostname string
	// HTTPAddr is the API listen address (port 0 picks a free port).
	HTTPAddr string
	// GossipAddr is the gossip listen address, UDP and TCP (port 0 works).
	GossipAddr string
	// Advertise is the host or IP other gossip members use to reach this
	// one; "" picks the bind IP when concrete, else a private IP.
	Advertise string
	// Join lists controllers' gossip addresses (host:port).
	Join []string
	// Controllers lists controller API base URLs (http://host:4000); any of
	// them will do, followers forward to the leader.
	Controllers []string
	// ClusterSecret authenticates node-to-node calls (both directions) and
	// encrypts gossip. Required.
	ClusterSecret string
	// Tags are the executor's tags; the hostname is always added.
	Tags []string
	// Metadata is free-form executor metadata sent on registration.
	Metadata map[string]string
	// Layout is the cores and memory offered (see agent/resources.Discover).
	Layout model.ResourceLayout
	// RegisterInterval is how often the agent registers again to heal.
	RegisterInterval time.Duration
	// ReportInterval is how often a full report of all instances is sent.
	ReportInterval time.Duration
	// ReconcileInterval is how often the agent compares itself with the
	// leader's expected instances (jittered ±20%).
	ReconcileInterval time.Duration
	// UnknownGrace is how long an instance the controller does not know
	// keeps running before the agent stops it.
	UnknownGrace time.Duration
	// ReportBatch is how long state changes are collected before one report
	// carries them.
	ReportBatch time.Duration
	// ControllerTimeout bounds each call to one controller.
	ControllerTimeout time.Duration
	// StopGrace is the SIGTERM→SIGKILL grace of a container stop.
	StopGrace time.Duration
	// TerminalRetention is how long STOPPED / LOST instances stay listed
	// (and reported) before they are forgotten.
	TerminalRetention time.Duration
	// PortRange is the inclusive range of host ports the agent hands out to
	// instances' exposed ports (see portAllocator). It should be reserved
	// for drove on the host and lie outside the kernel's ephemeral range
	// (net.ipv4.ip_local_port_range, 32768-60999 on Linux by default):
	// outgoing connections of any process take local ports from there, so
	// a port found free could be taken before the container binds it.
	PortRange PortRange
	// AllowedMountDirs, when non-empty, lists the host directories that
	// instance volumes may mount: a volume's host path must be one of them
	// or below one of them (compared as cleaned paths). Empty allows any
	// absolute host path, as in Drove.
	AllowedMountDirs []string
	// EnableRawDeviceAccess lets instances have host devices (DIRECT and
	// DETAILED device specs); without it an instance with devices fails to
	// start.
	EnableRawDeviceAccess bool
	// MaxOpenFiles is every container's nofile ulimit (soft and hard); 0
	// keeps the runtime's default. Drove sets 470000; drove does not by
	// default because the container runtime must be allowed to raise the
	// limit that far (a daemon in a container or a rootless one often is
	// not, and every start would fail).
	MaxOpenFiles int64
	// Version is the drove version, sent on registration and in gossip.
	Version string
	// Gossip holds the gossip timing knobs; ids, addresses, secret and meta
	// are filled in by New.
	Gossip gossip.Config
	// Logger receives the agent's logs; nil discards them.
	Logger hclog.Logger

	// Instance output logs (package agent/logs), served by the log-file
	// APIs. LogDir is their root: <LogDir>/<appId>/<instanceId>/output.log;
	// "" disables them.
	LogDir string
	// LogMaxSize is the size in bytes at which output.log is rotated
	// (<= 0: logs.DefaultMaxSize, 10 MiB).
	LogMaxSize int64
	// LogMaxFiles is how many rotated files (output.log.1 …) are kept
	// besides output.log (< 0: none).
	LogMaxFiles int
	// LogRetention is how long an instance's logs are kept after their last
	// write, once its output is no longer followed (<= 0: forever).
	LogRetention time.Duration
}

// DefaultConfig returns production defaults (Drove's executor port 3000).
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          ":3000",
		GossipAddr:        ":3002",
		RegisterInterval:  60 * time.Second,
		ReportInterval:    30 * time.Second,
		ReconcileInterval: 10 * time.Second,
		UnknownGrace:      30 * time.Second,
		ReportBatch:       100 * time.Millisecond,
		ControllerTimeout: 5 * time.Second,
		StopGrace:         10 * time.Second,
		TerminalRetention: 10 * time.Minute,
		PortRange:         DefaultPortRange,
		Gossip:            gossip.DefaultConfig(),

		LogMaxSize:   logs.DefaultMaxSize,
		LogMaxFiles:  logs.DefaultMaxFiles,
		LogRetention: 7 * 24 * time.Hour,
	}
}

// DroveMaxOpenFiles is Drove's default container nofile limit, a value for
// Config.MaxOpenFiles (--max-open-files) where the runtime allows it.
const DroveMaxOpenFiles = 470000

// Validate checks c. Hostname and ExecutorID may be empty (New derives them).
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("agent: "+format, args...)) }
	for _, a := range []struct{ flag, v string }{{"http-addr", c.HTTPAddr}, {"gossip-addr", c.GossipAddr}} {
		if _, _, err := splitHostPort(a.v); err != nil {
			add("--%s %q: %v", a.flag, a.v, err)
		}
	}
	if strings.ContainsAny(c.Hostname, " /:") {
		add("--hostname %q must be a plain host name or IP", c.Hostname)
	}
	if len(c.Controllers) == 0 {
		add("--controllers is empty: give at least one controller URL (http://host:4000)")
	}
	for _, u := range c.Controllers {
		if err := checkControllerURL(u); err != nil {
			add("--controllers entry %q: %v", u, err)
		}
	}
	for _, j := range c.Join {
		if strings.TrimSpace(j) == "" {
			add("--join has an empty entry")
		}
	}
	if c.ClusterSecret == "" {
		add("--cluster-secret is required (controllers and executors must share it)")
	}
	if err := c.PortRange.validate(); err != nil {
		add("--port-range %s: %v", c.PortRange, err)
	}
	for _, d := range c.AllowedMountDirs {
		if !path.IsAbs(d) {
			add("--allowed-mount-dirs entry %q must be an absolute path", d)
		}
	}
	if c.MaxOpenFiles < 0 {
		add("--max-open-files must be >= 0, got %d", c.MaxOpenFiles)
	}
	if c.Layout.TotalCores() <= 0 {
		add("resource layout offers no cores (--cores %d)", c.Layout.TotalCores())
	}
	if c.Layout.TotalMemory() <= 0 {
		add("resource layout offers no memory (--memory-mb %d)", c.Layout.TotalMemory())
	}
	for k := range c.Metadata {
		if k == "" {
			add("--metadata has an empty key")
		}
	}
	durs := []struct {
		flag string
		v    time.Duration
	}{
		{"register-interval", c.RegisterInterval}, {"report-interval", c.ReportInterval},
		{"reconcile-interval", c.ReconcileInterval}, {"unknown-grace", c.UnknownGrace},
		{"ReportBatch", c.ReportBatch}, {"ControllerTimeout", c.ControllerTimeout},
		{"StopGrace", c.StopGrace}, {"TerminalRetention", c.TerminalRetention},
	}
	for _, d := range durs {
		if d.v <= 0 {
			name := d.flag
			if strings.Contains(name, "-") {
				name = "--" + name
			}
			add("%s must be > 0, got %s", name, d.v)
		}
	}
	return errors.Join(errs...)
}

// DefaultPortRange is the default Config.PortRange: 10,000 ports below the
// Linux ephemeral range (32768-60999), so that no outgoing connection on
// the host can hold a port between the agent picking it and the container
// binding it (Drove's race: it asked the kernel for a free port and let
// Docker bind it later).
var DefaultPortRange = PortRange{Min: 20000, Max: 29999}

// Bounds of a PortRange: ports below 1024 are privileged and belong to
// host services.
const (
	minHostPort = 1024
	maxHostPort = 65535
)

// PortRange is an inclusive range of host ports, written "min-max".
type PortRange struct {
	Min, Max int
}

// String renders r as "min-max" (the --port-range syntax).
func (r PortRange) String() string { return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max) }

// Size is the number of ports in r (0 when r is empty or inverted).
func (r PortRange) Size() int { return max(0, r.Max-r.Min+1) }

func (r PortRange) validate() error {
	switch {
	case r.Min < minHostPort:
		return fmt.Errorf("min must be >= %d (lower ports are privileged), got %d", minHostPort, r.Min)
	case r.Max > maxHostPort:
		return fmt.Errorf("max must be <= %d, got %d", maxHostPort, r.Max)
	case r.Min > r.Max:
		return fmt.Errorf("min %d is greater than max %d", r.Min, r.Max)
	}
	return nil
}

// ParsePortRange parses "min-max" (e.g. "20000-29999") and checks that
// 1024 <= min <= max <= 65535.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return PortRange{}, fmt.Errorf("expected min-max, e.g. %s", DefaultPortRange)
	}
	minP, err1 := strconv.Atoi(strings.TrimSpace(lo))
	maxP, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("expected min-max with numeric ports, e.g. %s", DefaultPortRange)
	}
	r := PortRange{Min: minP, Max: maxP}
	return r, r.validate()
}

// tags returns the configured tags plus the hostname, without duplicates.
func (c Config) tags() []string {
	out := make([]string, 0, len(c.Tags)+1)
	for _, t := range append(slices.Clone(c.Tags), c.Hostname) {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func checkControllerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("host is missing")
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
