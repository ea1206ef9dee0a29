package agent

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// errClosed refuses work after the agent shut down.
var errClosed = errors.New("agent is shutting down")

// instance is the agent's record of one instance. All fields are guarded by
// instanceManager.mu.
type instance struct {
	spec          model.InstanceSpec
	state         model.InstanceState
	containerID   string
	errMsg        string
	created       int64 // epoch ms
	updated       int64 // epoch ms
	seq           uint64
	busy          bool // a goroutine is driving a transition
	stopReq       bool // a stop was asked for
	exited        bool // the container died while a transition was in flight
	exitMsg       string
	exitCode      int                // with exited: the container's exit code
	vanished      bool               // with exited: the container was removed, not exited
	cancelStart   context.CancelFunc // aborts runtime calls (and checks) of a start in flight
	started       bool               // the container was started: pre-shutdown hooks apply
	cancelMonitor context.CancelFunc // ends the health monitor; set while HEALTHY or UNHEALTHY
	ports         *portLease         // host ports, in spec.Ports order; nil until allocated
	graceLimit    time.Duration      // bounds the stop grace (a drain's maxGracePeriod); 0: none
	endedAt       time.Time          // when it became STOPPED or LOST
	result        *model.TaskResult  // a task's outcome once known; never changed after
	logsDone      <-chan struct{}    // closed when the output follower ends; nil if none
}

// isTask reports whether in is a task instance (see tasks.go).
func (in *instance) isTask() bool { return in.spec.Kind == model.KindTask }

// instanceView is a snapshot of an instance for the reconciler.
type instanceView struct {
	id          string
	state       model.InstanceState
	seq         uint64
	containerID string
	busy        bool
	stopReq     bool
}

// instanceManager runs instances through the runtime. A goroutine exists
// while an instance transitions (start, with its readiness check and first
// health check, or stop, with its pre-shutdown hooks) and, for an instance
// with a health check, while it runs (the health monitor); container
// deaths arrive through runtime events. Every state change bumps the
// instance's Seq and is handed to notify.
type instanceManager struct {
	rt         Runtime
	ports      *portAllocator
	executorID string
	hostname   string
	boot       int64
	stopGrace  time.Duration
	retention  time.Duration
	logger     hclog.Logger
	specOpts   specOptions                // how instance specs become containers
	logs       *logStore                  // instances' output logs; set by the Agent
	notify     func(model.InstanceReport) // called with mu held; must not call back
	now        func() time.Time

	ctx context.Context // cancelled at shutdown: transitions stop where they are
	wg  sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	instances   map[string]*instance
	byContainer map[string]*instance
}

func newInstanceManager(ctx context.Context, rt Runtime, cfg Config, boot int64, notify func(model.InstanceReport)) *instanceManager {
	return &instanceManager{
		rt: rt, ports: newPortAllocator(cfg.PortRange), executorID: cfg.ExecutorID, hostname: cfg.Hostname, boot: boot,
		stopGrace: cfg.StopGrace, retention: cfg.TerminalRetention,
		logger: cfg.Logger.Named("instances"), specOpts: newSpecOptions(cfg), notify: notify, now: time.Now, ctx: ctx,
		instances: map[string]*instance{}, byContainer: map[string]*instance{},
	}
}

// close refuses new work and waits for transitions in flight (they end
// quickly once the manager's context is cancelled).
func (m *instanceManager) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.wg.Wait()
}

// setLocked records a state change; leaving HEALTHY / UNHEALTHY ends the
// health monitor. mu must be held.
func (m *instanceManager) setLocked(in *instance, st model.InstanceState, msg string) {
	now := m.now()
	if in.cancelMonitor != nil && st != model.InstanceHealthy && st != model.InstanceUnhealthy {
		in.cancelMonitor()
		in.cancelMonitor = nil
	}
	in.state = st
	if msg != "" {
		in.errMsg = msg
	}
	in.seq++
	in.updated = now.UnixMilli()
	if st.IsTerminal() {
		in.endedAt = now
		if in.containerID != "" {
			delete(m.byContainer, in.containerID)
		}
	}
	m.notify(m.reportLocked(in))
}

// reportLocked builds the report of in. mu must be held.
func (m *instanceManager) reportLocked(in *instance) model.InstanceReport {
	rep := model.InstanceReport{Info: m.infoLocked(in), Boot: m.boot, Seq: in.seq}
	if in.result != nil {
		r := *in.result
		rep.TaskResult = &r
	}
	return rep
}

func (m *instanceManager) infoLocked(in *instance) model.InstanceInfo {
	info := instanceInfo(in.spec, m.executorID, m.hostname)
	if in.ports != nil {
		for i, p := range in.spec.Ports {
			ip := info.LocalInfo.Ports[p.Name]
			ip.HostPort = in.ports.ports[i]
			info.LocalInfo.Ports[p.Name] = ip
		}
	}
	info.State, info.ErrorMessage = in.state, in.errMsg
	info.Created, info.Updated = in.created, in.updated
	return info
}

// instanceInfo renders spec as an InstanceInfo without state (and without
// host ports).
func instanceInfo(spec model.InstanceSpec, executorID, hostname string) model.InstanceInfo {
	ports := make(map[string]model.InstancePort, len(spec.Ports))
	for _, p := range spec.Ports {
		ports[p.Name] = model.InstancePort{ContainerPort: p.Port, HostPort: 0, PortType: p.Type}
	}
	return model.InstanceInfo{
		AppID: spec.AppID, AppName: spec.AppName, InstanceID: spec.InstanceID, ExecutorID: executorID,
		LocalInfo: model.LocalInstanceInfo{Hostname: hostname, Ports: ports},
		Resources: spec.Resources, Metadata: map[string]string{},
	}
}

// lostReport is the report of an instance the leader believes runs here
// but the agent does not have (Seq 1 under the current boot).
func (m *instanceManager) lostReport(spec model.InstanceSpec, msg string) model.InstanceReport {
	info := instanceInfo(spec, m.executorID, m.hostname)
	now := m.now().UnixMilli()
	info.State, info.ErrorMessage, info.Created, info.Updated = model.InstanceLost, msg, now, now
	rep := model.InstanceReport{Info: info, Boot: m.boot, Seq: 1}
	if spec.Kind == model.KindTask {
		rep.TaskResult = &model.TaskResult{Status: model.TaskLost, ExitCode: -1}
	}
	return rep
}

// infos lists every instance the agent knows, oldest first.
func (m *instanceManager) infos() []model.InstanceInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]model.InstanceInfo, 0, len(m.instances))
	for _, in := range m.instances {
		out = append(out, m.infoLocked(in))
	}
	slices.SortFunc(out, func(a, b model.InstanceInfo) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	return out
}

// reports returns the current report of every instance (for full reports).
func (m *instanceManager) reports() []model.InstanceReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]model.InstanceReport, 0, len(m.instances))
	for _, in := range m.instances {
		out = append(out, m.reportLocked(in))
	}
	return out
}

// requeue hands the current report of id to notify again.
func (m *instanceManager) requeue(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in, ok := m.instances[id]; ok {
		m.notify(m.reportLocked(in))
	}
}

// views snapshots every instance for the reconciler.
func (m *instanceManager) views() map[string]instanceView {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]instanceView, len(m.instances))
	for id, in := range m.instances {
		out[id] = instanceView{id: id, state: in.state, seq: in.seq, containerID: in.containerID,
			busy: in.busy, stopReq: in.stopReq}
	}
	return out
}

// usage sums the allocations of active instances.
func (m *instanceManager) usage() (cores int, memoryMB int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, in := range m.instances {
		if !in.state.IsActive() {
			continue
		}
		for _, r := range in.spec.Resources {
			switch r.Type {
			case model.ResourceCPU:
				for _, c := range r.Cores {
					cores += len(c)
				}
			case model.ResourceMemory:
				for _, mb := range r.MemoryInMB {
					memoryMB += mb
				}
			}
		}
	}
	return cores, memoryMB
}

// active counts instances that are not STOPPED or LOST.
func (m *instanceManager) active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, in := range m.instances {
		if !in.state.IsTerminal() {
			n++
		}
	}
	return n
}

// sweep forgets instances that ended more than the retention period ago.
func (m *instanceManager) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := m.now().Add(-m.retention)
	maps.DeleteFunc(m.instances, func(_ string, in *instance) bool {
		return in.state.IsTerminal() && !in.busy && in.endedAt.Before(cutoff)
	})
}

// limitStopGrace bounds the SIGTERM→SIGKILL grace of a coming stop of id
// (a drain's maxGracePeriod). Unknown ids are ignored.
func (m *instanceManager) limitStopGrace(id string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in, ok := m.instances[id]; ok && (in.graceLimit == 0 || d < in.graceLimit) {
		in.graceLimit = d
	}
}

// stopGraceOf is the stop grace of in: the agent's, bounded by its limit.
func (m *instanceManager) stopGraceOf(in *instance) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in.graceLimit > 0 && in.graceLimit < m.stopGrace {
		return in.graceLimit
	}
	return m.stopGrace
}
