package integration

// A scale simulation: 3 in-process controllers and 200 in-process executors
// on the fake runtime, all with production gossip timing and production
// agent loop intervals, on loopback. It checks that every executor
// registers, and that none is falsely declared dead (REMOVED) while the
// cluster idles.
//
//	go test -race -count=1 -run TestSimulation_ ./integration/
//	DROVE_SIM_SOAK=3m go test -count=1 -run TestSimulation_ ./integration/

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/cluster/gossip"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/hashicorp/go-hclog"
)

const (
	simExecutors = 200
	// raceSimExecutors is the executor count under the race detector. It
	// multiplies the cost of memberlist's per-packet work (LZW compression
	// with a fresh 64 KiB table per packet, msgpack, AES-GCM) about tenfold,
	// and every gossip member of the simulation shares one 2-core process:
	// there 200 executors (and, measured, even 50 started at once, or 30 in
	// some runs) overload the process until probes time out, gossip declares
	// live members dead, raft loses its leader and the failure feeds itself.
	// 20 passed every run. Without -race the simulation runs 200.
	raceSimExecutors = 20
	simStartConc     = 20               // agents started at a time
	simActiveLimit   = 90 * time.Second // all executors ACTIVE within this
	simSoakDefault   = 45 * time.Second
)

// simSoak is how long the simulation watches for false deaths once every
// executor is ACTIVE: 45s, or the duration in DROVE_SIM_SOAK (e.g. 3m).
func simSoak() (time.Duration, error) {
	v := os.Getenv("DROVE_SIM_SOAK")
	if v == "" {
		return simSoakDefault, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("DROVE_SIM_SOAK=%q: want a positive duration such as 3m", v)
	}
	return d, nil
}

// raceEnabled reports whether the test binary was built with -race.
var raceEnabled = func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}()

// simExecutorCount is how many executors the simulation runs: simExecutors
// (raceSimExecutors under -race), or DROVE_SIM_EXECUTORS.
func simExecutorCount() (int, error) {
	v := os.Getenv("DROVE_SIM_EXECUTORS")
	if v == "" {
		if raceEnabled {
			return raceSimExecutors, nil
		}
		return simExecutors, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("DROVE_SIM_EXECUTORS=%q: want a positive number", v)
	}
	return n, nil
}

// withProductionGossip replaces nodeConfig's fast test gossip timing with the
// production tuning of gossip.DefaultConfig (probe 1s, timeout 500ms,
// suspicion mult 2, gossip 200ms, push/pull 15s).
func withProductionGossip() clusterOption {
	return func(c *server.ControllerConfig) { c.Gossip = gossip.DefaultConfig() }
}

// withStatsLogger sends every node's logs (info and up) to s.
func withStatsLogger(s *gossipStats) clusterOption {
	return func(c *server.ControllerConfig) { c.Logger = s.logger(c.NodeID) }
}

// productionExecutorTiming gives an agent config the production loop
// intervals and gossip timing of agent.DefaultConfig, keeping its addresses.
func productionExecutorTiming(cfg *agent.Config) {
	d := agent.DefaultConfig()
	cfg.RegisterInterval, cfg.ReportInterval = d.RegisterInterval, d.ReportInterval // 60s, 30s
	cfg.ReconcileInterval, cfg.UnknownGrace = d.ReconcileInterval, d.UnknownGrace   // 10s, 30s
	cfg.Gossip = d.Gossip                                                           // gossip.DefaultConfig()
}

// simExecutorConfig is executorConfig (loopback, random ports) with production
// timing, logging to stats.
func simExecutorConfig(t testing.TB, tc *testCluster, id string, stats *gossipStats) agent.Config {
	cfg := executorConfig(t, tc, id)
	productionExecutorTiming(&cfg)
	cfg.Logger = stats.logger(id)
	return cfg
}

// newExecutors makes (does not start) n executors exec-001.. with mk.
func newExecutors(n int, mk func(id string) agent.Config) []*testExecutor {
	out := make([]*testExecutor, n)
	for i := range out {
		out[i] = &testExecutor{cfg: mk(fmt.Sprintf("exec-%03d", i+1))}
	}
	return out
}

// launch starts the executor on a fresh fake runtime. Its ports are then
// pinned in e.cfg, so a later launch comes back on the same addresses, as a
// restarted executor process with fixed ports would. A restart retries for
// a few seconds if a port is briefly taken.
func (e *testExecutor) launch() error {
	var err error
	for attempt := 0; attempt < 30; attempt++ {
		var rt *fakeruntime.Runtime
		if rt, err = fakeruntime.New(fakeruntime.Config{StartDelay: 5 * time.Millisecond}); err != nil {
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

// forEach runs f on every executor, conc at a time, and joins the errors.
func forEach(es []*testExecutor, conc int, f func(*testExecutor) error) error {
	sem := make(chan struct{}, conc)
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	for i, e := range es {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(e)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startAll starts the executors conc at a time; killAll is registered as a
// cleanup first, so they are stopped even if starting fails.
func startAll(t testing.TB, es []*testExecutor, conc int) error {
	t.Cleanup(func() { killAll(es, conc) })
	return forEach(es, conc, (*testExecutor).launch)
}

// killAll kills (agent.Kill: no gossip leave) every running executor.
func killAll(es []*testExecutor, conc int) {
	_ = forEach(es, conc, func(e *testExecutor) error { e.kill(); return nil })
}

// ---------------------------------------------------------------------------
// Reading the cluster through the API without failing the test
// ---------------------------------------------------------------------------

// listExecutors is GET /apis/v1/cluster/executors on base as user.
func listExecutors(base string, user [2]string) (map[string]model.ExecutorSummary, error) {
	var list []model.ExecutorSummary
	if err := getData(base, user, "/apis/v1/cluster/executors", &list); err != nil {
		return nil, err
	}
	out := make(map[string]model.ExecutorSummary, len(list))
	for _, s := range list {
		out[s.ExecutorID] = s
	}
	return out, nil
}

// removedEvents is the EXECUTOR_REMOVED count of GET /apis/v1/cluster/events/summary.
func removedEvents(base string, user [2]string) (int, error) {
	var sum model.EventsSummary
	if err := getData(base, user, "/apis/v1/cluster/events/summary", &sum); err != nil {
		return 0, err
	}
	return sum.EventsCount[model.EventExecutorRemoved], nil
}

// removedEventList lists the EXECUTOR_REMOVED events (oldest first) as
// "executor at time" lines.
func removedEventList(base string, user [2]string) ([]string, error) {
	var evs []model.Event
	if err := getData(base, user, "/apis/v1/cluster/events?size=100000", &evs); err != nil {
		return nil, err
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- { // the API returns newest first
		if e := evs[i]; e.Type == model.EventExecutorRemoved {
			out = append(out, fmt.Sprintf("%v removed at %s", e.Metadata[model.MetaExecutorID],
				time.UnixMilli(e.Time).Format("15:04:05.000")))
		}
	}
	return out, nil
}

func getData(base string, user [2]string, path string, v any) error {
	r, err := tryRequest(httpClient, base, user, "GET", path, nil)
	if err != nil {
		return err
	}
	if r.Code != http.StatusOK || r.Env.Status != "SUCCESS" {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, r.Code, r.Body)
	}
	return json.Unmarshal(r.Env.Data, v)
}

// countStates counts the listed executors per state.
func countStates(list map[string]model.ExecutorSummary) map[model.ExecutorState]int {
	out := map[model.ExecutorState]int{}
	for _, s := range list {
		out[s.State]++
	}
	return out
}

// ---------------------------------------------------------------------------
// Gossip verdicts, counted from the nodes' logs
// ---------------------------------------------------------------------------

// gossipStats is an hclog output shared by many nodes. It counts the
// failure detector's verdicts that memberlist logs (a probe that found a
// member unresponsive, a suspicion that timed out into "failed", a node
// refuting a suspicion or death of itself), the leader's "executor lost"
// decisions, and keeps warnings, errors and "executor lost" lines (bounded)
// for a failure report. Lines are never written to t.Log, so goroutines that
// outlive a test may still log.
type gossipStats struct {
	suspects, failed, refuted, conflicts, lost atomic.Int64

	mu       sync.Mutex
	failedBy map[string]int // member -> times a node marked it failed
	reasons  map[string]int // "executor lost" reason -> count
	lostLog  []string       // "executor lost" lines (bounded separately)
	kept     []string
	dropped  int
}

const gossipKeptLines = 400

func newGossipStats() *gossipStats {
	return &gossipStats{failedBy: map[string]int{}, reasons: map[string]int{}}
}

// logger is an info-level logger named name that writes to s.
func (s *gossipStats) logger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: s})
}

// Write receives one formatted log line (hclog writes each line at once).
func (s *gossipStats) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	keep := strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]")
	switch {
	case strings.Contains(line, "memberlist: Suspect "):
		s.suspects.Add(1)
	case strings.Contains(line, "memberlist: Marking "):
		s.failed.Add(1)
		name, _, _ := strings.Cut(line[strings.Index(line, "memberlist: Marking ")+len("memberlist: Marking "):], " as failed")
		s.mu.Lock()
		s.failedBy[name]++
		s.mu.Unlock()
		keep = true
	case strings.Contains(line, "memberlist: Refuting a suspect") || strings.Contains(line, "memberlist: Refuting a dead"):
		s.refuted.Add(1)
	case strings.Contains(line, "memberlist: Conflicting address"):
		s.conflicts.Add(1)
	case strings.Contains(line, ": executor lost: "): // the leader's executorMonitor.markLost
		s.lost.Add(1)
		reason := "?"
		if i := strings.Index(line, "reason="); i >= 0 {
			reason = strings.Trim(line[i+len("reason="):], `"`)
		}
		s.mu.Lock()
		s.reasons[reason]++
		if len(s.lostLog) < gossipKeptLines {
			s.lostLog = append(s.lostLog, line)
		}
		s.mu.Unlock()
	}
	if keep {
		s.mu.Lock()
		if len(s.kept) < gossipKeptLines {
			s.kept = append(s.kept, line)
		} else {
			s.dropped++
		}
		s.mu.Unlock()
	}
	return len(p), nil
}

// gossipCounts is a snapshot of gossipStats' counters.
type gossipCounts struct {
	Suspects  int64 // "Suspect X has failed, no acks received" (a probe failed)
	Failed    int64 // "Marking X as failed, suspect timeout reached" (gossip death)
	Refuted   int64 // a live node refuted a suspicion or death of itself
	Conflicts int64 // "Conflicting address" (a name came back on another address too early)
	Lost      int64 // the leader marked an executor lost
}

func (s *gossipStats) snapshot() gossipCounts {
	return gossipCounts{s.suspects.Load(), s.failed.Load(), s.refuted.Load(), s.conflicts.Load(), s.lost.Load()}
}

func (c gossipCounts) sub(o gossipCounts) gossipCounts {
	return gossipCounts{c.Suspects - o.Suspects, c.Failed - o.Failed, c.Refuted - o.Refuted,
		c.Conflicts - o.Conflicts, c.Lost - o.Lost}
}

func (c gossipCounts) String() string {
	return fmt.Sprintf("probe-suspicions=%d marked-failed=%d refutations=%d address-conflicts=%d executor-lost=%d",
		c.Suspects, c.Failed, c.Refuted, c.Conflicts, c.Lost)
}

// failedMembers lists the members some node marked failed, most often first.
func (s *gossipStats) failedMembers() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range s.failedBy {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Or(b.v-a.v, strings.Compare(a.k, b.k)) })
	var out []string
	for _, e := range all {
		out = append(out, fmt.Sprintf("%s×%d", e.k, e.v))
	}
	return strings.Join(out, " ")
}

// lostReasons is "reason×count ..." of the leader's "executor lost" decisions.
func (s *gossipStats) lostReasons() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for r, c := range s.reasons {
		out = append(out, fmt.Sprintf("%q×%d", r, c))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// lostLines returns the leader's "executor lost" log lines.
func (s *gossipStats) lostLines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lostLog, "\n")
}

// keptLines returns the kept warning/error/lost lines.
func (s *gossipStats) keptLines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Join(s.kept, "\n")
	if s.dropped > 0 {
		out += fmt.Sprintf("\n... %d more lines not kept", s.dropped)
	}
	return out
}

// ---------------------------------------------------------------------------
// The simulation
// ---------------------------------------------------------------------------

func TestSimulation_200Executors(t *testing.T) {
	soak, err := simSoak()
	if err != nil {
		t.Fatal(err)
	}
	n, err := simExecutorCount()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("simulation: 3 controllers + %d executors, production gossip and loop timing, race detector %v, GOMAXPROCS %d, soak %s",
		n, raceEnabled, runtime.GOMAXPROCS(0), soak)
	switch {
	case n < simExecutors && os.Getenv("DROVE_SIM_EXECUTORS") != "":
		t.Logf("NOTE: %d executors, not %d: DROVE_SIM_EXECUTORS is set", n, simExecutors)
	case n < simExecutors:
		t.Logf("NOTE: %d executors, not %d, because the race detector is on (see raceSimExecutors); "+
			"run without -race for %d", n, simExecutors, simExecutors)
	}

	stats := newGossipStats()
	tc := newCluster(t, 3, withProductionGossip(), withRaftDefaults(), withStatsLogger(stats))
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("DROVE_SIM_DUMP") != "" {
			t.Logf("kept log lines (warnings, errors, executor lost, gossip deaths):\n%s", stats.keptLines())
		}
	})
	base := "http://" + tc.nodes[0].cfg.HTTPAddr // a follower or the leader; followers forward
	es := newExecutors(n, func(id string) agent.Config { return simExecutorConfig(t, tc, id, stats) })
	cpu0 := selfCPU()

	// Start simStartConc agents at a time, and the next batch only once the
	// API lists every started executor ACTIVE: joins (each new member's alive
	// message is re-gossiped by every member that learns it) stay bounded.
	start := time.Now()
	deadline := start.Add(simActiveLimit)
	t.Cleanup(func() { killAll(es, simStartConc) })
	var last map[string]model.ExecutorSummary
	var lastErr error
	waitActive := func(m int) {
		for {
			last, lastErr = listExecutors(base, readOnly)
			active := 0
			for _, e := range es[:m] {
				if s, ok := last[e.cfg.ExecutorID]; ok && s.State == model.ExecutorActive {
					active++
				}
			}
			if lastErr == nil && active == m {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s only %d of the first %d executors ACTIVE (listed: %v; last error %v); gossip: %s",
					simActiveLimit, active, m, countStates(last), lastErr, stats.snapshot())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var batchTimes []string
	for k := 0; k < n; k += simStartConc {
		b0 := time.Now()
		batch := es[k:min(k+simStartConc, n)]
		if err := forEach(batch, simStartConc, (*testExecutor).launch); err != nil {
			t.Fatalf("starting executors: %v", err)
		}
		waitActive(k + len(batch))
		batchTimes = append(batchTimes, fmt.Sprintf("%.1f", time.Since(b0).Seconds()))
	}
	activeIn := time.Since(start)
	regRemoved, err := removedEvents(base, readOnly)
	if err != nil {
		t.Fatalf("events summary: %v", err)
	}
	t.Logf("all %d executors ACTIVE %s after the first agent was started (batches of %d, each started once the previous was ACTIVE; seconds per batch: %s); EXECUTOR_REMOVED events so far: %d; gossip: %s",
		n, activeIn.Round(time.Millisecond), simStartConc, strings.Join(batchTimes, " "), regRemoved, stats.snapshot())

	// Soak: nobody may be declared dead.
	g0 := stats.snapshot()
	soakCPU0 := selfCPU()
	soakStart := time.Now()
	removedAt := map[string]time.Duration{} // first seen REMOVED (or missing), after soak start
	var eventsAt []string
	seenEvents := regRemoved
	polls, pollErrs := 0, 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(soakStart) < soak {
		<-tick.C
		polls++
		at := time.Since(soakStart).Round(time.Millisecond)
		list, err := listExecutors(base, readOnly)
		if err != nil {
			pollErrs++
			t.Logf("soak +%s: listing executors failed: %v", at, err)
		}
		for _, e := range es {
			id := e.cfg.ExecutorID
			s, ok := list[id]
			if err == nil && (!ok || s.State == model.ExecutorRemoved) {
				if _, dup := removedAt[id]; !dup {
					removedAt[id] = at
					t.Logf("soak +%s: executor %s is %s (listed=%v)", at, id, s.State, ok)
				}
			}
		}
		if c, err := removedEvents(base, readOnly); err != nil {
			pollErrs++
		} else if c > seenEvents {
			eventsAt = append(eventsAt, fmt.Sprintf("+%s: %d new EXECUTOR_REMOVED event(s)", at, c-seenEvents))
			seenEvents = c
		}
	}
	soaked := time.Since(soakStart)
	gs := stats.snapshot().sub(g0)
	soakCPU := selfCPU() - soakCPU0
	cpu := selfCPU() - cpu0
	t.Logf("soak %s: %d polls (%d failed), false deaths %d, EXECUTOR_REMOVED events during soak %d; gossip during soak: %s",
		soaked.Round(time.Millisecond), polls, pollErrs, len(removedAt), seenEvents-regRemoved, gs)
	t.Logf("members some node marked failed (gossip): %s", stats.failedMembers())
	t.Logf("process CPU (controllers + agents): %.0f%% of one core while idling in the soak; %.1fs in all since agents started (%s); goroutines %d",
		100*soakCPU.Seconds()/soaked.Seconds(), cpu.Seconds(), time.Since(start).Round(time.Second), runtime.NumGoroutine())

	if len(removedAt) > 0 || seenEvents > 0 {
		var ids []string
		for id, at := range removedAt {
			ids = append(ids, fmt.Sprintf("%s (first seen REMOVED/missing at soak +%s)", id, at))
		}
		slices.Sort(ids)
		evs, err := removedEventList(base, readOnly)
		if err != nil {
			evs = []string{"(cannot list events: " + err.Error() + ")"}
		}
		t.Errorf("FALSE DEATHS: %d EXECUTOR_REMOVED event(s), %d while registering and %d during the %s soak "+
			"(which began at %s); executors seen REMOVED or missing during the soak: %v\n"+
			"EXECUTOR_REMOVED events:\n  %s\nnew events seen while polling: %v\n"+
			"gossip since start: %s; members marked failed: %s\nleader's reasons: %s\n%s",
			seenEvents, regRemoved, seenEvents-regRemoved, soak, soakStart.Format("15:04:05.000"), ids,
			strings.Join(evs, "\n  "), eventsAt, stats.snapshot(), stats.failedMembers(), stats.lostReasons(), stats.lostLines())
	}
}
