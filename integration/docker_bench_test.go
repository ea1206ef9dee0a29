package integration

// Benchmarks on the real Docker runtime (agent/docker) with the testapp
// image: API accept to HEALTHY versus plain `docker run`, the in-process
// cost of 50 running containers, and re-adoption after an agent restart.
// Run them with
//
//	go test -run '^$' -bench 'BenchmarkDocker_' -benchtime 1x -timeout 20m ./integration/
//
// They print figures (b.ReportMetric, b.Logf) and assert no timing target.
// Every container they create is removed when the benchmark ends, pass or
// fail.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/docker"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// dockerBenchPorts is the executor's host port window for these benchmarks
// (apart from the e2e tests' window); dockerRunPortBase is where the plain
// `docker run` baseline publishes its containers.
var dockerBenchPorts = agent.PortRange{Min: 61400, Max: 61499}

const dockerRunPortBase = 61600

// benchLogger is a warn-level logger into a buffer shown only on failure.
func benchLogger(b *testing.B, name string) hclog.Logger {
	buf := &logBuffer{}
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("%s log:\n%s", name, buf.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: buf})
}

// benchLayout offers slots core slots on the host's real cores 0 and 1: the
// containers are pinned to the offered cores, so only real ones may be
// offered, and "NUMA nodes" repeating them give the scheduler room.
func benchLayout(slots int, memPerNodeMB int64) model.ResourceLayout {
	l := model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{}}
	for n := 0; n < (slots+1)/2+1; n++ {
		l.Cores[n] = []int{0, 1}
		l.Memory[n] = memPerNodeMB
	}
	return l
}

// removeAppContainers removes every container labelled with one of appIDs.
func removeAppContainers(b *testing.B, appIDs ...string) {
	rt, err := docker.New(docker.Config{PullTimeout: 30 * time.Second, Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Errorf("cleanup: docker runtime: %v", err)
		return
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, app := range appIDs {
		list, err := rt.List(ctx, map[string]string{agent.LabelAppID: app})
		if err != nil {
			b.Errorf("cleanup: list containers of %s: %v", app, err)
			continue
		}
		var wg sync.WaitGroup
		for _, c := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, agent.ErrNotFound) {
					b.Errorf("cleanup: remove %s: %v", c.Name, err)
				}
			}()
		}
		wg.Wait()
	}
}

// benchDockerExecutor is an in-process agent on a Docker runtime that can be
// killed and restarted with the same config.
type benchDockerExecutor struct {
	cfg agent.Config
	rt  *docker.Runtime
	a   *agent.Agent
}

// startBenchDockerExecutor starts executor id offering layout. The apps'
// containers are removed at the end (that cleanup is registered first, so
// it runs after the agent is killed).
func startBenchDockerExecutor(b *testing.B, tc *testCluster, id string, layout model.ResourceLayout, appIDs ...string) *benchDockerExecutor {
	b.Helper()
	b.Cleanup(func() { removeAppContainers(b, appIDs...) })
	e := &benchDockerExecutor{cfg: executorConfig(b, tc, id)}
	e.cfg.Logger = benchLogger(b, id)
	e.cfg.Hostname = "127.0.0.1"
	e.cfg.LogDir = b.TempDir()
	e.cfg.PortRange = dockerBenchPorts
	e.cfg.StopGrace = 5 * time.Second
	e.cfg.Layout = layout
	b.Cleanup(e.kill)
	e.start(b)
	return e
}

func (e *benchDockerExecutor) start(b *testing.B) {
	b.Helper()
	rt, err := docker.New(docker.Config{PullTimeout: 30 * time.Second, Logger: e.cfg.Logger.Named("docker")})
	require.NoError(b, err)
	e.rt = rt
	e.a, err = agent.New(e.cfg, rt)
	require.NoError(b, err)
	// A restart comes back on the same addresses, as a real executor with
	// fixed ports does (a new gossip address under the same name would be
	// a conflicting member until the old one is declared dead).
	e.cfg.HTTPAddr, e.cfg.GossipAddr = e.a.HTTPAddr(), e.a.GossipAddr()
}

func (e *benchDockerExecutor) kill() {
	if e.a != nil {
		e.a.Kill()
		e.a = nil
	}
	if e.rt != nil {
		_ = e.rt.Close()
		e.rt = nil
	}
}

// benchAppSpec is dockerAppSpec with faster checks (readiness every 200 ms,
// health every 500 ms) and memMB of memory.
func benchAppSpec(name, image string, memMB int) map[string]any {
	s := dockerAppSpec(name, image)
	check := func(path, interval string) map[string]any {
		return map[string]any{
			"mode": map[string]any{"type": "HTTP", "protocol": "HTTP", "portName": "main", "path": path, "verb": "GET",
				"successCodes": []int{200}, "connectionTimeout": "1 second"},
			"timeout": "1 second", "interval": interval, "attempts": 3, "initialDelay": "0 seconds",
		}
	}
	s["readiness"] = check("/ready", "200 milliseconds")
	s["healthcheck"] = check("/health", "500 milliseconds")
	s["resources"] = []any{map[string]any{"type": "CPU", "count": 1},
		map[string]any{"type": "MEMORY", "sizeInMB": memMB}}
	return s
}

// countHealthy is the number of the app's instances the API lists as
// HEALTHY, and the total it lists.
func countHealthy(b *testing.B, tc *testCluster, appID string) (healthy, total int, ins []model.InstanceInfo) {
	b.Helper()
	r := tc.call(0, readOnly, "GET", "/apis/v1/applications/"+appID+"/instances", nil)
	requireSuccess(b, r)
	r.data(b, &ins)
	for _, in := range ins {
		if in.State == model.InstanceHealthy {
			healthy++
		}
	}
	return healthy, len(ins), ins
}

// waitAllHealthy polls the API until n instances of appID are HEALTHY and
// returns the time it took from start.
func waitAllHealthy(b *testing.B, tc *testCluster, appID string, n int, start time.Time, timeout time.Duration) time.Duration {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h, total, _ := countHealthy(b, tc, appID)
		if h == n && total == n {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d/%d HEALTHY (of %d listed) after %s", appID, h, n, total, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createBenchApp starts a one-node cluster and a docker executor, creates
// appName with n instances and waits for all HEALTHY. It returns the
// cluster, the executor and the time from POST to all HEALTHY.
func createBenchApp(b *testing.B, image, appName string, n, memMB, parallelism int) (*testCluster, *benchDockerExecutor, string, time.Duration) {
	b.Helper()
	appID := appName + "-1"
	tc := newCluster(b, 1, withExecutorTiming(), withFastOutage(), withBenchLogger(b))
	layout := benchLayout(n, int64(n*memMB+1024))
	e := startBenchDockerExecutor(b, tc, "docker-bench", layout, appID)
	waitExecutorState(b, tc, "docker-bench", model.ExecutorActive, 15*time.Second)
	start := time.Now()
	appOp(b, tc, 0, map[string]any{"type": "CREATE", "spec": benchAppSpec(appName, image, memMB),
		"instances": n, "opSpec": map[string]any{"timeout": "5 minutes", "parallelism": parallelism, "failureStrategy": "STOP"}})
	accepted := time.Since(start)
	d := waitAllHealthy(b, tc, appID, n, start, 5*time.Minute)
	b.Logf("%s: CREATE accepted in %s, %d instances HEALTHY after %s", appID, accepted.Round(time.Millisecond), n, d.Round(time.Millisecond))
	return tc, e, appID, d
}

// ---------------------------------------------------------------------------
// 1. API accept → 10 HEALTHY versus 10 × docker run
// ---------------------------------------------------------------------------

func BenchmarkDocker_AcceptToHealthyVsDockerRun(b *testing.B) {
	image := testimage.Require(b)
	const n = 10
	for i := 0; i < b.N; i++ {
		_, _, _, droveD := createBenchApp(b, image, "DBENCH_ACCEPT", n, 64, n)
		runD := dockerRunBaseline(b, image, n)
		ratio := droveD.Seconds() / runD.Seconds()
		b.ReportMetric(droveD.Seconds(), "drove_s")
		b.ReportMetric(runD.Seconds(), "docker_run_s")
		b.ReportMetric(ratio, "ratio")
		b.Logf("%d instances: drove API accept→all HEALTHY %s; %d parallel `docker run -d` → all answer 200 on / %s; ratio %.2f",
			n, droveD.Round(time.Millisecond), n, runD.Round(time.Millisecond), ratio)
	}
}

// dockerRunBaseline runs n containers of image with the docker CLI (in
// parallel, like drove's parallelism n), each publishing 8000 on its own
// loopback port, and returns the time until all of them answer 200 on /.
// The containers are removed at the end, pass or fail.
func dockerRunBaseline(b *testing.B, image string, n int) time.Duration {
	b.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("drove-bench-run-%d-%d", os.Getpid(), i)
	}
	b.Cleanup(func() {
		out, err := exec.Command("docker", append([]string{"rm", "-f"}, names...)...).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "No such container") {
			b.Errorf("cleanup: docker rm -f: %v: %s", err, out)
		}
	})
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			port := dockerRunPortBase + i
			out, err := exec.Command("docker", "run", "-d", "--name", names[i], "--memory", "64m",
				"-p", "127.0.0.1:"+strconv.Itoa(port)+":8000", image).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("docker run %s: %v: %s", names[i], err, out)
				return
			}
			url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
			deadline := time.Now().Add(time.Minute)
			for time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			errs[i] = fmt.Errorf("%s never answered 200", url)
		}()
	}
	wg.Wait()
	d := time.Since(start)
	require.NoError(b, errors.Join(errs...))
	return d
}

// ---------------------------------------------------------------------------
// 2. Process cost with 50 running containers
// ---------------------------------------------------------------------------

func BenchmarkDocker_AgentCostWith50Containers(b *testing.B) {
	image := testimage.Require(b)
	const n = 50
	const window = 30 * time.Second
	for i := 0; i < b.N; i++ {
		_, e, _, d := createBenchApp(b, image, "DBENCH_COST", n, 16, 10)
		require.Len(b, e.a.Instances(), n)
		runtime.GC()
		cpu0, t0 := selfCPU(), time.Now()
		time.Sleep(window)
		cpu1, t1 := selfCPU(), time.Now()
		cpuPct := 100 * (cpu1 - cpu0).Seconds() / t1.Sub(t0).Seconds()
		rss, peak, err := procMemMB(os.Getpid())
		require.NoError(b, err)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap := float64(ms.HeapAlloc) / (1 << 20)
		gor := runtime.NumGoroutine()
		b.ReportMetric(d.Seconds(), "to_healthy_s")
		b.ReportMetric(cpuPct, "cpu_pct")
		b.ReportMetric(rss, "rss_mb")
		b.ReportMetric(heap, "heap_mb")
		b.ReportMetric(float64(gor), "goroutines")
		b.Logf("%d HEALTHY containers (16 MB each) after %s; over %s the test process (controller + executor agent in ONE process) used %.2f%% of one CPU, RSS %.1f MB (peak %.1f), heap %.1f MB, %d goroutines",
			n, d.Round(time.Millisecond), window, cpuPct, rss, peak, heap, gor)
	}
}

// ---------------------------------------------------------------------------
// 3. Agent restart re-adopts 20 containers
// ---------------------------------------------------------------------------

func BenchmarkDocker_ExecutorRestartReadoption(b *testing.B) {
	image := testimage.Require(b)
	const n = 20
	for i := 0; i < b.N; i++ {
		tc, e, appID, _ := createBenchApp(b, image, "DBENCH_READOPT", n, 32, 10)
		before := containerIDs(b, e.rt, appID)
		require.Len(b, before, n)
		_, _, ins0 := countHealthy(b, tc, appID)
		ids0 := instanceIDs(ins0)

		start := time.Now()
		e.kill() // no containers are stopped: the agent just goes away
		e.start(b)
		restarted := time.Since(start)
		var localD time.Duration
		fromNew := 0
		deadline := time.Now().Add(2 * time.Minute)
		for {
			local := e.a.Instances()
			lh := 0
			for _, in := range local {
				if in.State == model.InstanceHealthy {
					lh++
				}
			}
			if localD == 0 && lh == n && len(local) == n {
				localD = time.Since(start)
			}
			// How many instances the controller holds a HEALTHY report from
			// the new boot for (informational).
			fromNew = 0
			for _, id := range ids0 {
				if rec, ok := tc.nodes[0].c.FSM().Instance(id); ok && rec.ReportBoot == e.a.Boot() &&
					rec.Info.State == model.InstanceHealthy {
					fromNew++
				}
			}
			h, total, _ := countHealthy(b, tc, appID)
			// Reports that only confirm HEALTHY are not committed, so the
			// controller may keep older boots' reports: the proof is that the
			// agent holds all n HEALTHY and nothing is stopped or replaced
			// for a few seconds after (an unknown instance would be stopped
			// after UnknownGrace).
			if localD != 0 && h == n && total == n && lh == n && len(local) == n && time.Since(start) > localD+3*time.Second {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("after restart: agent has %d/%d HEALTHY of %d; controller %d from the new boot; API %d/%d HEALTHY of %d",
					lh, n, len(local), fromNew, h, n, total)
			}
			time.Sleep(50 * time.Millisecond)
		}
		readopt := time.Since(start)
		after := containerIDs(b, e.rt, appID)
		_, _, ins1 := countHealthy(b, tc, appID)
		require.Equal(b, before, after, "container ids changed across the agent restart")
		require.Equal(b, ids0, instanceIDs(ins1), "instance ids changed across the agent restart")
		b.ReportMetric(localD.Seconds(), "readopt_s")
		b.ReportMetric(float64(fromNew), "reports_from_new_boot")
		b.ReportMetric(restarted.Seconds(), "agent_restart_s")
		b.Logf("%d containers: kill+new agent in %s; new agent's Instances() all HEALTHY (re-adopted) after %s; still all HEALTHY, none replaced, after %s; container ids unchanged (%d)",
			n, restarted.Round(time.Millisecond), localD.Round(time.Millisecond), readopt.Round(time.Millisecond), len(after))
	}
}

// containerIDs is the sorted ids of appID's containers.
func containerIDs(b *testing.B, rt *docker.Runtime, appID string) []string {
	b.Helper()
	list, err := rt.List(b.Context(), map[string]string{agent.LabelAppID: appID})
	require.NoError(b, err)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}
