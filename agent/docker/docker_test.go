package docker

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/integration/testimage"
)

// testLabel marks every container a test creates with the test's random
// prefix, so cleanup can find stragglers.
const testLabel = "drove.test.prefix"

// harness is one test's runtime, image and container naming.
type harness struct {
	t      *testing.T
	rt     *Runtime
	image  string
	prefix string
}

// newHarness requires Docker (skipping without it, failing with CI=true),
// builds the test image and returns a runtime whose containers are all
// removed when the test ends, even if it fails.
func newHarness(t *testing.T) *harness {
	t.Helper()
	image := testimage.Require(t)
	rt, err := New(Config{PullTimeout: 10 * time.Second})
	require.NoError(t, err)
	var b [4]byte
	_, _ = crand.Read(b[:])
	h := &harness{t: t, rt: rt, image: image, prefix: "drove-test-" + hex.EncodeToString(b[:]) + "-"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := rt.List(ctx, map[string]string{testLabel: h.prefix})
		if err != nil {
			t.Errorf("cleanup: list: %v", err)
		}
		for _, c := range list {
			if err := rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, agent.ErrNotFound) {
				t.Errorf("cleanup: remove %s: %v", c.Name, err)
			}
		}
		_ = rt.Close()
	})
	return h
}

// spec returns a spec for the test image named prefix+name.
func (h *harness) spec(name string) agent.ContainerSpec {
	return agent.ContainerSpec{
		Name:   h.prefix + name,
		Image:  h.image,
		Labels: map[string]string{testLabel: h.prefix, "drove.test.name": name},
	}
}

// create creates the container and registers its removal.
func (h *harness) create(spec agent.ContainerSpec) string {
	h.t.Helper()
	id, err := h.rt.Create(h.ctx(), spec)
	require.NoError(h.t, err)
	require.NotEmpty(h.t, id)
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.rt.Remove(ctx, id); err != nil && !errors.Is(err, agent.ErrNotFound) {
			h.t.Errorf("cleanup: remove %s: %v", spec.Name, err)
		}
	})
	return id
}

// run creates and starts the container.
func (h *harness) run(spec agent.ContainerSpec) string {
	h.t.Helper()
	id := h.create(spec)
	require.NoError(h.t, h.rt.Start(h.ctx(), id))
	return id
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(h.t.Context(), 2*time.Minute)
	h.t.Cleanup(cancel)
	return ctx
}

// waitStatus polls Inspect until the container has status st.
func (h *harness) waitStatus(id string, st agent.ContainerStatus) agent.Container {
	h.t.Helper()
	var c agent.Container
	require.Eventually(h.t, func() bool {
		var err error
		c, err = h.rt.Inspect(h.ctx(), id)
		require.NoError(h.t, err)
		return c.Status == st
	}, 30*time.Second, 20*time.Millisecond, "container %s never became %s", id, st)
	return c
}

// rawInspect inspects the container with the Docker client directly.
func (h *harness) rawInspect(id string) client.ContainerInspectResult {
	h.t.Helper()
	res, err := h.rt.cli.ContainerInspect(h.ctx(), id, client.ContainerInspectOptions{})
	require.NoError(h.t, err)
	return res
}

// logs returns the container's output so far.
func (h *harness) logs(id string) string {
	h.t.Helper()
	rc, err := h.rt.Logs(h.ctx(), id, false)
	require.NoError(h.t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(h.t, err)
	return string(b)
}

// waitLog polls the logs until they contain s.
func (h *harness) waitLog(id, s string) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return strings.Contains(h.logs(id), s) },
		30*time.Second, 20*time.Millisecond, "logs of %s never contained %q", id, s)
}

// freePort returns a port that was free on the host for network ("tcp" or
// "udp").
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", ":0")
		require.NoError(t, err)
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get polls url until it answers, then returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	var code int
	var body string
	require.Eventually(t, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false
		}
		code, body = resp.StatusCode, string(b)
		return true
	}, 30*time.Second, 20*time.Millisecond, "GET %s never answered", url)
	return code, body
}

// webSpec is the testapp with its port 8000 published on a free host port.
func (h *harness) webSpec(name string) (agent.ContainerSpec, int) {
	port := freePort(h.t, "tcp")
	spec := h.spec(name)
	spec.Ports = []agent.PortBinding{{ContainerPort: 8000, HostPort: port, Protocol: "tcp"}}
	return spec, port
}

func TestRunContainer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec, port := h.webSpec("web")
	udpPort := freePort(t, "udp")
	spec.Ports = append(spec.Ports, agent.PortBinding{ContainerPort: 9000, HostPort: udpPort, Protocol: "udp"})
	spec.Env = map[string]string{"ZED": "last", "GREETING": "hello world", "PORT_8000": strconv.Itoa(port)}
	spec.CPUSet = []int{0}
	if runtime.NumCPU() > 1 {
		spec.CPUSet = []int{0, 1}
	}
	spec.MemoryMB = 64
	before := time.Now().Add(-2 * time.Second)

	id := h.create(spec)
	c, err := h.rt.Inspect(h.ctx(), id)
	require.NoError(t, err)
	require.Equal(t, agent.ContainerCreated, c.Status)
	require.Equal(t, spec.Name, c.Name)
	require.Equal(t, h.image, c.Image)
	require.Equal(t, spec.Labels, c.Labels)
	require.True(t, c.Created.After(before), "created %v", c.Created)
	require.True(t, c.StartedAt.IsZero())
	require.NoError(t, h.rt.Stop(h.ctx(), id, time.Second), "stopping a created container is a no-op")

	require.NoError(t, h.rt.Start(h.ctx(), id))
	require.NoError(t, h.rt.Start(h.ctx(), id), "starting a running container is a no-op")
	c, err = h.rt.Inspect(h.ctx(), id)
	require.NoError(t, err)
	require.Equal(t, agent.ContainerRunning, c.Status)
	require.False(t, c.StartedAt.Before(c.Created), "started %v before created %v", c.StartedAt, c.Created)
	require.True(t, c.FinishedAt.IsZero())

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	code, body := get(t, base+"/")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body)
	code, body = get(t, base+"/env")
	require.Equal(t, http.StatusOK, code)
	var env map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	for k, v := range spec.Env {
		require.Equal(t, v, env[k], "env %s", k)
	}

	list, err := h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix, "drove.test.name": "web"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, id, list[0].ID)
	require.Equal(t, spec.Name, list[0].Name)
	require.Equal(t, agent.ContainerRunning, list[0].Status)
	require.Equal(t, spec.Labels, list[0].Labels)
	list, err = h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix, "drove.test.name": "other"})
	require.NoError(t, err)
	require.Empty(t, list)

	raw := h.rawInspect(id).Container
	var cpus []string
	for _, c := range spec.CPUSet {
		cpus = append(cpus, strconv.Itoa(c))
	}
	require.Equal(t, strings.Join(cpus, ","), raw.HostConfig.CpusetCpus)
	require.Equal(t, int64(64<<20), raw.HostConfig.Memory)
	require.Equal(t, int64(64<<20), raw.HostConfig.MemorySwap)
	var specEnv []string
	for _, kv := range raw.Config.Env {
		if k, _, _ := strings.Cut(kv, "="); spec.Env[k] != "" {
			specEnv = append(specEnv, kv)
		}
	}
	require.Equal(t, []string{"GREETING=hello world", "PORT_8000=" + strconv.Itoa(port), "ZED=last"}, specEnv)
	tcp := network.MustParsePort("8000/tcp")
	udp := network.MustParsePort("9000/udp")
	require.Contains(t, raw.Config.ExposedPorts, tcp)
	require.Contains(t, raw.Config.ExposedPorts, udp)
	require.Equal(t, strconv.Itoa(port), raw.HostConfig.PortBindings[tcp][0].HostPort)
	require.Equal(t, strconv.Itoa(udpPort), raw.HostConfig.PortBindings[udp][0].HostPort)
}

func TestArgs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("args")
	spec.Args = []string{"echo", "from", "args"}
	id := h.run(spec)
	c := h.waitStatus(id, agent.ContainerExited)
	require.Equal(t, 0, c.ExitCode)
	// Not FinishedAt >= StartedAt: for a process this short the daemon may
	// record its start after its end.
	require.False(t, c.StartedAt.IsZero())
	require.False(t, c.FinishedAt.IsZero())
	out := h.logs(id)
	require.Contains(t, out, "from args\n", "stdout")
	require.Contains(t, out, "2\n", "stderr is merged")

	list, err := h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, agent.ContainerExited, list[0].Status)

	spec = h.spec("fails")
	spec.Args = []string{"fail", "5"}
	id = h.run(spec)
	c = h.waitStatus(id, agent.ContainerExited)
	require.Equal(t, 5, c.ExitCode)
	list, err = h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix, "drove.test.name": "fails"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 5, list[0].ExitCode, "exit code from the list's status text")
}

func TestExec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.run(h.spec("exec"))
	h.waitLog(id, "testapp listening")

	code, out, err := h.rt.Exec(h.ctx(), id, []string{"/testapp", "check", "http://127.0.0.1:8000/"})
	require.NoError(t, err)
	require.Equal(t, 0, code, "output: %s", out)
	require.Contains(t, string(out), "check http://127.0.0.1:8000/ 200")

	code, out, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "check", "http://127.0.0.1:8000/health"})
	require.NoError(t, err)
	require.Equal(t, 0, code, "output: %s", out)
	code, _, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "touch", "/tmp/unhealthy"})
	require.NoError(t, err)
	require.Equal(t, 0, code)
	code, out, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "check", "http://127.0.0.1:8000/health"})
	require.NoError(t, err)
	require.Equal(t, 1, code, "output: %s", out)

	code, out, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "check", "http://127.0.0.1:1/"})
	require.NoError(t, err)
	require.Equal(t, 1, code)
	require.Contains(t, string(out), "check failed", "stderr is collected")

	code, out, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "fail", "7"})
	require.NoError(t, err)
	require.Equal(t, 7, code)
	require.Equal(t, "failing\n", string(out))

	code, out, err = h.rt.Exec(h.ctx(), id, []string{"/no/such/binary"})
	require.NoError(t, err, "a command that cannot run is an exit code, not an error")
	require.Contains(t, []int{126, 127}, code, "output: %s", out)

	_, _, err = h.rt.Exec(h.ctx(), id, nil)
	require.Error(t, err)

	require.NoError(t, h.rt.Stop(h.ctx(), id, 5*time.Second))
	_, _, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "echo"})
	require.ErrorIs(t, err, ErrNotRunning)
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec, port := h.webSpec("logs")
	id := h.run(spec)
	h.waitLog(id, "testapp listening on :8000\n")

	ctx, cancel := context.WithTimeout(h.ctx(), 30*time.Second)
	defer cancel()
	rc, err := h.rt.Logs(ctx, id, true)
	require.NoError(t, err)
	defer rc.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	require.Equal(t, "testapp listening on :8000", <-lines, "follow starts with the existing output")

	code, _ := get(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/ready")
	require.Equal(t, http.StatusOK, code)
	found := false
	for l := range lines {
		if l == "request GET /ready" {
			found = true
			break
		}
	}
	require.True(t, found, "followed logs never showed the request")

	// Closing the reader ends the stream.
	require.NoError(t, rc.Close())
	for range lines {
	}

	// A followed stream ends by itself when the container stops.
	rc2, err := h.rt.Logs(h.ctx(), id, true)
	require.NoError(t, err)
	defer rc2.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rc2)
		done <- err
	}()
	require.NoError(t, h.rt.Stop(h.ctx(), id, 5*time.Second))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("followed logs did not end when the container stopped")
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	// Graceful: the app handles SIGTERM and exits 0 within the grace period.
	id := h.run(h.spec("graceful"))
	h.waitLog(id, "testapp listening")
	start := time.Now()
	require.NoError(t, h.rt.Stop(h.ctx(), id, 20*time.Second))
	require.Less(t, time.Since(start), 15*time.Second, "a graceful stop does not wait for the grace period")
	c, err := h.rt.Inspect(h.ctx(), id)
	require.NoError(t, err)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, 0, c.ExitCode)
	require.False(t, c.FinishedAt.IsZero())
	out := h.logs(id)
	require.Contains(t, out, "got SIGTERM\n")
	require.Contains(t, out, "testapp stopped\n")
	require.NoError(t, h.rt.Stop(h.ctx(), id, time.Second), "stopping an exited container is a no-op")

	// Too slow: SIGKILL after the grace period.
	spec := h.spec("slow")
	spec.Env = map[string]string{"SHUTDOWN_DELAY": "1m"}
	id = h.run(spec)
	h.waitLog(id, "testapp listening")
	start = time.Now()
	require.NoError(t, h.rt.Stop(h.ctx(), id, time.Second))
	require.Less(t, time.Since(start), 30*time.Second)
	c, err = h.rt.Inspect(h.ctx(), id)
	require.NoError(t, err)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, 137, c.ExitCode)
	require.Contains(t, h.logs(id), "got SIGTERM\n")
	require.NotContains(t, h.logs(id), "testapp stopped")

	// An exited container can be started again.
	require.NoError(t, h.rt.Start(h.ctx(), id))
	h.waitStatus(id, agent.ContainerRunning)
}

func TestEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	events, err := h.rt.Events(ctx)
	require.NoError(t, err)

	spec, port := h.webSpec("events")
	id := h.run(spec)
	get(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
	// The connection may drop as the process exits; only the exit matters.
	_, _ = (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:" + strconv.Itoa(port) + "/exit?code=3")

	next := func() agent.ContainerEvent {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				require.True(t, ok, "events channel closed early")
				if ev.ContainerID == id {
					return ev
				}
			case <-timeout:
				t.Fatal("no event for the container")
			}
		}
	}
	ev := next()
	require.Equal(t, agent.ContainerExited, ev.Status)
	require.Equal(t, 3, ev.ExitCode)
	require.Equal(t, spec.Labels, ev.Labels)
	c, err := h.rt.Inspect(h.ctx(), id)
	require.NoError(t, err)
	require.Equal(t, agent.ContainerExited, c.Status)
	require.Equal(t, 3, c.ExitCode)

	require.NoError(t, h.rt.Remove(h.ctx(), id))
	ev = next()
	require.Equal(t, agent.ContainerStatus(""), ev.Status)
	require.Equal(t, spec.Labels, ev.Labels)

	_, err = h.rt.Inspect(h.ctx(), id)
	require.ErrorIs(t, err, agent.ErrNotFound)
	require.ErrorIs(t, h.rt.Remove(h.ctx(), id), agent.ErrNotFound)

	cancel()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("events channel not closed after cancel")
		}
	}
}

func TestRemoveRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.run(h.spec("remove"))
	h.waitStatus(id, agent.ContainerRunning)
	require.NoError(t, h.rt.Remove(h.ctx(), id))
	_, err := h.rt.Inspect(h.ctx(), id)
	require.ErrorIs(t, err, agent.ErrNotFound)
	list, err := h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix})
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("noimage")
	spec.Image = "drove-nonexistent:nope"
	spec.PullTimeout = 20 * time.Second
	start := time.Now()
	_, err := h.rt.Create(h.ctx(), spec)
	require.ErrorIs(t, err, agent.ErrImage)
	require.Less(t, time.Since(start), 25*time.Second)

	spec.Image = "Invalid Reference!"
	_, err = h.rt.Create(h.ctx(), spec)
	require.ErrorIs(t, err, agent.ErrImage)

	spec.Image = ""
	_, err = h.rt.Create(h.ctx(), spec)
	require.ErrorIs(t, err, agent.ErrImage)

	list, err := h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix})
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestDuplicateName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("dup")
	h.create(spec)
	_, err := h.rt.Create(h.ctx(), spec)
	require.ErrorIs(t, err, ErrNameInUse)
	require.NotErrorIs(t, err, agent.ErrImage)
}

func TestInvalidSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, mutate := range map[string]func(*agent.ContainerSpec){
		"protocol":  func(s *agent.ContainerSpec) { s.Ports = []agent.PortBinding{{ContainerPort: 80, Protocol: "icmp"}} },
		"port":      func(s *agent.ContainerSpec) { s.Ports = []agent.PortBinding{{ContainerPort: 0}} },
		"host port": func(s *agent.ContainerSpec) { s.Ports = []agent.PortBinding{{ContainerPort: 80, HostPort: 70000}} },
		"cpu":       func(s *agent.ContainerSpec) { s.CPUSet = []int{-1} },
		"memory":    func(s *agent.ContainerSpec) { s.MemoryMB = -1 },
	} {
		spec := h.spec("invalid")
		mutate(&spec)
		_, err := h.rt.Create(h.ctx(), spec)
		require.Error(t, err, name)
		require.NotErrorIs(t, err, agent.ErrImage, name)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const id = "drove-test-no-such-container"
	ctx := h.ctx()
	require.ErrorIs(t, h.rt.Start(ctx, id), agent.ErrNotFound)
	require.ErrorIs(t, h.rt.Stop(ctx, id, time.Second), agent.ErrNotFound)
	require.ErrorIs(t, h.rt.Remove(ctx, id), agent.ErrNotFound)
	_, err := h.rt.Inspect(ctx, id)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, err = h.rt.Logs(ctx, id, false)
	require.ErrorIs(t, err, agent.ErrNotFound)
	_, _, err = h.rt.Exec(ctx, id, []string{"true"})
	require.ErrorIs(t, err, agent.ErrNotFound)
}

func TestNewUnreachable(t *testing.T) {
	t.Parallel()
	const sock = "unix:///nonexistent/drove-docker.sock"
	_, err := New(Config{Host: sock, PingTimeout: 5 * time.Second})
	require.Error(t, err)
	require.Contains(t, err.Error(), sock)
}

func TestName(t *testing.T) {
	require.Equal(t, "docker", (&Runtime{}).Name())
}
