package fakeruntime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/agent"
)

const (
	testDelay = 10 * time.Millisecond
	waitFor   = 5 * time.Second // upper bound for anything asynchronous
	tick      = time.Millisecond
)

func newRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	r, err := New(cfg)
	require.NoError(t, err)
	return r
}

func spec(name string, labels map[string]string) agent.ContainerSpec {
	return agent.ContainerSpec{
		Name:     name,
		Image:    "registry.example/app:1.0",
		Env:      map[string]string{"PORT": "8080"},
		Args:     []string{"serve", "--port", "8080"},
		Labels:   labels,
		CPUSet:   []int{0, 1},
		MemoryMB: 256,
		Ports:    []agent.PortBinding{{ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}},
	}
}

func mustCreate(t testing.TB, r *Runtime, name string, labels map[string]string) string {
	t.Helper()
	id, err := r.Create(context.Background(), spec(name, labels))
	require.NoError(t, err)
	return id
}

func mustStart(t testing.TB, r *Runtime, name string, labels map[string]string) string {
	t.Helper()
	id := mustCreate(t, r, name, labels)
	require.NoError(t, r.Start(context.Background(), id))
	return id
}

func subscribe(t *testing.T, r *Runtime) <-chan agent.ContainerEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := r.Events(ctx)
	require.NoError(t, err)
	return ch
}

func nextEvent(t *testing.T, ch <-chan agent.ContainerEvent) agent.ContainerEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "events channel closed")
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event within deadline")
		return agent.ContainerEvent{}
	}
}

func requireNoEvent(t *testing.T, ch <-chan agent.ContainerEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func inspect(t *testing.T, r *Runtime, id string) agent.Container {
	t.Helper()
	c, err := r.Inspect(context.Background(), id)
	require.NoError(t, err)
	return c
}

// startingNow reports whether a Start for id is waiting for StartDelay.
func startingNow(r *Runtime, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	return ok && c.starting
}

func TestRuntime_Lifecycle(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{StartDelay: testDelay})
	require.Equal(t, "fake", r.Name())

	id, err := r.Create(ctx, spec("web-1", map[string]string{"app": "web"}))
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{12,}$`), id)
	require.Equal(t, 1, r.Count())

	c := inspect(t, r, id)
	require.Equal(t, agent.ContainerCreated, c.Status)
	require.Equal(t, "web-1", c.Name)
	require.Equal(t, "registry.example/app:1.0", c.Image)
	require.Equal(t, map[string]string{"app": "web"}, c.Labels)
	require.False(t, c.Created.IsZero())
	require.True(t, c.StartedAt.IsZero())

	got, err := r.Spec(id)
	require.NoError(t, err)
	require.Equal(t, spec("web-1", map[string]string{"app": "web"}), got)

	begin := time.Now()
	require.NoError(t, r.Start(ctx, id))
	require.GreaterOrEqual(t, time.Since(begin), testDelay, "Start returns once running")
	c = inspect(t, r, id)
	require.Equal(t, agent.ContainerRunning, c.Status)
	require.False(t, c.StartedAt.IsZero())
	require.True(t, c.FinishedAt.IsZero())
	require.NoError(t, r.Start(ctx, id), "starting a running container is a no-op")

	require.NoError(t, r.Stop(ctx, id, time.Second))
	c = inspect(t, r, id)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, ExitCodeStopped, c.ExitCode)
	require.Empty(t, c.Error)
	require.False(t, c.FinishedAt.IsZero())

	// An exited container can be started again.
	require.NoError(t, r.Start(ctx, id))
	c = inspect(t, r, id)
	require.Equal(t, agent.ContainerRunning, c.Status)
	require.Zero(t, c.ExitCode)
	require.True(t, c.FinishedAt.IsZero())

	require.NoError(t, r.Remove(ctx, id), "removing a running container")
	require.Equal(t, 0, r.Count())
	_, err = r.Inspect(ctx, id)
	require.ErrorIs(t, err, agent.ErrNotFound)
}

func TestRuntime_InjectedClock(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	now := base
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Minute)
		return now
	}
	r := newRuntime(t, Config{Now: clock})
	id := mustStart(t, r, "c", nil)
	require.NoError(t, r.Stop(ctx, id, 0))
	c := inspect(t, r, id)
	require.Equal(t, base.Add(1*time.Minute), c.Created)
	require.Equal(t, base.Add(2*time.Minute), c.StartedAt)
	require.Equal(t, base.Add(3*time.Minute), c.FinishedAt)
}

func TestRuntime_DuplicateName(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustCreate(t, r, "dup", nil)

	_, err := r.Create(ctx, spec("dup", nil))
	require.ErrorIs(t, err, ErrNameInUse)
	require.ErrorContains(t, err, "name already in use")
	require.Equal(t, 1, r.Count())

	// Unnamed containers never conflict.
	mustCreate(t, r, "", nil)
	mustCreate(t, r, "", nil)

	// The name is free again once the holder is removed.
	require.NoError(t, r.Remove(ctx, id))
	mustCreate(t, r, "dup", nil)
}

func TestRuntime_MissingImage(t *testing.T) {
	r := newRuntime(t, Config{MissingImages: []string{"registry.example/gone:1"}})
	s := spec("x", nil)
	s.Image = "registry.example/gone:1"
	_, err := r.Create(context.Background(), s)
	require.ErrorIs(t, err, agent.ErrImage)
	require.ErrorContains(t, err, "registry.example/gone:1")
	require.Equal(t, 0, r.Count())

	mustCreate(t, r, "y", nil) // other images are fine
}

func TestRuntime_StartFailure(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{FailureRate: 1, StartDelay: testDelay})
	events := subscribe(t, r)
	id := mustCreate(t, r, "doomed", map[string]string{"app": "x"})

	err := r.Start(ctx, id)
	require.ErrorIs(t, err, ErrStartFailed)

	c := inspect(t, r, id)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, ExitCodeStartFailed, c.ExitCode)
	require.Equal(t, ErrorStartFailed, c.Error)
	require.False(t, c.FinishedAt.IsZero())

	ev := nextEvent(t, events)
	require.Equal(t, agent.ContainerEvent{
		ContainerID: id,
		Labels:      map[string]string{"app": "x"},
		Status:      agent.ContainerExited,
		ExitCode:    1,
	}, ev)
}

func TestRuntime_FailureRateIsSeeded(t *testing.T) {
	outcomes := func() []bool {
		r := newRuntime(t, Config{FailureRate: 0.5, Seed: 42})
		var out []bool
		for i := range 64 {
			id := mustCreate(t, r, fmt.Sprint("c", i), nil)
			out = append(out, r.Start(context.Background(), id) == nil)
		}
		return out
	}
	a, b := outcomes(), outcomes()
	require.Equal(t, a, b)
	require.Contains(t, a, true)
	require.Contains(t, a, false)
}

func TestRuntime_CrashAfter(t *testing.T) {
	r := newRuntime(t, Config{CrashAfter: 20 * time.Millisecond})
	events := subscribe(t, r)
	id := mustStart(t, r, "fragile", map[string]string{"app": "f"})

	ev := nextEvent(t, events)
	require.Equal(t, id, ev.ContainerID)
	require.Equal(t, agent.ContainerExited, ev.Status)
	require.Equal(t, ExitCodeCrashed, ev.ExitCode)
	require.Equal(t, map[string]string{"app": "f"}, ev.Labels)

	c := inspect(t, r, id)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, ExitCodeCrashed, c.ExitCode)
	require.Equal(t, "crashed", c.Error)
	require.False(t, c.FinishedAt.IsZero())
}

func TestRuntime_CrashTimerCancelledByStopAndRemove(t *testing.T) {
	const crashAfter = 30 * time.Millisecond
	ctx := context.Background()
	r := newRuntime(t, Config{CrashAfter: crashAfter})
	events := subscribe(t, r)
	stopped := mustStart(t, r, "stopped", nil)
	removed := mustStart(t, r, "removed", nil)
	require.NoError(t, r.Stop(ctx, stopped, 0))
	require.NoError(t, r.Remove(ctx, removed))

	r.mu.Lock()
	require.Nil(t, r.containers[stopped].exit, "timer released on Stop")
	r.mu.Unlock()

	// A container started afterwards with the same CrashAfter crashes later
	// than the cancelled timers would have fired: its event must be the only one.
	witness := mustStart(t, r, "witness", nil)
	ev := nextEvent(t, events)
	require.Equal(t, witness, ev.ContainerID)
	require.Never(t, func() bool { return len(events) > 0 }, 3*crashAfter, tick)
	require.Equal(t, ExitCodeStopped, inspect(t, r, stopped).ExitCode)
}

func TestRuntime_Kill(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	events := subscribe(t, r)
	id := mustStart(t, r, "victim", map[string]string{"app": "v"})

	require.NoError(t, r.Kill(id, 9))
	ev := nextEvent(t, events)
	require.Equal(t, agent.ContainerEvent{ContainerID: id, Labels: map[string]string{"app": "v"}, Status: agent.ContainerExited, ExitCode: 9}, ev)
	c := inspect(t, r, id)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, 9, c.ExitCode)
	require.Equal(t, ErrorKilled, c.Error)

	require.ErrorIs(t, r.Kill(id, 9), ErrNotRunning)
	created := mustCreate(t, r, "created", nil)
	require.ErrorIs(t, r.Kill(created, 9), ErrNotRunning)
	require.ErrorIs(t, r.Kill("nope", 9), agent.ErrNotFound)
	requireNoEvent(t, events)

	// Explicit calls emit nothing.
	other := mustStart(t, r, "other", nil)
	require.NoError(t, r.Stop(ctx, other, 0))
	require.NoError(t, r.Remove(ctx, other))
	requireNoEvent(t, events)
}

func TestRuntime_RemoveExternally(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	events := subscribe(t, r)
	running := mustStart(t, r, "running", map[string]string{"app": "r"})
	created := mustCreate(t, r, "created", nil)

	require.NoError(t, r.RemoveExternally(running))
	ev := nextEvent(t, events)
	require.Equal(t, agent.ContainerEvent{ContainerID: running, Labels: map[string]string{"app": "r"}, Status: "", ExitCode: ExitCodeCrashed}, ev)

	require.NoError(t, r.RemoveExternally(created))
	ev = nextEvent(t, events)
	require.Equal(t, created, ev.ContainerID)
	require.Equal(t, agent.ContainerStatus(""), ev.Status)
	require.Zero(t, ev.ExitCode)

	require.Equal(t, 0, r.Count())
	_, err := r.Inspect(ctx, running)
	require.ErrorIs(t, err, agent.ErrNotFound)
	require.ErrorIs(t, r.RemoveExternally(running), agent.ErrNotFound)
	mustCreate(t, r, "running", nil) // name released
}

func TestRuntime_ListLabelFilter(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	a := mustCreate(t, r, "a", map[string]string{"app": "web", "env": "prod"})
	b := mustCreate(t, r, "b", map[string]string{"app": "web", "env": "dev"})
	c := mustCreate(t, r, "c", map[string]string{"app": "db", "env": "prod"})
	d := mustCreate(t, r, "d", nil)

	ids := func(labels map[string]string) []string {
		t.Helper()
		list, err := r.List(ctx, labels)
		require.NoError(t, err)
		var out []string
		for _, c := range list {
			out = append(out, c.ID)
		}
		return out
	}
	require.Equal(t, []string{a, b, c, d}, ids(nil), "all, in creation order")
	require.Equal(t, []string{a, b, c, d}, ids(map[string]string{}))
	require.Equal(t, []string{a, b}, ids(map[string]string{"app": "web"}))
	require.Equal(t, []string{a, c}, ids(map[string]string{"env": "prod"}))
	require.Equal(t, []string{a}, ids(map[string]string{"app": "web", "env": "prod"}))
	require.Empty(t, ids(map[string]string{"app": "web", "env": "qa"}))
	require.Empty(t, ids(map[string]string{"missing": ""}), "a key must be present even for an empty value")
}

func TestRuntime_InspectReturnsCopies(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	events := subscribe(t, r)
	s := spec("c", map[string]string{"app": "web"})
	id, err := r.Create(ctx, s)
	require.NoError(t, err)

	// Mutating the caller's spec after Create changes nothing.
	s.Labels["app"] = "changed"
	s.Env["PORT"] = "1"
	s.Args[0] = "changed"
	s.CPUSet[0] = 99
	s.Ports[0].HostPort = 1

	c := inspect(t, r, id)
	c.Labels["app"] = "mutated"
	c.Labels["extra"] = "x"
	list, err := r.List(ctx, nil)
	require.NoError(t, err)
	list[0].Labels["app"] = "mutated"
	got, err := r.Spec(id)
	require.NoError(t, err)
	got.Labels["app"] = "mutated"
	got.Env["PORT"] = "mutated"
	got.Args[0] = "mutated"

	require.NoError(t, r.Start(ctx, id))
	require.NoError(t, r.Kill(id, 1))
	ev := nextEvent(t, events)
	ev.Labels["app"] = "mutated"

	require.Equal(t, map[string]string{"app": "web"}, inspect(t, r, id).Labels)
	got, err = r.Spec(id)
	require.NoError(t, err)
	require.Equal(t, spec("c", map[string]string{"app": "web"}), got)
	list, err = r.List(ctx, map[string]string{"app": "web"})
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func TestRuntime_StopIdempotent(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustStart(t, r, "c", nil)
	require.NoError(t, r.Stop(ctx, id, time.Second))
	first := inspect(t, r, id)
	require.NoError(t, r.Stop(ctx, id, time.Second))
	require.Equal(t, first, inspect(t, r, id))

	created := mustCreate(t, r, "never-started", nil)
	require.NoError(t, r.Stop(ctx, created, 0))
	require.Equal(t, agent.ContainerCreated, inspect(t, r, created).Status, "stopping a created container changes nothing")
}

func TestRuntime_NotFound(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustCreate(t, r, "gone", nil)
	require.NoError(t, r.Remove(ctx, id))

	for _, missing := range []string{"does-not-exist", id} {
		calls := map[string]error{}
		calls["Start"] = r.Start(ctx, missing)
		calls["Stop"] = r.Stop(ctx, missing, 0)
		calls["Remove"] = r.Remove(ctx, missing)
		_, calls["Inspect"] = r.Inspect(ctx, missing)
		_, calls["Logs"] = r.Logs(ctx, missing, false)
		_, calls["LogsFollow"] = r.Logs(ctx, missing, true)
		_, _, calls["Exec"] = r.Exec(ctx, missing, []string{"true"})
		calls["Kill"] = r.Kill(missing, 1)
		calls["RemoveExternally"] = r.RemoveExternally(missing)
		_, calls["Spec"] = r.Spec(missing)
		for name, err := range calls {
			require.ErrorIs(t, err, agent.ErrNotFound, "%s(%q)", name, missing)
		}
	}
}

func TestRuntime_CancelledContext(t *testing.T) {
	r := newRuntime(t, Config{})
	id := mustCreate(t, r, "c", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Create(ctx, spec("d", nil))
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, r.Start(ctx, id), context.Canceled)
	_, err = r.Events(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, agent.ContainerCreated, inspect(t, r, id).Status)
}

func TestRuntime_StartContextCancelledDuringDelay(t *testing.T) {
	r := newRuntime(t, Config{StartDelay: time.Hour})
	id := mustCreate(t, r, "slow", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx, id) }()
	require.Eventually(t, func() bool { return startingNow(r, id) }, waitFor, tick)
	require.ErrorIs(t, r.Start(context.Background(), id), ErrStartInProgress)

	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitFor):
		t.Fatal("Start did not return after ctx cancel")
	}
	require.Equal(t, agent.ContainerCreated, inspect(t, r, id).Status)
	require.False(t, startingNow(r, id))
}

func TestRuntime_StopOrRemoveDuringStart(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{StartDelay: time.Hour})
	startAsync := func(id string) <-chan error {
		done := make(chan error, 1)
		go func() { done <- r.Start(ctx, id) }()
		require.Eventually(t, func() bool { return startingNow(r, id) }, waitFor, tick)
		return done
	}
	result := func(done <-chan error) error {
		select {
		case err := <-done:
			return err
		case <-time.After(waitFor):
			t.Fatal("Start did not return")
			return nil
		}
	}

	stopped := mustCreate(t, r, "stopped", nil)
	done := startAsync(stopped)
	require.NoError(t, r.Stop(ctx, stopped, 0))
	require.ErrorIs(t, result(done), ErrStartAborted)
	c := inspect(t, r, stopped)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, ExitCodeStopped, c.ExitCode)

	removed := mustCreate(t, r, "removed", nil)
	done = startAsync(removed)
	require.NoError(t, r.Remove(ctx, removed))
	require.ErrorIs(t, result(done), agent.ErrNotFound)
}

func TestRuntime_Exec(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustStart(t, r, "c", nil)

	code, out, err := r.Exec(ctx, id, []string{"echo", "hello", "world"})
	require.NoError(t, err)
	require.Zero(t, code)
	require.Equal(t, "echo hello world", string(out))

	code, _, err = r.Exec(ctx, id, []string{"false"})
	require.NoError(t, err)
	require.Equal(t, 1, code)

	_, _, err = r.Exec(ctx, id, nil)
	require.Error(t, err)

	created := mustCreate(t, r, "created", nil)
	_, _, err = r.Exec(ctx, created, []string{"true"})
	require.ErrorIs(t, err, ErrNotRunning)
	require.NoError(t, r.Stop(ctx, id, 0))
	_, _, err = r.Exec(ctx, id, []string{"true"})
	require.ErrorIs(t, err, ErrNotRunning)
}

func TestRuntime_LogsSnapshot(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustStart(t, r, "app", nil)
	require.NoError(t, r.Stop(ctx, id, 0))

	rc, err := r.Logs(ctx, id, false)
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "started app\nstopped app\n", string(data))
}

func TestRuntime_LogsFollowReceivesStopLine(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustStart(t, r, "app", nil)

	rc, err := r.Logs(ctx, id, true)
	require.NoError(t, err)
	defer rc.Close()
	lines := make(chan string, 8)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
		readErr <- sc.Err() // nil on io.EOF
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(waitFor):
			t.Fatal("no log line within deadline")
			return ""
		}
	}
	require.Equal(t, "started app", next())

	require.NoError(t, r.Stop(ctx, id, 0))
	require.Equal(t, "stopped app", next())
	select {
	case err := <-readErr:
		require.NoError(t, err, "follow ends with EOF once exited")
	case <-time.After(waitFor):
		t.Fatal("follow did not end after the container exited")
	}
}

func TestRuntime_LogsFollowEnds(t *testing.T) {
	readAll := func(rc io.ReadCloser) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(rc)
			done <- err
		}()
		return done
	}
	wait := func(done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(waitFor):
			t.Fatal("follow reader still blocked")
			return nil
		}
	}
	r := newRuntime(t, Config{})

	t.Run("removed", func(t *testing.T) {
		id := mustStart(t, r, "removed", nil)
		rc, err := r.Logs(context.Background(), id, true)
		require.NoError(t, err)
		done := readAll(rc)
		require.NoError(t, r.RemoveExternally(id))
		require.NoError(t, wait(done))
	})
	t.Run("ctx cancelled", func(t *testing.T) {
		id := mustStart(t, r, "cancelled", nil)
		ctx, cancel := context.WithCancel(context.Background())
		rc, err := r.Logs(ctx, id, true)
		require.NoError(t, err)
		done := readAll(rc)
		cancel()
		require.ErrorIs(t, wait(done), context.Canceled)
	})
	t.Run("closed", func(t *testing.T) {
		id := mustStart(t, r, "closed", nil)
		rc, err := r.Logs(context.Background(), id, true)
		require.NoError(t, err)
		done := readAll(rc)
		require.NoError(t, rc.Close())
		require.Error(t, wait(done))
		require.NoError(t, rc.Close(), "Close is idempotent")
	})
	t.Run("crashed", func(t *testing.T) {
		r := newRuntime(t, Config{CrashAfter: 20 * time.Millisecond})
		id := mustStart(t, r, "crashy", nil)
		rc, err := r.Logs(context.Background(), id, true)
		require.NoError(t, err)
		data, err := io.ReadAll(rc) // returns once the crash ends the stream
		require.NoError(t, err)
		require.Equal(t, "started crashy\ncrashed crashy\n", string(data))
	})
}

func TestRuntime_LogsBounded(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustCreate(t, r, "loop", nil)
	for range MaxLogLines {
		require.NoError(t, r.Start(ctx, id))
		require.NoError(t, r.Stop(ctx, id, 0))
	}
	rc, err := r.Logs(ctx, id, false)
	require.NoError(t, err)
	sc := bufio.NewScanner(rc)
	n := 0
	for sc.Scan() {
		n++
	}
	require.Equal(t, MaxLogLines, n)
}

func TestRuntime_EventsCloseOnCancel(t *testing.T) {
	r := newRuntime(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Events(ctx)
	require.NoError(t, err)
	other := subscribe(t, r)

	cancel()
	select {
	case _, ok := <-ch:
		require.False(t, ok, "channel closed")
	case <-time.After(waitFor):
		t.Fatal("events channel not closed after cancel")
	}

	// The runtime keeps working and other subscribers still receive.
	id := mustStart(t, r, "c", nil)
	require.NoError(t, r.Kill(id, 3))
	require.Equal(t, id, nextEvent(t, other).ContainerID)
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.subs) == 1
	}, waitFor, tick)
}

func TestRuntime_EventsDropWhenFull(t *testing.T) {
	const extra = 10
	r := newRuntime(t, Config{})
	slow := subscribe(t, r) // never read until the end
	ids := make([]string, EventBuffer+extra)
	for i := range ids {
		ids[i] = mustStart(t, r, "", nil)
	}
	for _, id := range ids {
		require.NoError(t, r.Kill(id, 1)) // must not block
	}
	require.Len(t, slow, EventBuffer)
	require.Equal(t, uint64(extra), r.DroppedEvents())
	require.Equal(t, ids[0], nextEvent(t, slow).ContainerID, "oldest events are kept")
}

func TestRuntime_UniqueIDs(t *testing.T) {
	a := newRuntime(t, Config{Seed: 7})
	b := newRuntime(t, Config{Seed: 7})
	seen := make(map[string]bool)
	for range 1000 {
		for _, r := range []*Runtime{a, b} {
			id := mustCreate(t, r, "", nil)
			require.False(t, seen[id], "duplicate id %s", id)
			seen[id] = true
		}
	}
}

func TestRuntime_ConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"zero", Config{}, nil},
		{"full", Config{StartDelay: time.Second, FailureRate: 1, CrashAfter: time.Minute, MissingImages: []string{"x"}, Seed: 3}, nil},
		{"rate above 1", Config{FailureRate: 1.5}, []string{"FailureRate", "1.5"}},
		{"rate negative", Config{FailureRate: -0.1}, []string{"FailureRate", "-0.1"}},
		{"rate NaN", Config{FailureRate: nan()}, []string{"FailureRate", "NaN"}},
		{"negative delay", Config{StartDelay: -time.Second}, []string{"StartDelay", "-1s"}},
		{"negative crash", Config{CrashAfter: -time.Millisecond}, []string{"CrashAfter", "-1ms"}},
		{"several", Config{FailureRate: 2, StartDelay: -1}, []string{"FailureRate", "StartDelay"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			_, newErr := New(tc.cfg)
			if len(tc.want) == 0 {
				require.NoError(t, err)
				require.NoError(t, newErr)
				return
			}
			require.Error(t, err)
			require.Error(t, newErr)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// TestRuntime_Concurrency hammers one runtime from many goroutines; run it
// with -race.
func TestRuntime_Concurrency(t *testing.T) {
	const (
		workers = 32
		perWork = 40
	)
	r := newRuntime(t, Config{StartDelay: time.Millisecond, FailureRate: 0.1, CrashAfter: 5 * time.Millisecond, Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Subscribers, one of which reads everything, one of which never reads.
	events, err := r.Events(ctx)
	require.NoError(t, err)
	_, err = r.Events(ctx)
	require.NoError(t, err)
	var received int
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for range events {
			received++
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			labels := map[string]string{"worker": fmt.Sprint(w)}
			for i := range perWork {
				id, err := r.Create(ctx, spec(fmt.Sprintf("w%d-%d", w, i), labels))
				if err != nil {
					errs <- err
					return
				}
				logs, err := r.Logs(ctx, id, true)
				if err != nil {
					errs <- err
					return
				}
				go func() { _, _ = io.Copy(io.Discard, logs) }()
				if err := r.Start(ctx, id); err != nil && !errors.Is(err, ErrStartFailed) {
					errs <- err
					return
				}
				_, _, _ = r.Exec(ctx, id, []string{"true"})
				if _, err := r.Inspect(ctx, id); err != nil {
					errs <- err
					return
				}
				if _, err := r.List(ctx, labels); err != nil {
					errs <- err
					return
				}
				switch i % 4 {
				case 0:
					err = r.Stop(ctx, id, 0)
				case 1:
					if kerr := r.Kill(id, 2); kerr != nil && !errors.Is(kerr, ErrNotRunning) {
						err = kerr
					}
				case 2:
					err = r.RemoveExternally(id)
				}
				if err != nil {
					errs <- err
					return
				}
				if i%4 != 2 && i%8 != 3 {
					if err := r.Remove(ctx, id); err != nil {
						errs <- err
						return
					}
				}
				_ = logs.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	list, err := r.List(ctx, nil)
	require.NoError(t, err)
	require.Len(t, list, r.Count())
	require.Equal(t, workers*perWork/8, r.Count(), "containers with i%%8==3 are kept")

	cancel()
	select {
	case <-readerDone:
	case <-time.After(waitFor):
		t.Fatal("events channel not closed")
	}
	require.Positive(t, received)
}

// BenchmarkRuntime_CreateStart5000 creates and starts 5000 containers (with
// three labels, one env var and a name each) in a fresh runtime per
// iteration, with and without a pending CrashAfter timer per container. ns/op
// is per 5000 containers; B/container is the live heap the runtime holds once
// they are all running (runtime.MemStats.HeapAlloc after GC, minus the
// same before). Stopped timers linger in the Go timer heap until it is
// cleaned, which makes B/container with timers vary by about ±150 B.
func BenchmarkRuntime_CreateStart5000(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"crash-timers", Config{CrashAfter: time.Hour, Seed: 1}},
		{"no-timers", Config{Seed: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchCreateStart(b, bc.cfg, 5000) })
	}
}

func benchCreateStart(b *testing.B, cfg Config, n int) {
	ctx := context.Background()
	var heapBytes, elapsed int64
	var ms runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		r := newRuntime(b, cfg)
		start := time.Now()
		b.StartTimer()

		for j := range n {
			id, err := r.Create(ctx, agent.ContainerSpec{
				Name:     "app-" + strconv.Itoa(i) + "-" + strconv.Itoa(j),
				Image:    "registry.example/app:1.0",
				Env:      map[string]string{"PORT": "8080"},
				Labels:   map[string]string{"drove.app": "app", "drove.instance": strconv.Itoa(j), "drove.executor": "e1"},
				MemoryMB: 128,
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(ctx, id); err != nil {
				b.Fatal(err)
			}
		}

		b.StopTimer()
		elapsed += int64(time.Since(start))
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heapBytes += int64(ms.HeapAlloc) - int64(before)
		if r.Count() != n {
			b.Fatalf("Count = %d", r.Count())
		}
		// Release the hour-long crash timers so iterations do not pile up.
		list, err := r.List(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range list {
			if err := r.Remove(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
		}
		runtime.KeepAlive(r)
		b.StartTimer()
	}
	b.ReportMetric(float64(heapBytes)/float64(b.N*n), "B/container")
	b.ReportMetric(float64(elapsed)/float64(b.N*n), "ns/container")
}

func TestRuntime_SpecCopiesMountsDevicesLoggingAndFiles(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	full := func() agent.ContainerSpec {
		s := spec("full", map[string]string{"app": "web"})
		s.Binds = []agent.Bind{{HostPath: "/srv/data", ContainerPath: "/data", ReadOnly: true}}
		s.Devices = []agent.Device{{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"}}
		s.DeviceRequests = []agent.DeviceRequest{{Driver: "nvidia", Count: -1, DeviceIDs: []string{"0"},
			Capabilities: [][]string{{"gpu"}}, Options: map[string]string{"k": "v"}}}
		s.LogConfig = agent.LogConfig{Type: "json-file", Options: map[string]string{"max-size": "10m"}}
		s.User = "1000:1000"
		s.Files = []agent.File{{Path: "/etc/app.conf", Mode: 0o644, Data: []byte("a=1")}}
		s.MaxOpenFiles = 1024
		return s
	}
	s := full()
	id, err := r.Create(ctx, s)
	require.NoError(t, err)
	// Mutating the caller's spec after Create changes nothing.
	s.Binds[0].HostPath = "x"
	s.Devices[0].PathOnHost = "x"
	s.DeviceRequests[0].DeviceIDs[0] = "x"
	s.DeviceRequests[0].Capabilities[0][0] = "x"
	s.DeviceRequests[0].Options["k"] = "x"
	s.LogConfig.Options["max-size"] = "x"
	s.Files[0].Data[0] = 'x'
	got, err := r.Spec(id)
	require.NoError(t, err)
	require.Equal(t, full(), got)
	// Nor does mutating what Spec returned.
	got.DeviceRequests[0].Capabilities[0][0] = "y"
	got.Files[0].Data[0] = 'y'
	got.LogConfig.Options["max-size"] = "y"
	got, err = r.Spec(id)
	require.NoError(t, err)
	require.Equal(t, full(), got)
}
