package resources

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/drove-go/drove/fsm/model"
)

// Discover reads the host's NUMA layout and returns what the executor offers
// after applying opts. Nodes come from <SysfsRoot>/devices/system/node/node*
// (cpulist and meminfo); when there are none, a single node 0 is built from
// <SysfsRoot>/devices/system/cpu/online (runtime.NumCPU if missing) and
// <ProcRoot>/meminfo. The steps, in order: DisableNUMA collapses into node 0;
// Cores keeps the first cores in node order; ReservedOSCores drops the lowest
// remaining ids, node 0 first; memory becomes MB per node (kB/1024, floored,
// or MemoryMB split proportionally); ExposedMemPercent scales each node's
// memory (floored). Every discovered node appears in both maps, possibly
// with no cores or no memory; cores are sorted. It is an error for the
// result to have no cores or no memory.
func Discover(opts Options) (model.ResourceLayout, error) {
	if err := opts.Validate(); err != nil {
		return model.ResourceLayout{}, err
	}
	nodes, err := readNodes(opts.sysfs())
	if err != nil {
		return model.ResourceLayout{}, fmt.Errorf("reading NUMA nodes: %w", err)
	}
	if len(nodes) == 0 {
		n, err := readFallback(opts.sysfs(), opts.procfs())
		if err != nil {
			return model.ResourceLayout{}, fmt.Errorf("reading host resources: %w", err)
		}
		nodes = []numaNode{n}
	}
	return shape(nodes, opts)
}

// shape applies opts to the discovered nodes (sorted by id, cores sorted).
func shape(nodes []numaNode, opts Options) (model.ResourceLayout, error) {
	if opts.DisableNUMA {
		nodes = collapse(nodes)
	}
	total := 0
	for _, n := range nodes {
		total += len(n.cores)
	}
	if opts.Cores > total {
		return model.ResourceLayout{}, fmt.Errorf("--cores %d exceeds the %d cores discovered", opts.Cores, total)
	}
	if opts.Cores > 0 {
		keep := opts.Cores
		for i := range nodes {
			take := min(keep, len(nodes[i].cores))
			nodes[i].cores = nodes[i].cores[:take]
			keep -= take
		}
		total = opts.Cores
	}
	if opts.ReservedOSCores > 0 {
		if opts.ReservedOSCores >= total {
			return model.ResourceLayout{}, fmt.Errorf("--reserved-cores %d leaves none of the %d cores available", opts.ReservedOSCores, total)
		}
		drop := opts.ReservedOSCores
		for i := range nodes {
			d := min(drop, len(nodes[i].cores))
			nodes[i].cores = nodes[i].cores[d:]
			drop -= d
		}
	}
	mem := memoryMB(nodes, opts.MemoryMB)
	layout := model.ResourceLayout{
		Cores:  make(map[int][]int, len(nodes)),
		Memory: make(map[int]int64, len(nodes)),
	}
	pct := opts.exposedPercent()
	for i, n := range nodes {
		layout.Cores[n.id] = append([]int{}, n.cores...)
		layout.Memory[n.id] = scale(mem[i], pct)
	}
	if layout.TotalCores() == 0 {
		return model.ResourceLayout{}, errors.New("no cores to offer")
	}
	if layout.TotalMemory() == 0 {
		return model.ResourceLayout{}, errors.New("no memory to offer")
	}
	return layout, nil
}

// scale returns floor(mb*pct/100) without overflowing for large mb.
func scale(mb, pct int64) int64 {
	return mb/100*pct + mb%100*pct/100
}

// collapse merges all nodes into node 0.
func collapse(nodes []numaNode) []numaNode {
	merged := numaNode{id: 0}
	for _, n := range nodes {
		merged.cores = append(merged.cores, n.cores...)
		merged.memKB += n.memKB
	}
	slices.Sort(merged.cores)
	merged.cores = slices.Compact(merged.cores)
	return []numaNode{merged}
}

// memoryMB returns each node's memory in MB: the discovered kB / 1024
// (floored), or, when override > 0, override split in proportion to the
// discovered memory (evenly if none was discovered) by largest remainder,
// so that the parts add up to override exactly.
func memoryMB(nodes []numaNode, override int64) []int64 {
	out := make([]int64, len(nodes))
	if override <= 0 {
		for i, n := range nodes {
			out[i] = n.memKB / 1024
		}
		return out
	}
	weights := make([]uint64, len(nodes))
	var sum uint64
	for i, n := range nodes {
		weights[i] = uint64(n.memKB)
		sum += weights[i]
	}
	if sum == 0 {
		for i := range weights {
			weights[i] = 1
		}
		sum = uint64(len(weights))
	}
	rems := make([]uint64, len(nodes))
	left := override
	for i, w := range weights {
		// override*w/sum in 128 bits; the quotient fits since w <= sum.
		hi, lo := bits.Mul64(uint64(override), w)
		q, r := bits.Div64(hi, lo, sum)
		out[i], rems[i] = int64(q), r
		left -= int64(q)
	}
	order := make([]int, len(nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rems[a] > rems[b]:
			return -1
		case rems[a] < rems[b]:
			return 1
		}
		return 0
	})
	for _, i := range order[:left] {
		out[i]++
	}
	return out
}
