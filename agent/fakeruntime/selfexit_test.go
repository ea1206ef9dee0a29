package fakeruntime

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/agent"
)

// startWithEnv creates and starts a container named name with env.
func startWithEnv(t *testing.T, r *Runtime, name string, env map[string]string) string {
	t.Helper()
	s := spec(name, map[string]string{"task": name})
	s.Env = env
	id, err := r.Create(context.Background(), s)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), id))
	return id
}

func TestRuntime_ExitCodeMakesContainerExitByItself(t *testing.T) {
	r := newRuntime(t, Config{})
	events := subscribe(t, r)
	id := startWithEnv(t, r, "task3", map[string]string{EnvExitCode: "3", EnvSleep: "20ms"})
	require.Equal(t, agent.ContainerRunning, inspect(t, r, id).Status, "runs until SLEEP has passed")

	ev := nextEvent(t, events)
	require.Equal(t, agent.ContainerEvent{ContainerID: id, Labels: map[string]string{"task": "task3"},
		Status: agent.ContainerExited, ExitCode: 3}, ev)
	c := inspect(t, r, id)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, 3, c.ExitCode)
	require.Empty(t, c.Error, "a normal exit is no error")
	require.False(t, c.FinishedAt.IsZero())
	list, err := r.List(context.Background(), map[string]string{"task": "task3"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 3, list[0].ExitCode)

	rc, err := r.Logs(context.Background(), id, false)
	require.NoError(t, err)
	out, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "started task3\nexited task3 with code 3\n", string(out))
}

func TestRuntime_ExitCodeWithoutSleepExitsAtOnce(t *testing.T) {
	r := newRuntime(t, Config{})
	events := subscribe(t, r)
	id := startWithEnv(t, r, "task0", map[string]string{EnvExitCode: "0"})
	ev := nextEvent(t, events)
	require.Equal(t, id, ev.ContainerID)
	require.Equal(t, agent.ContainerExited, ev.Status)
	require.Equal(t, 0, ev.ExitCode)
	require.Equal(t, agent.ContainerExited, inspect(t, r, id).Status)

	// Unparsable values exit at once with 2, as testtask does.
	bad := startWithEnv(t, r, "bad", map[string]string{EnvExitCode: "x"})
	ev = nextEvent(t, events)
	require.Equal(t, bad, ev.ContainerID)
	require.Equal(t, ExitCodeBadEnv, ev.ExitCode)
	badSleep := startWithEnv(t, r, "bad-sleep", map[string]string{EnvExitCode: "0", EnvSleep: "soon"})
	ev = nextEvent(t, events)
	require.Equal(t, badSleep, ev.ContainerID)
	require.Equal(t, ExitCodeBadEnv, ev.ExitCode)
}

func TestRuntime_StopBeforeSelfExitIsAPlainStop(t *testing.T) {
	r := newRuntime(t, Config{})
	events := subscribe(t, r)
	id := startWithEnv(t, r, "long", map[string]string{EnvExitCode: "3", EnvSleep: "50ms"})
	require.NoError(t, r.Stop(context.Background(), id, time.Second))
	c := inspect(t, r, id)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, ExitCodeStopped, c.ExitCode)
	// The cancelled exit never fires: no event, the exit code stays.
	require.Never(t, func() bool { return len(events) > 0 }, 150*time.Millisecond, tick)
	require.Equal(t, ExitCodeStopped, inspect(t, r, id).ExitCode)
}

func TestRuntime_EarlierOfCrashAfterAndSelfExitWins(t *testing.T) {
	r := newRuntime(t, Config{CrashAfter: 20 * time.Millisecond})
	events := subscribe(t, r)
	crashes := startWithEnv(t, r, "crashes", map[string]string{EnvExitCode: "3", EnvSleep: "1h"})
	ev := nextEvent(t, events)
	require.Equal(t, crashes, ev.ContainerID)
	require.Equal(t, ExitCodeCrashed, ev.ExitCode)

	exits := startWithEnv(t, r, "exits", map[string]string{EnvExitCode: "4"})
	ev = nextEvent(t, events)
	require.Equal(t, exits, ev.ContainerID)
	require.Equal(t, 4, ev.ExitCode)
	requireNoEvent(t, events)
}
