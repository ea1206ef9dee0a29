package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// eventTypes returns the types of events, oldest first, as node i has them.
func eventTypes(tc *testCluster, i int) []model.EventType {
	evs, _, _ := tc.nodes[i].c.FSM().EventsSince(0, 100000)
	var out []model.EventType
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func countType(types []model.EventType, t model.EventType) int {
	n := 0
	for _, x := range types {
		if x == t {
			n++
		}
	}
	return n
}

func TestCluster_MaintenanceThroughFollowerIsReadFromEveryNode(t *testing.T) {
	tc := newCluster(t, 3)
	f := tc.follower()

	r := tc.call(f, maintUser, "POST", "/apis/v1/cluster/maintenance/set", map[string]string{"reason": "kernel upgrade"})
	requireSuccess(t, r)
	var st model.ClusterStateData
	r.data(t, &st)
	require.Equal(t, model.ClusterMaintenance, st.State)
	require.InDelta(t, time.Now().UnixMilli(), st.Updated, 60_000)

	leaderAddr := tc.nodes[tc.leaderIndex()].cfg.HTTPAddr
	for i := range tc.nodes {
		r := tc.call(i, readOnly, "GET", "/apis/v1/cluster", nil)
		requireSuccess(t, r)
		var sum model.ClusterSummary
		r.data(t, &sum)
		require.Equal(t, model.ClusterMaintenance, sum.State, "node %d", i)
		require.Equal(t, leaderAddr, sum.Leader, "node %d", i)
	}
	// The event is replicated: every node's own FSM has it, with the reason.
	for i := range tc.nodes {
		require.Eventually(t, func() bool {
			return countType(eventTypes(tc, i), model.EventMaintenanceModeSet) == 1
		}, 5*time.Second, 10*time.Millisecond, "node %d", i)
	}
	r = tc.call(f, readOnly, "GET", "/apis/v1/cluster/events?size=10", nil)
	requireSuccess(t, r)
	var evs []model.Event
	r.data(t, &evs)
	require.NotEmpty(t, evs)
	require.Equal(t, model.EventMaintenanceModeSet, evs[0].Type, "newest first")
	require.Equal(t, "kernel upgrade", evs[0].Metadata[model.MetaReason])
}

func TestCluster_LeaderKilledNewLeaderServesSurvivors(t *testing.T) {
	tc := newCluster(t, 3)
	requireSuccess(t, tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	old := tc.leaderIndex()
	tc.stop(old)

	// Sent at once, during the election: it waits for the new leader.
	survivor := (old + 1) % 3
	r := tc.call(survivor, rootUser, "POST", "/apis/v1/cluster/maintenance/unset", nil)
	requireSuccess(t, r)

	nl := tc.waitForLeader(10 * time.Second)
	require.NotEqual(t, old, nl)
	for i := range tc.nodes {
		if i == old {
			continue
		}
		r := tc.call(i, readOnly, "GET", "/apis/v1/cluster", nil)
		requireSuccess(t, r)
		var sum model.ClusterSummary
		r.data(t, &sum)
		require.Equal(t, model.ClusterNormal, sum.State)
		require.Equal(t, tc.nodes[nl].cfg.HTTPAddr, sum.Leader)
	}
	// The old leader comes back as a follower and catches up.
	tc.restart(old)
	require.Eventually(t, func() bool {
		return tc.nodes[old].c.FSM().ClusterState().State == model.ClusterNormal
	}, 10*time.Second, 10*time.Millisecond)
}

func TestCluster_RestartAllFromDataDirsKeepsStateAndEvents(t *testing.T) {
	tc := newCluster(t, 3)
	requireSuccess(t, tc.call(1, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	requireSuccess(t, tc.call(2, rootUser, "POST", "/apis/v1/cluster/maintenance/unset", nil))
	r := tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil)
	requireSuccess(t, r)
	var want model.ClusterStateData
	r.data(t, &want)
	var before model.EventsList
	requireSuccess(t, tc.call(0, rootUser, "GET", "/apis/v1/cluster/events/latest", nil))
	tc.call(0, rootUser, "GET", "/apis/v1/cluster/events/latest", nil).data(t, &before)

	tc.shutdownAll()
	for i := range tc.nodes {
		tc.restart(i)
	}
	tc.waitForLeader(15 * time.Second)

	r = tc.call(2, readOnly, "GET", "/apis/v1/cluster", nil)
	requireSuccess(t, r)
	var sum model.ClusterSummary
	r.data(t, &sum)
	require.Equal(t, want.State, sum.State)
	// A restarted follower re-applies its log once the leader tells it the
	// commit index, so its local copy catches up shortly after.
	require.Eventually(t, func() bool { return tc.nodes[2].c.FSM().ClusterState() == want },
		10*time.Second, 10*time.Millisecond, "updated time survives too")

	var after model.EventsList
	tc.call(1, readOnly, "GET", "/apis/v1/cluster/events/latest", nil).data(t, &after)
	// Every event from before the restart is still there; the new leader adds
	// its LEADERSHIP_ACQUIRED event on top.
	require.GreaterOrEqual(t, len(after.Events), len(before.Events))
	require.Equal(t, before.Events, after.Events[len(after.Events)-len(before.Events):])
	require.Eventually(t, func() bool {
		types := eventTypes(tc, 0)
		return countType(types, model.EventMaintenanceModeSet)+countType(types, model.EventMaintenanceModeRemoved) == 3
	}, 10*time.Second, 10*time.Millisecond, "every node's own log has the three maintenance events")
}

func TestCluster_SnapshotsThenRestartKeepState(t *testing.T) {
	tc := newCluster(t, 3, withSnapshotThreshold(16))
	for i := 0; i < 60; i++ {
		path := "/apis/v1/cluster/maintenance/set"
		if i%2 == 1 {
			path = "/apis/v1/cluster/maintenance/unset"
		}
		requireSuccess(t, tc.call(i%3, rootUser, "POST", path, nil))
	}
	for _, n := range tc.nodes {
		require.NoError(t, n.c.Node().Snapshot())
	}
	for _, n := range tc.nodes {
		snaps, err := filepath.Glob(filepath.Join(n.cfg.DataDir, "snapshots", "*", "state.bin"))
		require.NoError(t, err)
		require.NotEmpty(t, snaps, "node %s has a snapshot on disk", n.cfg.NodeID)
	}
	leader := tc.nodes[tc.leaderIndex()].c.FSM()
	wantState := leader.ClusterState()
	wantEvents, _, wantNext := leader.EventsSince(0, 100000)

	tc.shutdownAll()
	for i := range tc.nodes {
		tc.restart(i)
	}
	tc.waitForLeader(15 * time.Second)
	for i, n := range tc.nodes {
		require.Eventually(t, func() bool {
			_, _, next := n.c.FSM().EventsSince(0, 0)
			return next > wantNext // caught up, including the new leader's event
		}, 10*time.Second, 10*time.Millisecond, "node %d catches up", i)
		require.Equal(t, wantState, n.c.FSM().ClusterState(), "node %d", i)
		got, _, _ := n.c.FSM().EventsSince(0, 100000)
		require.Equal(t, wantEvents, got[:len(wantEvents)], "node %d keeps every event", i)
	}
}

func TestCluster_NoQuorumAnswers503AfterWaitButStaleReadsWork(t *testing.T) {
	tc := newCluster(t, 3, withForwardWait(700*time.Millisecond))
	requireSuccess(t, tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	l := tc.leaderIndex()
	f := tc.follower()
	// Make sure f has applied the write before quorum goes away.
	require.Eventually(t, func() bool {
		return tc.nodes[f].c.FSM().ClusterState().State == model.ClusterMaintenance
	}, 5*time.Second, 10*time.Millisecond)
	for i := range tc.nodes {
		if i != f {
			tc.stop(i)
		}
	}
	_ = l
	start := time.Now()
	r := tc.call(f, rootUser, "GET", "/apis/v1/cluster", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Code, "body: %s", r.Body)
	require.Equal(t, "FAILED", r.Env.Status)
	require.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond, "waited for a leader first")

	r = tc.call(f, rootUser, "GET", "/apis/v1/cluster?stale=true", nil)
	requireSuccess(t, r)
	var sum model.ClusterSummary
	r.data(t, &sum)
	require.Equal(t, model.ClusterMaintenance, sum.State)

	// Raft forgets the old leader at its next heartbeat timeout (a
	// candidate knows no leader); until then /healthz may still see it.
	require.Eventually(t, func() bool {
		return tc.call(f, rootUser, "GET", "/healthz", nil).Code == http.StatusServiceUnavailable
	}, 5*time.Second, 50*time.Millisecond, "/healthz without quorum")
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
