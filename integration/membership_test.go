package integration

import (
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/require"
)

// voters returns the sorted ids of voters in node i's raft configuration.
func voters(t testing.TB, tc *testCluster, i int) []string {
	t.Helper()
	servers, err := tc.nodes[i].c.Node().Servers()
	require.NoError(t, err)
	var ids []string
	for _, s := range servers {
		if s.Voter {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func requireVoters(t *testing.T, tc *testCluster, i int, want ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := voters(t, tc, i)
		return len(got) == len(want) && func() bool {
			for k := range got {
				if got[k] != want[k] {
					return false
				}
			}
			return true
		}()
	}, 15*time.Second, 20*time.Millisecond, "voters of node %d: want %v, have %v", i, want, voters(t, tc, i))
}

func TestMembership_FreshNodeJoinsAsVoterAndLeavesGracefully(t *testing.T) {
	tc := newCluster(t, 3)
	requireSuccess(t, tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))

	// A fresh controller that only knows one gossip address and does not bootstrap.
	cfg := nodeConfig(t, "c4", filepath.Dir(tc.nodes[0].cfg.DataDir), 0)
	cfg.Join = []string{tc.nodes[1].cfg.GossipAddr}
	tc.nodes = append(tc.nodes, &testNode{cfg: cfg})
	tc.start(3)
	requireVoters(t, tc, tc.waitForLeader(10*time.Second), "c1", "c2", "c3", "c4")
	require.Eventually(t, func() bool {
		return tc.nodes[3].c.FSM().ClusterState().State == "MAINTENANCE"
	}, 10*time.Second, 10*time.Millisecond, "the new node receives the replicated state")

	// GET /cluster/controllers lists all four, each reachable, one leader.
	r := tc.call(3, readOnly, "GET", "/apis/v1/cluster/controllers", nil)
	requireSuccess(t, r)
	var infos []server.ControllerInfo
	r.data(t, &infos)
	require.Len(t, infos, 4)
	leaders := 0
	for _, in := range infos {
		require.True(t, in.Voter, in.ID)
		require.True(t, in.Reachable, in.ID)
		require.NotEmpty(t, in.HTTPAddress, in.ID)
		require.NotEmpty(t, in.RaftAddress, in.ID)
		require.NotZero(t, in.AppliedIndex, in.ID)
		require.NotNil(t, in.LastContactMs, in.ID)
		if in.Leader {
			leaders++
		}
	}
	require.Equal(t, 1, leaders)

	// c4 leaves gracefully (asked through the CLI's endpoint on that node).
	r = tc.call(3, maintUser, "POST", "/apis/v1/cluster/controllers/self/leave", nil)
	requireSuccess(t, r)
	select {
	case <-tc.nodes[3].c.Left():
	case <-time.After(10 * time.Second):
		t.Fatal("controller did not signal that it left")
	}
	tc.stop(3)
	requireVoters(t, tc, tc.waitForLeader(10*time.Second), "c1", "c2", "c3")
}

func TestMembership_LeaderLeavesGracefully(t *testing.T) {
	tc := newCluster(t, 3)
	l := tc.leaderIndex()
	requireSuccess(t, tc.call(l, rootUser, "POST", "/apis/v1/cluster/controllers/self/leave", nil))
	<-tc.nodes[l].c.Left()
	tc.stop(l)
	nl := tc.waitForLeader(10 * time.Second)
	require.NotEqual(t, l, nl)
	var want []string
	for i, n := range tc.nodes {
		if i != l {
			want = append(want, n.cfg.NodeID)
		}
	}
	requireVoters(t, tc, nl, want...)
	// The two remaining voters still take writes.
	requireSuccess(t, tc.call(nl, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
}

func TestMembership_DeadControllerStaysUntilRemovedByAPI(t *testing.T) {
	tc := newCluster(t, 3)
	dead := tc.follower()
	deadID := tc.nodes[dead].cfg.NodeID
	tc.stop(dead)
	l := tc.leaderIndex()

	// A crashed controller is not removed automatically: it may come back.
	r := tc.call(l, readOnly, "GET", "/apis/v1/cluster/controllers", nil)
	requireSuccess(t, r)
	var infos []server.ControllerInfo
	r.data(t, &infos)
	require.Len(t, infos, 3)
	for _, in := range infos {
		if in.ID == deadID {
			require.False(t, in.Reachable)
		}
	}

	other := 3 - dead - l
	r = tc.call(other, maintUser, "DELETE", "/apis/v1/cluster/controllers/"+deadID, nil)
	requireSuccess(t, r)
	require.JSONEq(t, `{"removed":"`+deadID+`"}`, string(r.Env.Data))
	requireVoters(t, tc, l, func() []string {
		var ids []string
		for i, n := range tc.nodes {
			if i != dead {
				ids = append(ids, n.cfg.NodeID)
			}
		}
		return ids
	}()...)

	r = tc.call(l, rootUser, "DELETE", "/apis/v1/cluster/controllers/no-such-node", nil)
	require.Equal(t, 404, r.Code, "body: %s", r.Body)
	require.Equal(t, "FAILED", r.Env.Status)
}

func TestMembership_SingleVoterRefusesToLeave(t *testing.T) {
	tc := newCluster(t, 1)
	r := tc.call(0, rootUser, "POST", "/apis/v1/cluster/controllers/self/leave", nil)
	require.Equal(t, 400, r.Code, "body: %s", r.Body)
	require.Contains(t, string(r.Env.Data), "only voter")
}
