package scheduler

import (
	"fmt"
	"math"
)

// CheckCapacity is Drove's submit-time resource check for starting count
// instances of req (ApplicationCommandValidator.ensureResources and
// ControllerUtils.checkResources). It looks at executors in an allowed
// state (default ACTIVE) and returns nil, or a *CapacityError with Drove's
// messages:
//
//   - "No executors on cluster" (alone) when there is no such executor;
//   - "Cluster does not have enough CPU. Required: <count×cores> Available: <free cores>";
//   - "Cluster does not have enough Memory. Required: <count×MB> Available: <free MB>";
//   - "Required cores exceeds the maximum core available on a single NUMA node in the cluster. Required: <count×cores> Max: <n>"
//     when no NUMA node of any such executor has as many cores (free or
//     not) as one instance needs. As in Drove, "Required" here is the total
//     for all instances, although the comparison is per instance.
//
// It ignores placement policies and NUMA fragmentation of free cores: it
// is a cheap early rejection, the Session decides.
func CheckCapacity(st State, req Request, count int) error {
	if req.Cores < 0 || req.MemoryMB < 0 || count < 0 {
		return fmt.Errorf("%w: cores %d, memory %d MB and count %d must not be negative",
			ErrInvalidRequest, req.Cores, req.MemoryMB, count)
	}
	allowed := req.allowedStates()
	var executors int
	var free, freeMem int64
	maxPerNode := -1
	for i := range st.Executors {
		v := &st.Executors[i]
		if !stateAllowed(allowed, v.State) {
			continue
		}
		executors++
		for id, cores := range v.Layout.Cores {
			maxPerNode = max(maxPerNode, len(cores))
			free += int64(len(freeCores(cores, v.UsedCores[id])))
		}
		for id, mem := range v.Layout.Memory {
			freeMem += max(mem-v.UsedMemory[id], 0)
		}
	}
	if executors == 0 {
		return &CapacityError{Messages: []string{"No executors on cluster"}}
	}
	if maxPerNode < 0 {
		maxPerNode = math.MaxInt32 // Drove: Integer.MAX_VALUE when no layout is known
	}
	requiredCores := int64(count) * int64(req.Cores)
	requiredMem := int64(count) * req.MemoryMB
	var msgs []string
	if requiredCores > free {
		msgs = append(msgs, fmt.Sprintf("Cluster does not have enough CPU. Required: %d Available: %d",
			requiredCores, free))
	}
	if requiredMem > freeMem {
		msgs = append(msgs, fmt.Sprintf("Cluster does not have enough Memory. Required: %d Available: %d",
			requiredMem, freeMem))
	}
	if maxPerNode < req.Cores {
		msgs = append(msgs, fmt.Sprintf("Required cores exceeds the maximum core available on a single "+
			"NUMA node in the cluster. Required: %d Max: %d", requiredCores, maxPerNode))
	}
	if len(msgs) > 0 {
		return &CapacityError{Messages: msgs}
	}
	return nil
}
