package server

import (
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// A dead gossip entry seen before the executor registered again is its old
// incarnation: the executor is not marked lost for it. One that dies after
// rejoining is.
func TestExecutorMonitor_RejoinedSinceDeath(t *testing.T) {
	m := &executorMonitor{}
	t0 := time.UnixMilli(1_700_000_000_000)
	e := model.ExecutorInfo{ExecutorID: "e1", Joined: t0.Add(-time.Minute).UnixMilli()}
	require.False(t, m.rejoinedSinceDeath(e, t0), "first seen dead: act")
	require.False(t, m.rejoinedSinceDeath(e, t0.Add(time.Second)), "still the same death")

	e.Joined = t0.Add(2 * time.Second).UnixMilli() // lost, then back
	require.True(t, m.rejoinedSinceDeath(e, t0.Add(3*time.Second)), "the dead entry predates its return")

	delete(m.deadSince, "e1") // seen alive again
	require.False(t, m.rejoinedSinceDeath(e, t0.Add(time.Minute)), "a new death after the return")
}

// A dead gossip entry of an agent that started before the registered one is
// an earlier incarnation (a quick restart registered before gossip declared
// the old agent dead): ignored for up to the absence grace, after which the
// new incarnation counts as absent. The registered agent's own death counts
// at once.
func TestExecutorMonitor_EarlierIncarnation(t *testing.T) {
	m := &executorMonitor{absentGrace: 10 * time.Second}
	t0 := time.UnixMilli(1_700_000_000_000)
	e := model.ExecutorInfo{ExecutorID: "e1", Boot: t0.Add(-time.Second).UnixMilli()}
	dead := func(boot int64) gossip.Member {
		return gossip.Member{State: gossip.MemberDead,
			Meta: gossip.Meta{Role: gossip.RoleExecutor, ID: "e1", Tags: map[string]string{gossip.TagBoot: strconv.FormatInt(boot, 10)}}}
	}
	old := dead(t0.Add(-time.Minute).UnixMilli())
	require.True(t, m.earlierIncarnation(e, old, t0), "the old agent's death")
	require.True(t, m.earlierIncarnation(e, old, t0.Add(9*time.Second)), "still within the grace")
	require.False(t, m.earlierIncarnation(e, old, t0.Add(10*time.Second)), "the new agent never showed up in gossip")

	require.False(t, m.earlierIncarnation(e, dead(e.Boot), t0.Add(11*time.Second)), "the registered agent died")
	require.True(t, m.earlierIncarnation(e, old, t0.Add(12*time.Second)), "a fresh grace after the entry changed")
	require.False(t, m.earlierIncarnation(model.ExecutorInfo{ExecutorID: "e1"}, old, t0), "an agent without a boot time: no exemption")
	require.False(t, m.earlierIncarnation(e, gossip.Member{State: gossip.MemberDead}, t0), "a member without a boot tag: no exemption")
}
