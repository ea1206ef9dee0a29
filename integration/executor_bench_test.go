package integration

// Executor benchmarks that print figures (never assert targets): how fast a
// crashed executor is declared REMOVED, whether a busy CPU causes false
// deaths, and what 200 registered executors cost an idle leader. Run with
//
//	go test -run '^$' -bench 'BenchmarkExecutor|BenchmarkRegister200' -benchtime 1x -timeout 30m ./integration/
//
// Every cluster uses production gossip timing (gossip.DefaultConfig) and
// production agent loop intervals, on 127.0.0.1.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// ---------------------------------------------------------------------------
// CPU and memory of processes (Linux /proc)
// ---------------------------------------------------------------------------

var (
	clkTckOnce sync.Once
	clkTck     = 100.0
)

// clockTicks is sysconf(_SC_CLK_TCK), read once with getconf (100 if that fails).
func clockTicks() float64 {
	clkTckOnce.Do(func() {
		if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
				clkTck = v
			}
		}
	})
	return clkTck
}

// procCPU is the CPU time (user+system) process pid has used, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) in parentheses:
	// rest[0] is field 3 (state), so utime (14) and stime (15) are rest[11], rest[12].
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	rest := strings.Fields(string(raw[i+1:]))
	if len(rest) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(rest[11], 64)
	st, err2 := strconv.ParseFloat(rest[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, rest[11], rest[12])
	}
	return time.Duration((ut + st) / clockTicks() * float64(time.Second)), nil
}

// procMemMB returns VmRSS and VmHWM (peak RSS) of pid in MiB, from /proc/<pid>/status.
func procMemMB(pid int) (rss, peak float64, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) < 1 {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			peak = kb / 1024
		}
	}
	return rss, peak, nil
}

// selfCPU is the CPU time this test process has used (0 if unreadable).
func selfCPU() time.Duration {
	d, _ := procCPU(os.Getpid())
	return d
}

// ---------------------------------------------------------------------------
// Busy CPUs
// ---------------------------------------------------------------------------

// spinGoroutines starts n goroutines spinning in tight loops (GOMAXPROCS is
// left as it is); stop ends them.
func spinGoroutines(n int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	var sink atomic.Uint64
	for range n {
		wg.Go(func() {
			x := uint64(0)
			for !done.Load() {
				x++
			}
			sink.Add(x)
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			done.Store(true)
			wg.Wait()
		})
	}
}

// busyProcesses starts n external shell processes that spin in a builtin
// loop (`while :; do :; done`), each able to saturate a core; stop kills
// them. They also die with the test process (parent death signal).
func busyProcesses(b *testing.B, n int) (stop func()) {
	b.Helper()
	var cmds []*exec.Cmd
	kill := func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		cmds = nil
	}
	for range n {
		c := exec.Command("sh", "-c", "while :; do :; done")
		setParentDeathSignal(c)
		if err := c.Start(); err != nil {
			kill()
			b.Fatalf("starting busy process: %v", err)
		}
		cmds = append(cmds, c)
	}
	var once sync.Once
	stop = func() { once.Do(kill) }
	b.Cleanup(stop)
	return stop
}

// loadAvg1 is the 1-minute load average.
func loadAvg1() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

// ---------------------------------------------------------------------------
// Executor state as the leader's FSM holds it
// ---------------------------------------------------------------------------

// leaderExecutorState is executor id's state in the current leader's FSM.
func leaderExecutorState(tc *testCluster, id string) (model.ExecutorState, bool) {
	l := tc.leaderIndex()
	if l < 0 {
		return "", false
	}
	e, ok := tc.nodes[l].c.FSM().Executor(id)
	return e.State, ok
}

// waitLeaderState polls (every poll) until the leader's FSM shows executor id
// in state st; it returns the time waited, or false on timeout.
func waitLeaderState(tc *testCluster, id string, st model.ExecutorState, poll, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		if s, ok := leaderExecutorState(tc, id); ok && s == st {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(poll)
	}
}

// waitStableActive waits until executor id is ACTIVE on the leader and stays
// so for hold (a registration can commit before gossip has shown the
// restarted executor alive to the leader, which then marks it lost again).
// It returns how often the executor fell back out of ACTIVE.
func waitStableActive(tc *testCluster, id string, hold, timeout time.Duration) (flaps int, ok bool) {
	deadline := time.Now().Add(timeout)
	var activeSince time.Time
	for time.Now().Before(deadline) {
		s, known := leaderExecutorState(tc, id)
		switch {
		case known && s == model.ExecutorActive && activeSince.IsZero():
			activeSince = time.Now()
		case known && s == model.ExecutorActive && time.Since(activeSince) >= hold:
			return flaps, true
		case (!known || s != model.ExecutorActive) && !activeSince.IsZero():
			flaps++
			activeSince = time.Time{}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return flaps, false
}

// inProcessExecutors starts n executors with production timing against tc
// and waits until the leader has them all ACTIVE.
func inProcessExecutors(b *testing.B, tc *testCluster, n int, stats *gossipStats) []*testExecutor {
	b.Helper()
	es := newExecutors(n, func(id string) agent.Config { return simExecutorConfig(b, tc, id, stats) })
	start := time.Now()
	if err := startAll(b, es, simStartConc); err != nil {
		b.Fatalf("starting executors: %v", err)
	}
	for _, e := range es {
		if _, ok := waitLeaderState(tc, e.cfg.ExecutorID, model.ExecutorActive, 20*time.Millisecond, 2*time.Minute); !ok {
			b.Fatalf("executor %s not ACTIVE within 2m; gossip: %s\n%s", e.cfg.ExecutorID, stats.snapshot(), stats.keptLines())
		}
	}
	b.Logf("%d executors ACTIVE %s after start", n, time.Since(start).Round(time.Millisecond))
	return es
}

// leaderRemovedEvents counts EXECUTOR_REMOVED events in the leader's FSM.
func leaderRemovedEvents(tc *testCluster) int {
	l := tc.waitForLeader(15 * time.Second)
	return tc.nodes[l].c.FSM().EventsSummary(0).EventsCount[model.EventExecutorRemoved]
}

func secf(d time.Duration) float64 { return d.Seconds() }

func joinSeconds(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(out, " ")
}

// reportGossip reports the gossip verdict counters as metrics.
func reportGossip(b *testing.B, g gossipCounts) {
	b.ReportMetric(float64(g.Suspects), "gossip_suspicions")
	b.ReportMetric(float64(g.Failed), "gossip_marked_failed")
	b.ReportMetric(float64(g.Refuted), "gossip_refutations")
}

// ---------------------------------------------------------------------------
// Crash → REMOVED
// ---------------------------------------------------------------------------

const (
	lostRuns      = 20
	lostExecutors = 5
)

// BenchmarkExecutorLostDetection measures, over lostRuns crashes, the time
// from an executor being killed (agent.Kill returned: no gossip leave, the
// agent answers nothing any more) until the leader's FSM shows it REMOVED.
// 3 in-process controllers and 5 executors, all with production gossip
// timing, ExecutorAbsentGrace at its default. After each run the executor is
// restarted with the same id and addresses and must be ACTIVE (and stay so
// for 3s) before the next run. busyCPU runs the same with two goroutines
// spinning in tight loops in the test process (GOMAXPROCS unchanged) for the
// whole measurement.
func BenchmarkExecutorLostDetection(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchLostDetection(b, 0) })
	b.Run("busyCPU", func(b *testing.B) { benchLostDetection(b, 2) })
}

func benchLostDetection(b *testing.B, spinners int) {
	for i := 0; i < b.N; i++ {
		stats := newGossipStats()
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("kept log lines:\n%s", stats.keptLines())
			}
		})
		tc := newCluster(b, 3, withProductionGossip(), withRaftDefaults(), withStatsLogger(stats))
		b.Logf("gossip probe=%s timeout=%s suspicionMult=%d; ExecutorAbsentGrace=%s; raft heartbeat=%s; GOMAXPROCS=%d; spinning goroutines=%d",
			tc.nodes[0].cfg.Gossip.ProbeInterval, tc.nodes[0].cfg.Gossip.ProbeTimeout, tc.nodes[0].cfg.Gossip.SuspicionMult,
			tc.nodes[0].cfg.ExecutorAbsentGrace, tc.nodes[0].cfg.Raft.HeartbeatTimeout, runtime.GOMAXPROCS(0), spinners)
		es := inProcessExecutors(b, tc, lostExecutors, stats)
		if spinners > 0 {
			stop := spinGoroutines(spinners)
			b.Cleanup(stop)
			defer stop()
		}
		g0, ev0 := stats.snapshot(), leaderRemovedEvents(tc)
		var ds, kills []time.Duration
		flaps := 0
		var flapped []string
		for run := 0; run < lostRuns; run++ {
			e := es[run%len(es)]
			id := e.cfg.ExecutorID
			t0 := time.Now()
			e.kill()
			kills = append(kills, time.Since(t0))
			d, ok := waitLeaderState(tc, id, model.ExecutorRemoved, 5*time.Millisecond, 60*time.Second)
			if !ok {
				b.Fatalf("run %d: %s not REMOVED within %s of the kill; gossip: %s", run, id, d, stats.snapshot())
			}
			ds = append(ds, d)
			if err := e.launch(); err != nil {
				b.Fatalf("run %d: restart: %v", run, err)
			}
			f, ok := waitStableActive(tc, id, 3*time.Second, 90*time.Second)
			flaps += f
			if f > 0 {
				flapped = append(flapped, fmt.Sprintf("run %d %s ×%d", run, id, f))
			}
			if !ok {
				b.Fatalf("run %d: restarted %s not stably ACTIVE within 90s (%d flaps); gossip: %s", run, id, f, stats.snapshot())
			}
		}
		g := stats.snapshot().sub(g0)
		extra := leaderRemovedEvents(tc) - ev0 - lostRuns
		s, k := summarize(ds), summarize(kills)
		b.ReportMetric(secf(s.p50), "p50_s")
		b.ReportMetric(secf(s.p99), "p99_s")
		b.ReportMetric(secf(s.max), "max_s")
		b.ReportMetric(float64(s.n), "runs")
		b.ReportMetric(float64(flaps), "restart_flaps")
		b.ReportMetric(float64(extra), "extra_removals")
		reportGossip(b, g)
		b.Logf("KILL→REMOVED %s: p50=%.2fs p99=%.2fs max=%.2fs mean=%.2fs (runs=%d; agent.Kill took p50=%s max=%s)",
			b.Name(), secf(s.p50), secf(s.p99), secf(s.max), secf(s.mean), s.n, k.p50.Round(time.Microsecond), k.max.Round(time.Microsecond))
		b.Logf("  kill→REMOVED (s): %s", joinSeconds(ds))
		b.Logf("  restarts that fell back out of ACTIVE: %d; EXECUTOR_REMOVED events beyond one per kill: %d; gossip: %s; members marked failed: %s; 1-min load %s",
			flaps, extra, g, stats.failedMembers(), loadAvg1())
		b.Logf("  leader's executor-lost reasons: %s; restarts that fell back: %v", stats.lostReasons(), flapped)
	}
}

// ---------------------------------------------------------------------------
// Busy-CPU soak
// ---------------------------------------------------------------------------

const (
	busySoakExecutors = 50
	busySoakFor       = 2 * time.Minute
	busyProcs         = 2
)

// BenchmarkExecutorSoakBusyCPU runs 3 in-process controllers and 50
// executors (production timing) idle for 2 minutes while two external
// processes spin (`sh -c 'while :; do :; done'`, saturating both cores of a
// 2-core machine), and counts false deaths: executors the leader shows
// REMOVED at some point, and EXECUTOR_REMOVED events. Gossip suspicions,
// failures and refutations are counted from memberlist's log lines on every
// node.
func BenchmarkExecutorSoakBusyCPU(b *testing.B) {
	for i := 0; i < b.N; i++ {
		stats := newGossipStats()
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("kept log lines:\n%s", stats.keptLines())
			}
		})
		tc := newCluster(b, 3, withProductionGossip(), withRaftDefaults(), withStatsLogger(stats))
		es := inProcessExecutors(b, tc, busySoakExecutors, stats)
		time.Sleep(5 * time.Second) // let the join gossip settle
		g0, ev0 := stats.snapshot(), leaderRemovedEvents(tc)
		leader0 := tc.nodes[tc.waitForLeader(15*time.Second)].cfg.NodeID
		cpu0 := selfCPU()

		stop := busyProcesses(b, busyProcs)
		start := time.Now()
		removed := map[string]time.Duration{}
		leaderChanges, prevLeader := 0, leader0
		for time.Since(start) < busySoakFor {
			time.Sleep(250 * time.Millisecond)
			l := tc.leaderIndex()
			if l < 0 {
				continue
			}
			if id := tc.nodes[l].cfg.NodeID; id != prevLeader {
				leaderChanges++
				prevLeader = id
			}
			for _, e := range es {
				if s, ok := leaderExecutorState(tc, e.cfg.ExecutorID); ok && s != model.ExecutorActive {
					if _, dup := removed[e.cfg.ExecutorID]; !dup {
						removed[e.cfg.ExecutorID] = time.Since(start)
						b.Logf("+%s: %s is %s", time.Since(start).Round(time.Millisecond), e.cfg.ExecutorID, s)
					}
				}
			}
		}
		load := loadAvg1()
		stop()
		soaked := time.Since(start)
		cpu := selfCPU() - cpu0
		g := stats.snapshot().sub(g0)
		events := leaderRemovedEvents(tc) - ev0

		b.ReportMetric(float64(len(removed)), "false_deaths")
		b.ReportMetric(float64(events), "removed_events")
		b.ReportMetric(float64(leaderChanges), "leader_changes")
		b.ReportMetric(100*cpu.Seconds()/soaked.Seconds(), "test_proc_cpu_pct")
		reportGossip(b, g)
		b.Logf("BUSY SOAK %s: %d executors, %d busy processes for %s (1-min load at end %s): false deaths %d %v, EXECUTOR_REMOVED events %d, leader changes %d",
			b.Name(), len(es), busyProcs, soaked.Round(time.Second), load, len(removed), removed, events, leaderChanges)
		b.Logf("  gossip: %s; members marked failed: %s; test process (controllers+agents) CPU %.0f%% of one core",
			g, stats.failedMembers(), 100*cpu.Seconds()/soaked.Seconds())
	}
}

// ---------------------------------------------------------------------------
// 200 executors against controller processes
// ---------------------------------------------------------------------------

const (
	regExecutors = 200
	idleSettle   = 10 * time.Second
	idleWindow   = 60 * time.Second
)

// procSecret is the --cluster-secret the process cluster was started with.
func procSecret(b *testing.B, pc *procCluster) string {
	args := pc.nodes[0].args
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--cluster-secret" {
			return args[i+1]
		}
	}
	b.Fatalf("no --cluster-secret in %v", args)
	return ""
}

// procExecutorConfig is an agent config for the process cluster pc:
// production defaults (timing and gossip), loopback, random ports, the
// cluster's secret, its gossip addresses to join and its HTTP URLs.
func procExecutorConfig(pc *procCluster, secret, id string, logger hclog.Logger) agent.Config {
	cfg := agent.DefaultConfig()
	cfg.ExecutorID = id
	cfg.Hostname = "127.0.0.1"
	cfg.HTTPAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ClusterSecret = secret
	for _, nd := range pc.nodes {
		cfg.Join = append(cfg.Join, nd.gossipAddr)
		cfg.Controllers = append(cfg.Controllers, "http://"+nd.httpAddr)
	}
	cfg.Layout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1}, 1: {2, 3}}, Memory: map[int]int64{0: 2048, 1: 2048}}
	cfg.Metadata = map[string]string{"rack": "r1"}
	cfg.Logger = logger
	return cfg
}

// procUsage is CPU and memory of one process over a window.
type procUsage struct {
	cpuPct, rssMB, peakMB float64
}

// BenchmarkRegister200AndLeaderIdleCost starts 3 `drove controller`
// processes (production raft and gossip timing: the controller has no gossip
// flags, so it runs gossip.DefaultConfig; ExecutorAbsentGrace default) and
// 200 in-process agents with production timing. It reports the time from
// starting the first agent until the API lists all 200 ACTIVE (register_s),
// then, after 10s to settle, the CPU (utime+stime over 60s of idling) and
// RSS of the leader process and of a follower.
func BenchmarkRegister200AndLeaderIdleCost(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d := cluster.DefaultConfig()
		pc := newProcCluster(b, 3, withProcRaftTimeouts(d.HeartbeatTimeout, d.ElectionTimeout))
		stats := newGossipStats()
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("kept agent log lines:\n%s", stats.keptLines())
			}
		})
		secret := procSecret(b, pc)
		base := pc.base(0)
		es := newExecutors(regExecutors, func(id string) agent.Config {
			return procExecutorConfig(pc, secret, id, stats.logger(id))
		})

		start := time.Now()
		if err := startAll(b, es, simStartConc); err != nil {
			b.Fatalf("starting executors: %v", err)
		}
		startedIn := time.Since(start)
		var last map[string]model.ExecutorSummary
		var lastErr error
		for {
			last, lastErr = listExecutors(base, rootUser)
			if lastErr == nil && countStates(last)[model.ExecutorActive] == regExecutors {
				break
			}
			if time.Since(start) > 3*time.Minute {
				b.Fatalf("after 3m: %v of %d (last error %v); gossip: %s", countStates(last), regExecutors, lastErr, stats.snapshot())
			}
			time.Sleep(50 * time.Millisecond)
		}
		register := time.Since(start)
		b.Logf("%d agents started in %s; all ACTIVE after %s", regExecutors, startedIn.Round(time.Millisecond), register.Round(time.Millisecond))

		time.Sleep(idleSettle)
		l := pc.waitForLeader(15 * time.Second)
		f := pc.follower()
		ev0, err := removedEvents(base, rootUser)
		if err != nil {
			b.Fatalf("events summary: %v", err)
		}
		g0 := stats.snapshot()
		pids := []int{pc.nodes[l].p.cmd.Process.Pid, pc.nodes[f].p.cmd.Process.Pid, os.Getpid()}
		cpu0 := make([]time.Duration, len(pids))
		for k, pid := range pids {
			if cpu0[k], err = procCPU(pid); err != nil {
				b.Fatalf("reading CPU of pid %d: %v", pid, err)
			}
		}
		load0 := loadAvg1()
		t0 := time.Now()
		time.Sleep(idleWindow)
		window := time.Since(t0)
		usage := make([]procUsage, len(pids))
		for k, pid := range pids {
			c, err := procCPU(pid)
			if err != nil {
				b.Fatalf("reading CPU of pid %d: %v", pid, err)
			}
			rss, peak, err := procMemMB(pid)
			if err != nil {
				b.Fatalf("reading memory of pid %d: %v", pid, err)
			}
			usage[k] = procUsage{cpuPct: 100 * (c - cpu0[k]).Seconds() / window.Seconds(), rssMB: rss, peakMB: peak}
		}
		if l2 := pc.waitForLeader(15 * time.Second); l2 != l {
			b.Logf("WARNING: leadership moved from %s to %s during the idle window", pc.nodes[l].id, pc.nodes[l2].id)
		}
		ev1, err := removedEvents(base, rootUser)
		if err != nil {
			b.Fatalf("events summary: %v", err)
		}
		list, err := listExecutors(base, rootUser)
		if err != nil {
			b.Fatalf("listing executors: %v", err)
		}
		g := stats.snapshot().sub(g0)

		b.ReportMetric(secf(register), "register_s")
		b.ReportMetric(usage[0].cpuPct, "leader_cpu_pct")
		b.ReportMetric(usage[0].rssMB, "leader_rss_mb")
		b.ReportMetric(usage[1].cpuPct, "follower_cpu_pct")
		b.ReportMetric(usage[1].rssMB, "follower_rss_mb")
		b.ReportMetric(usage[2].cpuPct, "agents_proc_cpu_pct")
		b.ReportMetric(float64(ev1), "removed_events")
		b.ReportMetric(float64(regExecutors-countStates(list)[model.ExecutorActive]), "not_active_at_end")
		b.Logf("REGISTER %d: all ACTIVE after %.2fs (agents started in %.2fs)", regExecutors, register.Seconds(), startedIn.Seconds())
		b.Logf("IDLE %s with %d executors (%v): leader %s cpu=%.2f%% rss=%.1fMB (peak %.1fMB); follower %s cpu=%.2f%% rss=%.1fMB (peak %.1fMB); test process with the %d agents cpu=%.1f%% rss=%.1fMB",
			window.Round(time.Millisecond), regExecutors, countStates(list),
			pc.nodes[l].id, usage[0].cpuPct, usage[0].rssMB, usage[0].peakMB,
			pc.nodes[f].id, usage[1].cpuPct, usage[1].rssMB, usage[1].peakMB,
			regExecutors, usage[2].cpuPct, usage[2].rssMB)
		b.Logf("  EXECUTOR_REMOVED events: %d in total, %d during the idle window; agents' gossip during the window: %s; 1-min load before/after the window %s/%s",
			ev1, ev1-ev0, g, load0, loadAvg1())
	}
}
