package integration

// Benchmarks that print figures: failover time, leader-forwarding overhead
// and Raft throughput. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./integration/
//
// (make bench). Each benchmark makes its own fixed number of measurements
// inside one b.N iteration and reports them with b.ReportMetric and b.Logf;
// none asserts a timing target.

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/server"
	"github.com/hashicorp/go-hclog"
)

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// latency summarises samples: nearest-rank percentiles over the sorted
// samples (pXX = element at ceil(XX/100*n)-1).
type latency struct {
	n             int
	p50, p99, max time.Duration
	mean          time.Duration
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return latency{n: len(s), p50: percentile(s, 0.50), p99: percentile(s, 0.99), max: s[len(s)-1],
		mean: sum / time.Duration(len(s))}
}

// percentile is the nearest-rank percentile of sorted: sorted[ceil(q*n)-1].
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func usf(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// withRaftDefaults replaces the fast test timings of nodeConfig (300ms) with
// the production defaults of cluster.DefaultConfig (500ms heartbeat/election).
func withRaftDefaults() clusterOption {
	return func(c *server.ControllerConfig) { c.Raft = cluster.DefaultConfig() }
}

// withBenchLogger sends the cluster's warn+ logs to a buffer that is printed
// only if the benchmark fails: b.Log output is always shown for benchmarks,
// and failover runs make raft warn a lot by design.
func withBenchLogger(b *testing.B) clusterOption {
	buf := &logBuffer{}
	b.Cleanup(func() {
		if b.Failed() {
			b.Log(buf.String())
		}
	})
	return func(c *server.ControllerConfig) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: c.NodeID, Level: hclog.Warn, Output: buf})
	}
}

// newBenchClient is one keep-alive client with room for conc idle connections per host.
func newBenchClient(conc int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        4 * conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// send does one request as admin with no body and reports the status code;
// the body is drained so the connection is reused.
func send(client *http.Client, method, url string) (int, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(rootUser[0], rootUser[1])
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func sendOK(client *http.Client, method, url string) error {
	code, err := send(client, method, url)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("%s %s: HTTP %d", method, url, code)
	}
	return err
}

const (
	failoverRuns     = 20
	failoverWritePth = "/apis/v1/cluster/maintenance/set"
)

// reportFailover reports the write-visible failover times ds and, for
// comparison, the times until the survivors agreed on a new leader.
func reportFailover(b *testing.B, name string, ds, elected []time.Duration) {
	s, e := summarize(ds), summarize(elected)
	b.ReportMetric(msf(s.p50), "p50_ms")
	b.ReportMetric(msf(s.p99), "p99_ms")
	b.ReportMetric(msf(s.max), "max_ms")
	b.ReportMetric(float64(s.n), "runs")
	b.ReportMetric(msf(e.p50), "elected_p50_ms")
	b.ReportMetric(msf(e.p99), "elected_p99_ms")
	join := func(ds []time.Duration) string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%.0f", msf(d)))
		}
		return strings.Join(out, " ")
	}
	b.Logf("FAILOVER %s: write ok after p50=%.0fms p99=%.0fms max=%.0fms mean=%.0fms (runs=%d); new leader agreed after p50=%.0fms p99=%.0fms max=%.0fms",
		name, msf(s.p50), msf(s.p99), msf(s.max), msf(s.mean), s.n, msf(e.p50), msf(e.p99), msf(e.max))
	b.Logf("  write ok (ms):     %s", join(ds))
	b.Logf("  leader agreed (ms): %s", join(elected))
}

// watchElection polls agreed (every interval) from start until it reports
// true or timeout passes, and delivers the elapsed time (or -1) on the
// returned channel.
func watchElection(start time.Time, interval, timeout time.Duration, agreed func() bool) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for time.Since(start) < timeout {
			if agreed() {
				ch <- time.Since(start)
				return
			}
			<-tick.C
		}
		ch <- -1
	}()
	return ch
}

// pollUntil polls cond every 10ms until it holds or timeout passes.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// ---------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------

// BenchmarkFailover_InProcess measures, over failoverRuns leader crashes in a
// 3-node in-process cluster, the time from the leader being stopped (its
// tc.stop has returned: from then on it sends nothing) until a write sent
// through a survivor succeeds. The API itself waits up to ForwardWait for a
// leader; 503s and connection errors are retried.
func BenchmarkFailover_InProcess(b *testing.B) {
	b.Run("heartbeat300ms", func(b *testing.B) { benchFailoverInProcess(b) })
	b.Run("defaults500ms", func(b *testing.B) { benchFailoverInProcess(b, withRaftDefaults()) })
}

func benchFailoverInProcess(b *testing.B, opts ...clusterOption) {
	for i := 0; i < b.N; i++ {
		tc := newCluster(b, 3, append([]clusterOption{withBenchLogger(b)}, opts...)...)
		client := newBenchClient(4)
		b.Logf("raft heartbeat=%s election=%s lease=%s", tc.nodes[0].cfg.Raft.HeartbeatTimeout,
			tc.nodes[0].cfg.Raft.ElectionTimeout, tc.nodes[0].cfg.Raft.LeaderLeaseTimeout)
		var ds, elected []time.Duration
		for run := 0; run < failoverRuns; run++ {
			l := tc.waitForLeader(15 * time.Second)
			oldID := tc.nodes[l].cfg.NodeID
			survivor := (l + 1) % 3
			base := "http://" + tc.nodes[survivor].cfg.HTTPAddr
			client.CloseIdleConnections() // no stale keep-alive to a restarted node
			tc.stop(l)
			start := time.Now()
			// Survivors are not touched until the watcher is done, so it may read them.
			survivors := []*server.Controller{tc.nodes[(l+1)%3].c, tc.nodes[(l+2)%3].c}
			electedCh := watchElection(start, time.Millisecond, 30*time.Second, func() bool {
				id0, _ := survivors[0].Node().Leader()
				id1, _ := survivors[1].Node().Leader()
				return id0 != "" && id0 != oldID && id0 == id1
			})
			err := retryWrite(func() (response, error) {
				return tryRequest(client, base, rootUser, "POST", failoverWritePth, nil)
			}, 30*time.Second)
			d := time.Since(start)
			e := <-electedCh
			if err != nil || e < 0 {
				b.Fatalf("run %d: write: %v; elected after %s; %s", run, err, e, describe(tc))
			}
			ds, elected = append(ds, d), append(elected, e)

			tc.restart(l)
			waitCaughtUpInProcess(b, tc, l)
		}
		reportFailover(b, b.Name(), ds, elected)
	}
}

// waitCaughtUpInProcess waits until all nodes agree on a leader and node i
// has applied everything the leader had committed.
func waitCaughtUpInProcess(b *testing.B, tc *testCluster, i int) {
	b.Helper()
	l := tc.waitForLeader(15 * time.Second)
	want := tc.nodes[l].c.Node().Status().CommitIndex
	if !pollUntil(15*time.Second, func() bool { return tc.nodes[i].c.Node().Status().AppliedIndex >= want }) {
		b.Fatalf("node %d did not catch up to index %d: %+v", i, want, tc.nodes[i].c.Node().Status())
	}
}

// BenchmarkFailover_Process is the same with `drove controller` processes and
// SIGKILL; the clock starts when the signal is sent.
func BenchmarkFailover_Process(b *testing.B) {
	b.Run("heartbeat300ms", func(b *testing.B) { benchFailoverProcess(b) })
	b.Run("defaults500ms", func(b *testing.B) {
		d := cluster.DefaultConfig()
		benchFailoverProcess(b, withProcRaftTimeouts(d.HeartbeatTimeout, d.ElectionTimeout))
	})
}

func benchFailoverProcess(b *testing.B, opts ...procOption) {
	for i := 0; i < b.N; i++ {
		pc := newProcCluster(b, 3, opts...)
		client := newBenchClient(4)
		b.Logf("raft heartbeat=%s election=%s", pc.heartbeat, pc.election)
		var ds, elected []time.Duration
		for run := 0; run < failoverRuns; run++ {
			l := pc.waitForLeader(15 * time.Second)
			oldID := pc.nodes[l].id
			survivor := (l + 1) % 3
			base := pc.base(survivor)
			bases := []string{pc.base((l + 1) % 3), pc.base((l + 2) % 3)}
			client.CloseIdleConnections()
			start := time.Now()
			pc.kill(l)
			electedCh := watchElection(start, 5*time.Millisecond, 30*time.Second, func() bool {
				h0, _, err0 := getHealthz(bases[0])
				h1, _, err1 := getHealthz(bases[1])
				return err0 == nil && err1 == nil && h0.Leader != "" && h0.Leader != oldID && h0.Leader == h1.Leader
			})
			err := retryWrite(func() (response, error) {
				return tryRequest(client, base, rootUser, "POST", failoverWritePth, nil)
			}, 30*time.Second)
			d := time.Since(start)
			e := <-electedCh
			if err != nil || e < 0 {
				b.Fatalf("run %d: write: %v; elected after %s", run, err, e)
			}
			ds, elected = append(ds, d), append(elected, e)

			pc.restart(l)
			waitCaughtUpProcess(b, pc, l)
		}
		reportFailover(b, b.Name(), ds, elected)
	}
}

func waitCaughtUpProcess(b *testing.B, pc *procCluster, i int) {
	b.Helper()
	l := pc.waitForLeader(20 * time.Second)
	ls, err := pc.selfStatus(l)
	if err != nil {
		b.Fatalf("leader status: %v", err)
	}
	var last selfInfo
	if !pollUntil(20*time.Second, func() bool {
		s, err := pc.selfStatus(i)
		last = s
		return err == nil && s.AppliedIndex >= ls.CommitIndex
	}) {
		b.Fatalf("node %d did not catch up to index %d: %+v", i, ls.CommitIndex, last)
	}
}

// ---------------------------------------------------------------------------
// Forwarding
// ---------------------------------------------------------------------------

// BenchmarkForwarding compares the latency of requests sent to the leader
// with the same requests sent to a follower (which proxies them to the
// leader), over one keep-alive client. Requests alternate leader, follower,
// leader, ... so both see the same conditions.
func BenchmarkForwarding(b *testing.B) {
	tc := newCluster(b, 3, withBenchLogger(b))
	b.Run("GET_cluster", func(b *testing.B) {
		benchForwarding(b, tc, "GET", "/apis/v1/cluster", 100, 2000)
	})
	b.Run("POST_maintenance_set", func(b *testing.B) {
		benchForwarding(b, tc, "POST", "/apis/v1/cluster/maintenance/set", 100, 500)
	})
}

func benchForwarding(b *testing.B, tc *testCluster, method, path string, warmup, n int) {
	for i := 0; i < b.N; i++ {
		l := tc.waitForLeader(10 * time.Second)
		f := tc.follower()
		leaderURL := "http://" + tc.nodes[l].cfg.HTTPAddr + path
		followerURL := "http://" + tc.nodes[f].cfg.HTTPAddr + path
		client := newBenchClient(2)
		for j := 0; j < warmup; j++ {
			if err := sendOK(client, method, leaderURL); err != nil {
				b.Fatal(err)
			}
			if err := sendOK(client, method, followerURL); err != nil {
				b.Fatal(err)
			}
		}
		timed := func(url string) time.Duration {
			start := time.Now()
			if err := sendOK(client, method, url); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		ld := make([]time.Duration, 0, n)
		fd := make([]time.Duration, 0, n)
		b.ResetTimer()
		for j := 0; j < n; j++ {
			ld = append(ld, timed(leaderURL))
			fd = append(fd, timed(followerURL))
		}
		b.StopTimer()
		if tc.leaderIndex() != l {
			b.Fatalf("leadership moved during the measurement: %s", describe(tc))
		}
		ls, fs := summarize(ld), summarize(fd)
		b.ReportMetric(usf(ls.p50), "leader_p50_us")
		b.ReportMetric(usf(ls.p99), "leader_p99_us")
		b.ReportMetric(usf(fs.p50), "follower_p50_us")
		b.ReportMetric(usf(fs.p99), "follower_p99_us")
		b.ReportMetric(usf(fs.p50-ls.p50), "overhead_p50_us")
		b.ReportMetric(usf(fs.p99-ls.p99), "overhead_p99_us")
		b.Logf("FORWARDING %s %s x%d each: leader p50=%.0fus p99=%.0fus max=%.0fus | follower p50=%.0fus p99=%.0fus max=%.0fus | overhead p50=%.0fus p99=%.0fus",
			method, path, n, usf(ls.p50), usf(ls.p99), usf(ls.max), usf(fs.p50), usf(fs.p99), usf(fs.max),
			usf(fs.p50-ls.p50), usf(fs.p99-ls.p99))
	}
}

// ---------------------------------------------------------------------------
// Raft throughput
// ---------------------------------------------------------------------------

const (
	throughputWindow = 3 * time.Second
	throughputMaxOps = 20000
)

// loadResult is the outcome of runLoad.
type loadResult struct {
	ops      int
	errs     int64
	firstErr error
	elapsed  time.Duration
	lat      latency
}

// runLoad runs op from conc goroutines until window has passed or maxOps
// operations were started, whichever comes first.
func runLoad(conc int, window time.Duration, maxOps int64, op func() error) loadResult {
	var (
		started  atomic.Int64
		errs     atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	lats := make([][]time.Duration, conc)
	start := time.Now()
	deadline := start.Add(window)
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for started.Add(1) <= maxOps && time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(); err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				lats[g] = append(lats[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return loadResult{ops: len(all), errs: errs.Load(), firstErr: firstErr, elapsed: elapsed, lat: summarize(all)}
}

func reportLoad(b *testing.B, what string, conc int, r loadResult) {
	if r.errs > 0 {
		b.Errorf("%d operations failed; first: %v", r.errs, r.firstErr)
	}
	opsPerSec := float64(r.ops) / r.elapsed.Seconds()
	b.ReportMetric(opsPerSec, "ops/s")
	b.ReportMetric(msf(r.lat.p50), "p50_ms")
	b.ReportMetric(msf(r.lat.p99), "p99_ms")
	b.Logf("THROUGHPUT %s C=%d: %d ops in %.2fs = %.0f ops/s; latency p50=%.2fms p99=%.2fms max=%.2fms",
		what, conc, r.ops, r.elapsed.Seconds(), opsPerSec, msf(r.lat.p50), msf(r.lat.p99), msf(r.lat.max))
}

// BenchmarkRaftThroughput commits Noop entries with a 64-byte payload on the
// leader of a 3-node in-process cluster from C goroutines, for 3s or 20000
// ops, whichever comes first; then the same through HTTP (maintenance/set on
// the leader from 64 clients).
func BenchmarkRaftThroughput(b *testing.B) {
	tc := newCluster(b, 3, withBenchLogger(b))
	payload := make([]byte, 64)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	cmd, err := fsm.Encode(fsm.NoopType, fsm.NoopRequest{Data: payload})
	if err != nil {
		b.Fatal(err)
	}
	for _, conc := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("apply/C=%d", conc), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				node := tc.nodes[tc.waitForLeader(10*time.Second)].c.Node()
				b.ResetTimer()
				r := runLoad(conc, throughputWindow, throughputMaxOps, func() error {
					_, err := node.Apply(cmd)
					return err
				})
				b.StopTimer()
				reportLoad(b, "raft Apply", conc, r)
			}
		})
	}
	b.Run("http_maintenance_set/C=64", func(b *testing.B) {
		const conc = 64
		for i := 0; i < b.N; i++ {
			url := "http://" + tc.nodes[tc.waitForLeader(10*time.Second)].cfg.HTTPAddr + "/apis/v1/cluster/maintenance/set"
			client := newBenchClient(conc)
			b.ResetTimer()
			r := runLoad(conc, throughputWindow, throughputMaxOps, func() error {
				return sendOK(client, "POST", url)
			})
			b.StopTimer()
			reportLoad(b, "HTTP POST maintenance/set on leader", conc, r)
		}
	})
}
