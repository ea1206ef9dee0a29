package resources

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// node is one NUMA node of a fake sysfs tree.
type node struct {
	cpulist string
	memKB   int64
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// fakeSys builds a sysfs tree with the given NUMA nodes plus the distractor
// entries a real node directory has.
func fakeSys(t *testing.T, nodes map[int]node) string {
	t.Helper()
	sys := t.TempDir()
	dir := filepath.Join(sys, "devices", "system", "node")
	write(t, filepath.Join(dir, "online"), "0-1\n")
	write(t, filepath.Join(dir, "has_cpu"), "0-1\n")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "power"), 0o755))
	for id, n := range nodes {
		nd := filepath.Join(dir, fmt.Sprintf("node%d", id))
		write(t, filepath.Join(nd, "cpulist"), n.cpulist)
		write(t, filepath.Join(nd, "meminfo"), fmt.Sprintf(
			"Node %d MemTotal:       %d kB\nNode %d MemFree:        1234 kB\n", id, n.memKB, id))
	}
	return sys
}

const kb0, kb1 = 16314720, 16777216 // 15932 MB and 16384 MB

func twoNodes(t *testing.T) string {
	return fakeSys(t, map[int]node{0: {"0-3\n", kb0}, 1: {"4-7\n", kb1}})
}

func layout(cores map[int][]int, mem map[int]int64) model.ResourceLayout {
	return model.ResourceLayout{Cores: cores, Memory: mem}
}

func TestDiscoverTwoNodes(t *testing.T) {
	l, err := Discover(Options{SysfsRoot: twoNodes(t), ProcRoot: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, layout(map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}},
		map[int]int64{0: 15932, 1: 16384}), l)
}

func TestDiscoverUnsortedAndMemoryOnlyNode(t *testing.T) {
	sys := fakeSys(t, map[int]node{0: {"6,4,0-2\n", kb0}, 2: {"\n", 2048}, 10: {"8", 1024}})
	l, err := Discover(Options{SysfsRoot: sys})
	require.NoError(t, err)
	require.Equal(t, layout(map[int][]int{0: {0, 1, 2, 4, 6}, 2: {}, 10: {8}},
		map[int]int64{0: 15932, 2: 2, 10: 1}), l)
}

func TestDiscoverFallback(t *testing.T) {
	sys, proc := t.TempDir(), t.TempDir()
	write(t, filepath.Join(sys, "devices", "system", "cpu", "online"), "0-5\n")
	write(t, filepath.Join(proc, "meminfo"), "MemTotal:       24684092 kB\nMemFree:  1 kB\n")
	want := layout(map[int][]int{0: {0, 1, 2, 3, 4, 5}}, map[int]int64{0: 24105})
	l, err := Discover(Options{SysfsRoot: sys, ProcRoot: proc})
	require.NoError(t, err)
	require.Equal(t, want, l)

	// An existing but empty node directory falls back too.
	require.NoError(t, os.MkdirAll(filepath.Join(sys, "devices", "system", "node"), 0o755))
	l, err = Discover(Options{SysfsRoot: sys, ProcRoot: proc})
	require.NoError(t, err)
	require.Equal(t, want, l)

	// Without cpu/online, runtime.NumCPU cores are used.
	require.NoError(t, os.Remove(filepath.Join(sys, "devices", "system", "cpu", "online")))
	l, err = Discover(Options{SysfsRoot: sys, ProcRoot: proc})
	require.NoError(t, err)
	require.Len(t, l.Cores[0], runtime.NumCPU())
	require.Equal(t, 0, l.Cores[0][0])
	require.Equal(t, runtime.NumCPU()-1, l.Cores[0][runtime.NumCPU()-1])

	// Without procfs meminfo there is no memory to read.
	_, err = Discover(Options{SysfsRoot: sys, ProcRoot: t.TempDir()})
	require.ErrorContains(t, err, "meminfo")
}

func TestDiscoverBadTrees(t *testing.T) {
	sys := fakeSys(t, map[int]node{0: {"0-x", kb0}})
	_, err := Discover(Options{SysfsRoot: sys})
	require.ErrorContains(t, err, "cpulist")

	sys = fakeSys(t, map[int]node{0: {"0-3", kb0}})
	require.NoError(t, os.Remove(filepath.Join(sys, "devices", "system", "node", "node0", "meminfo")))
	_, err = Discover(Options{SysfsRoot: sys})
	require.ErrorContains(t, err, "meminfo")

	sys = fakeSys(t, map[int]node{0: {"0-3", kb0}})
	write(t, filepath.Join(sys, "devices", "system", "node", "node0", "meminfo"), "Node 0 MemFree: 1 kB\n")
	_, err = Discover(Options{SysfsRoot: sys})
	require.ErrorContains(t, err, "no MemTotal")

	sys = fakeSys(t, map[int]node{0: {"0-3", 1023}}) // floors to 0 MB
	_, err = Discover(Options{SysfsRoot: sys})
	require.EqualError(t, err, "no memory to offer")

	sys = fakeSys(t, map[int]node{0: {"\n", kb0}})
	_, err = Discover(Options{SysfsRoot: sys})
	require.EqualError(t, err, "no cores to offer")
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"0":              {0},
		"7\n":            {7},
		"0-3":            {0, 1, 2, 3},
		"0-3,8-11\n":     {0, 1, 2, 3, 8, 9, 10, 11},
		" 1, 3 ,5-6 \n":  {1, 3, 5, 6},
		"4-4":            {4},
		"8-9,0-1,1":      {0, 1, 8, 9},
		"\t2 - 3\n":      {2, 3},
		"0,2,4,6,8,10\n": {0, 2, 4, 6, 8, 10},
	} {
		got, err := parseCPUList(in)
		require.NoError(t, err, "%q", in)
		require.Equal(t, want, got, "%q", in)
	}
	for _, in := range []string{"", " \n", "a", "1-", "-1", "3-1", "0,,1", "1,", "0-2-4", "-", "99999999"} {
		_, err := parseCPUList(in)
		require.Error(t, err, "%q", in)
	}
}

func TestOverrides(t *testing.T) {
	sys := twoNodes(t)
	cases := []struct {
		name  string
		opts  Options
		cores map[int][]int
		mem   map[int]int64
	}{
		{"cores within node 0", Options{Cores: 3},
			map[int][]int{0: {0, 1, 2}, 1: {}}, map[int]int64{0: 15932, 1: 16384}},
		{"cores spill into node 1", Options{Cores: 6},
			map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5}}, map[int]int64{0: 15932, 1: 16384}},
		{"memory split proportionally", Options{MemoryMB: 10000},
			map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}}, map[int]int64{0: 4930, 1: 5070}},
		{"reserved within node 0", Options{ReservedOSCores: 2},
			map[int][]int{0: {2, 3}, 1: {4, 5, 6, 7}}, map[int]int64{0: 15932, 1: 16384}},
		{"reserved across nodes", Options{ReservedOSCores: 5},
			map[int][]int{0: {}, 1: {5, 6, 7}}, map[int]int64{0: 15932, 1: 16384}},
		{"reserved after cores", Options{Cores: 6, ReservedOSCores: 2},
			map[int][]int{0: {2, 3}, 1: {4, 5}}, map[int]int64{0: 15932, 1: 16384}},
		{"exposed percent", Options{ExposedMemPercent: 50},
			map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}}, map[int]int64{0: 7966, 1: 8192}},
		{"exposed percent of override", Options{MemoryMB: 10000, ExposedMemPercent: 10},
			map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}}, map[int]int64{0: 493, 1: 507}},
		{"disable NUMA", Options{DisableNUMA: true},
			map[int][]int{0: {0, 1, 2, 3, 4, 5, 6, 7}}, map[int]int64{0: 32316}},
		{"disable NUMA with everything", Options{DisableNUMA: true, Cores: 7, ReservedOSCores: 2, MemoryMB: 4096, ExposedMemPercent: 75},
			map[int][]int{0: {2, 3, 4, 5, 6}}, map[int]int64{0: 3072}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.SysfsRoot = sys
			l, err := Discover(c.opts)
			require.NoError(t, err)
			require.Equal(t, layout(c.cores, c.mem), l)
		})
	}
}

func TestCoresFollowNodeOrderNotIDs(t *testing.T) {
	sys := fakeSys(t, map[int]node{0: {"0,2,4,6", kb0}, 1: {"1,3,5,7", kb1}})
	l, err := Discover(Options{SysfsRoot: sys, Cores: 5, ReservedOSCores: 1})
	require.NoError(t, err)
	require.Equal(t, map[int][]int{0: {2, 4, 6}, 1: {1}}, l.Cores)
}

func TestMemorySplitWithoutDiscoveredMemory(t *testing.T) {
	got := memoryMB([]numaNode{{id: 0}, {id: 1}, {id: 2}}, 10)
	require.Equal(t, []int64{4, 3, 3}, got)
	got = memoryMB([]numaNode{{memKB: 1}, {memKB: 1}}, 1<<62)
	require.Equal(t, []int64{1 << 61, 1 << 61}, got)
}

func TestOverridesAgainstHost(t *testing.T) {
	sys := twoNodes(t)
	_, err := Discover(Options{SysfsRoot: sys, Cores: 9})
	require.EqualError(t, err, "--cores 9 exceeds the 8 cores discovered")
	_, err = Discover(Options{SysfsRoot: sys, ReservedOSCores: 8})
	require.EqualError(t, err, "--reserved-cores 8 leaves none of the 8 cores available")
	_, err = Discover(Options{SysfsRoot: sys, ExposedMemPercent: 101})
	require.ErrorContains(t, err, "--exposed-memory-percent")
}

func TestValidate(t *testing.T) {
	require.NoError(t, Options{}.Validate())
	require.NoError(t, Options{Cores: 4, ReservedOSCores: 3, MemoryMB: 1, ExposedMemPercent: 100}.Validate())
	require.NoError(t, Options{ExposedMemPercent: 1}.Validate())
	for _, c := range []struct {
		opts      Options
		flag, val string
	}{
		{Options{Cores: -1}, "--cores", "-1"},
		{Options{MemoryMB: -5}, "--memory-mb", "-5"},
		{Options{ReservedOSCores: -2}, "--reserved-cores", "-2"},
		{Options{Cores: 2, ReservedOSCores: 2}, "--reserved-cores", "2"},
		{Options{ExposedMemPercent: -1}, "--exposed-memory-percent", "-1"},
		{Options{ExposedMemPercent: 101}, "--exposed-memory-percent", "101"},
	} {
		err := c.opts.Validate()
		require.Error(t, err, "%+v", c.opts)
		require.Contains(t, err.Error(), c.flag)
		require.Contains(t, err.Error(), c.val)
	}
}

func TestDiscoverRealHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux sysfs and procfs")
	}
	l, err := Discover(Options{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, l.TotalCores(), 1)
	require.Positive(t, l.TotalMemory())
	t.Logf("host layout %+v digest %s", l, Digest(l))
}

func TestSynthetic(t *testing.T) {
	l, err := Synthetic(6, 1001, 2)
	require.NoError(t, err)
	require.Equal(t, map[int][]int{0: {0, 1, 2}, 1: {3, 4, 5}}, l.Cores)
	require.Equal(t, map[int]int64{0: 501, 1: 500}, l.Memory)
	_, err = Synthetic(1, 100, 2)
	require.ErrorContains(t, err, "--cores 1")
}
