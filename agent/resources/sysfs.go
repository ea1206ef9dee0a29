package resources

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// maxCPUID bounds core ids accepted from a cpulist, so that a corrupt file
// cannot make parsing allocate without limit (Linux's NR_CPUS is at most 8192).
const maxCPUID = 1 << 20

// numaNode is one NUMA node as discovered: its sorted cores and its memory.
type numaNode struct {
	id    int
	cores []int
	memKB int64
}

// parseCPUList parses the kernel's cpulist syntax ("0-3,8-11", "5", "0,2"),
// tolerating surrounding whitespace. It returns the ids sorted and without
// duplicates. An empty list is an error.
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty cpu list")
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parseCPUID(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseCPUID(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
			if last < first {
				return nil, fmt.Errorf("cpu list %q: range %q is reversed", s, part)
			}
		}
		for c := first; c <= last; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func parseCPUID(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n >= maxCPUID {
		return 0, fmt.Errorf("bad cpu id %q", s)
	}
	return int(n), nil
}

// readNodes reads the NUMA nodes under <sys>/devices/system/node, sorted by
// id. It returns no nodes (and no error) when the directory is missing or
// holds no node directories.
func readNodes(sys string) ([]numaNode, error) {
	dir := filepath.Join(sys, "devices", "system", "node")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var nodes []numaNode
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), "node")
		if !ok || !e.IsDir() {
			continue
		}
		id, err := strconv.ParseUint(suffix, 10, 16)
		if err != nil {
			continue
		}
		n := numaNode{id: int(id)}
		path := filepath.Join(dir, e.Name())
		raw, err := os.ReadFile(filepath.Join(path, "cpulist"))
		if err != nil {
			return nil, err
		}
		// A memory-only node has an empty cpulist: it contributes no cores.
		if strings.TrimSpace(string(raw)) != "" {
			if n.cores, err = parseCPUList(string(raw)); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(path, "cpulist"), err)
			}
		}
		if n.memKB, err = readMemTotal(filepath.Join(path, "meminfo"), 3); err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b numaNode) int { return a.id - b.id })
	return nodes, nil
}

// readFallback builds the single node 0 used when sysfs shows no NUMA
// nodes: the online CPUs (or runtime.NumCPU when that file is missing) and
// procfs's MemTotal.
func readFallback(sys, proc string) (numaNode, error) {
	n := numaNode{id: 0}
	path := filepath.Join(sys, "devices", "system", "cpu", "online")
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		for c := range runtime.NumCPU() {
			n.cores = append(n.cores, c)
		}
	case err != nil:
		return n, err
	default:
		if n.cores, err = parseCPUList(string(raw)); err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
	}
	n.memKB, err = readMemTotal(filepath.Join(proc, "meminfo"), 1)
	return n, err
}

// readMemTotal returns the kB value of the MemTotal line of a meminfo file.
// In a node's meminfo ("Node 0 MemTotal:  16314720 kB") the label is field
// 2 and the value field 3; in /proc/meminfo ("MemTotal:  16314720 kB") they
// are fields 0 and 1. valueField selects the layout.
func readMemTotal(path string, valueField int) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) <= valueField || fields[valueField-1] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseInt(fields[valueField], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("%s: bad MemTotal %q", path, fields[valueField])
		}
		return kb, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}
