package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// opHarness drives a real fsm.FSM with hand-made Raft log entries and the
// real plan functions, the way opEngine does: read the replicated state,
// plan, commit one AppOperationStep/Finish carrying the op's step count.
// Executors are simulated by InstanceReport entries.
type opHarness struct {
	t     *testing.T
	f     *fsm.FSM
	n     int               // id counter (operations and instances)
	seq   map[string]uint64 // last report seq per instance
	boot  map[string]int64  // report boot per executor
	now   time.Time
	exec  string   // executor new instances are placed on
	names []string // if set, ids used for the next placements, in order
}

func newOpHarness(t *testing.T) *opHarness {
	t.Helper()
	f, err := fsm.New(fsm.DefaultConfig())
	require.NoError(t, err)
	h := &opHarness{t: t, f: f, seq: map[string]uint64{}, boot: map[string]int64{"E1": 1, "E2": 1},
		now: time.UnixMilli(1_700_000_000_000), exec: "E1"}
	for _, e := range []string{"E1", "E2"} {
		h.apply(fsm.ExecutorRegisterType, fsm.ExecutorRegisterRequest{Registration: model.ExecutorRegistration{
			ExecutorID: e, Hostname: e + ".host", Port: 1, State: model.ExecutorActive,
			Layout: model.ResourceLayout{Cores: map[int][]int{0: {0, 1, 2, 3}}, Memory: map[int]int64{0: 4096}}},
			Timestamp: h.ts()})
		_, ok := f.Executor(e)
		require.True(t, ok, "executor %s not registered", e)
	}
	return h
}

func (h *opHarness) ts() int64 { return h.now.UnixMilli() }

func (h *opHarness) tick(d time.Duration) { h.now = h.now.Add(d) }

// apply commits one log entry and returns what the FSM's Apply returned.
func (h *opHarness) apply(mt fsm.MessageType, p any) any {
	h.t.Helper()
	cmd, err := fsm.Encode(mt, p)
	require.NoError(h.t, err)
	return h.f.Apply(&raft.Log{Data: cmd})
}

func (h *opHarness) app(id string) model.ApplicationInfo {
	h.t.Helper()
	a, ok := h.f.Application(id)
	require.True(h.t, ok, "app %s not found", id)
	return a
}

func (h *opHarness) rec(id string) model.InstanceRecord {
	h.t.Helper()
	r, ok := h.f.Instance(id)
	require.True(h.t, ok, "instance %s not found", id)
	return r
}

func (h *opHarness) view(appID string) appInstances {
	return classify(h.f.Instances(func(r *model.InstanceRecord) bool { return r.Info.AppID == appID }))
}

func (h *opHarness) newOp(appID string, t, src model.OperationType, par int) model.OperationRecord {
	h.n++
	return model.OperationRecord{ID: fmt.Sprintf("OP-%d", h.n), AppID: appID, Type: t, Source: src,
		TimeoutMs: 60_000, Parallelism: par, FailureStrategy: model.FailureStop, Status: model.OpRunning,
		Started: h.ts(), Deadline: h.now.Add(time.Minute).UnixMilli()}
}

// create registers appID and, with desired > 0, scales it up (parallelism
// par, one well-behaved executor) until the operation is over.
func (h *opHarness) create(appID string, desired, par int) {
	h.t.Helper()
	require.Nil(h.t, h.apply(fsm.AppCreateType, fsm.AppCreateRequest{App: model.ApplicationInfo{
		AppID: appID, Spec: model.ApplicationSpec{Name: appID, Version: "1"}, Instances: 0, State: model.AppMonitoring},
		Timestamp: h.ts()}))
	if desired > 0 {
		h.scale(appID, desired, par)
		h.runUntilIdle(appID)
		require.Equal(h.t, model.OpCompleted, h.app(appID).Operation.Status)
	}
}

// scale starts a SCALE (superseding a running SCALE/RECOVER) and returns it.
func (h *opHarness) scale(appID string, n, par int) model.OperationRecord {
	h.t.Helper()
	op := h.newOp(appID, model.OpScale, model.OpScale, par)
	op.RequiredInstances, op.JobsTotal = n, abs(n-len(h.view(appID).live))
	require.Nil(h.t, h.start(appID, op, n, model.AppScalingRequested))
	return op
}

func (h *opHarness) start(appID string, op model.OperationRecord, desired int, st model.ApplicationState) any {
	return h.apply(fsm.AppOperationStartType, fsm.AppOperationStartRequest{AppID: appID, Op: op, Desired: desired,
		State: st, Supersede: true, Timestamp: h.ts()})
}

func (h *opHarness) cancel(appID string) {
	h.t.Helper()
	require.Nil(h.t, h.apply(fsm.AppOperationCancelType, fsm.AppOperationCancelRequest{AppID: appID, Timestamp: h.ts()}))
}

// plan is opEngine.step's dispatch on the operation type.
func (h *opHarness) plan(app model.ApplicationInfo, v appInstances) stepPlan {
	op := app.ActiveOperation()
	require.NotNil(h.t, op, "no operation running on %s", app.AppID)
	switch op.Type {
	case model.OpScale, model.OpRecover:
		return planScale(app, op, v, h.now)
	case model.OpReplaceInstances:
		return planReplace(op, v, h.now)
	case model.OpStopInstances:
		return planStop(app, op, v)
	}
	h.t.Fatalf("unexpected operation type %s", op.Type)
	return stepPlan{}
}

// nextID is the id of the next placed instance.
func (h *opHarness) nextID() string {
	if len(h.names) > 0 {
		id := h.names[0]
		h.names = h.names[1:]
		return id
	}
	h.n++
	return fmt.Sprintf("AI-%03d", h.n)
}

// commit mirrors opEngine.commit, placing every instance on h.exec. app is
// the state the plan was made against (its op's Steps go with the command).
func (h *opHarness) commit(app model.ApplicationInfo, plan stepPlan) any {
	h.t.Helper()
	op := app.ActiveOperation()
	require.NotNil(h.t, op)
	if plan.finish != nil {
		f := *plan.finish
		f.AppID, f.OpID, f.Step, f.Timestamp = app.AppID, op.ID, op.Steps, h.ts()
		f.Stop, f.Fail = plan.stop, plan.fail
		return h.apply(fsm.AppOperationFinishType, f)
	}
	if plan.empty() {
		return nil
	}
	req := fsm.AppOperationStepRequest{AppID: app.AppID, OpID: op.ID, Step: op.Steps, Stop: plan.stop, Fail: plan.fail,
		State: plan.state, Timestamp: h.ts()}
	for _, old := range plan.replaces {
		meta := map[string]string{metaOperation: op.ID}
		if old != "" {
			meta[metaReplaces] = old
		}
		id := h.nextID()
		req.Place = append(req.Place, fsm.PlaceInstance{ExecutorID: h.exec, Metadata: meta,
			Spec: model.InstanceSpec{AppID: app.AppID, AppName: app.Spec.Name, InstanceID: id, Executable: quickPull}})
	}
	if len(req.Place) == 0 && len(req.Stop) == 0 && len(req.Fail) == 0 && req.State == "" {
		return nil
	}
	return h.apply(fsm.AppOperationStepType, req)
}

// step plans against the current state and commits; the commit must succeed.
func (h *opHarness) step(appID string) stepPlan {
	h.t.Helper()
	app := h.app(appID)
	if app.ActiveOperation() == nil {
		return stepPlan{}
	}
	p := h.plan(app, h.view(appID))
	require.Nil(h.t, h.commit(app, p), "committing %+v", p)
	return p
}

// report applies one executor report for id (next seq of the executor's boot).
func (h *opHarness) report(id string, st model.InstanceState, errMsg string) {
	h.t.Helper()
	r := h.rec(id)
	h.seq[id]++
	info := r.Info
	info.State, info.ErrorMessage = st, errMsg
	require.Equal(h.t, 1, h.apply(fsm.InstanceReportType, fsm.InstanceReportRequest{ExecutorID: r.Info.ExecutorID,
		Reports: []model.InstanceReport{{Info: info, Boot: h.boot[r.Info.ExecutorID], Seq: h.seq[id]}}, Timestamp: h.ts()}),
		"report %s %s not applied", id, st)
}

// agent plays a well-behaved executor: PENDING → HEALTHY, asked to stop →
// STOPPING → STOPPED (no error of its own).
func (h *opHarness) agent(appID string) {
	h.t.Helper()
	for _, r := range h.f.Instances(func(r *model.InstanceRecord) bool { return r.Info.AppID == appID }) {
		switch {
		case r.Info.State.IsTerminal():
		case r.StopRequested:
			h.report(r.Info.InstanceID, model.InstanceStopping, "")
			h.report(r.Info.InstanceID, model.InstanceStopped, "")
		case r.Info.State == model.InstancePending:
			h.report(r.Info.InstanceID, model.InstanceHealthy, "")
		}
	}
}

// runUntilIdle steps and lets the agent act until the operation is over.
func (h *opHarness) runUntilIdle(appID string) {
	h.t.Helper()
	for i := 0; i < 100 && h.app(appID).ActiveOperation() != nil; i++ {
		h.step(appID)
		h.agent(appID)
		h.tick(time.Second)
	}
	require.Nil(h.t, h.app(appID).ActiveOperation(), "operation did not finish")
}

func instanceIDsOf(rs []model.InstanceRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Info.InstanceID
	}
	return out
}

func liveIDs(v appInstances) []string { return instanceIDsOf(oldestFirst(v.live)) }
