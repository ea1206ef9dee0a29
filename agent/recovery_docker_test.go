package agent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/docker"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/require"
)

// TestDocker_RestartReadoptsRunningContainer kills an agent running one
// instance on Docker and starts a new agent (on a new runtime client): the
// container is re-adopted without a restart and reported HEALTHY again.
func TestDocker_RestartReadoptsRunningContainer(t *testing.T) {
	image := testimage.Require(t)
	const executorID = "exec-docker-recovery"
	const instanceID = "i-docker-recover"
	newRuntime := func() *docker.Runtime {
		rt, err := docker.New(docker.Config{PullTimeout: 30 * time.Second})
		require.NoError(t, err)
		return rt
	}
	rtA := newRuntime()
	// Registered first, so it runs after the agents are killed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := rtA.List(ctx, map[string]string{agent.LabelExecutorID: executorID})
		if err != nil {
			t.Errorf("cleanup: list: %v", err)
		}
		for _, c := range list {
			if err := rtA.Remove(ctx, c.ID); err != nil && !errors.Is(err, agent.ErrNotFound) {
				t.Errorf("cleanup: remove %s: %v", c.Name, err)
			}
		}
		_ = rtA.Close()
	})

	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.ExecutorID = executorID
	cfg.MaxOpenFiles = 4096
	a := startAgent(t, cfg, rtA)

	spec := testSpec("app-docker", instanceID)
	spec.Executable.URL = image
	spec.Args = nil
	spec.Resources = []model.ResourceAllocation{
		{Type: model.ResourceCPU, Cores: map[int][]int{0: {0}}},
		{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 64}},
	}
	spec.Ports = []model.PortSpec{{Name: "main", Port: 8000, Type: model.PortHTTP}}
	startInstance(t, a, spec)
	waitState(t, fc, instanceID, model.InstanceHealthy, time.Minute)
	fc.setExpected([]model.ExpectedSpec{{Spec: spec, State: model.InstanceHealthy}}, nil)
	lastA, _ := fc.latestReport(instanceID)

	list, err := rtA.List(t.Context(), map[string]string{agent.LabelInstanceID: instanceID})
	require.NoError(t, err)
	require.Len(t, list, 1)
	before, err := rtA.Inspect(t.Context(), list[0].ID)
	require.NoError(t, err)
	require.Equal(t, agent.ContainerRunning, before.Status)

	a.Kill()
	rtB := newRuntime()
	t.Cleanup(func() { _ = rtB.Close() })
	b := startAgent(t, fastReconcile(cfg), rtB)
	require.Eventually(t, func() bool {
		r, _ := fc.latestReport(instanceID)
		return r.Boot == b.Boot() && r.Info.State == model.InstanceHealthy
	}, time.Minute, 10*time.Millisecond, "instance not HEALTHY under the new agent")

	list, err = rtB.List(t.Context(), map[string]string{agent.LabelInstanceID: instanceID})
	require.NoError(t, err)
	require.Len(t, list, 1)
	after, err := rtB.Inspect(t.Context(), list[0].ID)
	require.NoError(t, err)
	require.Equal(t, before.ID, after.ID)
	require.True(t, after.StartedAt.Equal(before.StartedAt), "container was restarted: %s → %s",
		before.StartedAt, after.StartedAt)
	require.Equal(t, agent.ContainerRunning, after.Status)
	lastB, _ := fc.latestReport(instanceID)
	require.Equal(t, lastA.Info.LocalInfo.Ports, lastB.Info.LocalInfo.Ports)

	// It keeps running under the new agent (the reconciler knows it).
	require.Never(t, func() bool { return localState(b, instanceID) != model.InstanceHealthy },
		200*time.Millisecond, 10*time.Millisecond)
}
