package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/docker"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/require"
)

// newDockerRuntime returns a Docker runtime whose containers labelled with
// executorID are all removed when the test ends (registered first, so the
// removal runs after the test's agents are killed).
func newDockerRuntime(t *testing.T, executorID string) *docker.Runtime {
	t.Helper()
	rt, err := docker.New(docker.Config{PullTimeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := rt.List(ctx, map[string]string{agent.LabelExecutorID: executorID})
		if err != nil {
			t.Errorf("cleanup: list: %v", err)
		}
		for _, c := range list {
			if err := rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, agent.ErrNotFound) {
				t.Errorf("cleanup: remove %s: %v", c.Name, err)
			}
		}
		_ = rt.Close()
	})
	return rt
}

// dockerTask is taskSpec on the test task image with small resources.
func dockerTask(image, instanceID string, exitCode int, sleep string) model.InstanceSpec {
	s := taskSpec(instanceID, exitCode, sleep)
	s.Executable.URL = image
	s.Resources = []model.ResourceAllocation{
		{Type: model.ResourceCPU, Cores: map[int][]int{0: {0}}},
		{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 64}},
	}
	return s
}

// noContainers waits until the runtime has no container of instanceID.
func noContainers(t *testing.T, rt agent.Runtime, instanceID string) {
	t.Helper()
	require.Eventually(t, func() bool {
		list, err := rt.List(t.Context(), map[string]string{agent.LabelInstanceID: instanceID})
		return err == nil && len(list) == 0
	}, 30*time.Second, 50*time.Millisecond, "the container of %s is removed", instanceID)
}

// TestDocker_TasksCompleteWithTheirExitCodesOrAreCancelled runs tasks of
// the test task image: one exiting with 3 after a while, one exiting with
// 0 at once, one killed while it runs.
func TestDocker_TasksCompleteWithTheirExitCodesOrAreCancelled(t *testing.T) {
	image := testimage.RequireTask(t)
	const executorID = "exec-docker-tasks"
	rt := newDockerRuntime(t, executorID)
	fc := newFakeController(t, testSecret)
	cfg := logConfig(t, fc.URL())
	cfg.ExecutorID = executorID
	cfg.MaxOpenFiles = 4096
	cfg.StopGrace = 2 * time.Second
	a := startAgent(t, cfg, rt)

	startInstance(t, a, dockerTask(image, "i-dtask-3", 3, "300ms"))
	startInstance(t, a, dockerTask(image, "i-dtask-0", 0, ""))
	startInstance(t, a, dockerTask(image, "i-dtask-kill", 0, "1h"))

	waitState(t, fc, "i-dtask-kill", model.TaskRunning, time.Minute)
	post(t, a, testSecret, stopMsg(a, "i-dtask-kill"))

	for id, want := range map[string]model.TaskResult{
		"i-dtask-3":    {Status: model.TaskFailed, ExitCode: 3},
		"i-dtask-0":    {Status: model.TaskSuccessful},
		"i-dtask-kill": {Status: model.TaskCancelled, ExitCode: -1},
	} {
		waitState(t, fc, id, model.InstanceStopped, time.Minute)
		requireTaskReports(t, fc.historyOf(id), want)
		last, _ := fc.latestReport(id)
		require.Equal(t, uint64(taskChanges), last.Seq, id)
		noContainers(t, rt, id)
	}

	// The whole output is in the log, up to the last line.
	dir := filepath.Join(cfg.LogDir, "src-app")
	waitLogContains(t, filepath.Join(dir, "i-dtask-3", "output.log"), "testtask exiting with code 3\n")
	waitLogContains(t, filepath.Join(dir, "i-dtask-0", "output.log"), "env DROVE_TASK_ID=task-i-dtask-0\n")
	waitLogContains(t, filepath.Join(dir, "i-dtask-0", "output.log"), "testtask exiting with code 0\n")
	waitLogContains(t, filepath.Join(dir, "i-dtask-kill", "output.log"), "got SIGTERM\n")
}

// TestDocker_TaskThatExitedWhileTheAgentWasDownIsCompleted kills the agent
// while a task runs; the new agent finds the exited container, reports the
// task's real exit code and removes it.
func TestDocker_TaskThatExitedWhileTheAgentWasDownIsCompleted(t *testing.T) {
	image := testimage.RequireTask(t)
	const executorID = "exec-docker-task-recovery"
	rtA := newDockerRuntime(t, executorID)
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.ExecutorID = executorID
	cfg.MaxOpenFiles = 4096
	a := startAgent(t, cfg, rtA)

	spec := dockerTask(image, "i-dtask-down", 5, "1s")
	startInstance(t, a, spec)
	waitState(t, fc, spec.InstanceID, model.TaskRunning, time.Minute)
	a.Kill()
	require.Eventually(t, func() bool {
		list, err := rtA.List(t.Context(), map[string]string{agent.LabelInstanceID: spec.InstanceID})
		return err == nil && len(list) == 1 && list[0].Status == agent.ContainerExited
	}, time.Minute, 50*time.Millisecond, "the task container exits")

	b := startAgent(t, cfg, newDockerRuntime(t, executorID))
	require.Eventually(t, func() bool {
		r, _ := fc.latestReport(spec.InstanceID)
		return r.Boot == b.Boot() && r.Info.State == model.InstanceStopped
	}, time.Minute, 10*time.Millisecond)
	requireTaskReports(t, reportsUnder(fc, spec.InstanceID, b.Boot()), model.TaskResult{Status: model.TaskFailed, ExitCode: 5})
	noContainers(t, rtA, spec.InstanceID)
}

// TestDocker_HostLevelLocalServiceIsReachableOnItsContainerPort runs the
// test app as a host-level local service: Docker publishes the container
// port on the same host port.
func TestDocker_HostLevelLocalServiceIsReachableOnItsContainerPort(t *testing.T) {
	image := testimage.Require(t)
	const executorID = "exec-docker-local-service"
	rt := newDockerRuntime(t, executorID)
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.ExecutorID = executorID
	cfg.MaxOpenFiles = 4096
	a := startAgent(t, cfg, rt)

	port := portWindow(1).Min
	spec := serviceSpec("i-dls", port, true)
	spec.Executable.URL = image
	spec.Args = nil
	spec.Env = map[string]string{"PORT": strconv.Itoa(port)} // the test app listens there
	spec.Resources = []model.ResourceAllocation{
		{Type: model.ResourceCPU, Cores: map[int][]int{0: {0}}},
		{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 64}},
	}
	startInstance(t, a, spec)
	waitState(t, fc, spec.InstanceID, model.InstanceHealthy, time.Minute)
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "the service answers on host port %d", port)

	// The port is bound on the host now (by Docker): a second instance,
	// of this agent or not, cannot have it.
	dup := serviceSpec("i-dls-dup", port, true)
	dup.Executable.URL = image
	msg := failedProvisioning(t, fc, startAndReturn(t, a, dup))
	require.Contains(t, msg, fmt.Sprintf("host port %d is already held by instance i-dls", port))

	stopped(t, a, fc, spec.InstanceID)
	noContainers(t, rt, spec.InstanceID)
}
