package integration

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upgradeObserveWindow is how long after maintenance/unset the test keeps
// checking that nothing was touched: past the controllers' default
// --maintenance-grace (40 s), the latest point at which the failure
// monitors resume, so whatever they would do to the restarted executors'
// instances has happened by then.
const upgradeObserveWindow = 45 * time.Second

// TestCompose_UpgradeProcedureKeepsContainers is the acceptance test of
// cluster maintenance mode: the seed's upgrade procedure — restart the
// controllers that are not the leader, maintenance on, restart the leader,
// restart every executor, maintenance off — with an application (2
// instances of the test app) and a local service (one instance per
// executor) running restarts and replaces no container: same container
// ids and start times, no new container, the same HEALTHY instances, and
// no instance LOST or stopped in the event log.
func TestCompose_UpgradeProcedureKeepsContainers(t *testing.T) {
	start := time.Now()
	step := func(name string) { t.Logf("%-12s at %s", name, time.Since(start).Round(time.Millisecond)) }
	suffix := rand.Uint32()
	appName, svcName := fmt.Sprintf("UPG_APP_%d", suffix), fmt.Sprintf("UPG_SVC_%d", suffix)
	appID, svcID := appName+"-1", svcName+"-1"
	image := testimage.Require(t)
	cc := startComposeCluster(t, "upgrade", appID, svcID)
	step("up")

	// The local service first: an executor lacking it is UNREADY and takes
	// no application instance.
	startComposeService(cc, svcName, image)
	cc.apiOK("POST", "/apis/v1/applications/operations", map[string]any{
		"type": "CREATE", "spec": dockerAppSpec(appName, image), "instances": 2, "opSpec": opSpec(2)}, nil)
	ids := cc.waitInstancesHealthy(appID, svcID, nil, 90*time.Second)
	before := cc.instanceContainers()
	require.Len(t, before, 4, "containers: %+v", before)
	for _, id := range ids {
		c, ok := before[id]
		require.True(t, ok, "no container for instance %s", id)
		require.Equal(t, "running", c.Status, "instance %s", id)
	}
	recorded := time.Now()
	step("running")

	// 1-2. Restart the controllers that are not the leader, one at a time.
	leader := cc.leaderService()
	require.Equal(t, leader, cc.waitLeader(30*time.Second), "GET /cluster and /healthz agree on the leader")
	for _, c := range []string{"c1", "c2", "c3"} {
		if c != leader {
			cc.restart(c)
			cc.waitLeader(90 * time.Second)
		}
	}
	step("followers")

	// 3. Maintenance on.
	var st model.ClusterStateData
	cc.apiOK("POST", "/apis/v1/cluster/maintenance/set", nil, &st)
	require.Equal(t, model.ClusterMaintenance, st.State)

	// 4. Restart the leader (whichever controller leads now).
	if now := cc.leaderService(); now != leader {
		t.Logf("leadership moved from %s to %s while the followers restarted", leader, now)
		leader = now
	}
	cc.restart(leader)
	t.Logf("new leader %s", cc.waitLeader(90*time.Second))
	step("leader")

	// 5. Restart every executor; wait until both run their two instances
	// again (re-adopted) and the controllers see both ACTIVE and every
	// instance HEALTHY.
	execStarted := []string{cc.startedAt("e1"), cc.startedAt("e2")}
	cc.restart("e1", "e2")
	require.NotEqual(t, execStarted, []string{cc.startedAt("e1"), cc.startedAt("e2")}, "the executors restarted")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for k := range 2 {
			h, err := cc.executorHealthz(k)
			if assert.NoError(c, err, "e%d", k+1) {
				assert.Equal(c, 2, h.Instances, "instances re-adopted by e%d", k+1)
			}
		}
	}, 60*time.Second, 250*time.Millisecond)
	cc.waitExecutors(60*time.Second, nil)
	cc.waitInstancesHealthy(appID, svcID, ids, 90*time.Second)
	step("executors")

	// 6. Maintenance off; then watch until the monitors have certainly resumed.
	cc.apiOK("POST", "/apis/v1/cluster/maintenance/unset", nil, &st)
	require.Equal(t, model.ClusterNormal, st.State)
	unset := time.Now()
	tick := time.NewTicker(time.Second) // the pace of the observation, not a wait for state
	defer tick.Stop()
	for time.Since(unset) < upgradeObserveWindow {
		cc.waitInstancesHealthy(appID, svcID, ids, 30*time.Second)
		require.Equal(t, before, cc.instanceContainers(), "containers changed %s after unset", time.Since(unset).Round(time.Second))
		<-tick.C
	}
	step("observed")

	after := cc.instanceContainers()
	require.Equal(t, before, after, "same containers (ids, start times, status), none added")
	var app model.AppSummary
	cc.apiOK("GET", "/apis/v1/applications/"+appID, nil, &app)
	require.Equal(t, model.AppRunning, app.State)
	require.Equal(t, 2, app.HealthyInstances)

	var bad, seen []string
	mine := map[string]bool{}
	for _, id := range ids {
		mine[id] = true
	}
	for _, e := range cc.events() {
		if e.Time < recorded.UnixMilli() {
			continue
		}
		iid, _ := e.Metadata[model.MetaInstanceID].(string)
		st, _ := e.Metadata[model.MetaCurrentState].(string)
		ours := (e.Type == model.EventInstanceStateChange && e.Metadata[model.MetaAppID] == appID) ||
			(e.Type == model.EventLocalServiceInstanceStateChange && e.Metadata[model.MetaServiceID] == svcID)
		if ours {
			seen = append(seen, fmt.Sprintf("%s %s %s", time.UnixMilli(e.Time).Format("15:04:05.000"), iid, st))
		}
		switch {
		case !ours:
		case !mine[iid]:
			bad = append(bad, fmt.Sprintf("%s: new instance %s %s", e.Type, iid, st))
		case mine[iid] && slices.Contains([]string{string(model.InstanceLost), string(model.InstanceStopped),
			string(model.InstanceStopping), string(model.InstanceDeprovisioning)}, st):
			bad = append(bad, fmt.Sprintf("%s: %s %s (%v)", e.Type, iid, st, e.Metadata[model.MetaError]))
		}
	}
	t.Logf("instance events since the containers were recorded:\n%s", strings.Join(seen, "\n"))
	require.Empty(t, bad, "instance events since the containers were recorded")
	step("done")
}

// waitInstancesHealthy waits until app appID has exactly 2 and service
// svcID exactly 2 instances holding resources, all HEALTHY, and returns
// their ids sorted. When want is not nil the ids must be exactly those.
func (cc *composeCluster) waitInstancesHealthy(appID, svcID string, want []string, timeout time.Duration) []string {
	cc.t.Helper()
	var ids []string
	require.EventuallyWithT(cc.t, func(c *assert.CollectT) {
		ids = nil
		var apps []model.InstanceInfo
		var svcs []model.LocalServiceInstanceInfo
		if !assert.NoError(c, cc.api("GET", "/apis/v1/applications/"+appID+"/instances", nil, &apps)) ||
			!assert.NoError(c, cc.api("GET", "/apis/v1/localservices/"+svcID+"/instances", nil, &svcs)) {
			return
		}
		assert.Len(c, apps, 2, "app instances")
		assert.Len(c, svcs, 2, "service instances")
		states := map[string]model.InstanceState{}
		for _, in := range apps {
			states[in.InstanceID] = in.State
		}
		for _, in := range svcs {
			states[in.InstanceID] = in.State
		}
		for id, st := range states {
			assert.Equal(c, model.InstanceHealthy, st, "instance %s", id)
		}
		ids = slices.Sorted(maps.Keys(states))
		if want != nil {
			assert.Equal(c, want, ids, "instance ids")
		}
	}, timeout, 500*time.Millisecond)
	return ids
}
