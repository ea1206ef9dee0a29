package server

import (
	"net/http"
	"slices"

	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

// executorResources splits an executor's layout into free and used per NUMA node.
func (a *api) executorResources(e model.ExecutorInfo) model.ExecutorResourceState {
	usedCores, usedMem := a.fsm.ExecutorUsage(e.ExecutorID)
	freeCores, freeMem := map[int][]int{}, map[int]int64{}
	for node, ids := range e.Layout.Cores {
		for _, id := range ids {
			if !slices.Contains(usedCores[node], id) {
				freeCores[node] = append(freeCores[node], id)
			}
		}
		if freeCores[node] == nil {
			freeCores[node] = []int{}
		}
	}
	for node, mb := range e.Layout.Memory {
		freeMem[node] = max(mb-usedMem[node], 0)
	}
	return model.ExecutorResourceState{
		ExecutorID: e.ExecutorID,
		CPUs:       model.CPUResources{Type: model.ResourceCPU, FreeCores: freeCores, UsedCores: usedCores},
		Memory:     model.MemoryResources{Type: model.ResourceMemory, FreeMemory: freeMem, UsedMemory: usedMem},
		Layout:     e.Layout,
	}
}

func countCores(m map[int][]int) int {
	n := 0
	for _, ids := range m {
		n += len(ids)
	}
	return n
}

func sumMemory(m map[int]int64) int64 {
	var n int64
	for _, mb := range m {
		n += mb
	}
	return n
}

// executorSummary is Drove's ExecutorSummary; unready is UnreadyExecutors
// (computed once per request).
func (a *api) executorSummary(e model.ExecutorInfo, unready map[string]bool) model.ExecutorSummary {
	res := a.executorResources(e)
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	return model.ExecutorSummary{
		ExecutorID: e.ExecutorID, Hostname: e.Hostname, Port: e.Port, TransportType: e.TransportType,
		FreeCores: countCores(res.CPUs.FreeCores), UsedCores: countCores(res.CPUs.UsedCores),
		FreeMemory: sumMemory(res.Memory.FreeMemory), UsedMemory: sumMemory(res.Memory.UsedMemory),
		Tags: tags, State: a.executorState(e, unready), DrainState: e.DrainState(), Deactivated: e.Deactivated,
	}
}

// executorState is the state the API shows: ACTIVE executors that lack
// healthy instances of an active local service are UNREADY, as in Drove.
func (a *api) executorState(e model.ExecutorInfo, unready map[string]bool) model.ExecutorState {
	if e.State != model.ExecutorActive {
		return e.State
	}
	if unready[e.ExecutorID] {
		return model.ExecutorUnready
	}
	return e.State
}

// executorsList is GET /cluster/executors: live executors and recently removed ones.
func (a *api) executorsList(http.ResponseWriter, *http.Request) (any, error) {
	execs := a.fsm.Executors()
	out := make([]model.ExecutorSummary, 0, len(execs))
	unready := a.fsm.UnreadyExecutors()
	for _, e := range execs {
		out = append(out, a.executorSummary(e, unready))
	}
	return out, nil
}

// executorInfo is GET /cluster/executors/{id} (Drove's ExecutorNodeData).
func (a *api) executorInfo(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["id"]
	e, ok := a.fsm.Executor(id)
	if !ok {
		return nil, &failedResult{message: "No executor found with id: " + id}
	}
	instances, tasks, services := []model.InstanceInfo{}, []model.TaskInfo{}, []model.LocalServiceInstanceInfo{}
	for _, rec := range a.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.Info.ExecutorID == id && r.Info.State.IsActive()
	}) {
		switch rec.Kind() {
		case model.KindTask:
			tasks = append(tasks, model.TaskView(rec))
		case model.KindLocalService:
			services = append(services, model.LocalServiceInstance(rec))
		default:
			instances = append(instances, rec.Info)
		}
	}
	tags, meta := e.Tags, e.Metadata
	if tags == nil {
		tags = []string{}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return model.ExecutorNodeData{
		Type: "EXECUTOR", Hostname: e.Hostname, Port: e.Port, TransportType: e.TransportType, Updated: e.Updated,
		State: a.executorResources(e), Instances: instances, Tasks: tasks, ServiceInsts: services,
		Tags: tags, Metadata: meta, ExecutorState: a.executorState(e, a.fsm.UnreadyExecutors()), DrainState: e.DrainState(), Deactivated: e.Deactivated,
	}, nil
}
