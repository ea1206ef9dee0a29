package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/agent"
)

// requireLocalDaemon skips tests that share host paths with the daemon
// when it is not on this host.
func requireLocalDaemon(t *testing.T, h *harness) {
	t.Helper()
	if !strings.HasPrefix(h.rt.DaemonHost(), "unix://") {
		t.Skipf("daemon at %s may not see this host's files", h.rt.DaemonHost())
	}
}

// getFile reads path inside the container through the testapp's /file.
func getFile(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	return get(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/file?path="+url.QueryEscape(path))
}

func TestBindMounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	requireLocalDaemon(t, h)
	rw, ro := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(rw, "hello.txt"), []byte("from rw"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(ro, "hello.txt"), []byte("from ro"), 0o644))
	spec, port := h.webSpec("binds")
	spec.Binds = []agent.Bind{
		{HostPath: rw, ContainerPath: "/data/rw"},
		{HostPath: ro, ContainerPath: "/data/ro", ReadOnly: true},
	}
	id := h.run(spec)

	code, body := getFile(t, port, "/data/rw/hello.txt")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "from rw", body)
	code, body = getFile(t, port, "/data/ro/hello.txt")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "from ro", body)

	code, out, err := h.rt.Exec(h.ctx(), id, []string{"/testapp", "touch", "/data/rw/new"})
	require.NoError(t, err)
	require.Equal(t, 0, code, "output: %s", out)
	require.FileExists(t, filepath.Join(rw, "new"), "a write in the container shows on the host")
	code, out, err = h.rt.Exec(h.ctx(), id, []string{"/testapp", "touch", "/data/ro/new"})
	require.NoError(t, err)
	require.Equal(t, 1, code, "a read-only bind refuses writes; output: %s", out)
	require.NoFileExists(t, filepath.Join(ro, "new"))

	raw := h.rawInspect(id).Container
	require.Equal(t, []string{rw + ":/data/rw", ro + ":/data/ro:ro"}, raw.HostConfig.Binds)
}

func TestFilesAndUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec, port := h.webSpec("files")
	spec.User = "1000:1000"
	spec.Files = []agent.File{
		{Path: "/etc/drove/app/config.yml", Data: []byte("greeting: hello\n")}, // parents do not exist in the image
		{Path: "/config.txt", Mode: 0o644, Data: []byte("top")},
		{Path: "/secret.txt", Mode: 0o600, Data: []byte("root only")},
		{Path: "/empty", Data: nil},
	}
	id := h.create(spec)
	require.NoError(t, h.rt.Start(h.ctx(), id))
	h.waitLog(id, "testapp listening")

	code, body := getFile(t, port, "/etc/drove/app/config.yml")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "greeting: hello\n", body)
	code, body = getFile(t, port, "/config.txt")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "top", body)
	code, body = getFile(t, port, "/empty")
	require.Equal(t, http.StatusOK, code, body)
	require.Empty(t, body)
	// Files belong to root: mode 0600 hides one from user 1000, which also
	// shows that the process does not run as root.
	code, body = getFile(t, port, "/secret.txt")
	require.Equal(t, http.StatusInternalServerError, code, body)
	require.Contains(t, body, "permission denied")

	raw := h.rawInspect(id).Container
	require.Equal(t, "1000:1000", raw.Config.User)

	// Restarting does not copy the files again (Start is a plain start).
	require.NoError(t, h.rt.Stop(h.ctx(), id, 5*time.Second))
	require.NoError(t, h.rt.Start(h.ctx(), id))
	h.waitStatus(id, agent.ContainerRunning)
}

func TestFilesCopyFailureRemovesContainer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("badfile")
	// /etc is a directory in every container: a file cannot replace it.
	spec.Files = []agent.File{{Path: "/etc", Data: []byte("x")}}
	_, err := h.rt.Create(h.ctx(), spec)
	require.Error(t, err)
	require.Contains(t, err.Error(), "copy files")
	require.NotErrorIs(t, err, agent.ErrImage)
	list, err := h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix})
	require.NoError(t, err)
	require.Empty(t, list, "the container is removed when its files cannot be copied")
}

func TestLogConfigAndUlimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// What the agent sends for Drove's default LOCAL logging.
	opts := map[string]string{
		"max-size": "10m", "max-file": "3", "compress": "true",
		"mode": "non-blocking", "max-buffer-size": "10m",
		"cache-disabled": "false", "cache-max-size": "20m", "cache-max-file": "3", "cache-compress": "true",
	}
	spec := h.spec("logcfg")
	spec.LogConfig = agent.LogConfig{Type: "json-file", Options: opts}
	spec.MaxOpenFiles = 4096
	id := h.run(spec)
	h.waitLog(id, "testapp listening")
	raw := h.rawInspect(id).Container
	require.Equal(t, "json-file", raw.HostConfig.LogConfig.Type)
	require.Equal(t, opts, raw.HostConfig.LogConfig.Config)
	require.Len(t, raw.HostConfig.Ulimits, 1)
	require.Equal(t, container.Ulimit{Name: "nofile", Soft: 4096, Hard: 4096}, *raw.HostConfig.Ulimits[0])

	// RSYSLOG logging: the syslog driver (created only: nothing listens).
	spec = h.spec("syslog")
	spec.LogConfig = agent.LogConfig{Type: "syslog", Options: map[string]string{
		"syslog-address": "udp://127.0.0.1:514", "tag": "pre-i1-post", "syslog-facility": "daemon",
		"mode": "non-blocking", "max-buffer-size": "10m",
		"cache-disabled": "false", "cache-max-size": "20m", "cache-max-file": "3", "cache-compress": "true",
	}}
	id = h.create(spec)
	raw = h.rawInspect(id).Container
	require.Equal(t, "syslog", raw.HostConfig.LogConfig.Type)
	require.Equal(t, spec.LogConfig.Options, raw.HostConfig.LogConfig.Config)
	require.Empty(t, raw.HostConfig.Ulimits, "no MaxOpenFiles: the daemon's default")

	// The daemon checks the options' names at create.
	spec = h.spec("badlog")
	spec.LogConfig = agent.LogConfig{Type: "json-file", Options: map[string]string{"no-such-option": "1"}}
	_, err := h.rt.Create(h.ctx(), spec)
	require.Error(t, err)
	require.NotErrorIs(t, err, agent.ErrImage)
}

func TestDevices(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec, port := h.webSpec("devices")
	spec.Devices = []agent.Device{{PathOnHost: "/dev/null", PathInContainer: "/dev/drove-null", CgroupPermissions: "rw"}}
	id := h.run(spec)
	code, body := getFile(t, port, "/dev/drove-null")
	require.Equal(t, http.StatusOK, code, "the device exists in the container: %s", body)
	raw := h.rawInspect(id).Container
	require.Equal(t, []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/drove-null",
		CgroupPermissions: "rw"}}, raw.HostConfig.Devices)

	// Device requests are recorded at create; the daemon resolves the
	// driver only at start (there is no GPU here).
	spec = h.spec("gpus")
	spec.DeviceRequests = []agent.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}},
		Options: map[string]string{"k": "v"}}}
	id = h.create(spec)
	raw = h.rawInspect(id).Container
	require.Len(t, raw.HostConfig.DeviceRequests, 1)
	dr := raw.HostConfig.DeviceRequests[0]
	require.Equal(t, "nvidia", dr.Driver)
	require.Equal(t, -1, dr.Count)
	require.Equal(t, [][]string{{"gpu"}}, dr.Capabilities)
	require.Equal(t, map[string]string{"k": "v"}, dr.Options)
}

func TestInvalidHostExtras(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, mutate := range map[string]func(*agent.ContainerSpec){
		"relative bind":   func(s *agent.ContainerSpec) { s.Binds = []agent.Bind{{HostPath: "data", ContainerPath: "/data"}} },
		"colon in bind":   func(s *agent.ContainerSpec) { s.Binds = []agent.Bind{{HostPath: "/a:b", ContainerPath: "/data"}} },
		"relative target": func(s *agent.ContainerSpec) { s.Binds = []agent.Bind{{HostPath: "/tmp", ContainerPath: "data"}} },
		"device path":     func(s *agent.ContainerSpec) { s.Devices = []agent.Device{{PathInContainer: "/dev/x"}} },
		"device perms": func(s *agent.ContainerSpec) {
			s.Devices = []agent.Device{{PathOnHost: "/dev/null", CgroupPermissions: "rx"}}
		},
		"log options": func(s *agent.ContainerSpec) { s.LogConfig = agent.LogConfig{Options: map[string]string{"a": "b"}} },
		"ulimit":      func(s *agent.ContainerSpec) { s.MaxOpenFiles = -1 },
		"file path":   func(s *agent.ContainerSpec) { s.Files = []agent.File{{Path: "relative.txt"}} },
		"root path":   func(s *agent.ContainerSpec) { s.Files = []agent.File{{Path: "/"}} },
	} {
		spec := h.spec("invalid")
		mutate(&spec)
		_, err := h.rt.Create(h.ctx(), spec)
		require.Error(t, err, name)
		require.NotErrorIs(t, err, agent.ErrImage, name)
	}
	list, err := h.rt.List(h.ctx(), map[string]string{testLabel: h.prefix})
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestFilesTar(t *testing.T) {
	now := time.Unix(1700000000, 500)
	b, err := filesTar([]agent.File{
		{Path: "/etc/app/a.conf", Data: []byte("a")},
		{Path: "/x/../b.sh", Mode: 0o4755, Data: []byte("bb")},
	}, now)
	require.NoError(t, err)
	tr := tar.NewReader(bytes.NewReader(b))
	type entry struct {
		name     string
		mode     int64
		uid, gid int
		data     string
	}
	var got []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, byte(tar.TypeReg), hdr.Typeflag)
		require.Equal(t, now.Truncate(time.Second), hdr.ModTime)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		got = append(got, entry{hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid, string(data)})
	}
	require.Equal(t, []entry{
		{"etc/app/a.conf", 0o644, 0, 0, "a"},
		{"b.sh", 0o755, 0, 0, "bb"}, // permission bits only
	}, got)
}
