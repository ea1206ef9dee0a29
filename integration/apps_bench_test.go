package integration

// Application benchmarks that print figures (never assert targets):
//
//   - BenchmarkScheduler_PlacementsThroughRaft: 10,000 instances placed by the
//     leader's operation engine over 1,000 executors registered directly
//     through Raft, committed in AppOperationStep commands;
//   - BenchmarkApps_Scale0To1000Over100Executors: SCALE 0→1000 over 100
//     in-process agents on the fake runtime, until 1000 HEALTHY;
//   - BenchmarkApps_ExecutorKilledInstancesHealthyElsewhere: an agent holding
//     instances is killed; time until the app is whole again elsewhere.
//
// Run them with
//
//	go test -run '^$' -bench 'BenchmarkScheduler_|BenchmarkApps_' -benchtime 1x -timeout 30m ./integration/
//
// Everything listens on 127.0.0.1. Controllers use the production raft
// timing (cluster.DefaultConfig: 500 ms heartbeat/election), which rides out
// the CPU bursts of these runs on small machines better than the 300 ms of
// nodeConfig. Each benchmark makes its own fixed number of measurements
// inside one b.N iteration and reports them with b.ReportMetric and b.Logf;
// the only failures are broken invariants (a placement policy violated,
// duplicate instances) and timeouts.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
)

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// withAbsentGrace sets how long a new leader waits for a registered executor
// to show up in gossip before declaring it lost.
func withAbsentGrace(d time.Duration) clusterOption {
	return func(c *server.ControllerConfig) { c.ExecutorAbsentGrace = d }
}

// withDroppedDispatch makes the dispatcher drop every leader→executor
// message while believing it delivered (ControllerConfig.DropDispatch), so
// placements on executors nobody runs stay PENDING without a connection
// attempt and retry backoff per instance.
func withDroppedDispatch() clusterOption {
	return func(c *server.ControllerConfig) { c.DropDispatch = func(model.ExecutorMessage) bool { return true } }
}

// benchOpSpec is an opSpec with an explicit timeout ("600 seconds").
func benchOpSpec(parallelism int, timeout string) map[string]any {
	return map[string]any{"timeout": timeout, "parallelism": parallelism, "failureStrategy": "STOP"}
}

// postOp submits an application operation to base without assertions (safe
// from any goroutine).
func postOp(base string, body map[string]any) error {
	r, err := tryRequest(httpClient, base, readWrite, "POST", "/apis/v1/applications/operations", body)
	if err != nil {
		return err
	}
	if r.Code != http.StatusOK || r.Env.Status != "SUCCESS" {
		return fmt.Errorf("operation %v on %v: HTTP %d: %s", body["type"], body["appId"], r.Code, r.Body)
	}
	return nil
}

// leaderNode returns the index and controller of the agreed leader.
func leaderNode(tc *testCluster) (int, *server.Controller) {
	l := tc.waitForLeader(15 * time.Second)
	return l, tc.nodes[l].c
}

// countInstances counts the instance records of f for which keep holds,
// without copying them (the FSM's filter runs under its read lock).
func countInstances(f *fsm.FSM, keep func(*model.InstanceRecord) bool) int {
	n := 0
	f.Instances(func(r *model.InstanceRecord) bool {
		if keep == nil || keep(r) {
			n++
		}
		return false
	})
	return n
}

// launchWith starts e on a fresh fake runtime with rtCfg. Its ports are then
// pinned in e.cfg, so a relaunch comes back on the same addresses, as a
// restarted executor process with fixed ports would; a relaunch retries for
// a few seconds while a port is still taken.
func launchWith(e *testExecutor, rtCfg fakeruntime.Config) error {
	var err error
	for attempt := 0; attempt < 30; attempt++ {
		var rt *fakeruntime.Runtime
		if rt, err = fakeruntime.New(rtCfg); err != nil {
			return err
		}
		var a *agent.Agent
		if a, err = agent.New(e.cfg, rt); err == nil {
			e.rt, e.a = rt, a
			e.cfg.HTTPAddr, e.cfg.GossipAddr = a.HTTPAddr(), a.GossipAddr()
			return nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("start executor %s: %w", e.cfg.ExecutorID, err)
}

// startAllWith starts the executors conc at a time on rtCfg runtimes; they
// are killed when the benchmark ends, even if starting fails.
func startAllWith(t testing.TB, es []*testExecutor, conc int, rtCfg fakeruntime.Config) error {
	t.Cleanup(func() { killAll(es, conc) })
	return forEach(es, conc, func(e *testExecutor) error { return launchWith(e, rtCfg) })
}

// waitAllActive waits until the leader's FSM has every executor ACTIVE.
func waitAllActive(b *testing.B, tc *testCluster, es []*testExecutor, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for _, e := range es {
		if _, ok := waitLeaderState(tc, e.cfg.ExecutorID, model.ExecutorActive, 20*time.Millisecond, time.Until(deadline)); !ok {
			b.Fatalf("executor %s not ACTIVE within %s", e.cfg.ExecutorID, timeout)
		}
	}
}

// appliedIndex is the leader's raft applied index.
func appliedIndex(c *server.Controller) uint64 { return c.Node().Status().AppliedIndex }

// ---------------------------------------------------------------------------
// Placement throughput through Raft
// ---------------------------------------------------------------------------

const (
	placeExecutors    = 1000
	placeGPUEvery     = 5 // executor k is tagged "gpu" when k%placeGPUEvery == 0
	placeCoresPerNUMA = 16
	placeMemPerNUMA   = 32768 // MB
	placeRegConc      = 32
	placeTimeout      = 3 * time.Minute
)

// placeApp is one application of a placement scenario.
type placeApp struct {
	name   string
	gpu    bool // COMPOSITE(AND: MATCH_TAG gpu, MAX_N_PER_HOST maxN); else ONE_PER_HOST
	maxN   int
	target int
}

func (a placeApp) id() string { return a.name + "-1" }

func (a placeApp) policy() string {
	if a.gpu {
		return fmt.Sprintf(`{"type":"COMPOSITE","combiner":"AND","policies":[{"type":"MATCH_TAG","tag":"gpu"},{"type":"MAX_N_PER_HOST","max":%d}]}`, a.maxN)
	}
	return `{"type":"ONE_PER_HOST"}`
}

// placeScenario is a set of apps scaled at once.
type placeScenario struct {
	apps        []placeApp
	parallelism int
	// reports simulates the executors' instance reports: PENDING instances
	// are reported HEALTHY through raft, one InstanceReport command per
	// executor every reportEvery, so the engine's in-flight limit opens up.
	reports     bool
	reportEvery time.Duration
}

func (s placeScenario) total() int {
	n := 0
	for _, a := range s.apps {
		n += a.target
	}
	return n
}

func makeApps(prefix string, n int, gpu bool, maxN, target int) []placeApp {
	var out []placeApp
	for k := 1; k <= n; k++ {
		out = append(out, placeApp{name: fmt.Sprintf("%s_%02d", prefix, k), gpu: gpu, maxN: maxN, target: target})
	}
	return out
}

// BenchmarkScheduler_PlacementsThroughRaft measures how fast the leader's
// operation engine places 10,000 instances over 1,000 executors with
// ONE_PER_HOST and MATCH_TAG policies and commits them through Raft.
//
// The executors are registered directly through Raft on the leader (1,000
// real agents in one process would measure the agents): 2 NUMA nodes × 16
// cores and 32 GB per node, every 5th tagged "gpu". Nobody listens for them:
// the dispatcher drops its messages (DropDispatch) and ExecutorAbsentGrace
// is huge, so they stay ACTIVE and the placements stay PENDING. The apps are
// created with 0 instances; the clock starts when the SCALE operations are
// submitted (all at once, through the leader's API) and stops when the
// leader's FSM holds all instance records.
//
// The engine keeps at most parallelism (≤ 512) jobs in flight per
// operation, and a PENDING instance is in flight until it is healthy. So:
//
//   - pending_20apps_x500: 16 ONE_PER_HOST apps and 4 MATCH_TAG(gpu) ∧
//     MAX_N_PER_HOST(3) apps of 500 instances each, parallelism 512: each
//     operation is placed in full by the engine's real placement path
//     (scheduler session per step, one AppOperationStep per app and step);
//   - reported_14apps_over512: 12 ONE_PER_HOST apps × 700 and 2
//     MATCH_TAG(gpu) ∧ MAX_N_PER_HOST(5) apps × 800, parallelism 512, with
//     simulated executor reports (every 100 ms, per executor, PENDING →
//     HEALTHY through raft, as the agents' batched reports would), so each
//     operation needs more than one step and the in-flight limit matters.
func BenchmarkScheduler_PlacementsThroughRaft(b *testing.B) {
	b.Run("pending_20apps_x500", func(b *testing.B) {
		sc := placeScenario{parallelism: 512,
			apps: append(makeApps("OPH", 16, false, 0, 500), makeApps("GPU", 4, true, 3, 500)...)}
		for i := 0; i < b.N; i++ {
			benchPlacements(b, sc)
		}
	})
	b.Run("reported_14apps_over512", func(b *testing.B) {
		sc := placeScenario{parallelism: 512, reports: true, reportEvery: 100 * time.Millisecond,
			apps: append(makeApps("OPH", 12, false, 0, 700), makeApps("GPU", 2, true, 5, 800)...)}
		for i := 0; i < b.N; i++ {
			benchPlacements(b, sc)
		}
	})
}

func benchPlacements(b *testing.B, sc placeScenario) {
	tc := newCluster(b, 3, withBenchLogger(b), withRaftDefaults(), withAbsentGrace(24*time.Hour), withDroppedDispatch())
	l, leader := leaderNode(tc)
	term0 := leader.Node().Status().Term
	base := "http://" + tc.nodes[l].cfg.HTTPAddr

	regStart := time.Now()
	gpu := registerSimExecutors(b, leader, placeExecutors)
	b.Logf("%d executors registered through raft in %s (%d tagged gpu)", placeExecutors,
		time.Since(regStart).Round(time.Millisecond), len(gpu))

	for _, a := range sc.apps {
		if err := postOp(base, map[string]any{"type": "CREATE", "spec": testSpec(a.name, "1", 1, a.policy()),
			"opSpec": benchOpSpec(sc.parallelism, "600 seconds")}); err != nil {
			b.Fatal(err)
		}
	}

	total := sc.total()
	targets := map[string]int{}
	for _, a := range sc.apps {
		targets[a.id()] = a.target
	}
	f := leader.FSM()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reportCmds, reported atomic.Int64
	var reporterDone chan struct{}
	if sc.reports {
		reporterDone = make(chan struct{})
		go func() {
			defer close(reporterDone)
			simulateReports(ctx, leader, sc.reportEvery, &reportCmds, &reported)
		}()
	}

	idx0, cpu0 := appliedIndex(leader), selfCPU()
	start := time.Now()
	errs := make([]error, len(sc.apps))
	var wg sync.WaitGroup
	for k, a := range sc.apps {
		wg.Go(func() {
			errs[k] = postOp(base, map[string]any{"type": "SCALE", "appId": a.id(), "requiredInstances": a.target,
				"opSpec": benchOpSpec(sc.parallelism, "600 seconds")})
		})
	}
	wg.Wait()
	submitted := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}

	var first, placed, healthy time.Duration
	var idxPlaced uint64
	var cpuPlaced time.Duration
	var steps []string // instance records committed over time: "count@ms"
	lastN := 0
	var samples []string // with reports: records/healthy every 500 ms
	nextSample := 500 * time.Millisecond
	deadline := start.Add(placeTimeout)
	for {
		// The cheap count (records, any state) drives the timeline; only
		// once it reaches the total is the exact per-app count taken.
		n := countInstances(f, nil)
		if n >= total {
			n = countPlaced(f, targets)
		}
		if n > 0 && first == 0 {
			first = time.Since(start)
		}
		if n != lastN {
			steps = append(steps, fmt.Sprintf("%d@%.0f", n, msf(time.Since(start))))
			lastN = n
		}
		if sc.reports && time.Since(start) >= nextSample {
			h := countInstances(f, func(r *model.InstanceRecord) bool { return r.Info.State == model.InstanceHealthy })
			samples = append(samples, fmt.Sprintf("%.1fs:%d/%d", time.Since(start).Seconds(), n, h))
			nextSample += 500 * time.Millisecond
		}
		if n >= total && placed == 0 {
			placed, idxPlaced, cpuPlaced = time.Since(start), appliedIndex(leader), selfCPU()
		}
		if placed > 0 && (!sc.reports || countInstances(f, func(r *model.InstanceRecord) bool {
			return r.Info.State == model.InstanceHealthy
		}) >= total) {
			healthy = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("after %s: %d of %d instance records (%d healthy); apps: %s", placeTimeout, n, total,
				countInstances(f, func(r *model.InstanceRecord) bool { return r.Info.State == model.InstanceHealthy }),
				placeAppStates(f, sc.apps))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if reporterDone != nil {
		<-reporterDone
	}
	if term := leader.Node().Status().Term; tc.leaderIndex() != l || term != term0 {
		b.Logf("WARNING: leadership changed during the measurement (leader term %s → %s): %s", term0, term, describe(tc))
	}

	if err := checkPlacements(f, sc.apps, gpu); err != nil {
		b.Errorf("%v (leader term %s → %s)", err, term0, leader.Node().Status().Term)
	}

	entries := idxPlaced - idx0
	rate := float64(total) / placed.Seconds()
	afterFirst := float64(total) / (placed - first).Seconds()
	cpu := cpuPlaced - cpu0
	b.ReportMetric(rate, "placements_per_s")
	b.ReportMetric(afterFirst, "placements_per_s_after_first")
	b.ReportMetric(placed.Seconds(), "all_placed_s")
	b.ReportMetric(msf(first), "first_placed_ms")
	b.ReportMetric(msf(submitted), "submit_ms")
	b.ReportMetric(float64(entries), "raft_entries")
	b.ReportMetric(cpu.Seconds(), "cpu_s")
	b.Logf("PLACEMENTS %s: %d instances (%d apps, parallelism %d) over %d executors: all committed after %.3fs = %.0f placements/s "+
		"(first after %.0fms; %.0f/s from the first on); %d SCALE submitted in %.0fms; raft entries applied on the leader: %d "+
		"(%.1f placements per entry, incl. %d op starts%s); process CPU %.2fs on %d CPUs; load1 %s",
		b.Name(), total, len(sc.apps), sc.parallelism, placeExecutors, placed.Seconds(), rate, msf(first), afterFirst,
		len(sc.apps), msf(submitted), entries, float64(total)/float64(max(entries, 1)), len(sc.apps),
		reportNote(sc, &reportCmds), cpu.Seconds(), runtimeCPUs(), loadAvg1())
	if sc.reports {
		b.ReportMetric(healthy.Seconds(), "all_healthy_s")
		b.ReportMetric(float64(reportCmds.Load()), "report_cmds")
		b.Logf("  all %d HEALTHY (simulated reports) after %.3fs; %d report commands carried %d instance reports",
			total, healthy.Seconds(), reportCmds.Load(), reported.Load())
	}
	b.Logf("  scenario: %s", describeScenario(sc))
	b.Logf("  records committed over time (count@ms since submit): %s", strings.Join(steps, " "))
	if sc.reports {
		b.Logf("  records/healthy every 500ms: %s", strings.Join(samples, " "))
	}
	b.Logf("  one AppOperationStep placing %d instances of %s is ~%.0f KB of JSON (applied by each of the 3 replicas)",
		sc.apps[0].target, sc.apps[0].id(), stepSizeKB(f, sc.apps[0].id()))
}

// countPlaced counts, per app, its live instance records (not stopped, not
// terminal) up to the app's target, and sums that over the apps: a
// duplicate placement does not make up for one still missing elsewhere.
func countPlaced(f *fsm.FSM, targets map[string]int) int {
	per := make(map[string]int, len(targets))
	f.Instances(func(r *model.InstanceRecord) bool {
		if !r.StopRequested && !r.Info.State.IsTerminal() {
			per[r.Info.AppID]++
		}
		return false
	})
	n := 0
	for app, want := range targets {
		n += min(per[app], want)
	}
	return n
}

// stepSizeKB is the JSON size of an AppOperationStep placing every instance
// of app as the FSM holds them (the engine's payload, rebuilt).
func stepSizeKB(f *fsm.FSM, app string) float64 {
	req := fsm.AppOperationStepRequest{AppID: app, OpID: "OP-00000000-0000-0000-0000-000000000000", Timestamp: time.Now().UnixMilli()}
	for _, r := range f.Instances(func(r *model.InstanceRecord) bool { return r.Info.AppID == app }) {
		req.Place = append(req.Place, fsm.PlaceInstance{Spec: r.Spec, ExecutorID: r.Info.ExecutorID, Metadata: r.Info.Metadata})
	}
	cmd, err := fsm.Encode(fsm.AppOperationStepType, req)
	if err != nil {
		return -1
	}
	return float64(len(cmd)) / 1024
}

func reportNote(sc placeScenario, cmds *atomic.Int64) string {
	if !sc.reports {
		return ""
	}
	return fmt.Sprintf(", and simulated report commands (%d in total, by the end)", cmds.Load())
}

func describeScenario(sc placeScenario) string {
	counts := map[string]int{}
	var keys []string
	for _, a := range sc.apps {
		k := fmt.Sprintf("ONE_PER_HOST ×%d", a.target)
		if a.gpu {
			k = fmt.Sprintf("MATCH_TAG(gpu)∧MAX_N_PER_HOST(%d) ×%d", a.maxN, a.target)
		}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d apps %s", counts[k], k))
	}
	how := "instances stay PENDING (no executor reports); each operation fits in one step (target ≤ parallelism)"
	if sc.reports {
		how = fmt.Sprintf("PENDING reported HEALTHY every %s per executor through raft; targets > parallelism need several steps", sc.reportEvery)
	}
	return strings.Join(parts, " + ") + "; " + how
}

// registerSimExecutors registers n executors through raft on the leader and
// returns the ids tagged gpu.
func registerSimExecutors(b *testing.B, leader *server.Controller, n int) map[string]bool {
	b.Helper()
	port := freePort(b) // nothing listens there; the dispatcher never calls anyway
	cores := func(node int) []int {
		out := make([]int, placeCoresPerNUMA)
		for k := range out {
			out[k] = node*placeCoresPerNUMA + k
		}
		return out
	}
	layout := model.ResourceLayout{Cores: map[int][]int{0: cores(0), 1: cores(1)},
		Memory: map[int]int64{0: placeMemPerNUMA, 1: placeMemPerNUMA}}
	gpu := map[string]bool{}
	jobs := make(chan int)
	errs := make([]error, placeRegConc)
	var wg sync.WaitGroup
	for g := 0; g < placeRegConc; g++ {
		wg.Go(func() {
			for k := range jobs {
				id := fmt.Sprintf("sim-%04d", k)
				tags := []string{"127.0.0.1"}
				if k%placeGPUEvery == 0 {
					tags = append(tags, "gpu")
				}
				reg := model.ExecutorRegistration{ExecutorID: id, Hostname: "127.0.0.1", Port: port,
					TransportType: model.TransportHTTP, Layout: layout, Tags: tags,
					Metadata: map[string]string{"rack": "r" + strconv.Itoa(k%20)}, State: model.ExecutorActive, Version: "bench"}
				cmd, err := fsm.Encode(fsm.ExecutorRegisterType, fsm.ExecutorRegisterRequest{Registration: reg, Timestamp: time.Now().UnixMilli()})
				if err == nil {
					_, err = leader.Node().Apply(cmd)
				}
				if err != nil && errs[g] == nil {
					errs[g] = fmt.Errorf("register %s: %w", id, err)
				}
			}
		})
	}
	for k := 1; k <= n; k++ {
		if k%placeGPUEvery == 0 {
			gpu[fmt.Sprintf("sim-%04d", k)] = true
		}
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	active := 0
	for _, e := range leader.FSM().Executors() {
		if e.State == model.ExecutorActive {
			active++
		}
	}
	if active != n {
		b.Fatalf("%d of %d executors ACTIVE after registration", active, n)
	}
	return gpu
}

// simulateReports plays the executors' batched reports: every interval, the
// leader's PENDING instances are reported HEALTHY, one InstanceReport
// command per executor, applied from 32 goroutines.
func simulateReports(ctx context.Context, leader *server.Controller, interval time.Duration, cmds, reported *atomic.Int64) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		byExec := map[string][]model.InstanceReport{}
		for _, r := range leader.FSM().Instances(func(r *model.InstanceRecord) bool {
			return r.Info.State == model.InstancePending && !r.StopRequested
		}) {
			info := r.Info
			info.State = model.InstanceHealthy
			byExec[r.Info.ExecutorID] = append(byExec[r.Info.ExecutorID], model.InstanceReport{Info: info, Boot: 1, Seq: 1})
		}
		jobs := make(chan fsm.InstanceReportRequest)
		var wg sync.WaitGroup
		for g := 0; g < 32; g++ {
			wg.Go(func() {
				for req := range jobs {
					cmd, err := fsm.Encode(fsm.InstanceReportType, req)
					if err == nil {
						_, err = leader.Node().Apply(cmd)
					}
					if err == nil {
						cmds.Add(1)
						reported.Add(int64(len(req.Reports)))
					}
				}
			})
		}
		for exec, reps := range byExec {
			jobs <- fsm.InstanceReportRequest{ExecutorID: exec, Reports: reps, Timestamp: time.Now().UnixMilli()}
		}
		close(jobs)
		wg.Wait()
	}
}

// placeAppStates summarises the apps for a failure message.
func placeAppStates(f *fsm.FSM, apps []placeApp) string {
	var parts []string
	for _, a := range apps {
		app, ok := f.Application(a.id())
		if !ok {
			parts = append(parts, a.id()+"=missing")
			continue
		}
		n := countInstances(f, func(r *model.InstanceRecord) bool { return r.Info.AppID == a.id() })
		op := "none"
		if o := app.Operation; o != nil {
			op = fmt.Sprintf("%s/%s %q", o.Type, o.Status, o.Message)
		}
		parts = append(parts, fmt.Sprintf("%s=%s records=%d op=%s", a.id(), app.State, n, op))
	}
	return strings.Join(parts, "; ")
}

// checkPlacements verifies the policies held: ONE_PER_HOST apps at most one
// instance per executor and never on gpu executors (implicit NO_TAG); gpu
// apps only on gpu executors, at most maxN each; exactly the target number
// of instance records per app; none stopped or failed.
func checkPlacements(f *fsm.FSM, apps []placeApp, gpu map[string]bool) error {
	byApp := map[string]map[string]int{}
	bad := 0
	for _, r := range f.Instances(nil) {
		if r.StopRequested || r.Info.State.IsTerminal() {
			bad++
		}
		if byApp[r.Info.AppID] == nil {
			byApp[r.Info.AppID] = map[string]int{}
		}
		byApp[r.Info.AppID][r.Info.ExecutorID]++
	}
	var problems []string
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d instances stopped or terminal", bad))
	}
	for _, a := range apps {
		hosts := byApp[a.id()]
		n := 0
		for exec, c := range hosts {
			n += c
			switch {
			case a.gpu && (!gpu[exec] || c > a.maxN):
				problems = append(problems, fmt.Sprintf("%s: %d on %s (gpu=%v)", a.id(), c, exec, gpu[exec]))
			case !a.gpu && (gpu[exec] || c > 1):
				problems = append(problems, fmt.Sprintf("%s: %d on %s (gpu=%v)", a.id(), c, exec, gpu[exec]))
			}
		}
		if n != a.target {
			problems = append(problems, fmt.Sprintf("%s: %d instances, want %d", a.id(), n, a.target))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("placement invariants violated (%d): %s", len(problems), strings.Join(problems[:min(len(problems), 20)], "; "))
	}
	return nil
}

// ---------------------------------------------------------------------------
// Scale 0 → 1000 over 100 agents
// ---------------------------------------------------------------------------

const (
	scaleExecutors = 100
	scaleTarget    = 1000
	scaleTimeout   = 4 * time.Minute
)

// BenchmarkApps_Scale0To1000Over100Executors runs 3 controllers and 100
// in-process agents (fake runtime, StartDelay 10 ms, 2 NUMA nodes × 8 cores
// and 16 GB each = 16 cores, 32 GB; production agent loop intervals and
// production gossip for agents and controllers). An app is created with 0
// instances, then SCALEd to 1000 (1 core, 128 MB each, ANY); the clock runs
// from submitting the SCALE until GET /applications/{id} (through a
// follower, polled every 50 ms) shows 1000 healthy instances. Run with
// parallelism 512 and 64; the app is scaled back to 0 between the runs.
func BenchmarkApps_Scale0To1000Over100Executors(b *testing.B) {
	stats := newGossipStats()
	b.Cleanup(func() {
		if b.Failed() {
			b.Log(stats.keptLines())
		}
	})
	tc := newCluster(b, 3, withRaftDefaults(), withProductionGossip(), withStatsLogger(stats))
	es := newExecutors(scaleExecutors, func(id string) agent.Config {
		cfg := executorConfig(b, tc, id)
		productionExecutorTiming(&cfg)
		cfg.Layout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1, 2, 3, 4, 5, 6, 7}, 1: {8, 9, 10, 11, 12, 13, 14, 15}},
			Memory: map[int]int64{0: 16384, 1: 16384}}
		cfg.Logger = stats.logger(id)
		return cfg
	})
	start := time.Now()
	if err := startAllWith(b, es, simStartConc, fakeruntime.Config{StartDelay: 10 * time.Millisecond}); err != nil {
		b.Fatalf("starting executors: %v", err)
	}
	waitAllActive(b, tc, es, 2*time.Minute)
	activeIn := time.Since(start)

	for _, par := range []int{512, 64} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			b.Logf("%d agents started %d at a time: all ACTIVE %s after the first start", scaleExecutors, simStartConc,
				activeIn.Round(time.Millisecond))
			for i := 0; i < b.N; i++ {
				benchScale(b, tc, stats, par, i)
			}
		})
	}
}

func benchScale(b *testing.B, tc *testCluster, stats *gossipStats, par, run int) {
	name := fmt.Sprintf("SCALE_P%d_R%d", par, run)
	id := name + "-1"
	l, leader := leaderNode(tc)
	term0 := leader.Node().Status().Term
	if err := postOp("http://"+tc.nodes[l].cfg.HTTPAddr, map[string]any{"type": "CREATE",
		"spec": testSpec(name, "1", 1, `{"type":"ANY"}`), "opSpec": benchOpSpec(par, "300 seconds")}); err != nil {
		b.Fatal(err)
	}
	fbase := "http://" + tc.nodes[tc.follower()].cfg.HTTPAddr
	lost0, cpu0, idx0 := stats.snapshot().Lost, selfCPU(), appliedIndex(leader)

	start := time.Now()
	if err := postOp(fbase, map[string]any{"type": "SCALE", "appId": id, "requiredInstances": scaleTarget,
		"opSpec": benchOpSpec(par, "300 seconds")}); err != nil {
		b.Fatal(err)
	}
	submitted := time.Since(start)
	var first, half, all, done time.Duration
	var last model.AppSummary
	var pollErrs int
	var lastErr error
	for done == 0 {
		if time.Since(start) > scaleTimeout {
			b.Fatalf("after %s: %+v (poll errors %d, last %v); gossip %+v", scaleTimeout, last, pollErrs, lastErr, stats.snapshot())
		}
		time.Sleep(50 * time.Millisecond)
		if err := getData(fbase, readOnly, "/apis/v1/applications/"+id, &last); err != nil {
			pollErrs, lastErr = pollErrs+1, err
			continue
		}
		el := time.Since(start)
		if first == 0 && last.HealthyInstances > 0 {
			first = el
		}
		if half == 0 && last.HealthyInstances >= scaleTarget/2 {
			half = el
		}
		if all == 0 && last.HealthyInstances >= scaleTarget {
			all = el
		}
		if all > 0 && last.State == model.AppRunning {
			done = el
		}
	}
	cpu, entries := selfCPU()-cpu0, appliedIndex(leader)-idx0
	lost := stats.snapshot().Lost - lost0
	_, lc := leaderNode(tc)
	records := countInstances(lc.FSM(), func(r *model.InstanceRecord) bool { return r.Info.AppID == id })
	ended := countInstances(lc.FSM(), func(r *model.InstanceRecord) bool {
		return r.Info.AppID == id && (r.StopRequested || r.Info.State.IsTerminal())
	})
	if term := leader.Node().Status().Term; tc.leaderIndex() != l || term != term0 {
		b.Logf("WARNING: leadership changed during the measurement (leader term %s → %s): %s", term0, term, describe(tc))
	}

	rate := float64(scaleTarget) / all.Seconds()
	b.ReportMetric(all.Seconds(), "healthy_1000_s")
	b.ReportMetric(rate, "instances_per_s")
	b.ReportMetric(first.Seconds(), "first_healthy_s")
	b.ReportMetric(half.Seconds(), "healthy_500_s")
	b.ReportMetric(done.Seconds(), "op_done_s")
	b.ReportMetric(float64(entries), "raft_entries")
	b.ReportMetric(cpu.Seconds(), "cpu_s")
	b.Logf("SCALE 0→%d over %d executors, parallelism %d: 1000 HEALTHY after %.2fs = %.0f instances/s "+
		"(first %.2fs, 500 %.2fs; RUNNING after %.2fs; SCALE answered in %.0fms); raft entries %d; process CPU %.1fs on %d CPUs; "+
		"executors lost meanwhile %d; instance records %d (%d stopped/ended: failed starts or duplicates); poll errors %d; load1 %s",
		scaleTarget, scaleExecutors, par, all.Seconds(), rate, first.Seconds(), half.Seconds(), done.Seconds(), msf(submitted),
		entries, cpu.Seconds(), runtimeCPUs(), lost, records, ended, pollErrs, loadAvg1())

	// Free the cores for the next run: scale to 0 and wait until no instance is active.
	b.StopTimer()
	if err := postOp(fbase, map[string]any{"type": "SCALE", "appId": id, "requiredInstances": 0,
		"opSpec": benchOpSpec(512, "300 seconds")}); err != nil {
		b.Fatal(err)
	}
	if !pollUntil(2*time.Minute, func() bool {
		_, c := leaderNode(tc)
		app, ok := c.FSM().Application(id)
		return ok && app.State == model.AppMonitoring &&
			countInstances(c.FSM(), func(r *model.InstanceRecord) bool { return r.Info.AppID == id && r.Info.State.IsActive() }) == 0
	}) {
		b.Fatalf("app %s did not scale back to 0 within 2m", id)
	}
	b.StartTimer()
}

// ---------------------------------------------------------------------------
// Executor killed → app whole again elsewhere
// ---------------------------------------------------------------------------

const (
	recoverRuns      = 20
	recoverExecutors = 6
	recoverInstances = 12
	recoverApp       = "RECOVER_BENCH"
)

// BenchmarkApps_ExecutorKilledInstancesHealthyElsewhere runs 3 controllers
// and 6 agents (test timing: fast gossip and agent loops, absent grace 3s,
// outage check every 300 ms; RECOVER uses the default cluster op spec,
// parallelism 1). An app of 12 instances (ANY: 2 per executor at first)
// runs; recoverRuns times, the agent holding most of its instances is
// killed (agent.Kill: no gossip leave), and the leader's FSM is polled
// every 10 ms for the executor REMOVED and for 12 HEALTHY instances, none
// on the killed executor. The agent is then restarted with the same id and
// ports, and the next run waits until it is stably ACTIVE and the app's
// RECOVER has finished.
func BenchmarkApps_ExecutorKilledInstancesHealthyElsewhere(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchRecover(b)
	}
}

func benchRecover(b *testing.B) {
	stats := newGossipStats()
	b.Cleanup(func() {
		if b.Failed() {
			b.Log(stats.keptLines())
		}
	})
	tc := newCluster(b, 3, withRaftDefaults(), withExecutorTiming(), withFastOutage(), withStatsLogger(stats))
	es := newExecutors(recoverExecutors, func(id string) agent.Config {
		cfg := executorConfig(b, tc, id)
		cfg.Logger = stats.logger(id)
		return cfg
	})
	rtCfg := fakeruntime.Config{StartDelay: 10 * time.Millisecond}
	if err := startAllWith(b, es, recoverExecutors, rtCfg); err != nil {
		b.Fatalf("starting executors: %v", err)
	}
	waitAllActive(b, tc, es, time.Minute)
	l, _ := leaderNode(tc)
	if err := postOp("http://"+tc.nodes[l].cfg.HTTPAddr, map[string]any{"type": "CREATE",
		"spec": testSpec(recoverApp, "1", 1, `{"type":"ANY"}`), "instances": recoverInstances,
		"opSpec": benchOpSpec(recoverInstances, "60 seconds")}); err != nil {
		b.Fatal(err)
	}
	appID := recoverApp + "-1"
	if !pollUntil(time.Minute, func() bool { return appWhole(tc, appID, "") }) {
		b.Fatalf("app %s never had %d healthy instances", appID, recoverInstances)
	}
	byID := map[string]*testExecutor{}
	for _, e := range es {
		byID[e.cfg.ExecutorID] = e
	}

	var healthyDs, removedDs, afterRemovedDs []time.Duration
	var moved []int
	var flapsTotal int
	for run := 0; run < recoverRuns; run++ {
		_, leader := leaderNode(tc)
		victimID, held := busiestExecutor(leader.FSM(), appID, run)
		victim := byID[victimID]
		if victim == nil || held == 0 {
			b.Fatalf("run %d: no executor holds instances of %s", run, appID)
		}
		victim.kill()
		start := time.Now()
		var removed, healthy time.Duration
		for healthy == 0 {
			if time.Since(start) > time.Minute {
				b.Fatalf("run %d: %s killed %s ago: removed=%v app whole=%v; gossip %+v", run, victimID,
					time.Minute, removed, appWhole(tc, appID, victimID), stats.snapshot())
			}
			if removed == 0 {
				if s, ok := leaderExecutorState(tc, victimID); ok && s == model.ExecutorRemoved {
					removed = time.Since(start)
				}
			}
			if appWhole(tc, appID, victimID) {
				healthy = time.Since(start)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if removed == 0 { // whole again before REMOVED was seen: cannot be, but keep the figure honest
			if _, ok := waitLeaderState(tc, victimID, model.ExecutorRemoved, 10*time.Millisecond, 30*time.Second); ok {
				removed = time.Since(start)
			}
		}
		healthyDs, removedDs = append(healthyDs, healthy), append(removedDs, removed)
		afterRemovedDs = append(afterRemovedDs, healthy-removed)
		moved = append(moved, held)

		// Restart the agent (same id and ports) and let the RECOVER finish.
		if err := launchWith(victim, rtCfg); err != nil {
			b.Fatalf("run %d: restart %s: %v", run, victimID, err)
		}
		flaps, ok := waitStableActive(tc, victimID, time.Second, time.Minute)
		flapsTotal += flaps
		if !ok {
			b.Fatalf("run %d: restarted %s not stably ACTIVE within 1m (flaps %d)", run, victimID, flaps)
		}
		if !pollUntil(time.Minute, func() bool { return appWhole(tc, appID, "") }) {
			b.Fatalf("run %d: app %s not RUNNING with %d healthy and no operation", run, appID, recoverInstances)
		}
	}

	h, r, a := summarize(healthyDs), summarize(removedDs), summarize(afterRemovedDs)
	b.ReportMetric(h.p50.Seconds(), "p50_s")
	b.ReportMetric(h.p99.Seconds(), "p99_s")
	b.ReportMetric(h.max.Seconds(), "max_s")
	b.ReportMetric(r.p50.Seconds(), "removed_p50_s")
	b.ReportMetric(r.p99.Seconds(), "removed_p99_s")
	b.ReportMetric(a.p50.Seconds(), "after_removed_p50_s")
	b.ReportMetric(a.p99.Seconds(), "after_removed_p99_s")
	b.ReportMetric(float64(h.n), "runs")
	b.Logf("RECOVER %d instances over %d executors, %d kills: %d HEALTHY elsewhere after p50=%.2fs p99=%.2fs max=%.2fs mean=%.2fs; "+
		"executor REMOVED after p50=%.2fs p99=%.2fs max=%.2fs; REMOVED→whole p50=%.2fs p99=%.2fs max=%.2fs; "+
		"instances moved per kill %v; restart flaps %d; gossip %+v; load1 %s",
		recoverInstances, recoverExecutors, h.n, recoverInstances, h.p50.Seconds(), h.p99.Seconds(), h.max.Seconds(), h.mean.Seconds(),
		r.p50.Seconds(), r.p99.Seconds(), r.max.Seconds(), a.p50.Seconds(), a.p99.Seconds(), a.max.Seconds(), moved, flapsTotal, stats.snapshot(), loadAvg1())
	b.Logf("  whole again (s):   %s", joinSeconds(healthyDs))
	b.Logf("  REMOVED (s):       %s", joinSeconds(removedDs))
	b.Logf("  REMOVED→whole (s): %s", joinSeconds(afterRemovedDs))
}

// busiestExecutor returns the executor holding the most live instances of
// app (ties broken by rotating with run) and how many it holds.
func busiestExecutor(f *fsm.FSM, app string, run int) (string, int) {
	counts := map[string]int{}
	for _, r := range f.Instances(func(r *model.InstanceRecord) bool {
		return r.Info.AppID == app && !r.StopRequested && !r.Info.State.IsTerminal()
	}) {
		counts[r.Info.ExecutorID]++
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	best, bestN := "", 0
	for k := range ids {
		id := ids[(k+run)%len(ids)]
		if counts[id] > bestN {
			best, bestN = id, counts[id]
		}
	}
	return best, bestN
}

// appWhole reports whether, on the leader, app has recoverInstances HEALTHY
// instances not asked to stop, none live on executor not (if given); with
// not == "" it also requires the app RUNNING with no operation in progress.
func appWhole(tc *testCluster, app, not string) bool {
	l := tc.leaderIndex()
	if l < 0 {
		return false
	}
	f := tc.nodes[l].c.FSM()
	healthy, onVictim := 0, 0
	f.Instances(func(r *model.InstanceRecord) bool {
		if r.Info.AppID != app || r.StopRequested || r.Info.State.IsTerminal() {
			return false
		}
		if not != "" && r.Info.ExecutorID == not {
			onVictim++
		} else if r.Info.State == model.InstanceHealthy {
			healthy++
		}
		return false
	})
	if healthy != recoverInstances || onVictim > 0 {
		return false
	}
	if not == "" {
		a, ok := f.Application(app)
		return ok && a.State == model.AppRunning && a.ActiveOperation() == nil
	}
	return true
}

// runtimeCPUs is the number of CPUs this process may use.
func runtimeCPUs() int { return runtime.NumCPU() }
