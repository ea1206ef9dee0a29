package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// authRecorder answers pings and records which path prefix (standing for a
// cluster) was called and with which credentials.
type authRecorder struct {
	mu   sync.Mutex
	last string
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix := strings.TrimSuffix(r.URL.Path, "/apis/v1/ping")
	auth := r.Header.Get("Authorization")
	if u, p, ok := r.BasicAuth(); ok {
		auth = "basic " + u + ":" + p
	}
	a.mu.Lock()
	a.last = prefix + " " + auth
	a.mu.Unlock()
	ok(w, "pong")
}

func (a *authRecorder) get() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func TestCommands_ConfigSelection(t *testing.T) {
	rec := &authRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cfg := strings.ReplaceAll(`
[DEFAULT]
current_cluster = stage
username = defuser
password = defpass

[stage]
endpoint = URL/stage/
username = bob
password = bob#pw

[prod]
endpoint = URL/prod
auth_header = Bearer tok
username =
password =

[dev.local]
endpoint = URL/dev
`, "URL", srv.URL)

	ping := func(t *testing.T, want string, args ...string) {
		t.Helper()
		out, _, err := run(t, append(args, "cluster", "ping")...)
		require.NoError(t, err)
		require.Equal(t, "Cluster ping successful\n", out)
		require.Equal(t, want, rec.get())
	}

	t.Run("current_cluster from DEFAULT", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), cfg)
		ping(t, "/stage basic bob:bob#pw")
	})
	t.Run("-c before the subcommand picks the section", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), cfg)
		ping(t, "/prod Bearer tok", "-c", "prod")
	})
	t.Run("--cluster after the subcommand, keys fall back to DEFAULT", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), cfg)
		out, _, err := run(t, "cluster", "ping", "--cluster", "dev.local")
		require.NoError(t, err)
		require.Contains(t, out, "successful")
		require.Equal(t, "/dev basic defuser:defpass", rec.get())
	})
	t.Run("flags and env beat the file", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), cfg)
		t.Setenv(EnvUsername, "envuser")
		t.Setenv(EnvPassword, "envpass")
		ping(t, "/stage basic envuser:envpass")
		ping(t, "/stage basic flaguser:envpass", "-u", "flaguser")
	})
	t.Run("DEFAULT keys without current_cluster via -f", func(t *testing.T) {
		isolate(t)
		path := filepath.Join(t.TempDir(), "drove.ini")
		writeConfig(t, path, "endpoint = "+srv.URL+"/default\nauth_header = Token abc\n")
		ping(t, "/default Token abc", "-f", path)
	})
	t.Run("-e skips the file and works without one", func(t *testing.T) {
		isolate(t)
		ping(t, "/direct basic x:y", "-e", srv.URL+"/direct", "-u", "x", "-p", "y")
	})
	t.Run("-e ignores a broken file", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), "[unterminated\n")
		ping(t, "/e ", "-e", srv.URL+"/e")
	})
	t.Run("DROVE_ENDPOINT acts like -e", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), cfg)
		t.Setenv(EnvEndpoint, srv.URL+"/env")
		ping(t, "/env ")
	})
	t.Run("missing file without -e", func(t *testing.T) {
		isolate(t)
		_, _, err := run(t, "cluster", "ping")
		require.EqualError(t, err, "no cluster endpoint: pass -e URL or create ~/.drove")
	})
	t.Run("unknown cluster", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), cfg)
		_, _, err := run(t, "-c", "nope", "cluster", "ping")
		require.ErrorContains(t, err, `cluster "nope" not found`)
		require.ErrorContains(t, err, "dev.local, prod, stage")
	})
	t.Run("section without endpoint", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), "[DEFAULT]\ncurrent_cluster = a\n[a]\nusername = u\n")
		_, _, err := run(t, "cluster", "ping")
		require.ErrorContains(t, err, "no endpoint configured for cluster a")
	})
	t.Run("bad endpoint", func(t *testing.T) {
		isolate(t)
		_, _, err := run(t, "-e", "localhost:4000", "cluster", "ping")
		require.ErrorContains(t, err, `invalid endpoint "localhost:4000"`)
	})
	t.Run("insecure from file", func(t *testing.T) {
		home := isolate(t)
		writeConfig(t, filepath.Join(home, ".drove"), "endpoint = https://h:1\ninsecure = true\n")
		c, err := (&Options{File: DefaultConfigFile}).Resolve()
		require.NoError(t, err)
		require.True(t, c.Insecure)
		require.Equal(t, "https://h:1", c.Endpoint)
	})
}
