package agent_test

import (
	"testing"
	"time"

	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// A stop message with a grace period (a drain's maxGracePeriod) bounds
// the SIGTERM→SIGKILL grace below the agent's own; a longer one does not
// extend it.
func TestAgent_StopMessageBoundsTheGracePeriod(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := &stopRecorder{Runtime: newFakeRuntime(t, fakeruntime.Config{}), stops: map[string]time.Duration{}}
	cfg := testConfig(fc.URL())
	cfg.StopGrace = 5 * time.Second
	a := startAgent(t, cfg, rt)

	for _, c := range []struct {
		id    string
		grace time.Duration
		want  time.Duration
	}{{"i-short", 300 * time.Millisecond, 300 * time.Millisecond}, {"i-long", time.Minute, 5 * time.Second}} {
		startInstance(t, a, testSpec("app-1", c.id))
		waitState(t, fc, c.id, model.InstanceHealthy, 5*time.Second)
		cs := containersOf(t, rt.Runtime, c.id)
		require.Len(t, cs, 1)
		msg := stopMsg(a, c.id)
		msg.GracePeriodMs = c.grace.Milliseconds()
		post(t, a, testSecret, msg)
		waitState(t, fc, c.id, model.InstanceStopped, 5*time.Second)
		grace, ok := rt.stopOf(cs[0].ID)
		require.True(t, ok, "%s was stopped", c.id)
		require.Equal(t, c.want, grace, c.id)
	}
}
