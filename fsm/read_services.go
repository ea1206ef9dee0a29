package fsm

import (
	"sort"

	"github.com/drove-go/drove/fsm/model"
)

// LocalServices returns every local service, sorted by id.
func (f *FSM) LocalServices() []model.LocalServiceInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]model.LocalServiceInfo, 0, len(f.st.services))
	for _, s := range f.st.services {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ServiceID < out[j].ServiceID })
	return out
}

// LocalService returns one local service.
func (f *FSM) LocalService(id string) (model.LocalServiceInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.st.services[id]
	if !ok {
		return model.LocalServiceInfo{}, false
	}
	return *s, true
}

// Task returns a task's record by sourceAppName and taskId.
func (f *FSM) Task(sourceApp, taskID string) (model.InstanceRecord, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r := f.taskLocked(sourceApp, taskID)
	if r == nil {
		return model.InstanceRecord{}, false
	}
	return *r, true
}

// UnreadyExecutors returns the executors that are not latched ready and
// lack healthy instances of an ACTIVE local service (fewer than its
// instancesPerHost): as in Drove such an executor is UNREADY and gets no
// application instances or tasks until its local services are up. Once
// ready (ExecutorInfo.Ready) an executor stays so until it is lost.
// Blacklisted and REMOVED executors are left out.
func (f *FSM) UnreadyExecutors() map[string]bool {
	unready, _ := f.readiness()
	return unready
}

// ExecutorsToLatch returns the executors, not yet latched ready, whose
// local services are all healthy on them (sorted).
func (f *FSM) ExecutorsToLatch() []string {
	_, ready := f.readiness()
	return ready
}

func (f *FSM) readiness() (unready map[string]bool, toLatch []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	want := map[string]int{}
	for id, s := range f.st.services {
		if s.ActivationState == model.ActivationActive {
			want[id] = s.InstancesPerHost
		}
	}
	healthy := map[[2]string]int{} // executor, service → healthy instances
	if len(want) > 0 {
		for _, r := range f.st.instances {
			if r.Kind() == model.KindLocalService && r.Info.State == model.InstanceHealthy && !r.StopRequested {
				healthy[[2]string{r.Info.ExecutorID, r.Info.AppID}]++
			}
		}
	}
	unready = map[string]bool{}
	for eid, e := range f.st.executors {
		if e.Ready || e.State == model.ExecutorRemoved || e.State.IsBlacklisted() {
			continue
		}
		lacking := false
		for sid, n := range want {
			if healthy[[2]string{eid, sid}] < n {
				lacking = true
				break
			}
		}
		if lacking {
			unready[eid] = true
		} else if e.State == model.ExecutorActive {
			toLatch = append(toLatch, eid)
		}
	}
	sort.Strings(toLatch)
	return unready, toLatch
}
