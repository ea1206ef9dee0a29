package agent_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// recoveryRuntime counts Create and Start calls of a shared fake runtime.
type recoveryRuntime struct {
	*fakeruntime.Runtime
	creates, starts atomic.Int64
}

func (r *recoveryRuntime) Create(ctx context.Context, spec agent.ContainerSpec) (string, error) {
	r.creates.Add(1)
	return r.Runtime.Create(ctx, spec)
}

func (r *recoveryRuntime) Start(ctx context.Context, id string) error {
	r.starts.Add(1)
	return r.Runtime.Start(ctx, id)
}

// reportsUnder lists the reports of id sent under boot.
func reportsUnder(fc *fakeController, id string, boot int64) []model.InstanceReport {
	var out []model.InstanceReport
	for _, r := range fc.historyOf(id) {
		if r.Boot == boot {
			out = append(out, r)
		}
	}
	return out
}

func TestAgent_RestartReadoptsContainersAndReapsStrays(t *testing.T) {
	fc := newFakeController(t, testSecret)
	base := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	cfg.ExecutorID = "exec-recovery"
	cfg.UnknownGrace = 300 * time.Millisecond
	cfg.StopGrace = 100 * time.Millisecond
	rtA := &recoveryRuntime{Runtime: base}
	a := startAgent(t, cfg, rtA) // reconciler out of the way

	const initialDelay = 3 * time.Second
	ids := []string{"i-r0", "i-r1", "i-r2"}
	var expected []model.ExpectedSpec
	for _, id := range ids {
		spec := testSpec("app1", id)
		spec.Readiness = cmdCheck("true", 3)
		spec.Readiness.InitialDelay = model.NewDuration(initialDelay)
		spec.Healthcheck = httpCheck(3)
		startInstance(t, a, spec)
		expected = append(expected, model.ExpectedSpec{Spec: spec, State: model.InstanceHealthy})
	}
	exitSpec := testSpec("app1", "i-r-exit")
	startInstance(t, a, exitSpec)
	expected = append(expected, model.ExpectedSpec{Spec: exitSpec, State: model.InstanceHealthy})
	for _, id := range append(ids, "i-r-exit") {
		waitState(t, fc, id, model.InstanceHealthy, 10*time.Second)
	}
	fc.setExpected(expected, nil)

	before := map[string]agent.Container{}
	ports := map[string]map[string]model.InstancePort{}
	for _, id := range ids {
		cs := containersOf(t, base, id)
		require.Len(t, cs, 1)
		before[id] = cs[0]
		last, _ := fc.latestReport(id)
		ports[id] = last.Info.LocalInfo.Ports
	}
	a.Kill()
	require.Equal(t, 4, base.Count(), "containers outlive the agent")
	// While the agent is down: one container dies, and a labelled
	// container nobody asked for appears.
	exited := containersOf(t, base, "i-r-exit")
	require.Len(t, exited, 1)
	require.NoError(t, base.Kill(exited[0].ID, 3))
	strayID, err := base.Create(t.Context(), agent.ContainerSpec{Name: "stray", Image: "docker.io/test/app:1",
		Labels: map[string]string{agent.LabelExecutorID: cfg.ExecutorID, agent.LabelInstanceID: "i-stray"}})
	require.NoError(t, err)
	require.NoError(t, base.Start(t.Context(), strayID))

	rtB := &recoveryRuntime{Runtime: base}
	bStart := time.Now()
	b := startAgent(t, fastReconcile(cfg), rtB)
	require.Greater(t, b.Boot(), a.Boot())
	_, err = base.Inspect(t.Context(), strayID)
	require.NoError(t, err, "the stray is given its grace")

	for _, id := range ids {
		require.Eventually(t, func() bool {
			r, _ := fc.latestReport(id)
			return r.Boot == b.Boot() && r.Info.State == model.InstanceHealthy
		}, 10*time.Second, 5*time.Millisecond, "instance %s not HEALTHY under the new boot", id)
	}
	require.Less(t, time.Since(bStart), initialDelay, "re-adopted instances skip the initial delay")
	for _, id := range ids {
		hist := reportsUnder(fc, id, b.Boot())
		// UNREADY (Seq 1), READY, HEALTHY; the reporter may coalesce them.
		require.LessOrEqual(t, hist[len(hist)-1].Seq, uint64(3), "Seq restarts under the new boot")
		require.True(t, hist[0].Info.State.IsRunning(), "first report under the new boot: %s", hist[0].Info.State)
		requireOrdered(t, hist)
		for _, r := range hist {
			require.NotContains(t, []model.InstanceState{model.InstancePending, model.InstanceStarting,
				model.InstanceProvisioning}, r.Info.State)
		}
		last, _ := fc.latestReport(id)
		require.Equal(t, ports[id], last.Info.LocalInfo.Ports, "host ports preserved")
		cs := containersOf(t, base, id)
		require.Len(t, cs, 1)
		require.Equal(t, before[id].ID, cs[0].ID)
		got, err := base.Inspect(t.Context(), cs[0].ID)
		require.NoError(t, err)
		require.Equal(t, agent.ContainerRunning, got.Status)
		require.True(t, got.StartedAt.Equal(before[id].StartedAt), "not restarted")
		require.Equal(t, model.InstanceHealthy, localState(b, id))
	}
	require.Zero(t, rtB.creates.Load())
	require.Zero(t, rtB.starts.Load())

	// The container that died meanwhile is removed and reported LOST once
	// (any repeat is the same report).
	waitState(t, fc, "i-r-exit", model.InstanceLost, 5*time.Second)
	require.Empty(t, containersOf(t, base, "i-r-exit"))
	lost := reportsUnder(fc, "i-r-exit", b.Boot())
	require.NotEmpty(t, lost)
	for _, r := range lost {
		require.Equal(t, model.InstanceLost, r.Info.State)
		require.Equal(t, uint64(1), r.Seq)
		require.True(t, strings.HasPrefix(r.Info.ErrorMessage, "container exited while the executor was down"),
			r.Info.ErrorMessage)
	}

	// The stray is stopped and removed after the grace.
	require.Eventually(t, func() bool {
		_, err := base.Inspect(t.Context(), strayID)
		return err != nil
	}, 5*time.Second, 5*time.Millisecond, "stray container reaped")
	require.GreaterOrEqual(t, time.Since(bStart), cfg.UnknownGrace)

	// The re-adopted instances are untouched, and their host ports stay
	// held: a new instance gets another one.
	for _, id := range ids {
		require.Equal(t, model.InstanceHealthy, localState(b, id))
		require.Len(t, containersOf(t, base, id), 1)
	}
	fresh := testSpec("app1", "i-fresh")
	fc.setExpected(append(expected, model.ExpectedSpec{Spec: fresh, State: model.InstancePending}), nil)
	startInstance(t, b, fresh)
	waitState(t, fc, "i-fresh", model.InstanceHealthy, 5*time.Second)
	last, _ := fc.latestReport("i-fresh")
	for _, id := range ids {
		require.NotEqual(t, ports[id]["main"].HostPort, last.Info.LocalInfo.Ports["main"].HostPort)
	}
}

func TestAgent_RestartLeavesUnreadableContainersToTheReaper(t *testing.T) {
	fc := newFakeController(t, testSecret)
	base := newFakeRuntime(t, fakeruntime.Config{})
	cfg := fastReconcile(testConfig(fc.URL()))
	cfg.ExecutorID = "exec-recovery-bad"
	cfg.UnknownGrace = 200 * time.Millisecond
	cfg.StopGrace = 50 * time.Millisecond
	id, err := base.Create(t.Context(), agent.ContainerSpec{Name: "bad", Image: "docker.io/test/app:1",
		Labels: map[string]string{agent.LabelExecutorID: cfg.ExecutorID, agent.LabelInstanceID: "i-bad",
			agent.LabelInstanceSpec: "{not json"}})
	require.NoError(t, err)
	require.NoError(t, base.Start(t.Context(), id))
	other, err := base.Create(t.Context(), agent.ContainerSpec{Name: "other", Image: "docker.io/test/app:1",
		Labels: map[string]string{agent.LabelExecutorID: "someone-else"}})
	require.NoError(t, err)

	a := startAgent(t, cfg, base)
	require.Empty(t, a.Instances())
	require.Eventually(t, func() bool { return base.Count() == 1 }, 5*time.Second, 5*time.Millisecond)
	_, err = base.Inspect(t.Context(), other)
	require.NoError(t, err, "containers of other executors are left alone")
	_, ok := fc.latestReport("i-bad")
	require.False(t, ok, "nothing is reported for it")
}
