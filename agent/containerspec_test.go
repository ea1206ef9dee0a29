package agent_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/fakeruntime"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// runSpec starts spec on a fresh agent configured by cfgFn and returns the
// spec of the container it created once the instance is HEALTHY.
func runSpec(t *testing.T, spec model.InstanceSpec, cfgFn func(*agent.Config)) agent.ContainerSpec {
	t.Helper()
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	if cfgFn != nil {
		cfgFn(&cfg)
	}
	a := startAgent(t, cfg, rt)
	startInstance(t, a, spec)
	waitState(t, fc, spec.InstanceID, model.InstanceHealthy, 5*time.Second)
	cs := containersOf(t, rt, spec.InstanceID)
	require.Len(t, cs, 1)
	got, err := rt.Spec(cs[0].ID)
	require.NoError(t, err)
	return got
}

// failSpec starts spec on a fresh agent configured by cfgFn, requires it
// to fail (START_FAILED, then STOPPED) without a container and returns the
// error message.
func failSpec(t *testing.T, spec model.InstanceSpec, cfgFn func(*agent.Config)) string {
	t.Helper()
	fc := newFakeController(t, testSecret)
	rt := newFakeRuntime(t, fakeruntime.Config{})
	cfg := testConfig(fc.URL())
	if cfgFn != nil {
		cfgFn(&cfg)
	}
	logs := &syncBuffer{}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Warn})
	a := startAgent(t, cfg, rt)
	startInstance(t, a, spec)
	waitState(t, fc, spec.InstanceID, model.InstanceStopped, 5*time.Second)
	require.Regexp(t, `instance failed to start: .*instance=`+spec.InstanceID+` state=START_FAILED`, logs.String())
	// Reports are batched (START_FAILED may be folded into STOPPED), but
	// the instance never got as far as a container.
	for _, r := range fc.historyOf(spec.InstanceID) {
		require.NotContains(t, []model.InstanceState{model.InstanceUnready, model.InstanceHealthy}, r.Info.State)
	}
	require.Equal(t, 0, rt.Count(), "no container was created")
	last, _ := fc.latestReport(spec.InstanceID)
	return last.Info.ErrorMessage
}

func TestContainerSpec_DefaultsForAPlainSpec(t *testing.T) {
	got := runSpec(t, testSpec("app1", "i-plain"), nil)
	require.Equal(t, agent.LogConfig{Type: "json-file", Options: map[string]string{
		"max-size": "10m", "max-file": "3", "compress": "true",
		"mode": "non-blocking", "max-buffer-size": "10m",
		"cache-disabled": "false", "cache-max-size": "20m", "cache-max-file": "3", "cache-compress": "true",
	}}, got.LogConfig, "Drove's default LOCAL logging")
	require.Zero(t, got.MaxOpenFiles, "the runtime's default nofile limit")
	require.Empty(t, got.User)
	require.Empty(t, got.Binds)
	require.Empty(t, got.Devices)
	require.Empty(t, got.DeviceRequests)
	require.Empty(t, got.Files)
}

func TestContainerSpec_VolumesDevicesLoggingUser(t *testing.T) {
	dir := t.TempDir()
	spec := testSpec("app1", "i-full")
	spec.Volumes = []model.MountedVolume{
		{PathOnHost: dir + "/data", PathInContainer: "/data", Mode: model.MountReadWrite},
		{PathOnHost: dir + "/x/../conf/", PathInContainer: "/etc/conf/", Mode: model.MountReadOnly},
		{PathOnHost: dir, Mode: model.MountReadOnly}, // pathInContainer defaults to pathOnHost
	}
	count := 2
	spec.Devices = []model.DeviceSpec{
		{Type: model.DeviceDirect, PathOnHost: "/dev/fuse"},
		{Type: model.DeviceDirect, PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", Permissions: model.DeviceReadOnly},
		{Type: model.DeviceDetailed, Driver: "nvidia", Count: &count, DeviceIDs: []string{"0", "1"},
			Capabilities: [][]string{{"gpu", "utility"}}, Options: map[string]string{"k": "v"}},
	}
	spec.LoggingSpec = &model.LoggingSpec{Type: model.LoggingRsyslog, Server: "udp://logs:514", TagPrefix: "pre-", TagSuffix: "-post"}
	spec.UserSpec = &model.UserSpec{User: "1000", Group: "100"}
	got := runSpec(t, spec, func(c *agent.Config) {
		c.AllowedMountDirs = []string{"/nonexistent", dir}
		c.EnableRawDeviceAccess = true
		c.MaxOpenFiles = agent.DroveMaxOpenFiles
	})
	require.Equal(t, []agent.Bind{
		{HostPath: dir + "/data", ContainerPath: "/data"},
		{HostPath: dir + "/conf", ContainerPath: "/etc/conf", ReadOnly: true},
		{HostPath: dir, ContainerPath: dir, ReadOnly: true},
	}, got.Binds)
	require.Equal(t, []agent.Device{
		{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "r"},
	}, got.Devices)
	require.Equal(t, []agent.DeviceRequest{{Driver: "nvidia", Count: 2, DeviceIDs: []string{"0", "1"},
		Capabilities: [][]string{{"gpu", "utility"}}, Options: map[string]string{"k": "v"}}}, got.DeviceRequests)
	require.Equal(t, agent.LogConfig{Type: "syslog", Options: map[string]string{
		"syslog-address": "udp://logs:514", "tag": "pre-i-full-post", "syslog-facility": "daemon",
		"mode": "non-blocking", "max-buffer-size": "10m",
		"cache-disabled": "false", "cache-max-size": "20m", "cache-max-file": "3", "cache-compress": "true",
	}}, got.LogConfig)
	require.Equal(t, "1000:100", got.User)
	require.Equal(t, int64(470000), got.MaxOpenFiles)
}

func TestContainerSpec_LocalLogging(t *testing.T) {
	spec := testSpec("app1", "i-local")
	spec.LoggingSpec = &model.LoggingSpec{Type: model.LoggingLocal, MaxSize: "50m", MaxFiles: 7}
	spec.UserSpec = &model.UserSpec{User: "nobody"}
	got := runSpec(t, spec, nil)
	require.Equal(t, "json-file", got.LogConfig.Type)
	require.Equal(t, "50m", got.LogConfig.Options["max-size"])
	require.Equal(t, "7", got.LogConfig.Options["max-file"])
	require.Equal(t, "false", got.LogConfig.Options["compress"])
	require.Equal(t, "nobody", got.User)
}

func TestContainerSpec_EnvFromExecutor(t *testing.T) {
	t.Setenv("DROVE_TEST_FROM_EXECUTOR", "executor-value")
	t.Setenv("DROVE_TEST_EMPTY_ON_EXECUTOR", "")
	spec := testSpec("app1", "i-env")
	spec.Env = map[string]string{
		"DROVE_TEST_FROM_EXECUTOR":     "",
		"DROVE_TEST_EMPTY_ON_EXECUTOR": "",
		"DROVE_TEST_UNSET_ON_EXECUTOR": "",
		"EXPLICIT":                     "spec-value",
		"HOST":                         "overridden", // injected variables win
	}
	got := runSpec(t, spec, nil)
	require.Equal(t, "executor-value", got.Env["DROVE_TEST_FROM_EXECUTOR"])
	require.NotContains(t, got.Env, "DROVE_TEST_EMPTY_ON_EXECUTOR", "empty on both sides: left out (Drove)")
	require.NotContains(t, got.Env, "DROVE_TEST_UNSET_ON_EXECUTOR")
	require.Equal(t, "spec-value", got.Env["EXPLICIT"])
	require.Equal(t, "127.0.0.1", got.Env["HOST"])
	require.Equal(t, "i-env", got.Env["DROVE_INSTANCE_ID"])
}

// configServer is an HTTP server that serves config files and records the
// requests.
type configServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func newConfigServer(t *testing.T, h http.HandlerFunc) *configServer {
	t.Helper()
	s := &configServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.body = append(s.body, string(b))
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *configServer) port(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(s.Listener.Addr().String())
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

func TestContainerSpec_Configs(t *testing.T) {
	srv := newConfigServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/configs/app.yml" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "fetched: true\n")
	})
	local := filepath.Join(t.TempDir(), "local.properties")
	require.NoError(t, os.WriteFile(local, []byte("from=executor\n"), 0o600))

	spec := testSpec("app1", "i-configs")
	spec.Configs = []model.ConfigSpec{
		{Type: model.ConfigInline, LocalFilename: "/etc/app/inline.conf", Data: []byte("inline=1\n")},
		{Type: model.ConfigExecutorLocalFile, LocalFilename: "etc/app/local.properties", FilePathOnHost: local},
		{Type: model.ConfigExecutorHTTPFetch, LocalFilename: "/etc/app/../app/fetched.yml", HTTP: &model.HTTPCallSpec{
			Protocol: model.ProtocolHTTP, Hostname: "127.0.0.1", Port: srv.port(t), Path: "configs/app.yml",
			Verb: model.VerbPost, Payload: `{"want":"config"}`, SuccessCodes: []int{200, 201},
			Username: "user", Password: "pass", Headers: map[string]string{"X-Drove": "yes"},
		}},
	}
	got := runSpec(t, spec, nil)
	require.Equal(t, []agent.File{
		{Path: "/etc/app/inline.conf", Mode: 0o644, Data: []byte("inline=1\n")},
		{Path: "/etc/app/local.properties", Mode: 0o644, Data: []byte("from=executor\n")},
		{Path: "/etc/app/fetched.yml", Mode: 0o644, Data: []byte("fetched: true\n")},
	}, got.Files)

	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Len(t, srv.reqs, 1)
	r := srv.reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/configs/app.yml", r.URL.Path)
	require.Equal(t, `{"want":"config"}`, srv.body[0])
	require.Equal(t, "yes", r.Header.Get("X-Drove"))
	user, pass, ok := r.BasicAuth()
	require.True(t, ok)
	require.Equal(t, "user", user)
	require.Equal(t, "pass", pass)
}

func TestContainerSpec_AuthHeaderReplacesBasicAuth(t *testing.T) {
	srv := newConfigServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "x") })
	spec := testSpec("app1", "i-authheader")
	spec.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorHTTPFetch, LocalFilename: "/x", HTTP: &model.HTTPCallSpec{
		Hostname: "127.0.0.1", Port: srv.port(t), Username: "u", Password: "p", AuthHeader: "Bearer t0ken",
	}}}
	got := runSpec(t, spec, nil)
	require.Equal(t, []byte("x"), got.Files[0].Data)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Equal(t, http.MethodGet, srv.reqs[0].Method, "GET by default")
	require.Equal(t, "/", srv.reqs[0].URL.Path, "/ by default")
	require.Equal(t, "Bearer t0ken", srv.reqs[0].Header.Get("Authorization"))
}

func TestContainerSpec_Failures(t *testing.T) {
	allowed := t.TempDir()
	unreadable := filepath.Join(t.TempDir(), "missing.conf")
	huge := filepath.Join(t.TempDir(), "huge.bin")
	require.NoError(t, os.WriteFile(huge, nil, 0o644))
	require.NoError(t, os.Truncate(huge, agent.MaxConfigFileSize+1)) // sparse
	failing := newConfigServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "backend down", http.StatusServiceUnavailable)
	})
	slow := newConfigServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	fetch := func(port int, op time.Duration) *model.HTTPCallSpec {
		h := &model.HTTPCallSpec{Hostname: "127.0.0.1", Port: port, Path: "/cfg"}
		if op > 0 {
			h.OperationTimeout = model.NewDuration(op)
		}
		return h
	}
	cases := []struct {
		name   string
		mutate func(*model.InstanceSpec)
		cfg    func(*agent.Config)
		want   string
	}{
		{
			name: "volume outside the allowed dirs",
			mutate: func(s *model.InstanceSpec) {
				s.Volumes = []model.MountedVolume{{PathOnHost: "/etc", PathInContainer: "/host-etc", Mode: model.MountReadOnly}}
			},
			cfg:  func(c *agent.Config) { c.AllowedMountDirs = []string{allowed} },
			want: "volume /etc (mounted at /host-etc) is not allowed on this executor",
		},
		{
			name: "volume escaping an allowed dir",
			mutate: func(s *model.InstanceSpec) {
				s.Volumes = []model.MountedVolume{{PathOnHost: allowed + "/../etc", PathInContainer: "/x", Mode: model.MountReadWrite}}
			},
			cfg:  func(c *agent.Config) { c.AllowedMountDirs = []string{allowed} },
			want: "not allowed on this executor",
		},
		{
			name: "volume sharing a prefix with an allowed dir",
			mutate: func(s *model.InstanceSpec) {
				s.Volumes = []model.MountedVolume{{PathOnHost: allowed + "x", PathInContainer: "/x", Mode: model.MountReadWrite}}
			},
			cfg:  func(c *agent.Config) { c.AllowedMountDirs = []string{allowed} },
			want: "not allowed on this executor",
		},
		{
			name: "relative volume",
			mutate: func(s *model.InstanceSpec) {
				s.Volumes = []model.MountedVolume{{PathOnHost: "data", PathInContainer: "/x", Mode: model.MountReadWrite}}
			},
			want: "paths must be absolute",
		},
		{
			name: "devices without raw device access",
			mutate: func(s *model.InstanceSpec) {
				s.Devices = []model.DeviceSpec{{Type: model.DeviceDirect, PathOnHost: "/dev/fuse"}}
			},
			want: "devices are not allowed on this executor",
		},
		{
			name: "detailed devices without raw device access",
			mutate: func(s *model.InstanceSpec) {
				s.Devices = []model.DeviceSpec{{Type: model.DeviceDetailed, Driver: "nvidia"}}
			},
			want: "devices are not allowed on this executor",
		},
		{
			name: "unreadable executor file",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorLocalFile, LocalFilename: "/etc/app.conf", FilePathOnHost: unreadable}}
			},
			want: "config /etc/app.conf (EXECUTOR_LOCAL_FILE): read executor file: open " + unreadable,
		},
		{
			name: "executor file is a directory",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorLocalFile, LocalFilename: "/etc/app.conf", FilePathOnHost: allowed}}
			},
			want: "not a regular file",
		},
		{
			name: "executor file too big",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorLocalFile, LocalFilename: "/etc/app.conf", FilePathOnHost: huge}}
			},
			want: "larger than 16777216 bytes",
		},
		{
			name: "controller fetch",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigControllerHTTPFetch, LocalFilename: "/etc/app.conf",
					HTTP: &model.HTTPCallSpec{Hostname: "config.example"}}}
			},
			want: "CONTROLLER_HTTP_FETCH configs must be resolved by the controller",
		},
		{
			name: "executor fetch with an unexpected status",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorHTTPFetch, LocalFilename: "/etc/app.conf",
					HTTP: fetch(failing.port(t), 0)}}
			},
			want: "config /etc/app.conf (EXECUTOR_HTTP_FETCH): GET http://127.0.0.1:" + strconv.Itoa(failing.port(t)) +
				"/cfg: status 503, want one of [200]: backend down",
		},
		{
			name: "executor fetch too slow",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorHTTPFetch, LocalFilename: "/etc/app.conf",
					HTTP: fetch(slow.port(t), 200*time.Millisecond)}}
			},
			want: "no complete response within 1.2s",
		},
		{
			name: "executor fetch refused",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigExecutorHTTPFetch, LocalFilename: "/etc/app.conf",
					HTTP: fetch(closedPort(t), 0)}}
			},
			want: "connection refused",
		},
		{
			name: "config without a file name",
			mutate: func(s *model.InstanceSpec) {
				s.Configs = []model.ConfigSpec{{Type: model.ConfigInline, LocalFilename: "/", Data: []byte("x")}}
			},
			want: "is not a file path",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec("app1", "i-fail-"+strconv.Itoa(i))
			tc.mutate(&spec)
			msg := failSpec(t, spec, tc.cfg)
			require.Contains(t, msg, tc.want)
		})
	}
}

// closedPort returns a TCP port nothing listens on (it was free a moment ago).
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

func TestConfig_ValidatesMountDirsAndMaxOpenFiles(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.AllowedMountDirs = []string{"/srv", "relative"}
	cfg.MaxOpenFiles = -1
	err := cfg.Validate()
	require.ErrorContains(t, err, `--allowed-mount-dirs entry "relative" must be an absolute path`)
	require.ErrorContains(t, err, "--max-open-files must be >= 0")
	cfg.AllowedMountDirs = []string{"/srv"}
	cfg.MaxOpenFiles = 0
	require.NoError(t, cfg.Validate())
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
