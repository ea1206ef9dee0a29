package main

import (
	"testing"
	"time"

	"github.com/drove-go/drove/agent/docker"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// executorFlagsFrom parses args as `drove executor` flags.
func executorFlagsFrom(t *testing.T, args ...string) *executorFlags {
	t.Helper()
	f := &executorFlags{}
	require.NoError(t, executorCommand(f).ParseFlags(args))
	return f
}

func TestExecutorFlags_RuntimeDefaults(t *testing.T) {
	f := executorFlagsFrom(t)
	require.Equal(t, "docker", f.runtime)
	require.Empty(t, f.dockerHost)
	require.Equal(t, docker.DefaultPullTimeout, f.dockerPullTimeout)
	require.Equal(t, 15*time.Minute, f.dockerPullTimeout)
	require.Empty(t, f.allowedMountDirs)
	require.False(t, f.enableRawDeviceAccess)
	require.Zero(t, f.maxOpenFiles)
}

func TestExecutorFlags_SpecOptionsReachTheAgentConfig(t *testing.T) {
	f := executorFlagsFrom(t, "--runtime", "fake", "--allowed-mount-dirs", "/srv/data, /var/log/apps,",
		"--enable-raw-device-access", "--max-open-files", "1024")
	f.controllers, f.secret, f.hostname = []string{"http://127.0.0.1:4000"}, "s", "h1"
	f.cores, f.memoryMB = 2, 1024
	cfg, err := f.agentConfig(hclog.NewNullLogger())
	require.NoError(t, err)
	require.Equal(t, []string{"/srv/data", "/var/log/apps"}, cfg.AllowedMountDirs)
	require.True(t, cfg.EnableRawDeviceAccess)
	require.Equal(t, int64(1024), cfg.MaxOpenFiles)

	f.allowedMountDirs = []string{"relative"}
	_, err = f.agentConfig(hclog.NewNullLogger())
	require.ErrorContains(t, err, "--allowed-mount-dirs")
}

func TestExecutorFlags_DockerRuntime(t *testing.T) {
	f := executorFlagsFrom(t, "--docker-host", "unix:///nonexistent/drove-test.sock")
	_, err := f.newRuntime(hclog.NewNullLogger())
	require.ErrorContains(t, err, "--runtime docker")
	require.ErrorContains(t, err, "unix:///nonexistent/drove-test.sock")

	f = executorFlagsFrom(t, "--docker-pull-timeout", "0s")
	_, err = f.newRuntime(hclog.NewNullLogger())
	require.ErrorContains(t, err, "--docker-pull-timeout")

	f = executorFlagsFrom(t, "--runtime", "podman")
	_, err = f.newRuntime(hclog.NewNullLogger())
	require.ErrorContains(t, err, "must be docker or fake")

	f = executorFlagsFrom(t, "--runtime", "fake")
	rt, err := f.newRuntime(hclog.NewNullLogger())
	require.NoError(t, err)
	require.Equal(t, "fake", rt.Name())
}
