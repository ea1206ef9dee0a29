package checks_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent/checks"
	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script is a checker that returns the results of pattern in order ('+'
// passes, '-' fails; the last one repeats) and records when it was called.
type script struct {
	mu      sync.Mutex
	pattern string
	calls   []time.Time
}

func (s *script) Check(context.Context) checks.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(len(s.calls), len(s.pattern)-1)
	s.calls = append(s.calls, time.Now())
	return checks.Result{Healthy: s.pattern[i] == '+', Detail: "call " + strconv.Itoa(len(s.calls))}
}

func (s *script) first() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[0]
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func ms(n int) model.Duration { return model.NewDuration(time.Duration(n) * time.Millisecond) }

func checkSpec(attempts, intervalMs, initialDelayMs int) model.CheckSpec {
	return model.CheckSpec{Mode: cmdMode("true", false), Timeout: ms(100), Interval: ms(intervalMs),
		Attempts: attempts, InitialDelay: ms(initialDelayMs)}
}

func TestWaitReady_RetriesIntervalApartUntilSuccess(t *testing.T) {
	s := &script{pattern: "--+"}
	start := time.Now()
	ok, detail := checks.WaitReady(context.Background(), s, checkSpec(3, 20, 0), false)
	require.True(t, ok)
	require.Equal(t, "call 3", detail)
	require.Equal(t, 3, s.count())
	require.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "two intervals between three tries")
	for i := 1; i < 3; i++ {
		require.GreaterOrEqual(t, s.calls[i].Sub(s.calls[i-1]), 20*time.Millisecond)
	}
}

func TestWaitReady_GivesUpAfterAttempts(t *testing.T) {
	s := &script{pattern: "--+"}
	ok, detail := checks.WaitReady(context.Background(), s, checkSpec(2, 5, 0), false)
	require.False(t, ok)
	require.Equal(t, "failed 2 of 2 attempts; last: call 2", detail)
	require.Equal(t, 2, s.count())

	// Attempts below 1 still try once.
	s = &script{pattern: "-"}
	ok, _ = checks.WaitReady(context.Background(), s, checkSpec(0, 5, 0), false)
	require.False(t, ok)
	require.Equal(t, 1, s.count())
}

func TestWaitReady_InitialDelayUnlessSkipped(t *testing.T) {
	s := &script{pattern: "+"}
	start := time.Now()
	ok, _ := checks.WaitReady(context.Background(), s, checkSpec(1, 5, 50), false)
	require.True(t, ok)
	require.GreaterOrEqual(t, s.calls[0].Sub(start), 50*time.Millisecond)

	s = &script{pattern: "+"}
	start = time.Now()
	ok, _ = checks.WaitReady(context.Background(), s, checkSpec(1, 5, 5000), true)
	require.True(t, ok)
	require.Less(t, s.calls[0].Sub(start), time.Second, "a recovered instance skips the initial delay")
}

func TestWaitReady_StopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	s := &script{pattern: "-"}
	start := time.Now()
	ok, detail := checks.WaitReady(ctx, s, checkSpec(100, 10, 0), false)
	require.False(t, ok)
	require.Contains(t, detail, "cancelled")
	require.Less(t, time.Since(start), time.Second)

	// Cancelled during the initial delay: no check at all.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	s = &script{pattern: "+"}
	ok, _ = checks.WaitReady(ctx, s, checkSpec(1, 10, 5000), false)
	require.False(t, ok)
	require.Zero(t, s.count())
}

// change is one onChange call.
type change struct {
	healthy bool
	call    int // the check that caused it
}

// monitor runs checks.Monitor over s until it has made n checks and
// returns the onChange calls.
func monitor(t *testing.T, s *script, spec model.CheckSpec, n int) []change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []change
	done := make(chan struct{})
	go func() {
		defer close(done)
		checks.Monitor(ctx, s, spec, func(healthy bool, detail string) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, change{healthy, s.count()})
			assert.Contains(t, detail, "call "+strconv.Itoa(s.count()))
		})
	}()
	require.Eventually(t, func() bool { return s.count() >= n }, 5*time.Second, time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return got
}

func TestMonitor_UnhealthyAfterConsecutiveFailuresAndBack(t *testing.T) {
	// Two failures (not enough), a pass, three failures (unhealthy on the
	// third), more failures (no repeat), a pass (healthy again), passes.
	s := &script{pattern: "--+-----++++"}
	got := monitor(t, s, checkSpec(3, 5, 0), 12)
	require.Equal(t, []change{{false, 6}, {true, 9}}, got)
	for i := 1; i < len(s.calls); i++ {
		require.GreaterOrEqual(t, s.calls[i].Sub(s.calls[i-1]), 5*time.Millisecond, "checks are an interval apart")
	}
}

func TestMonitor_SingleAttemptFlipsAtOnce(t *testing.T) {
	s := &script{pattern: "+-+-+"}
	got := monitor(t, s, checkSpec(1, 5, 0), 5)
	require.Equal(t, []change{{false, 2}, {true, 3}, {false, 4}, {true, 5}}, got)
}

func TestMonitor_WaitsAnIntervalBeforeTheFirstCheckAndStopsOnCancel(t *testing.T) {
	s := &script{pattern: "+"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		checks.Monitor(ctx, s, checkSpec(1, 40, 0), func(bool, string) { t.Error("no change expected") })
	}()
	require.Eventually(t, func() bool { return s.count() >= 1 }, 5*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, s.first().Sub(start), 40*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Monitor did not return after cancel")
	}
}
