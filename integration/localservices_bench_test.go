package integration

// Local-service benchmark that prints figures (never asserts targets):
//
//   - BenchmarkLocalServiceNewExecutor: an ACTIVE local service
//     (instancesPerHost 1) on a 3-controller cluster; each iteration starts
//     a fresh executor and measures the time from the agent's start to its
//     local-service instance HEALTHY in the leader's state (registration,
//     the monitor's ADJUST_INSTANCES, placement, dispatch, start, health
//     check, report).
//
// Run it with
//
//	go test -run '^$' -bench BenchmarkLocalServiceNewExecutor -benchtime 5x ./integration/
//
// Each b.N iteration is one new executor (so -benchtime Nx sets the number
// of samples); p50/p99 are over the iterations of the last run.

import (
	"fmt"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// serviceHealthyOn reports whether the leader's state has a HEALTHY
// instance of service id on executor exec.
func serviceHealthyOn(tc *testCluster, id, exec string) bool {
	_, leader := leaderNode(tc)
	return countInstances(leader.FSM(), func(r *model.InstanceRecord) bool {
		return r.BelongsTo(model.KindLocalService, id) && r.Info.ExecutorID == exec && r.Info.State == model.InstanceHealthy
	}) > 0
}

func BenchmarkLocalServiceNewExecutor(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster and an executor per iteration")
	}
	tc := newCluster(b, 3, withExecutorTiming(), withBenchLogger(b))
	startExecutor(b, tc, "exec-0")
	waitExecutorState(b, tc, "exec-0", model.ExecutorActive, 10*time.Second)
	const id = "BENCH_LS-1"
	serviceOpOK(b, tc, tc.follower(), map[string]any{"type": "CREATE", "spec": serviceSpec("BENCH_LS", "1", false), "instancesPerHost": 1})
	serviceOpOK(b, tc, tc.follower(), map[string]any{"type": "ACTIVATE", "serviceId": id})
	waitServiceSettled(b, tc, id, model.LSActive, 1, 15*time.Second)

	var healthy, registered []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		exec := fmt.Sprintf("exec-b%d", i+1)
		start := time.Now()
		startExecutor(b, tc, exec)
		var reg time.Duration
		if !pollUntil(30*time.Second, func() bool {
			if _, ok := tc.nodes[tc.waitForLeader(15*time.Second)].c.FSM().Executor(exec); ok && reg == 0 {
				reg = time.Since(start)
			}
			return serviceHealthyOn(tc, id, exec)
		}) {
			b.Fatalf("no healthy instance of %s on %s within 30s: %s", id, exec, describe(tc))
		}
		healthy, registered = append(healthy, time.Since(start)), append(registered, reg)
	}
	b.StopTimer()
	h, r := summarize(healthy), summarize(registered)
	b.ReportMetric(msf(h.p50), "p50_ms")
	b.ReportMetric(msf(h.p99), "p99_ms")
	b.Logf("new executor → local-service instance HEALTHY over %d executors: p50 %.1f ms, p99 %.1f ms, max %.1f ms, mean %.1f ms "+
		"(of which agent start → registered: p50 %.1f ms, p99 %.1f ms)",
		h.n, msf(h.p50), msf(h.p99), msf(h.max), msf(h.mean), msf(r.p50), msf(r.p99))
}
