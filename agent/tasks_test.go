package agent_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// taskSpec is a task instance of source app "src-app" that exits by itself
// on the fake runtime (and the test task image) with exitCode after sleep
// ("" sleeps not at all).
func taskSpec(instanceID string, exitCode int, sleep string) model.InstanceSpec {
	s := testSpec("src-app", instanceID)
	s.Kind, s.AppName, s.TaskID = model.KindTask, "src-app", "task-"+instanceID
	s.Ports = nil
	s.Args = nil
	s.Env = map[string]string{fakeruntime.EnvExitCode: strconv.Itoa(exitCode)}
	if sleep != "" {
		s.Env[fakeruntime.EnvSleep] = sleep
	}
	return s
}

// taskRank orders task states along Drove's task lifecycle.
var taskRank = map[model.InstanceState]int{
	model.InstancePending: 0, model.InstanceProvisioning: 1, model.InstanceStarting: 2,
	model.InstanceProvisioningFailed: 3, model.TaskRunFailed: 3, model.TaskRunning: 3,
	model.TaskRunCompleted: 4, model.InstanceDeprovisioning: 5, model.InstanceStopped: 6, model.InstanceLost: 6,
}

// requireTaskReports checks a task's reports: they never go back, and
// from RUN_COMPLETED (or a failure) on every one carries want.
func requireTaskReports(t *testing.T, reports []model.InstanceReport, want model.TaskResult) {
	t.Helper()
	require.NotEmpty(t, reports)
	withResult := false
	for i, r := range reports {
		rank, ok := taskRank[r.Info.State]
		require.True(t, ok, "report %d: %s is no task state", i, r.Info.State)
		if i > 0 {
			prev := reports[i-1]
			require.GreaterOrEqual(t, r.Seq, prev.Seq, "report %d went back in Seq", i)
			require.GreaterOrEqual(t, rank, taskRank[prev.Info.State], "report %d went back from %s to %s",
				i, prev.Info.State, r.Info.State)
		}
		withResult = withResult || rank >= taskRank[model.TaskRunCompleted] ||
			r.Info.State == model.InstanceProvisioningFailed || r.Info.State == model.TaskRunFailed
		if withResult {
			require.NotNil(t, r.TaskResult, "report %d (%s) has no task result", i, r.Info.State)
			require.Equal(t, want, *r.TaskResult, "report %d (%s)", i, r.Info.State)
		} else {
			require.Nil(t, r.TaskResult, "report %d (%s) has a result too early", i, r.Info.State)
		}
		require.Empty(t, r.Info.LocalInfo.Ports)
	}
}

// finalTask waits for id to be STOPPED and checks its reports end with want.
func finalTask(t *testing.T, fc *fakeController, id string, want model.TaskResult) model.InstanceReport {
	t.Helper()
	waitState(t, fc, id, model.InstanceStopped, 5*time.Second)
	hist := fc.historyOf(id)
	requireTaskReports(t, hist, want)
	last, _ := fc.latestReport(id)
	return last
}

// usageReported waits for an executor report with the given usage.
func usageReported(t *testing.T, fc *fakeController, cores int, memMB int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		reps := fc.allReports()
		return len(reps) > 0 && reps[len(reps)-1].UsedCores == cores && reps[len(reps)-1].UsedMemory == memMB
	}, 5*time.Second, 5*time.Millisecond, "no report of %d cores and %d MB in use", cores, memMB)
}

// removeGate holds Remove calls until open is closed.
type removeGate struct {
	*fakeruntime.Runtime
	open chan struct{}
}

func (r removeGate) Remove(ctx context.Context, id string) error {
	select {
	case <-r.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.Runtime.Remove(ctx, id)
}

// taskChanges is how many state changes (the Seq of the final report) a
// task makes from PENDING to STOPPED: PENDING, PROVISIONING, STARTING,
// RUNNING, RUN_COMPLETED, DEPROVISIONING, STOPPED.
const taskChanges = 7

func TestAgent_TaskRunsToCompletionAndIsRemoved(t *testing.T) {
	fc := newFakeController(t, testSecret)
	cfg := logConfig(t, fc.URL())
	rt := removeGate{Runtime: newFakeRuntime(t, fakeruntime.Config{}), open: make(chan struct{})}
	a := startAgent(t, cfg, rt)

	spec := taskSpec("i-task-ok", 0, "30ms")
	startInstance(t, a, spec)
	ok := model.TaskResult{Status: model.TaskSuccessful, ExitCode: 0}
	// Held while its container is removed: the result is already known.
	waitState(t, fc, "i-task-ok", model.InstanceDeprovisioning, 5*time.Second)
	requireTaskReports(t, fc.historyOf("i-task-ok"), ok)
	close(rt.open)
	last := finalTask(t, fc, "i-task-ok", ok)
	require.Equal(t, uint64(taskChanges), last.Seq)
	require.Empty(t, last.Info.ErrorMessage)
	require.Equal(t, "src-app", last.Info.AppID)
	require.Equal(t, "src-app", last.Info.AppName)
	require.NotContains(t, statesOf(fc, "i-task-ok"), model.InstanceLost)
	require.Empty(t, containersOf(t, rt.Runtime, "i-task-ok"), "the container is removed")
	usageReported(t, fc, 0, 0)

	// Its output went to the log store under the source app's name, and
	// stays readable through the log endpoints after the task ended.
	logFile := filepath.Join(cfg.LogDir, "src-app", "i-task-ok", "output.log")
	waitLogContains(t, logFile, "started src-app-i-task-ok\nexited src-app-i-task-ok with code 0\n")
	code, _, body := logGet(t, a, testSecret, "src-app/i-task-ok/list")
	require.Equal(t, 200, code, body)
	require.JSONEq(t, `{"files":["output.log"]}`, body)
}

func TestAgent_TaskEnvAndNoPorts(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)
	spec := taskSpec("i-task-env", 0, "1h")
	spec.Ports = []model.PortSpec{mainPort} // tasks have none: ignored
	spec.Readiness = cmdCheck("false", 1)   // nor checks
	startInstance(t, a, spec)
	waitState(t, fc, "i-task-env", model.TaskRunning, 5*time.Second)
	cs := containersOf(t, rt, "i-task-env")
	require.Len(t, cs, 1)
	cspec, err := rt.Spec(cs[0].ID)
	require.NoError(t, err)
	require.Empty(t, cspec.Ports)
	require.Equal(t, "task-i-task-env", cspec.Env["DROVE_TASK_ID"])
	require.Equal(t, "src-app", cspec.Env["DROVE_SOURCE_APP_NAME"])
	require.Equal(t, "i-task-env", cspec.Env["DROVE_INSTANCE_ID"])
	require.Equal(t, "src-app-i-task-env", cspec.Name)
}

func TestAgent_TaskExitCodeIsItsResult(t *testing.T) {
	fc := newFakeController(t, testSecret)
	a := startAgent(t, testConfig(fc.URL()), newFakeRuntime(t, fakeruntime.Config{}))
	startInstance(t, a, taskSpec("i-task-3", 3, "20ms"))
	last := finalTask(t, fc, "i-task-3", model.TaskResult{Status: model.TaskFailed, ExitCode: 3})
	require.Equal(t, uint64(taskChanges), last.Seq)
}

// exitBeforeStartReturns makes Start return only once the container has
// exited by itself, so the exit event is out before the agent can record
// RUNNING.
type exitBeforeStartReturns struct {
	*fakeruntime.Runtime
}

func (r exitBeforeStartReturns) Start(ctx context.Context, id string) error {
	if err := r.Runtime.Start(ctx, id); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := r.Inspect(ctx, id); err != nil || c.Status == agent.ContainerExited {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond): // polling the container, not waiting for the agent
		}
	}
	return nil
}

func TestAgent_InstantTaskExitIsCompletedNeverLost(t *testing.T) {
	const n = 20
	for name, rt := range map[string]agent.Runtime{
		"plain":       newFakeRuntime(t, fakeruntime.Config{}),
		"exit-early":  exitBeforeStartReturns{newFakeRuntime(t, fakeruntime.Config{})},
		"start-delay": newFakeRuntime(t, fakeruntime.Config{StartDelay: 5 * time.Millisecond}),
	} {
		t.Run(name, func(t *testing.T) {
			fc := newFakeController(t, testSecret)
			a := startAgent(t, testConfig(fc.URL()), rt)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					code, resp, err := send(a, testSecret, startMsg(a, taskSpec("i-fast-"+strconv.Itoa(i), i, "")))
					if err != nil || code != 200 || resp.Status != model.MessageAccepted {
						t.Errorf("start %d: %d %v %v", i, code, resp, err)
					}
				})
			}
			wg.Wait()
			for i := range n {
				id := "i-fast-" + strconv.Itoa(i)
				last := finalTask(t, fc, id, model.ExitResult(int64(i)))
				require.NotContains(t, statesOf(fc, id), model.InstanceLost)
				require.Equal(t, uint64(taskChanges), last.Seq, "went through RUNNING and RUN_COMPLETED")
			}
		})
	}
}

// stopRecorder records the Stop calls of a fake runtime.
type stopRecorder struct {
	*fakeruntime.Runtime
	mu    sync.Mutex
	stops map[string]time.Duration
}

func (r *stopRecorder) Stop(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	r.stops[id] = grace
	r.mu.Unlock()
	return r.Runtime.Stop(ctx, id, grace)
}

func (r *stopRecorder) stopOf(id string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.stops[id]
	return g, ok
}

func TestAgent_KilledTaskIsCancelled(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := &stopRecorder{Runtime: newFakeRuntime(t, fakeruntime.Config{}), stops: map[string]time.Duration{}}
	cfg := testConfig(fc.URL())
	cfg.StopGrace = 1500 * time.Millisecond
	a := startAgent(t, cfg, rt)

	startInstance(t, a, taskSpec("i-task-kill", 0, "1h"))
	waitState(t, fc, "i-task-kill", model.TaskRunning, 5*time.Second)
	usageReported(t, fc, 1, 128) // a running task holds its resources
	cs := containersOf(t, rt.Runtime, "i-task-kill")
	require.Len(t, cs, 1)

	stopped(t, a, fc, "i-task-kill")
	last := finalTask(t, fc, "i-task-kill", model.TaskResult{Status: model.TaskCancelled, ExitCode: -1})
	require.Equal(t, uint64(taskChanges), last.Seq)
	grace, ok := rt.stopOf(cs[0].ID)
	require.True(t, ok, "the container was stopped")
	require.Equal(t, cfg.StopGrace, grace)
	require.Empty(t, containersOf(t, rt.Runtime, "i-task-kill"))
	usageReported(t, fc, 0, 0) // and releases them once it ended

	// A stop for the ended task changes nothing.
	post(t, a, testSecret, stopMsg(a, "i-task-kill"))
	finalTask(t, fc, "i-task-kill", model.TaskResult{Status: model.TaskCancelled, ExitCode: -1})
}

func TestAgent_TaskKilledWhileStartingIsCancelled(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{StartDelay: time.Hour})
	a := startAgent(t, testConfig(fc.URL()), rt)
	startInstance(t, a, taskSpec("i-task-slow", 0, ""))
	require.Eventually(t, func() bool { return len(containersOf(t, rt, "i-task-slow")) == 1 },
		5*time.Second, 5*time.Millisecond, "the container is being started")
	stopped(t, a, fc, "i-task-slow")
	finalTask(t, fc, "i-task-slow", model.TaskResult{Status: model.TaskCancelled, ExitCode: -1})
	require.Empty(t, containersOf(t, rt, "i-task-slow"))
}

func TestAgent_TaskStartFailuresAreFailedResults(t *testing.T) {
	failed := model.TaskResult{Status: model.TaskFailed, ExitCode: -1}

	// Reports are batched (the failure may be folded into STOPPED); the
	// log says which failure it was.
	logs := &syncBuffer{}
	withLogs := func(cfg agent.Config) agent.Config {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Warn})
		return cfg
	}
	fc := newFakeController(t, testSecret)
	spec := taskSpec("i-task-noimage", 0, "")
	spec.Executable.URL = "docker.io/test/missing:1"
	a := startAgent(t, withLogs(testConfig(fc.URL())), newFakeRuntime(t, fakeruntime.Config{MissingImages: []string{spec.Executable.URL}}))
	startInstance(t, a, spec)
	last := finalTask(t, fc, spec.InstanceID, failed)
	// PENDING, PROVISIONING, STARTING, PROVISIONING_FAILED, DEPROVISIONING, STOPPED
	require.Equal(t, uint64(6), last.Seq)
	require.Contains(t, last.Info.ErrorMessage, "create container")
	require.Contains(t, last.Info.ErrorMessage, "image unavailable")
	require.Contains(t, logs.String(), "instance=i-task-noimage state=PROVISIONING_FAILED")
	usageReported(t, fc, 0, 0)

	fc2 := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{FailureRate: 1})
	b := startAgent(t, withLogs(testConfig(fc2.URL())), rt)
	startInstance(t, b, taskSpec("i-task-nostart", 0, ""))
	last = finalTask(t, fc2, "i-task-nostart", failed)
	require.Equal(t, uint64(6), last.Seq) // as above, with RUN_FAILED
	require.Contains(t, last.Info.ErrorMessage, "start container")
	require.Contains(t, logs.String(), "instance=i-task-nostart state=RUN_FAILED")
	require.Empty(t, containersOf(t, rt, "i-task-nostart"))
}

func TestAgent_VanishedTaskContainerIsLost(t *testing.T) {
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	a := startAgent(t, testConfig(fc.URL()), rt)
	startInstance(t, a, taskSpec("i-task-gone", 0, "1h"))
	waitState(t, fc, "i-task-gone", model.TaskRunning, 5*time.Second)
	cs := containersOf(t, rt, "i-task-gone")
	require.Len(t, cs, 1)
	require.NoError(t, rt.RemoveExternally(cs[0].ID))
	waitState(t, fc, "i-task-gone", model.InstanceLost, 5*time.Second)
	requireTaskReports(t, fc.historyOf("i-task-gone"), model.TaskResult{Status: model.TaskLost, ExitCode: -1})
	usageReported(t, fc, 0, 0)
}

func TestAgent_LeaderExpectedTaskMissingIsReportedLostWithResult(t *testing.T) {
	fc := newFakeController(t, testSecret)
	spec := taskSpec("i-task-missing", 0, "")
	fc.setExpected([]model.ExpectedSpec{{Spec: spec, State: model.TaskRunning}}, nil)
	startAgent(t, fastReconcile(testConfig(fc.URL())), newFakeRuntime(t, fakeruntime.Config{}))
	waitState(t, fc, spec.InstanceID, model.InstanceLost, 5*time.Second)
	last, _ := fc.latestReport(spec.InstanceID)
	require.Equal(t, &model.TaskResult{Status: model.TaskLost, ExitCode: -1}, last.TaskResult)
}

func TestAgent_RestartReadoptsRunningTasksAndCompletesExitedOnes(t *testing.T) {
	fc := newFakeController(t, testSecret)
	base := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	cfg.ExecutorID = "exec-task-recovery"
	a := startAgent(t, cfg, base)

	running, exited := taskSpec("i-task-runs", 0, "1h"), taskSpec("i-task-exits", 0, "1h")
	for _, s := range []model.InstanceSpec{running, exited} {
		startInstance(t, a, s)
		waitState(t, fc, s.InstanceID, model.TaskRunning, 5*time.Second)
	}
	fc.setExpected([]model.ExpectedSpec{{Spec: running, State: model.TaskRunning}, {Spec: exited, State: model.TaskRunning}}, nil)
	runC, exitC := containersOf(t, base, running.InstanceID)[0], containersOf(t, base, exited.InstanceID)[0]

	a.Kill()
	require.NoError(t, base.Kill(exitC.ID, 4)) // exits with 4 while nobody watches
	b := startAgent(t, cfg, base)

	// The exited one is completed with its real exit code, then removed.
	require.Eventually(t, func() bool {
		r, _ := fc.latestReport(exited.InstanceID)
		return r.Boot == b.Boot() && r.Info.State == model.InstanceStopped
	}, 5*time.Second, 5*time.Millisecond)
	requireTaskReports(t, reportsUnder(fc, exited.InstanceID, b.Boot()), model.TaskResult{Status: model.TaskFailed, ExitCode: 4})
	require.Empty(t, containersOf(t, base, exited.InstanceID))

	// The running one is RUNNING again (Seq 1 under the new boot), not restarted.
	require.Eventually(t, func() bool {
		r, _ := fc.latestReport(running.InstanceID)
		return r.Boot == b.Boot() && r.Info.State == model.TaskRunning
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, uint64(1), reportsUnder(fc, running.InstanceID, b.Boot())[0].Seq)
	after := containersOf(t, base, running.InstanceID)
	require.Len(t, after, 1)
	require.Equal(t, runC.ID, after[0].ID)
	require.True(t, after[0].StartedAt.Equal(runC.StartedAt), "the container was not restarted")

	// Its exit is then handled as usual.
	require.NoError(t, base.Kill(runC.ID, 0))
	require.Eventually(t, func() bool {
		r, _ := fc.latestReport(running.InstanceID)
		return r.Boot == b.Boot() && r.Info.State == model.InstanceStopped
	}, 5*time.Second, 5*time.Millisecond)
	requireTaskReports(t, reportsUnder(fc, running.InstanceID, b.Boot()), model.TaskResult{Status: model.TaskSuccessful})
	require.Empty(t, containersOf(t, base, running.InstanceID))
}
