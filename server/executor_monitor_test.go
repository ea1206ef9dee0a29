package server

import (
	"testing"
	"time"

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
