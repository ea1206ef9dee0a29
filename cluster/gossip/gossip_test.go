package gossip_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/cluster/gossip"
)

// cluster starts n pools (n1 controller, the rest executors) and joins them
// through the last one, whose seed list also holds its own address.
func cluster(t *testing.T, n int, mut func(*gossip.Config)) []*gossip.Pool {
	t.Helper()
	pools := make([]*gossip.Pool, n)
	var seeds []string
	for i := range pools {
		role := gossip.RoleExecutor
		if i == 0 {
			role = gossip.RoleController
		}
		cfg := testConfig(t, "n"+string(rune('1'+i)), role)
		if mut != nil {
			mut(&cfg)
		}
		pools[i] = newPool(t, cfg)
		seeds = append(seeds, pools[i].LocalAddr())
	}
	contacted, err := pools[n-1].Join(seeds)
	require.NoError(t, err)
	require.Equal(t, n-1, contacted, "own address must be filtered out")
	for _, p := range pools {
		require.Eventually(t, func() bool { return len(p.AliveMembers("")) == n },
			10*time.Second, 20*time.Millisecond, "%s never saw %d alive members", p.LocalMeta().ID, n)
	}
	return pools
}

func TestPool_ThreeJoinAndSeeEachOthersMeta(t *testing.T) {
	pools := cluster(t, 3, nil)
	for _, p := range pools {
		members := p.Members()
		require.Len(t, members, 3)
		for i, m := range members {
			src := pools[i] // Members is sorted by name: n1, n2, n3
			require.Equal(t, src.LocalMeta().ID, m.Name)
			require.Equal(t, src.LocalAddr(), m.Addr)
			require.Equal(t, src.LocalMeta(), m.Meta)
			require.Equal(t, gossip.MemberAlive, m.State)
		}
		ctrl := p.AliveMembers(gossip.RoleController)
		require.Len(t, ctrl, 1)
		require.Equal(t, "127.0.0.1:901", ctrl[0].Meta.Raft)
		require.Len(t, p.AliveMembers(gossip.RoleExecutor), 2)
	}
	n, err := pools[0].Join([]string{pools[0].LocalAddr(), "n1/" + pools[1].LocalAddr()})
	require.NoError(t, err)
	require.Zero(t, n, "only our own address (and our own name) was given")
}

func TestPool_UpdateMetaPropagates(t *testing.T) {
	pools := cluster(t, 2, nil)
	events, cancel := pools[1].Subscribe()
	defer cancel()

	require.NoError(t, pools[0].UpdateMeta(func(m *gossip.Meta) {
		m.HasState = true
		m.Tags["res"] = "digest-1"
	}))
	require.True(t, pools[0].LocalMeta().HasState)

	ev := waitEvent(t, events, 10*time.Second, func(ev gossip.Event) bool {
		return ev.Type == gossip.EventUpdate && ev.Member.Name == "n1"
	})
	require.True(t, ev.Member.Meta.HasState)
	require.Equal(t, "digest-1", ev.Member.Meta.Tags["res"])
	m, ok := pools[1].Member("n1")
	require.True(t, ok)
	require.Equal(t, pools[0].LocalMeta(), m.Meta)

	m.Meta.Tags["res"] = "mutated" // returned values are copies
	again, _ := pools[1].Member("n1")
	require.Equal(t, "digest-1", again.Meta.Tags["res"])
}

func TestPool_LeaveIsLeftAndCrashIsDead(t *testing.T) {
	pools := cluster(t, 3, nil)
	a, b, c := pools[0], pools[1], pools[2]
	events, cancel := a.Subscribe()
	defer cancel()

	require.NoError(t, b.Leave(5*time.Second))
	require.NoError(t, b.Shutdown())
	waitState(t, a, "n2", gossip.MemberLeft, 5*time.Second)
	waitState(t, c, "n2", gossip.MemberLeft, 5*time.Second)
	ev := waitEvent(t, events, 5*time.Second, func(ev gossip.Event) bool {
		return ev.Type == gossip.EventLeave && ev.Member.Name == "n2"
	})
	require.Equal(t, gossip.MemberLeft, ev.Member.State)

	start := time.Now()
	require.NoError(t, c.Shutdown()) // no Leave: a must detect the failure
	waitState(t, a, "n3", gossip.MemberDead, 10*time.Second)
	t.Logf("crash of n3 detected after %s", time.Since(start))
	ev = waitEvent(t, events, 5*time.Second, func(ev gossip.Event) bool {
		return ev.Type == gossip.EventLeave && ev.Member.Name == "n3"
	})
	require.Equal(t, gossip.MemberDead, ev.Member.State)

	require.Len(t, a.Members(), 3, "dead and left members stay listed")
	alive := a.AliveMembers("")
	require.Len(t, alive, 1)
	require.Equal(t, "n1", alive[0].Name)
}

func TestPool_SecretsMustMatch(t *testing.T) {
	pools := cluster(t, 2, func(c *gossip.Config) { c.Secret = "s3cret" })
	a := pools[0]

	wrong := testConfig(t, "n8", gossip.RoleExecutor)
	wrong.Secret = "other"
	plain := testConfig(t, "n9", gossip.RoleExecutor)
	for _, p := range []*gossip.Pool{newPool(t, wrong), newPool(t, plain)} {
		n, err := p.Join([]string{a.LocalAddr()})
		require.Error(t, err, "%s joined despite a different secret", p.LocalMeta().ID)
		require.Zero(t, n)
	}
	require.Never(t, func() bool {
		_, ok8 := a.Member("n8")
		_, ok9 := a.Member("n9")
		return ok8 || ok9
	}, time.Second, 50*time.Millisecond)
}

func TestPool_MetaOverLimitIsRejected(t *testing.T) {
	cfg := testConfig(t, "n1", gossip.RoleExecutor)
	cfg.Meta.Tags = map[string]string{"big": strings.Repeat("x", 600)}
	_, err := gossip.New(cfg)
	require.ErrorContains(t, err, "bytes")
	require.ErrorContains(t, err, "512")

	p := newPool(t, testConfig(t, "n2", gossip.RoleExecutor))
	before := p.LocalMeta()
	err = p.UpdateMeta(func(m *gossip.Meta) { m.Tags["big"] = strings.Repeat("x", 600) })
	require.ErrorContains(t, err, "512")
	require.Equal(t, before, p.LocalMeta(), "rejected update must not change the meta")
}

func TestPool_SubscriberOverflowDropsAndCounts(t *testing.T) {
	p := newPool(t, testConfig(t, "n1", gossip.RoleExecutor))
	full, cancelFull := p.Subscribe()
	live, _ := p.Subscribe()
	for i := range 300 { // every change emits an update event about ourselves
		require.NoError(t, p.UpdateMeta(func(m *gossip.Meta) { m.Version = "v" + string(rune('A'+i%26)) + strings.Repeat("!", i/26) }))
	}
	require.Equal(t, uint64(2*(300-256)), p.DroppedEvents())
	require.Len(t, full, 256)

	cancelFull()
	cancelFull() // idempotent
	n := 0
	for range full {
		n++
	}
	require.Equal(t, 256, n, "cancel closes the channel after buffered events")

	require.NoError(t, p.Shutdown())
	require.NoError(t, p.Shutdown(), "Shutdown is idempotent")
	for range live { // closed by Shutdown
	}
	after, _ := p.Subscribe()
	_, ok := <-after
	require.False(t, ok, "Subscribe after Shutdown returns a closed channel")
	require.ErrorIs(t, p.Leave(time.Second), gossip.ErrShutdown)
	require.ErrorIs(t, p.UpdateMeta(func(*gossip.Meta) {}), gossip.ErrShutdown)
}

func TestPool_JoinBackgroundRetriesAndStops(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := l.Addr().String()
	require.NoError(t, l.Close())

	a := newPool(t, testConfig(t, "n1", gossip.RoleController))
	b := newPool(t, testConfig(t, "n2", gossip.RoleExecutor))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.JoinBackground(ctx, []string{b.LocalAddr(), deadAddr, a.LocalAddr()})
	waitState(t, a, "n2", gossip.MemberAlive, 10*time.Second)
	waitState(t, b, "n1", gossip.MemberAlive, 10*time.Second)

	// A loop that can never succeed must end on Shutdown.
	c := newPool(t, testConfig(t, "n3", gossip.RoleExecutor))
	c.JoinBackground(context.Background(), []string{deadAddr})
	done := make(chan error, 1)
	go func() { done <- c.Shutdown() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Shutdown did not stop JoinBackground")
	}
}

func TestPool_DefaultTuningDeclaresCrashWithinSixSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("uses the production timings (~5s)")
	}
	pools := cluster(t, 3, func(c *gossip.Config) {
		d := gossip.DefaultConfig()
		c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = d.ProbeInterval, d.ProbeTimeout, d.SuspicionMult
		c.GossipInterval, c.PushPullInterval, c.TCPTimeout = d.GossipInterval, d.PushPullInterval, d.TCPTimeout
	})
	start := time.Now()
	require.NoError(t, pools[2].Shutdown())
	for _, p := range pools[:2] {
		waitState(t, p, "n3", gossip.MemberDead, 8*time.Second)
	}
	t.Logf("default tuning: crash declared dead on all survivors after %s", time.Since(start))
}
