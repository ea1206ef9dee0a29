package resources

import (
	"fmt"

	"github.com/drove-go/drove/fsm/model"
)

// Synthetic builds a layout that ignores the host: cores 0..cores-1 spread
// evenly over numaNodes nodes, with memoryMB split evenly. Simulated
// executors (the fake runtime) use it to offer any capacity, e.g. many
// executors in one process or more cores than the machine has.
func Synthetic(cores int, memoryMB int64, numaNodes int) (model.ResourceLayout, error) {
	if numaNodes < 1 {
		numaNodes = 1
	}
	if cores < numaNodes || memoryMB < int64(numaNodes) {
		return model.ResourceLayout{}, fmt.Errorf("synthetic layout needs at least one core and 1 MB per NUMA node: --cores %d, --memory-mb %d, %d nodes", cores, memoryMB, numaNodes)
	}
	l := model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{}}
	for c := 0; c < cores; c++ {
		node := c * numaNodes / cores
		l.Cores[node] = append(l.Cores[node], c)
	}
	for n := 0; n < numaNodes; n++ {
		l.Memory[n] = memoryMB / int64(numaNodes)
	}
	l.Memory[0] += memoryMB % int64(numaNodes)
	return l, nil
}
