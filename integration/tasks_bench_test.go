package integration

// Task benchmark that prints figures (never asserts targets):
//
//   - BenchmarkTaskThroughput: 3 controllers and 4 fake executors; several
//     clients submit N short tasks (EXIT_CODE=0, SLEEP=0) concurrently,
//     spread over the controllers (followers forward), and the benchmark
//     measures tasks/second from the first submit until every task is
//     STOPPED with result SUCCESSFUL in the leader's state (CREATE with
//     placement and commit, dispatch, start, exit, report, deprovision).
//
// Run it with
//
//	go test -run '^$' -bench BenchmarkTaskThroughput -benchtime 1x ./integration/
//
// DROVE_BENCH_TASKS sets N (default 200). Each b.N iteration submits N
// tasks of its own sourceAppName; the figures are those of the last one.

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

const (
	taskBenchExecutors = 4
	taskBenchClients   = 8
	taskBenchDefaultN  = 200
)

// taskBenchN is the number of tasks per iteration: DROVE_BENCH_TASKS or
// the default.
func taskBenchN(b *testing.B) int {
	v := os.Getenv("DROVE_BENCH_TASKS")
	if v == "" {
		return taskBenchDefaultN
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("DROVE_BENCH_TASKS=%q: want a positive integer", v)
	}
	return n
}

func BenchmarkTaskThroughput(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster and runs hundreds of tasks")
	}
	n := taskBenchN(b)
	// Room for every task at once on each executor's cores, so that the
	// measurement is of the task path, not of waiting for capacity.
	perNUMA := n/(2*taskBenchExecutors) + 4
	layout := &model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{0: int64(perNUMA) * 256, 1: int64(perNUMA) * 256}}
	for numa := range 2 {
		for c := range perNUMA {
			layout.Cores[numa] = append(layout.Cores[numa], numa*perNUMA+c)
		}
	}
	tc, _, _ := tasksCluster(b, taskBenchExecutors, layout, withBenchLogger(b))
	client := newBenchClient(taskBenchClients)

	var rate float64
	var all, submit time.Duration
	var lat latency
	var retries int64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		app := fmt.Sprintf("BENCH_TASKS_%d", it)
		rate, all, submit, lat, retries = runTaskBatch(b, tc, client, app, n)
	}
	b.StopTimer()
	b.ReportMetric(rate, "tasks_per_s")
	b.ReportMetric(all.Seconds(), "all_stopped_s")
	b.ReportMetric(msf(submit), "submit_ms")
	b.ReportMetric(msf(lat.p50), "create_p50_ms")
	b.ReportMetric(msf(lat.p99), "create_p99_ms")
	b.ReportMetric(float64(retries), "create_conflict_retries")
	b.Logf("TASKS: %d tasks from %d clients over 3 controllers and %d executors: all STOPPED/SUCCESSFUL after %.3fs = %.1f tasks/s; "+
		"all submitted after %.0fms; CREATE latency p50 %.1fms p99 %.1fms max %.1fms (%d CREATEs refused with a core conflict and resubmitted); %d CPUs, load1 %s",
		n, taskBenchClients, taskBenchExecutors, all.Seconds(), rate, msf(submit), msf(lat.p50), msf(lat.p99), msf(lat.max),
		retries, runtimeCPUs(), loadAvg1())
}

// runTaskBatch submits n tasks of app from taskBenchClients clients and
// waits until all are STOPPED with SUCCESSFUL in the leader's state.
func runTaskBatch(b *testing.B, tc *testCluster, client *http.Client, app string, n int) (rate float64, all, submit time.Duration, lat latency, retries int64) {
	var bases []string
	for _, nd := range tc.nodes {
		bases = append(bases, "http://"+nd.cfg.HTTPAddr)
	}
	lats := make([][]time.Duration, taskBenchClients)
	errs := make([]error, taskBenchClients)
	var conflicts atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for c := range taskBenchClients {
		wg.Go(func() {
			for k := c; k < n; k += taskBenchClients {
				body := map[string]any{"type": "CREATE", "opSpec": opSpec(1),
					"spec": taskSpecEnv(app, fmt.Sprintf("t%d", k), taskExitEnv(0, 0))}
				t0 := time.Now()
				for attempt := 1; ; attempt++ {
					r, err := tryRequest(client, bases[k%len(bases)], readWrite, "POST", "/apis/v1/tasks/operations", body)
					if err == nil && r.Code == http.StatusOK && r.Env.Status == "SUCCESS" {
						break
					}
					// Concurrent CREATEs can still collide on a core after the
					// server's own retries (see TestTasks_ConcurrentCreates):
					// count that and submit again, as a client would.
					if err == nil && r.Code == http.StatusBadRequest && attempt < 10 && bytes.Contains(r.Body, []byte("already allocated; retry")) {
						conflicts.Add(1)
						continue
					}
					if err == nil {
						err = fmt.Errorf("CREATE t%d: HTTP %d: %s", k, r.Code, r.Body)
					}
					errs[c] = err
					return
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	submit = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}

	mine := func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindTask, app) }
	done := func(r *model.InstanceRecord) bool {
		return mine(r) && r.Info.State == model.InstanceStopped && r.TaskResult != nil && r.TaskResult.Status == model.TaskSuccessful
	}
	if !pollUntil(2*time.Minute, func() bool {
		_, leader := leaderNode(tc)
		return countInstances(leader.FSM(), done) >= n
	}) {
		_, leader := leaderNode(tc)
		b.Fatalf("after 2m: %d of %d tasks STOPPED/SUCCESSFUL (%d records): %s", countInstances(leader.FSM(), done), n,
			countInstances(leader.FSM(), mine), describe(tc))
	}
	all = time.Since(start)
	var flat []time.Duration
	for _, l := range lats {
		flat = append(flat, l...)
	}
	return float64(n) / all.Seconds(), all, submit, summarize(flat), conflicts.Load()
}
