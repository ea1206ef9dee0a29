package flagconf

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

type testFlags struct {
	fs       *pflag.FlagSet
	httpAddr string
	raftAddr string
	dataDir  string
	expect   int
	debug    bool
	timeout  time.Duration
	users    []string
	join     []string
	config   string
}

func newFlags() *testFlags {
	t := &testFlags{fs: pflag.NewFlagSet("test", pflag.ContinueOnError)}
	t.fs.StringVar(&t.httpAddr, "http-addr", ":4000", "")
	t.fs.StringVar(&t.raftAddr, "raft-addr", ":4001", "")
	t.fs.StringVar(&t.dataDir, "data-dir", "/var/lib/drove", "")
	t.fs.IntVar(&t.expect, "bootstrap-expect", 1, "")
	t.fs.BoolVar(&t.debug, "debug", false, "")
	t.fs.DurationVar(&t.timeout, "timeout", time.Second, "")
	t.fs.StringArrayVar(&t.users, "user", []string{"admin:admin:ADMIN"}, "")
	t.fs.StringSliceVar(&t.join, "join", nil, "")
	t.fs.StringVar(&t.config, "config", "", "")
	return t
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "drove.yml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, n := range []string{"HTTP_ADDR", "RAFT_ADDR", "DATA_DIR", "BOOTSTRAP_EXPECT", "DEBUG", "TIMEOUT", "USER", "JOIN", "CONFIG"} {
		t.Setenv("TDROVE_"+n, "")
	}
}

func TestEnvName(t *testing.T) {
	require.Equal(t, "DROVE_HTTP_ADDR", EnvName("DROVE_", "http-addr"))
	require.Equal(t, "DROVE_A_B_C", EnvName("DROVE_", "a.b-c"))
}

func TestApply_Precedence(t *testing.T) {
	clearEnv(t)
	file := writeFile(t, `
http-addr: ":5000"
raft-addr: ":5001"
data-dir: /from/file
bootstrap-expect: 3
debug: true
`)
	f := newFlags()
	require.NoError(t, f.fs.Parse([]string{"--http-addr", ":6000"}))
	t.Setenv("TDROVE_HTTP_ADDR", ":7000")
	t.Setenv("TDROVE_RAFT_ADDR", ":7001")
	t.Setenv("TDROVE_DEBUG", "0")

	require.NoError(t, Apply(f.fs, "TDROVE_", file))
	require.Equal(t, ":6000", f.httpAddr, "flag beats env and file")
	require.Equal(t, ":7001", f.raftAddr, "env beats file")
	require.False(t, f.debug, "env 0 beats file true")
	require.Equal(t, "/from/file", f.dataDir, "file beats default")
	require.Equal(t, 3, f.expect)
	require.Equal(t, time.Second, f.timeout, "default stays")
	require.True(t, f.fs.Changed("data-dir"), "file values count as changed")
	require.False(t, f.fs.Changed("timeout"))
}

func TestApply_NoFile(t *testing.T) {
	clearEnv(t)
	t.Setenv("TDROVE_BOOTSTRAP_EXPECT", "5")
	t.Setenv("TDROVE_DEBUG", "true")
	t.Setenv("TDROVE_CONFIG", "/ignored")
	f := newFlags()
	require.NoError(t, f.fs.Parse(nil))
	require.NoError(t, Apply(f.fs, "TDROVE_", ""))
	require.Equal(t, 5, f.expect)
	require.True(t, f.debug)
	require.Empty(t, f.config, "config flag is never filled")
}

func TestApply_Lists(t *testing.T) {
	t.Run("yaml list and scalar", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, `
user: ["a:b:ADMIN", "c:d:READ_ONLY"]
join: "h1:4002,h2:4002"
`)
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		require.NoError(t, Apply(f.fs, "TDROVE_", file))
		require.Equal(t, []string{"a:b:ADMIN", "c:d:READ_ONLY"}, f.users, "list replaces the default")
		require.Equal(t, []string{"h1:4002", "h2:4002"}, f.join, "scalar is passed as is to the slice flag")
	})
	t.Run("yaml block list for slice", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, "join:\n  - h1:4002\n  - h2:4002\nuser: x:y:ADMIN\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		require.NoError(t, Apply(f.fs, "TDROVE_", file))
		require.Equal(t, []string{"h1:4002", "h2:4002"}, f.join)
		require.Equal(t, []string{"x:y:ADMIN"}, f.users)
	})
	t.Run("env comma separated", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("TDROVE_USER", "a:b:ADMIN, c:d:READ_ONLY")
		t.Setenv("TDROVE_JOIN", "h1:4002,h2:4002,h3:4002")
		file := writeFile(t, "user: [z:z:ADMIN]\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		require.NoError(t, Apply(f.fs, "TDROVE_", file))
		require.Equal(t, []string{"a:b:ADMIN", "c:d:READ_ONLY"}, f.users)
		require.Equal(t, []string{"h1:4002", "h2:4002", "h3:4002"}, f.join)
	})
	t.Run("command line beats list", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("TDROVE_USER", "a:b:ADMIN")
		f := newFlags()
		require.NoError(t, f.fs.Parse([]string{"--user", "q:q:ADMIN", "--user", "r:r:READ_ONLY"}))
		require.NoError(t, Apply(f.fs, "TDROVE_", ""))
		require.Equal(t, []string{"q:q:ADMIN", "r:r:READ_ONLY"}, f.users)
	})
	t.Run("list for scalar flag", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, "http-addr: [a, b]\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		err := Apply(f.fs, "TDROVE_", file)
		require.ErrorContains(t, err, "--http-addr")
		require.ErrorContains(t, err, "not a list")
	})
}

func TestApply_Errors(t *testing.T) {
	t.Run("unknown key", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, "http-addr: \":1\"\nhttp-adr: \":2\"\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		err := Apply(f.fs, "TDROVE_", file)
		require.ErrorContains(t, err, `"http-adr"`)
		require.ErrorContains(t, err, file)
		require.Equal(t, ":4000", f.httpAddr, "nothing applied on error")
	})
	t.Run("config key is not allowed", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, "config: other.yml\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		require.ErrorContains(t, Apply(f.fs, "TDROVE_", file), `"config"`)
	})
	t.Run("bad value in file", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, "bootstrap-expect: three\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		err := Apply(f.fs, "TDROVE_", file)
		require.ErrorContains(t, err, "--bootstrap-expect")
		require.ErrorContains(t, err, file)
		require.ErrorContains(t, err, `"three"`)
	})
	t.Run("bad value in env", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("TDROVE_DEBUG", "maybe")
		t.Setenv("TDROVE_TIMEOUT", "soon")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		err := Apply(f.fs, "TDROVE_", "")
		require.ErrorContains(t, err, "--debug")
		require.ErrorContains(t, err, "TDROVE_DEBUG")
		require.ErrorContains(t, err, `"maybe"`)
		require.ErrorContains(t, err, "TDROVE_TIMEOUT", "all bad values are reported")
	})
	t.Run("missing file", func(t *testing.T) {
		clearEnv(t)
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		missing := filepath.Join(t.TempDir(), "nope.yml")
		err := Apply(f.fs, "TDROVE_", missing)
		require.ErrorIs(t, err, os.ErrNotExist)
		require.ErrorContains(t, err, missing)
	})
	t.Run("not a mapping", func(t *testing.T) {
		clearEnv(t)
		file := writeFile(t, "- a\n- b\n")
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		require.ErrorContains(t, Apply(f.fs, "TDROVE_", file), "mapping")
	})
	t.Run("empty file and null values", func(t *testing.T) {
		clearEnv(t)
		f := newFlags()
		require.NoError(t, f.fs.Parse(nil))
		require.NoError(t, Apply(f.fs, "TDROVE_", writeFile(t, "# nothing\n")))
		require.NoError(t, Apply(f.fs, "TDROVE_", writeFile(t, "data-dir:\n")))
		require.Equal(t, "/var/lib/drove", f.dataDir)
	})
}
