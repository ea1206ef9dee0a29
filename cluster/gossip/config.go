package gossip

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// deadNodeReclaimTime lets a member that restarted with the same name but a
// new address take its name back once its old incarnation has been dead this
// long (memberlist's default, 0, never allows it). Left members can always be
// reclaimed.
const deadNodeReclaimTime = 10 * time.Second

// Config configures a Pool. Zero durations and a zero SuspicionMult mean
// "use the DefaultConfig value"; negative values are invalid.
type Config struct {
	// NodeName is the member's unique name in the pool (use the node id);
	// required.
	NodeName string
	// BindAddr is the IP address to listen on; "" means "0.0.0.0".
	BindAddr string
	// BindPort is the UDP+TCP port to listen on; 0 picks a random free port
	// (read it back via Pool.LocalAddr).
	BindPort int
	// AdvertiseAddr is the IP or hostname other members should use to reach
	// us; hostnames are resolved to an IP by New. "" lets memberlist choose
	// (the bind address, or a private IP when bound to 0.0.0.0).
	AdvertiseAddr string
	// AdvertisePort is the port advertised to others; 0 means the bound port.
	// It is ignored when BindPort is 0 (memberlist advertises the random port).
	AdvertisePort int
	// Secret enables encryption when non-empty: the memberlist key is
	// sha256(Secret) (32 bytes, AES-256). All members must share it.
	Secret string
	// Meta is this member's initial metadata; Role and ID are required.
	Meta Meta
	// ProbeInterval is the failure detector's probe period.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for an ack.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspected member has to refute
	// (SuspicionMult × ProbeInterval × max(1, log10(members))).
	SuspicionMult int
	// GossipInterval is the period of gossip (broadcast) rounds.
	GossipInterval time.Duration
	// PushPullInterval is the period of full state syncs with a random member.
	PushPullInterval time.Duration
	// TCPTimeout bounds TCP dials and reads (joins, push/pull).
	TCPTimeout time.Duration
	// Logger receives the pool's and memberlist's logs; nil means
	// hclog.Default().Named("gossip").
	Logger hclog.Logger
}

// DefaultConfig returns a LAN-tuned Config without NodeName and Meta.
//
// Tuning (aim: a crashed member is declared dead within ~6s in small
// clusters, with no false deaths on a busy 2-core machine):
//
//   - ProbeInterval 1s, ProbeTimeout 500ms: some member probes each peer
//     about once a second; a probe only fails after the direct UDP ping
//     (500ms), indirect pings through up to 3 peers and a TCP ping all go
//     unanswered within the 1s interval, so short stalls do not cause
//     suspicion.
//   - SuspicionMult 2: a suspect has 2 × 1s × max(1, log10(n)) to refute
//     (2s below 10 members, ~2.6s at 20). With SuspicionMult ≤ 2 memberlist
//     expects no peer confirmations, so the timer starts at that minimum;
//     with 3+ it starts at 6× the minimum (18s at mult 3) and only shrinks
//     as other members confirm, which is too slow and variable for small
//     pools. Crash → first failed probe ≲ 1-2s, + 1s probe, + 2s
//     suspicion, + a few gossip rounds ≈ 4-5s to "dead" on every member.
//     A member is falsely declared dead only if it is starved for more
//     than ~2.5s (it refutes as soon as the suspect gossip reaches it), and
//     memberlist's awareness stretches the probe interval of a lagging
//     prober (up to 8×) so an overloaded node slows down instead of
//     accusing healthy peers.
//   - GossipInterval 200ms (3 peers per round): suspicions, refutations,
//     deaths and meta updates reach a small pool in well under a second
//     at negligible CPU cost.
//   - PushPullInterval 15s: full anti-entropy sync, half the memberlist
//     LAN default because pools are small.
//   - TCPTimeout 5s: peers on a LAN answer in milliseconds; this bounds
//     each join attempt of Pool.JoinBackground.
func DefaultConfig() Config {
	return Config{
		BindAddr:         "0.0.0.0",
		ProbeInterval:    time.Second,
		ProbeTimeout:     500 * time.Millisecond,
		SuspicionMult:    2,
		GossipInterval:   200 * time.Millisecond,
		PushPullInterval: 15 * time.Second,
		TCPTimeout:       5 * time.Second,
	}
}

// withDefaults fills zero fields with DefaultConfig values.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.ProbeTimeout, d.ProbeTimeout)
	setDur(&c.GossipInterval, d.GossipInterval)
	setDur(&c.PushPullInterval, d.PushPullInterval)
	setDur(&c.TCPTimeout, d.TCPTimeout)
	if c.SuspicionMult == 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	return c
}

// Validate checks c (after applying defaults for zero fields). Error
// messages name the offending field and its value.
func (c Config) Validate() error {
	c = c.withDefaults()
	if strings.TrimSpace(c.NodeName) == "" {
		return fmt.Errorf("gossip: Config.NodeName %q is empty; it is required", c.NodeName)
	}
	if net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("gossip: Config.BindAddr %q is not an IP address", c.BindAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fmt.Errorf("gossip: Config.BindPort %d is out of range 0-65535", c.BindPort)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return fmt.Errorf("gossip: Config.AdvertisePort %d is out of range 0-65535", c.AdvertisePort)
	}
	if strings.ContainsAny(c.AdvertiseAddr, " /") || (strings.Count(c.AdvertiseAddr, ":") == 1) {
		return fmt.Errorf("gossip: Config.AdvertiseAddr %q must be an IP or hostname without port", c.AdvertiseAddr)
	}
	durs := []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval}, {"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval}, {"PushPullInterval", c.PushPullInterval},
		{"TCPTimeout", c.TCPTimeout},
	}
	for _, d := range durs {
		if d.v < 0 {
			return fmt.Errorf("gossip: Config.%s %s is negative", d.name, d.v)
		}
	}
	if c.ProbeTimeout > c.ProbeInterval {
		return fmt.Errorf("gossip: Config.ProbeTimeout %s is longer than Config.ProbeInterval %s", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.SuspicionMult < 1 {
		return fmt.Errorf("gossip: Config.SuspicionMult %d must be at least 1", c.SuspicionMult)
	}
	if _, err := c.Meta.validate(); err != nil {
		return fmt.Errorf("gossip: Config.Meta: %w", err)
	}
	return nil
}

// resolveAdvertise turns a hostname into an IP (IPv4 preferred).
func resolveAdvertise(host string) (string, error) {
	if host == "" || net.ParseIP(host) != nil {
		return host, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("gossip: Config.AdvertiseAddr %q cannot be resolved: %v", host, err)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	return ips[0].String(), nil
}

// memberlistConfig builds the memberlist configuration for a validated c.
func (c Config) memberlistConfig(logger hclog.Logger, d *delegate) (*memberlist.Config, error) {
	adv, err := resolveAdvertise(c.AdvertiseAddr)
	if err != nil {
		return nil, err
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeName // never the hostname default
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = adv
	mc.AdvertisePort = c.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	if c.Secret != "" {
		key := sha256.Sum256([]byte(c.Secret))
		mc.SecretKey = key[:]
	}
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipInterval = c.GossipInterval
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.TCPTimeout
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	// LAN packets are small; per-packet LZW compression cost a quarter of the
	// CPU in the 200-executor simulation. Receivers accept both forms.
	mc.EnableCompression = false
	mc.Delegate = d
	mc.Events = d
	mc.LogOutput = nil
	mc.Logger = logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	return mc, nil
}
