package integration

// Maintenance benchmarks that print figures (never assert targets):
//
//   - BenchmarkBlacklistMigration: 3 executors, 5 apps × 4 instances (ANY,
//     spread); one executor is blacklisted and healthy/desired is sampled
//     every 100 ms until it is BLACKLISTED. It reports the lowest fraction
//     over all apps and the lowest of any single app (1.0: new first held
//     at every sample), and the time from the blacklist request to
//     BLACKLISTED.
//   - BenchmarkDrainDeadline: an executor whose containers ignore SIGTERM
//     (each stop takes the whole grace the agent passes) with the agent's
//     StopGrace at 30 s is drained with maxGracePeriod 1 s; it reports the
//     time from the drain request to DRAINED and the longest stop grace the
//     runtime was given.
//
// Run them with
//
//	go test -run XXX -bench 'BenchmarkBlacklistMigration|BenchmarkDrainDeadline' -benchtime 1x ./integration/
//
// Each iteration builds a fresh cluster (not timed); figures are means over
// the iterations.

import (
	"fmt"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

func BenchmarkBlacklistMigration(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster and 3 executors per iteration")
	}
	var toBlacklisted time.Duration
	minFrac, minApp := 1e9, 1e9
	samples := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tc, execs := maintCluster(b, 3, nil, withBenchLogger(b))
		apps := createSpreadApps(b, tc, fmt.Sprintf("BENCH_BL%d", i), 5, 4)
		target := mostLoaded(appInstancesByExecutor(b, tc, apps))
		on := len(idsOnExecutor(appInstancesByExecutor(b, tc, apps), target))
		b.StartTimer()

		start := time.Now()
		requireSuccess(b, postBlacklist(b, tc, true, target))
		h := newHealthSampler()
		if !sampleUntil(60*time.Second, 100*time.Millisecond, func() { h.sample(b, tc, nil) },
			func() bool { return executorIs(tc, target, model.ExecutorBlacklisted) }) {
			b.Fatalf("%s never BLACKLISTED: %s", target, describe(tc))
		}
		took := time.Since(start)
		b.StopTimer()
		toBlacklisted += took
		minFrac, minApp, samples = min(minFrac, h.minFrac), min(minApp, h.minAppFrac()), samples+h.samples
		b.Logf("run %d: %d of 20 instances on %s migrated; BLACKLISTED after %.0f ms; %d samples, lowest healthy/desired %.2f overall, %.2f per app",
			i+1, on, target, msf(took), h.samples, h.minFrac, h.minAppFrac())
		for _, v := range h.violations {
			b.Logf("  below desired: %s", v)
		}
		stopAll(tc, execs)
	}
	b.ReportMetric(msf(toBlacklisted)/float64(b.N), "to_blacklisted_ms")
	b.ReportMetric(minFrac, "min_healthy_frac")
	b.ReportMetric(minApp, "min_app_healthy_frac")
	b.Logf("blacklist → BLACKLISTED mean %.0f ms over %d runs; lowest healthy/desired %.2f overall, %.2f for one app (%d samples)",
		msf(toBlacklisted)/float64(b.N), b.N, minFrac, minApp, samples)
}

// stopAll kills the executors, then the controllers, so no agent is left
// logging that the controllers are gone.
func stopAll(tc *testCluster, execs []*maintExecutor) {
	for _, e := range execs {
		e.kill()
	}
	tc.shutdownAll()
}

func BenchmarkDrainDeadline(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster and 2 executors per iteration")
	}
	const agentGrace, maxGrace = 30 * time.Second, time.Second
	var total time.Duration
	var longest time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tc, execs := maintCluster(b, 2, func(s *execSpec) {
			if s.id == "exec-1" {
				s.stopGrace = agentGrace
			}
		}, withBenchLogger(b))
		apps := createSpreadApps(b, tc, fmt.Sprintf("BENCH_DR%d", i), 2, 4)
		on := len(idsOnExecutor(appInstancesByExecutor(b, tc, apps), "exec-1"))
		b.StartTimer()

		start := time.Now()
		requireSuccess(b, postDrain(b, tc, "exec-1", map[string]any{"maxGracePeriod": "1 second"}))
		if !pollUntil(2*agentGrace, func() bool {
			e, ok := leaderExecutor(tc, "exec-1")
			return ok && e.DrainState() == model.DrainDrained
		}) {
			b.Fatalf("exec-1 never DRAINED: %s", describe(tc))
		}
		took := time.Since(start)
		b.StopTimer()
		total += took
		graces := execs[0].slow.stopGraces()
		bounded := 0
		for _, g := range graces {
			longest = max(longest, g)
			if g <= maxGrace {
				bounded++
			}
		}
		b.Logf("run %d: %d app instances on exec-1 migrated and stopped; DRAINED after %.0f ms; %d of %d stops bounded by maxGracePeriod (graces %v)",
			i+1, on, msf(took), bounded, len(graces), graces)
		stopAll(tc, execs)
	}
	b.ReportMetric(msf(total)/float64(b.N), "drain_completion_ms")
	b.ReportMetric(msf(longest), "longest_stop_grace_ms")
	b.Logf("drain (maxGracePeriod %s, agent stop grace %s, stops take the whole grace) → DRAINED mean %.0f ms over %d runs; longest stop grace %s",
		maxGrace, agentGrace, msf(total)/float64(b.N), b.N, longest)
}
