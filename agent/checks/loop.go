package checks

import (
	"context"
	"fmt"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// defaultMonitorInterval paces Monitor when a spec has no interval
// (validated specs always have one).
const defaultMonitorInterval = 10 * time.Second

// attempts is the spec's attempts, at least 1.
func attempts(spec model.CheckSpec) int { return max(spec.Attempts, 1) }

// WaitReady runs c by spec until it passes: after spec.initialDelay (not
// waited when skipInitialDelay, e.g. for an instance recovered after an
// executor restart), up to spec.attempts tries, spec.interval apart. It
// returns true and the passing check's detail on the first success, or
// false and why on the last failure (or on ctx ending, which stops it at
// once). Drove runs the readiness check this way, and the first health
// check of a ready instance too.
func WaitReady(ctx context.Context, c Checker, spec model.CheckSpec, skipInitialDelay bool) (bool, string) {
	if d := spec.InitialDelay.D(); d > 0 && !skipInitialDelay {
		if !sleep(ctx, d) {
			return false, "cancelled: " + context.Cause(ctx).Error()
		}
	}
	n := attempts(spec)
	var last Result
	for i := range n {
		if i > 0 && !sleep(ctx, spec.Interval.D()) {
			return false, fmt.Sprintf("cancelled after %d of %d attempts; last: %s", i, n, last.Detail)
		}
		if last = c.Check(ctx); last.Healthy {
			return true, last.Detail
		}
		if ctx.Err() != nil {
			return false, fmt.Sprintf("cancelled after %d of %d attempts; last: %s", i+1, n, last.Detail)
		}
	}
	return false, fmt.Sprintf("failed %d of %d attempts; last: %s", n, n, last.Detail)
}

// Monitor is the periodic health check of a running instance: it runs c
// every spec.interval (measured from the end of one check to the start of
// the next; the first check comes one interval after the call) until ctx
// ends. The checked instance is taken to be healthy at the start (it
// passed its first health check). Monitor calls onChange(false, detail)
// once spec.attempts consecutive checks failed, and onChange(true, detail)
// when a check passes again after that; nothing is called while the state
// holds. onChange runs on Monitor's goroutine; a check cut short by ctx
// ending is not reported.
func Monitor(ctx context.Context, c Checker, spec model.CheckSpec, onChange func(healthy bool, detail string)) {
	interval := spec.Interval.D()
	if interval <= 0 {
		interval = defaultMonitorInterval
	}
	n := attempts(spec)
	healthy, fails := true, 0
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r := c.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case r.Healthy:
			fails = 0
			if !healthy {
				healthy = true
				onChange(true, r.Detail)
			}
		default:
			fails++
			if healthy && fails >= n {
				healthy = false
				onChange(false, fmt.Sprintf("%d consecutive health checks failed; last: %s", fails, r.Detail))
			}
		}
		t.Reset(interval)
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
