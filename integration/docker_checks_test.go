package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/require"
)

// TestDocker_ReadinessNeverSucceeds: an app whose readiness check path
// answers 404 never becomes RUNNING with healthy instances; its instances
// end READINESS_CHECK_FAILED→STOPPED with an error naming the readiness
// check, and drove places a replacement (a different instance id).
func TestDocker_ReadinessNeverSucceeds(t *testing.T) {
	image := testimage.Require(t)
	start := time.Now()
	const appID = "DOCKER_UNREADY-1"
	tc := newCluster(t, 1, withExecutorTiming(), withFastOutage())
	e := startDockerExecutor(t, tc, "docker-exec", appID)
	waitExecutorState(t, tc, "docker-exec", model.ExecutorActive, 15*time.Second)

	spec := dockerAppSpec("DOCKER_UNREADY", image)
	spec["readiness"].(map[string]any)["mode"].(map[string]any)["path"] = "/nope"
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": spec, "instances": 1, "opSpec": opSpec(1)})

	// Every instance ever placed: the failed ones and the current ones.
	var failed []model.InstanceInfo
	seen := map[string]bool{}
	require.Eventually(t, func() bool {
		failed = nil
		for _, st := range []string{"READINESS_CHECK_FAILED", "STOPPED"} {
			for _, in := range instancesOn(t, tc, 0, appID, "?state="+st) {
				seen[in.InstanceID] = true
				if strings.Contains(strings.ToLower(in.ErrorMessage), "readiness") {
					failed = append(failed, in)
				}
			}
		}
		for _, in := range instancesOn(t, tc, 0, appID, "") {
			seen[in.InstanceID] = true
		}
		return len(failed) > 0 && len(seen) >= 2
	}, 60*time.Second, 200*time.Millisecond,
		"no readiness failure with a replacement (failed %+v, seen %v)", failed, seen)
	t.Logf("readiness failure %q on %s, %d instances placed, after %s",
		failed[0].ErrorMessage, failed[0].InstanceID, len(seen), time.Since(start).Round(time.Millisecond))

	// The failed instance ends STOPPED and its container is removed.
	waitInstanceIn(t, tc, appID, failed[0].InstanceID, model.InstanceStopped, 30*time.Second)
	require.Eventually(t, func() bool {
		l, err := e.rt.List(t.Context(), map[string]string{agent.LabelInstanceID: failed[0].InstanceID})
		return err == nil && len(l) == 0
	}, 20*time.Second, 100*time.Millisecond, "the unready instance's container is removed")
	// No instance ever becomes healthy.
	for _, in := range instancesOn(t, tc, 0, appID, "") {
		require.NotEqual(t, model.InstanceHealthy, in.State, "instance %s", in.InstanceID)
	}
	require.Zero(t, appSummary(t, tc, 0, appID).HealthyInstances)
}

// TestDocker_PreShutdownHookBeforeStop: scaling an app with an HTTP
// pre-shutdown hook to 0 calls the hook (POST /hook on the instance's main
// port) before the container gets SIGTERM.
func TestDocker_PreShutdownHookBeforeStop(t *testing.T) {
	image := testimage.Require(t)
	const appID = "DOCKER_HOOK-1"
	tc := newCluster(t, 1, withExecutorTiming(), withFastOutage())
	e := startDockerExecutor(t, tc, "docker-exec", appID)
	waitExecutorState(t, tc, "docker-exec", model.ExecutorActive, 15*time.Second)

	spec := dockerAppSpec("DOCKER_HOOK", image)
	spec["preShutdown"] = map[string]any{
		"hooks": []any{map[string]any{"type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/hook",
			"verb": "POST", "successCodes": []int{200}, "connectionTimeout": "1 second"}},
		"waitBeforeKill": "1 second",
	}
	appOp(t, tc, 0, map[string]any{"type": "CREATE", "spec": spec, "instances": 1, "opSpec": opSpec(1)})
	waitAppOn(t, tc, 0, appID, model.AppRunning, 1, 60*time.Second)
	ins := instancesOn(t, tc, 0, appID, "")
	require.Len(t, ins, 1)
	iid := ins[0].InstanceID

	stopAt := time.Now()
	appOp(t, tc, 0, map[string]any{"type": "SCALE", "appId": appID, "requiredInstances": 0, "opSpec": opSpec(1)})
	waitInstanceIn(t, tc, appID, iid, model.InstanceStopped, 30*time.Second)
	took := time.Since(stopAt)
	b, err := readFileEventually(t, e.cfg.LogDir+"/"+appID+"/"+iid+"/output.log", "testapp stopped")
	require.NoError(t, err, "log: %s", b)
	hook := strings.Index(b, "hook called")
	term := strings.Index(b, "got SIGTERM")
	require.GreaterOrEqual(t, hook, 0, "the hook was called; log: %s", b)
	require.GreaterOrEqual(t, term, 0, "the container got SIGTERM; log: %s", b)
	require.Less(t, hook, term, "the hook ran before SIGTERM; log: %s", b)
	require.Contains(t, b, "request POST /hook")
	require.GreaterOrEqual(t, took, time.Second, "waitBeforeKill is honoured before the stop")
	require.Eventually(t, func() bool {
		l, err := e.rt.List(t.Context(), map[string]string{agent.LabelAppID: appID})
		return err == nil && len(l) == 0
	}, 20*time.Second, 100*time.Millisecond, "no containers of the app are left")
}
