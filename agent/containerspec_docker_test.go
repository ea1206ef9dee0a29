package agent_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/agent/docker"
	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/integration/testimage"
	"github.com/stretchr/testify/require"
)

// TestDocker_InstanceGetsVolumesConfigsUserAndLogging runs an instance on
// the Docker runtime end to end: the container sees its bind mount and
// config file, runs as the spec's user and reports HEALTHY; stopping it
// removes the container.
func TestDocker_InstanceGetsVolumesConfigsUserAndLogging(t *testing.T) {
	image := testimage.Require(t)
	rt, err := docker.New(docker.Config{PullTimeout: 30 * time.Second})
	require.NoError(t, err)
	const instanceID = "i-docker-extras"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := rt.List(ctx, map[string]string{agent.LabelInstanceID: instanceID})
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

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("from the host"), 0o644))
	fc := newFakeController(t, testSecret)
	cfg := testConfig(fc.URL())
	cfg.AllowedMountDirs = []string{dir}
	cfg.MaxOpenFiles = 4096 // within what a daemon in a container may set
	a := startAgent(t, cfg, rt)

	spec := testSpec("app-docker", instanceID)
	spec.Executable.URL = image
	spec.Args = nil
	spec.Resources = []model.ResourceAllocation{
		{Type: model.ResourceCPU, Cores: map[int][]int{0: {0}}},
		{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 64}},
	}
	spec.Ports = []model.PortSpec{{Name: "main", Port: 8000, Type: model.PortHTTP}}
	spec.Volumes = []model.MountedVolume{{PathOnHost: dir, PathInContainer: "/data", Mode: model.MountReadOnly}}
	spec.Configs = []model.ConfigSpec{{Type: model.ConfigInline, LocalFilename: "/etc/app/app.conf", Data: []byte("answer=42\n")}}
	spec.UserSpec = &model.UserSpec{User: "1000", Group: "1000"}
	startInstance(t, a, spec)
	waitState(t, fc, instanceID, model.InstanceHealthy, time.Minute)

	last, _ := fc.latestReport(instanceID)
	port := last.Info.LocalInfo.Ports["main"].HostPort
	read := func(path string) (int, string) {
		t.Helper()
		var code int
		var body string
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/file?path=" + url.QueryEscape(path))
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			code, body = resp.StatusCode, string(b)
			return err == nil
		}, 30*time.Second, 20*time.Millisecond)
		return code, body
	}
	code, body := read("/etc/app/app.conf")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "answer=42\n", body)
	code, body = read("/data/hello.txt")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "from the host", body)

	list, err := rt.List(t.Context(), map[string]string{agent.LabelInstanceID: instanceID})
	require.NoError(t, err)
	require.Len(t, list, 1)

	code, resp := post(t, a, testSecret, stopMsg(a, instanceID))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, model.MessageAccepted, resp.Status)
	waitState(t, fc, instanceID, model.InstanceStopped, time.Minute)
	require.Eventually(t, func() bool {
		list, err := rt.List(t.Context(), map[string]string{agent.LabelInstanceID: instanceID})
		return err == nil && len(list) == 0
	}, 30*time.Second, 50*time.Millisecond, "the stopped instance's container is removed")
}
