package fsm

import (
	"maps"
	"reflect"
	"sort"

	"github.com/drove-go/drove/fsm/model"
)

// Executors returns every registered executor (REMOVED ones included), sorted by id.
func (f *FSM) Executors() []model.ExecutorInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]model.ExecutorInfo, 0, len(f.st.executors))
	for _, e := range f.st.executors {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExecutorID < out[j].ExecutorID })
	return out
}

// Executor returns one executor.
func (f *FSM) Executor(id string) (model.ExecutorInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.executors[id]
	if !ok {
		return model.ExecutorInfo{}, false
	}
	return *e, true
}

// RegistrationChanges reports whether storing reg would change the executor
// (new, REMOVED, or different static info or requested state), so the
// leader commits only real changes.
func (f *FSM) RegistrationChanges(reg model.ExecutorRegistration) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	old, ok := f.st.executors[reg.ExecutorID]
	if !ok || old.State == model.ExecutorRemoved {
		return true
	}
	return old.Hostname != reg.Hostname || old.Port != reg.Port || old.TransportType != reg.TransportType ||
		old.Version != reg.Version || old.Boot != reg.Boot || old.State != registeredState(old, reg.State) ||
		!reflect.DeepEqual(old.Layout, reg.Layout) || !reflect.DeepEqual(old.Tags, reg.Tags) ||
		!maps.Equal(old.Metadata, reg.Metadata)
}

// Instance returns one instance record.
func (f *FSM) Instance(id string) (model.InstanceRecord, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.st.instances[id]
	if !ok {
		return model.InstanceRecord{}, false
	}
	return *r, true
}

// Instances returns every instance record for which keep returns true
// (all when keep is nil), sorted by creation then id.
func (f *FSM) Instances(keep func(*model.InstanceRecord) bool) []model.InstanceRecord {
	f.mu.RLock()
	var ptrs []*model.InstanceRecord
	for _, r := range f.st.instances {
		if keep == nil || keep(r) {
			ptrs = append(ptrs, r)
		}
	}
	f.mu.RUnlock()
	// Records are never modified in place, so the pointers can be sorted and
	// copied outside the lock; sorting pointers, not records, is much cheaper.
	sort.Slice(ptrs, func(i, j int) bool {
		if ptrs[i].Info.Created != ptrs[j].Info.Created {
			return ptrs[i].Info.Created < ptrs[j].Info.Created
		}
		return ptrs[i].Info.InstanceID < ptrs[j].Info.InstanceID
	})
	out := make([]model.InstanceRecord, len(ptrs))
	for i, r := range ptrs {
		out[i] = *r
	}
	return out
}

// ChangingReports returns the reports that would change a stored instance:
// newer than the last applied one and with a different state, error or
// port mapping. Reports that only confirm what is stored are dropped, so
// the periodic full report from every executor costs no Raft write.
func (f *FSM) ChangingReports(executorID string, reports []model.InstanceReport) []model.InstanceReport {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []model.InstanceReport
	for _, rep := range reports {
		r := f.st.instances[rep.Info.InstanceID]
		if !reportApplies(r, executorID, rep) {
			continue
		}
		if r.Info.State != rep.Info.State || r.Info.ErrorMessage != rep.Info.ErrorMessage ||
			!maps.Equal(r.Info.LocalInfo.Ports, rep.Info.LocalInfo.Ports) ||
			(r.Kind() == model.KindTask && resultChanges(r.TaskResult, taskResultOf(r, rep.TaskResult, rep.Info.State))) {
			out = append(out, rep)
		}
	}
	return out
}

// ExecutorUsage returns the cores and memory (MB) per NUMA node that active
// instances hold on an executor, as allocated by the controller.
func (f *FSM) ExecutorUsage(executorID string) (cores map[int][]int, memory map[int]int64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cores, memory = map[int][]int{}, map[int]int64{}
	for _, r := range f.st.instances {
		if r.Info.ExecutorID != executorID || !r.Info.State.IsActive() {
			continue
		}
		for _, a := range r.Info.Resources {
			for node, ids := range a.Cores {
				cores[node] = append(cores[node], ids...)
			}
			for node, mb := range a.MemoryInMB {
				memory[node] += mb
			}
		}
	}
	for node := range cores {
		sort.Ints(cores[node])
	}
	return cores, memory
}

// Usage is what active instances hold on one executor, per NUMA node.
type Usage struct {
	Cores  map[int][]int
	Memory map[int]int64
}

// AllExecutorUsage returns the usage of every executor in one pass over the
// instances (the scheduler needs all of them at once).
func (f *FSM) AllExecutorUsage() map[string]Usage {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]Usage, len(f.st.executors))
	for _, r := range f.st.instances {
		if !r.Info.State.IsActive() {
			continue
		}
		u, ok := out[r.Info.ExecutorID]
		if !ok {
			u = Usage{Cores: map[int][]int{}, Memory: map[int]int64{}}
			out[r.Info.ExecutorID] = u
		}
		for _, a := range r.Info.Resources {
			for node, ids := range a.Cores {
				u.Cores[node] = append(u.Cores[node], ids...)
			}
			for node, mb := range a.MemoryInMB {
				u.Memory[node] += mb
			}
		}
	}
	return out
}

// resultChanges reports whether storing next would change a task's result.
func resultChanges(old, next *model.TaskResult) bool {
	if old == nil || next == nil {
		return old != next
	}
	return *old != *next
}
