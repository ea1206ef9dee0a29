package gossip_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/cluster/gossip"
)

// tWriter forwards log lines to t.Log until the test's cleanup has run, so
// memberlist goroutines that log late never call t.Log after the test ends.
type tWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *tWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func testLogger(t *testing.T, name string) hclog.Logger {
	t.Helper()
	w := &tWriter{t: t}
	// Registered before the pool's Shutdown cleanup, so it runs after it.
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: w, Level: hclog.LevelFromString(os.Getenv("GOSSIP_TEST_LOG"))})
}

// testConfig returns a loopback config with fast failure detection.
func testConfig(t *testing.T, name string, role gossip.Role) gossip.Config {
	t.Helper()
	cfg := gossip.DefaultConfig()
	cfg.NodeName = name
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Meta = gossip.Meta{
		Role:    role,
		ID:      name,
		API:     "127.0.0.1:80" + name[len(name)-1:],
		Version: "test",
		Tags:    map[string]string{"zone": "z-" + name},
	}
	if role == gossip.RoleController {
		cfg.Meta.Raft = "127.0.0.1:90" + name[len(name)-1:]
	}
	cfg.ProbeInterval = 250 * time.Millisecond
	cfg.ProbeTimeout = 150 * time.Millisecond
	cfg.SuspicionMult = 2
	cfg.GossipInterval = 50 * time.Millisecond
	cfg.PushPullInterval = 2 * time.Second
	cfg.TCPTimeout = 2 * time.Second
	cfg.Logger = testLogger(t, name)
	return cfg
}

func newPool(t *testing.T, cfg gossip.Config) *gossip.Pool {
	t.Helper()
	p, err := gossip.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// waitState waits until p sees member name in state want.
func waitState(t *testing.T, p *gossip.Pool, name string, want gossip.MemberState, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		m, ok := p.Member(name)
		return ok && m.State == want
	}, within, 20*time.Millisecond, "%s never saw %s as %s: %+v", p.LocalMeta().ID, name, want, p.Members())
}

// waitEvent reads ch until an event satisfying match arrives or the deadline
// passes.
func waitEvent(t *testing.T, ch <-chan gossip.Event, within time.Duration, match func(gossip.Event) bool) gossip.Event {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "event channel closed")
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			require.FailNow(t, "no matching event before deadline")
		}
	}
}
