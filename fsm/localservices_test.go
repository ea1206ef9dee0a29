package fsm

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// ---- helpers ----

// testServiceSpec returns a fresh local service spec "{name}-1" needing two
// cores and 128 MB, with two ports.
func testServiceSpec(name string, hostLevel bool) model.LocalServiceSpec {
	return model.LocalServiceSpec{ApplicationSpec: model.ApplicationSpec{
		Name: name, Version: "1", Type: model.JobLocalService,
		Executable: model.Executable{Type: "DOCKER", URL: "docker.io/" + name + ":1", DockerPullTimeout: "100 seconds"},
		ExposedPorts: []model.PortSpec{
			{Name: "main", Port: 8000, Type: model.PortHTTP},
			{Name: "admin", Port: 8001, Type: model.PortTCP},
		},
		Resources: []model.ResourceRequirement{
			{Type: model.RequirementCPU, Count: 2}, {Type: model.RequirementMemory, SizeInMB: 128},
		},
		PlacementPolicy: &model.PlacementPolicy{Type: model.PlacementLocal, HostLevel: hostLevel},
		Env:             map[string]string{"MODE": "local"},
	}}
}

func lsCreateLog(tb testing.TB, spec model.LocalServiceSpec, perHost int, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceCreateType, LocalServiceCreateRequest{
		Service:   model.LocalServiceInfo{ServiceID: spec.ServiceID(), Spec: spec, InstancesPerHost: perHost},
		Timestamp: ts,
	})
}

func lsSetLog(tb testing.TB, id string, op model.OperationType, perHost int, expect uint64, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceSetType, LocalServiceSetRequest{ServiceID: id, Op: op, InstancesPerHost: perHost,
		ExpectVersion: expect, Timestamp: ts})
}

// lsOp is a running instance-changing operation on service id.
func lsOp(id, opID string, typ model.OperationType) model.OperationRecord {
	return model.OperationRecord{ID: opID, AppID: id, Type: typ, Source: typ, TimeoutMs: 300_000, Parallelism: 1,
		FailureStrategy: model.FailureStop, Status: model.OpRunning, Started: 1, Deadline: 300_001}
}

func lsStartLog(tb testing.TB, id string, op model.OperationRecord, expect uint64, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceOperationStartType, LocalServiceOperationStartRequest{ServiceID: id, Op: op,
		ExpectVersion: expect, Timestamp: ts})
}

func lsStepLog(tb testing.TB, req LocalServiceOperationStepRequest) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceOperationStepType, req)
}

func lsFinishLog(tb testing.TB, req LocalServiceOperationFinishRequest) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceOperationFinishType, req)
}

func lsCancelLog(tb testing.TB, id string, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceOperationCancelType, LocalServiceOperationCancelRequest{ServiceID: id, Timestamp: ts})
}

func lsDestroyLog(tb testing.TB, id string, expect uint64, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, LocalServiceDestroyType, LocalServiceDestroyRequest{ServiceID: id, ExpectVersion: expect, Timestamp: ts})
}

// applyOK applies a log that must succeed (a nil result).
func applyOK(t *testing.T, f *FSM, l *raft.Log) {
	t.Helper()
	res := f.Apply(l)
	require.Nil(t, res, "want success, got %v", res)
}

// requireApplyErr asserts an Apply result is an error wrapping target.
func requireApplyErr(t *testing.T, res any, target error) error {
	t.Helper()
	err, ok := res.(error)
	require.True(t, ok, "want an error value, got %T: %v", res, res)
	require.ErrorIs(t, err, target)
	return err
}

func mustService(t *testing.T, f *FSM, id string) model.LocalServiceInfo {
	t.Helper()
	ls, ok := f.LocalService(id)
	require.True(t, ok, "local service %s not found", id)
	return ls
}

// serviceStatesAfter lists "serviceId=STATE" for every
// LOCAL_SERVICE_STATE_CHANGE event with an index above after.
func serviceStatesAfter(f *FSM, after uint64) []string {
	out := []string{}
	for _, e := range eventsAfter(f, after) {
		if e.Type == model.EventLocalServiceStateChange {
			out = append(out, e.Metadata[model.MetaLocalServiceID].(string)+"="+e.Metadata[model.MetaCurrentState].(string))
		}
	}
	return out
}

// svcInstance is the spec of one instance of a local service holding cores on NUMA node 0.
func svcInstance(spec model.LocalServiceSpec, id string, cores ...int) model.InstanceSpec {
	return model.InstanceSpec{
		Kind: model.KindLocalService, AppID: spec.ServiceID(), AppName: spec.Name, InstanceID: id,
		Executable: spec.Executable,
		Resources: []model.ResourceAllocation{
			{Type: model.ResourceCPU, Cores: map[int][]int{0: cores}},
			{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: 128}},
		},
		Ports:     spec.ExposedPorts,
		HostLevel: spec.HostLevel(),
	}
}

// serviceFSM returns an FSM with executors e1 and e2 and service svc-1
// (instancesPerHost 1) brought to state st through ordinary commands. In
// ADJUSTING/REPLACING/STOPPING the running operation is "op-run"; in
// DESTROY_REQUESTED instance svc-i1 on e1 is still HEALTHY.
func serviceFSM(t *testing.T, st model.LocalServiceState, hostLevel bool) *FSM {
	t.Helper()
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	spec := testServiceSpec("svc", hostLevel)
	applyOK(t, f, lsCreateLog(t, spec, 1, 10))
	id := spec.ServiceID()
	switch st {
	case model.LSInactive:
	case model.LSActive:
		applyOK(t, f, lsSetLog(t, id, model.OpActivate, 0, 0, 20))
	case model.LSConfigTesting:
		applyOK(t, f, lsSetLog(t, id, model.OpDeployTestInstance, 0, 0, 20))
	case model.LSAdjustingInstances:
		applyOK(t, f, lsStartLog(t, id, lsOp(id, "op-run", model.OpAdjustInstances), 0, 20))
	case model.LSReplacingInstances, model.LSStoppingInstances:
		applyOK(t, f, lsSetLog(t, id, model.OpActivate, 0, 0, 20))
		typ := model.OpReplaceInstances
		if st == model.LSStoppingInstances {
			typ = model.OpStopInstances
		}
		applyOK(t, f, lsStartLog(t, id, lsOp(id, "op-run", typ), 0, 30))
	case model.LSEmergencyDeactivationRequested:
		applyOK(t, f, lsSetLog(t, id, model.OpActivate, 0, 0, 20))
		applyOK(t, f, lsStartLog(t, id, lsOp(id, "op-e", model.OpAdjustInstances), 0, 30))
		applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: id, OpID: "op-e",
			Status: model.OpCancelled, Emergency: true, Timestamp: 40}))
	case model.LSDestroyRequested:
		applyOK(t, f, lsSetLog(t, id, model.OpActivate, 0, 0, 20))
		applyOK(t, f, lsStartLog(t, id, lsOp(id, "op-a", model.OpAdjustInstances), 0, 30))
		applyOK(t, f, lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: id, OpID: "op-a",
			Place: []PlaceInstance{at("e1", svcInstance(spec, "svc-i1", 0, 1))}, Timestamp: 40}))
		applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: id, OpID: "op-a", Step: 1,
			Status: model.OpCompleted, Timestamp: 50}))
		reportOK(t, f, "e1", 60, rep("e1", "svc-i1", model.InstanceHealthy, 1, 1))
		applyOK(t, f, lsSetLog(t, id, model.OpDeactivate, 0, 0, 70))
		applyOK(t, f, lsDestroyLog(t, id, 0, 80))
	default:
		t.Fatalf("serviceFSM: unsupported state %s", st)
	}
	require.Equal(t, st, mustService(t, f, id).State)
	return f
}

// requireUnchanged asserts a refused command left everything as it was.
func requireUnchanged(t *testing.T, f *FSM, services []model.LocalServiceInfo, insts []model.InstanceRecord,
	events []model.IndexedEvent, ch <-chan struct{}) {
	t.Helper()
	require.Equal(t, services, f.LocalServices())
	require.Equal(t, insts, f.Instances(nil))
	require.Equal(t, events, allEvents(f))
	require.False(t, isClosed(ch), "a refused command wakes nobody")
}

// ---- message types ----

func TestFSM_LocalServiceMessageTypes(t *testing.T) {
	// Golden values: the numbers are part of the log format and never change.
	tests := []struct {
		t    MessageType
		num  uint8
		name string
	}{
		{LocalServiceCreateType, 16, "LocalServiceCreate"},
		{LocalServiceSetType, 17, "LocalServiceSet"},
		{LocalServiceOperationStartType, 18, "LocalServiceOperationStart"},
		{LocalServiceOperationStepType, 19, "LocalServiceOperationStep"},
		{LocalServiceOperationFinishType, 20, "LocalServiceOperationFinish"},
		{LocalServiceOperationCancelType, 21, "LocalServiceOperationCancel"},
		{LocalServiceDestroyType, 22, "LocalServiceDestroy"},
		{TaskCreateType, 23, "TaskCreate"},
		{TaskKillType, 24, "TaskKill"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.num, uint8(tc.t))
		require.Equal(t, tc.name, tc.t.String())
		require.Equal(t, tc.name, (tc.t | IgnoreUnknownFlag).String())
	}
}

func TestFSM_LocalServiceCommandsPanicOnMalformedPayload(t *testing.T) {
	for typ := LocalServiceCreateType; typ <= TaskKillType; typ++ {
		t.Run(typ.String(), func(t *testing.T) {
			f := newTestFSM(t, 0)
			require.Panics(t, func() {
				f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: append([]byte{byte(typ)}, "{not json"...)})
			})
		})
	}
}

// ---- create ----

func TestFSM_LocalServiceCreate(t *testing.T) {
	f := newTestFSM(t, 0)
	next := nextEventIndex(f)
	ch := f.Changed()
	spec := testServiceSpec("svc", false)
	// Whatever the proposer puts in the state fields, a new service starts INACTIVE.
	res := f.Apply(cmdLog(t, LocalServiceCreateType, LocalServiceCreateRequest{Service: model.LocalServiceInfo{
		ServiceID: "svc-1", Spec: spec, InstancesPerHost: 2, ActivationState: model.ActivationActive,
		State: model.LSActive, Operation: &model.OperationRecord{ID: "x", Status: model.OpRunning},
		Created: 5, Updated: 6, Version: 9,
	}, Timestamp: 1_000}))
	require.Nil(t, res)
	require.True(t, isClosed(ch))

	want := model.LocalServiceInfo{ServiceID: "svc-1", Spec: spec, InstancesPerHost: 2,
		ActivationState: model.ActivationInactive, State: model.LSInactive, Created: 1_000, Updated: 1_000, Version: 1}
	require.Equal(t, want, mustService(t, f, "svc-1"))
	require.Equal(t, []model.LocalServiceInfo{want}, f.LocalServices())

	meta := func(state string) map[string]any {
		return map[string]any{
			model.MetaLocalServiceID: "svc-1", model.MetaLocalServiceName: "svc", model.MetaLocalServiceVersion: "1",
			model.MetaExecutable: "docker.io/svc:1", model.MetaCPUCount: 2, model.MetaMemory: int64(128),
			model.MetaPlacementPolicy: "LOCAL", model.MetaPorts: "main:8000:http,admin:8001:tcp",
			model.MetaCurrentInstancesPerHost: 2, model.MetaCurrentState: state,
		}
	}
	require.Equal(t, []model.IndexedEvent{
		{Index: next, Event: model.Event{Type: model.EventLocalServiceStateChange, ID: eventID(next), Time: 1_000,
			Metadata: meta("INIT")}},
		{Index: next + 1, Event: model.Event{Type: model.EventLocalServiceStateChange, ID: eventID(next + 1), Time: 1_000,
			Metadata: meta("INACTIVE")}},
	}, eventsAfter(f, next-1))

	// A second service sorts by id; the first is untouched.
	applyOK(t, f, lsCreateLog(t, testServiceSpec("abc", true), 1, 2_000))
	all := f.LocalServices()
	require.Len(t, all, 2)
	require.Equal(t, "abc-1", all[0].ServiceID)
	require.Equal(t, want, all[1])
	_, ok := f.LocalService("nope")
	require.False(t, ok)
}

func TestFSM_LocalServiceCreateRefused(t *testing.T) {
	f := newTestFSM(t, 0)
	applyOK(t, f, lsCreateLog(t, testServiceSpec("svc", false), 1, 1_000))
	services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
	ch := f.Changed()

	other := testServiceSpec("svc", true)
	other.Env = map[string]string{"CHANGED": "yes"}
	err := requireApplyErr(t, f.Apply(lsCreateLog(t, other, 4, 2_000)), ErrConflict)
	require.Contains(t, err.Error(), "Local service svc-1 already exists")
	requireUnchanged(t, f, services, insts, events, ch)

	requireInvalidCommand(t, f.Apply(cmdLog(t, LocalServiceCreateType, LocalServiceCreateRequest{
		Service: model.LocalServiceInfo{Spec: other}, Timestamp: 3_000})))
	requireUnchanged(t, f, services, insts, events, ch)

	// The id stays taken while the service is DESTROY_REQUESTED.
	g := serviceFSM(t, model.LSDestroyRequested, false)
	requireApplyErr(t, g.Apply(lsCreateLog(t, testServiceSpec("svc", false), 1, 1_000)), ErrConflict)
}

// ---- ACTIVATE, DEACTIVATE, DEPLOY_TEST_INSTANCE, UPDATE_INSTANCE_COUNT ----

func TestFSM_LocalServiceSet(t *testing.T) {
	const (
		inactive = model.LSInactive
		active   = model.LSActive
		confTest = model.LSConfigTesting
		emerg    = model.LSEmergencyDeactivationRequested
	)
	tests := []struct {
		name      string
		from      model.LocalServiceState
		hostLevel bool
		op        model.OperationType
		perHost   int
		wantErr   error    // nil: accepted
		wantSeq   []string // states passed through (accepted only)
		wantAct   model.ActivationState
		wantPer   int
	}{
		{"activate inactive", inactive, false, model.OpActivate, 0, nil,
			[]string{"ACTIVATION_REQUESTED", "ACTIVE"}, model.ActivationActive, 1},
		{"activate config testing", confTest, false, model.OpActivate, 0, nil,
			[]string{"ACTIVATION_REQUESTED", "ACTIVE"}, model.ActivationActive, 1},
		{"activate active", active, false, model.OpActivate, 0, ErrConflict, nil, "", 0},
		{"activate emergency", emerg, false, model.OpActivate, 0, ErrConflict, nil, "", 0},
		{"activate while adjusting", model.LSAdjustingInstances, false, model.OpActivate, 0, ErrConflict, nil, "", 0},

		{"deploy test instance inactive", inactive, false, model.OpDeployTestInstance, 0, nil,
			[]string{"CONFIG_TESTING_REQUESTED", "CONFIG_TESTING"}, model.ActivationConfigTesting, 1},
		{"deploy test instance active", active, false, model.OpDeployTestInstance, 0, ErrConflict, nil, "", 0},
		{"deploy test instance config testing", confTest, false, model.OpDeployTestInstance, 0, ErrConflict, nil, "", 0},

		{"deactivate active", active, false, model.OpDeactivate, 0, nil,
			[]string{"DEACTIVATION_REQUESTED", "INACTIVE"}, model.ActivationInactive, 1},
		{"deactivate config testing", confTest, false, model.OpDeactivate, 0, nil,
			[]string{"DEACTIVATION_REQUESTED", "INACTIVE"}, model.ActivationInactive, 1},
		{"deactivate emergency", emerg, false, model.OpDeactivate, 0, nil,
			[]string{"DEACTIVATION_REQUESTED", "INACTIVE"}, model.ActivationInactive, 1},
		{"deactivate inactive", inactive, false, model.OpDeactivate, 0, ErrConflict, nil, "", 0},
		{"deactivate while replacing", model.LSReplacingInstances, false, model.OpDeactivate, 0, ErrConflict, nil, "", 0},
		{"deactivate while stopping", model.LSStoppingInstances, false, model.OpDeactivate, 0, ErrConflict, nil, "", 0},
		{"deactivate destroy requested", model.LSDestroyRequested, false, model.OpDeactivate, 0, ErrConflict, nil, "", 0},

		{"STOP alias active", active, false, model.OpStopService, 0, nil,
			[]string{"DEACTIVATION_REQUESTED", "INACTIVE"}, model.ActivationInactive, 1},
		{"STOP alias emergency", emerg, false, model.OpStopService, 0, nil,
			[]string{"DEACTIVATION_REQUESTED", "INACTIVE"}, model.ActivationInactive, 1},
		{"STOP alias inactive", inactive, false, model.OpStopService, 0, ErrConflict, nil, "", 0},

		{"update count inactive", inactive, false, model.OpUpdateInstanceCount, 3, nil,
			[]string{"UPDATING_INSTANCES_COUNT", "INACTIVE"}, model.ActivationInactive, 3},
		{"update count active", active, false, model.OpUpdateInstanceCount, 256, nil,
			[]string{"UPDATING_INSTANCES_COUNT", "ACTIVE"}, model.ActivationActive, 256},
		{"update count to same", active, false, model.OpUpdateInstanceCount, 1, nil,
			[]string{"UPDATING_INSTANCES_COUNT", "ACTIVE"}, model.ActivationActive, 1},
		{"update count config testing", confTest, false, model.OpUpdateInstanceCount, 2, ErrConflict, nil, "", 0},
		{"update count emergency", emerg, false, model.OpUpdateInstanceCount, 2, ErrConflict, nil, "", 0},
		{"update count zero", inactive, false, model.OpUpdateInstanceCount, 0, ErrInvalidCommand, nil, "", 0},
		{"update count negative", active, false, model.OpUpdateInstanceCount, -1, ErrInvalidCommand, nil, "", 0},
		{"update count 257", active, false, model.OpUpdateInstanceCount, 257, ErrInvalidCommand, nil, "", 0},
		{"update count host level 2", inactive, true, model.OpUpdateInstanceCount, 2, ErrInvalidCommand, nil, "", 0},
		{"update count host level 0", active, true, model.OpUpdateInstanceCount, 0, ErrInvalidCommand, nil, "", 0},
		{"update count host level 1", active, true, model.OpUpdateInstanceCount, 1, nil,
			[]string{"UPDATING_INSTANCES_COUNT", "ACTIVE"}, model.ActivationActive, 1},

		// Allowed by the table, but not changes of intent: other commands carry them.
		{"adjust is not a set", inactive, false, model.OpAdjustInstances, 0, ErrInvalidCommand, nil, "", 0},
		{"restart is not a set", active, false, model.OpRestart, 0, ErrInvalidCommand, nil, "", 0},
		{"destroy is not a set", inactive, false, model.OpDestroy, 0, ErrInvalidCommand, nil, "", 0},
		{"create is never allowed", inactive, false, model.OpCreate, 0, ErrConflict, nil, "", 0},
		{"app operation", active, false, model.OpScale, 0, ErrConflict, nil, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := serviceFSM(t, tc.from, tc.hostLevel)
			before := mustService(t, f, "svc-1")
			services, insts, events, next := f.LocalServices(), f.Instances(nil), allEvents(f), nextEventIndex(f)
			ch := f.Changed()

			res := f.Apply(lsSetLog(t, "svc-1", tc.op, tc.perHost, 0, 5_000))
			if tc.wantErr != nil {
				requireApplyErr(t, res, tc.wantErr)
				requireUnchanged(t, f, services, insts, events, ch)
				return
			}
			require.Nil(t, res)
			require.True(t, isClosed(ch))
			var wantSeq []string
			for _, s := range tc.wantSeq {
				wantSeq = append(wantSeq, "svc-1="+s)
			}
			require.Equal(t, wantSeq, serviceStatesAfter(f, next-1))
			for _, e := range eventsAfter(f, next-1) {
				require.Equal(t, int64(5_000), e.Time)
				require.Equal(t, tc.wantPer, e.Metadata[model.MetaCurrentInstancesPerHost], "events carry the new count")
			}
			got := mustService(t, f, "svc-1")
			require.Equal(t, model.LocalServiceState(tc.wantSeq[len(tc.wantSeq)-1]), got.State)
			require.Equal(t, tc.wantAct, got.ActivationState)
			require.Equal(t, tc.wantPer, got.InstancesPerHost)
			require.Equal(t, before.Version+1, got.Version)
			require.Equal(t, int64(5_000), got.Updated)
			require.Equal(t, before.Created, got.Created)
			require.Equal(t, before.Spec, got.Spec)
			require.Equal(t, before.Operation, got.Operation, "a change of intent does not touch the operation")
			require.Equal(t, insts, f.Instances(nil), "a change of intent touches no instance")
		})
	}
}

func TestFSM_LocalServiceSetExpectVersion(t *testing.T) {
	f := serviceFSM(t, model.LSInactive, false)
	v := mustService(t, f, "svc-1").Version
	require.Equal(t, uint64(1), v, "a new service is at version 1 (0 means no expectation)")
	services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
	ch := f.Changed()

	for _, stale := range []uint64{v + 1, v + 2, 1_000} {
		err := requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", model.OpActivate, 0, stale, 2_000)), ErrConflict)
		require.Contains(t, err.Error(), "svc-1")
		requireUnchanged(t, f, services, insts, events, ch)
	}
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpActivate, 0, v, 2_000))
	require.Equal(t, model.LSActive, mustService(t, f, "svc-1").State)

	// The version moved on: the same expectation is stale now.
	requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", model.OpDeactivate, 0, v, 3_000)), ErrConflict)
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpDeactivate, 0, v+1, 3_000))

	requireApplyErr(t, f.Apply(lsSetLog(t, "nope-1", model.OpActivate, 0, 0, 4_000)), ErrNotFound)
}

func TestFSM_LocalServiceOpRefusal(t *testing.T) {
	ls := &model.LocalServiceInfo{ServiceID: "svc-1", State: model.LSActive}
	msg := LocalServiceOpRefusal(ls, model.OpActivate)
	require.True(t, strings.HasPrefix(msg, "Only ["), msg)
	require.True(t, strings.HasSuffix(msg, "] allowed for local service svc-1 as it is in ACTIVE state; ACTIVATE is not"), msg)
	for _, op := range []string{"DEACTIVATE", "UPDATE_INSTANCE_COUNT", "ADJUST_INSTANCES", "REPLACE_INSTANCES", "RESTART", "STOP_INSTANCES"} {
		require.Contains(t, msg, op)
	}

	ls.State = model.LSDestroyRequested
	require.Equal(t, "No operations allowed for svc-1 as it is in DESTROY_REQUESTED state",
		LocalServiceOpRefusal(ls, model.OpActivate))

	// The FSM's refusal carries the same message.
	f := serviceFSM(t, model.LSActive, false)
	err := requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", model.OpActivate, 0, 0, 1_000)), ErrConflict)
	require.Contains(t, err.Error(), LocalServiceOpRefusal(&model.LocalServiceInfo{ServiceID: "svc-1", State: model.LSActive},
		model.OpActivate))
}

// ---- instance-changing operations ----

func TestFSM_LocalServiceOperationLifecycle(t *testing.T) {
	tests := []struct {
		name    string
		from    model.LocalServiceState
		op      model.OperationType
		running model.LocalServiceState
	}{
		{"adjust inactive", model.LSInactive, model.OpAdjustInstances, model.LSAdjustingInstances},
		{"adjust active", model.LSActive, model.OpAdjustInstances, model.LSAdjustingInstances},
		{"adjust config testing", model.LSConfigTesting, model.OpAdjustInstances, model.LSAdjustingInstances},
		{"replace active", model.LSActive, model.OpReplaceInstances, model.LSReplacingInstances},
		{"replace config testing", model.LSConfigTesting, model.OpReplaceInstances, model.LSReplacingInstances},
		{"stop instances active", model.LSActive, model.OpStopInstances, model.LSStoppingInstances},
		{"stop instances config testing", model.LSConfigTesting, model.OpStopInstances, model.LSStoppingInstances},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := serviceFSM(t, tc.from, false)
			spec := testServiceSpec("svc", false)
			before := mustService(t, f, "svc-1")
			next := nextEventIndex(f)

			// Start.
			op := lsOp("svc-1", "op-1", tc.op)
			applyOK(t, f, lsStartLog(t, "svc-1", op, before.Version, 1_000))
			ls := mustService(t, f, "svc-1")
			require.Equal(t, tc.running, ls.State)
			require.Equal(t, before.ActivationState, ls.ActivationState, "the intent is unchanged while it runs")
			require.Equal(t, &op, ls.Operation)
			require.Equal(t, &op, ls.ActiveOperation())
			require.Equal(t, before.Version+1, ls.Version)
			require.Equal(t, []string{"svc-1=" + string(tc.running)}, serviceStatesAfter(f, next-1))

			// Nothing else is accepted while it runs.
			services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
			ch := f.Changed()
			for _, typ := range []model.OperationType{model.OpAdjustInstances, model.OpReplaceInstances, model.OpStopInstances} {
				requireApplyErr(t, f.Apply(lsStartLog(t, "svc-1", lsOp("svc-1", "op-2", typ), 0, 1_100)), ErrConflict)
			}
			for _, typ := range []model.OperationType{model.OpActivate, model.OpDeactivate, model.OpDeployTestInstance} {
				requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", typ, 0, 0, 1_100)), ErrConflict)
			}
			requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", model.OpUpdateInstanceCount, 2, 0, 1_100)), ErrConflict)
			requireApplyErr(t, f.Apply(lsDestroyLog(t, "svc-1", 0, 1_100)), ErrConflict)

			// Steps: only the running op at its current step count.
			place := []PlaceInstance{at("e1", svcInstance(spec, "svc-i1", 0, 1))}
			requireApplyErr(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1",
				Step: 1, Place: place, Timestamp: 1_200})), ErrConflict)
			requireApplyErr(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-other",
				Step: 0, Place: place, Timestamp: 1_200})), ErrConflict)
			requireApplyErr(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "nope-1", OpID: "op-1",
				Step: 0, Place: place, Timestamp: 1_200})), ErrNotFound)
			requireApplyErr(t, f.Apply(lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1",
				Step: 1, Status: model.OpCompleted, Timestamp: 1_200})), ErrConflict)
			requireApplyErr(t, f.Apply(lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-other",
				Step: 0, Status: model.OpCompleted, Timestamp: 1_200})), ErrConflict)
			requireUnchanged(t, f, services, insts, events, ch)

			next = nextEventIndex(f)
			applyOK(t, f, lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1", Step: 0,
				Place: place, Timestamp: 1_300}))
			ls = mustService(t, f, "svc-1")
			require.Equal(t, tc.running, ls.State)
			require.Equal(t, 1, ls.Operation.Steps)
			require.Equal(t, model.OpRunning, ls.Operation.Status)
			require.Equal(t, before.Version+2, ls.Version)
			require.Equal(t, int64(1_300), ls.Updated)
			r := mustInstance(t, f, "svc-i1")
			require.Equal(t, model.KindLocalService, r.Kind())
			require.Equal(t, model.InstancePending, r.Info.State)
			require.Empty(t, serviceStatesAfter(f, next-1), "a step changes no service state")
			ev := eventsAfter(f, next-1)
			require.Len(t, ev, 1)
			require.Equal(t, model.EventLocalServiceInstanceStateChange, ev[0].Type)

			// The step count moved: the same step again is stale.
			requireApplyErr(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1",
				Step: 0, Timestamp: 1_350})), ErrConflict)
			applyOK(t, f, lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1", Step: 1,
				Stop: []string{"svc-i1"}, Timestamp: 1_400}))
			require.True(t, mustInstance(t, f, "svc-i1").StopRequested)

			// Finish returns to the activation state.
			requireApplyErr(t, f.Apply(lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1",
				Step: 1, Status: model.OpCompleted, Timestamp: 1_500})), ErrConflict)
			next = nextEventIndex(f)
			applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1", Step: 2,
				Status: model.OpCompleted, Message: "done", Timestamp: 1_500}))
			ls = mustService(t, f, "svc-1")
			require.Equal(t, tc.from, ls.State)
			require.Equal(t, before.ActivationState, ls.ActivationState)
			require.Nil(t, ls.ActiveOperation())
			require.Equal(t, model.OpCompleted, ls.Operation.Status)
			require.Equal(t, "done", ls.Operation.Message)
			require.Equal(t, int64(1_500), ls.Operation.Finished)
			require.Equal(t, 2, ls.Operation.Steps)
			require.Equal(t, before.Version+4, ls.Version)
			require.Equal(t, []string{"svc-1=" + string(tc.from)}, serviceStatesAfter(f, next-1))

			// It is over: no more steps, finishes or cancels; a new one may start.
			requireApplyErr(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1",
				Step: 2, Timestamp: 1_600})), ErrConflict)
			requireApplyErr(t, f.Apply(lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1",
				Step: 2, Status: model.OpCompleted, Timestamp: 1_600})), ErrConflict)
			requireApplyErr(t, f.Apply(lsCancelLog(t, "svc-1", 1_600)), ErrConflict)
			applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-3", tc.op), 0, 1_700))
			require.Equal(t, tc.running, mustService(t, f, "svc-1").State)
		})
	}
}

func TestFSM_LocalServiceOperationStartRefused(t *testing.T) {
	tests := []struct {
		name    string
		from    model.LocalServiceState
		op      model.OperationType
		id      string
		expect  int64 // added to the current version; 0: no expectation
		wantErr error
	}{
		{"replace inactive", model.LSInactive, model.OpReplaceInstances, "svc-1", 0, ErrConflict},
		{"stop instances inactive", model.LSInactive, model.OpStopInstances, "svc-1", 0, ErrConflict},
		{"adjust emergency", model.LSEmergencyDeactivationRequested, model.OpAdjustInstances, "svc-1", 0, ErrConflict},
		{"replace emergency", model.LSEmergencyDeactivationRequested, model.OpReplaceInstances, "svc-1", 0, ErrConflict},
		{"adjust destroy requested", model.LSDestroyRequested, model.OpAdjustInstances, "svc-1", 0, ErrConflict},
		{"restart is translated by the proposer", model.LSActive, model.OpRestart, "svc-1", 0, ErrInvalidCommand},
		{"activate is not an operation", model.LSInactive, model.OpActivate, "svc-1", 0, ErrInvalidCommand},
		{"destroy is not an operation", model.LSInactive, model.OpDestroy, "svc-1", 0, ErrInvalidCommand},
		{"scale is an app operation", model.LSActive, model.OpScale, "svc-1", 0, ErrInvalidCommand},
		{"unknown service", model.LSActive, model.OpAdjustInstances, "nope-1", 0, ErrNotFound},
		{"stale version", model.LSActive, model.OpAdjustInstances, "svc-1", -1, ErrConflict},
		{"future version", model.LSActive, model.OpAdjustInstances, "svc-1", 1, ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := serviceFSM(t, tc.from, false)
			var expect uint64
			if tc.expect != 0 {
				expect = uint64(int64(mustService(t, f, "svc-1").Version) + tc.expect)
			}
			services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
			ch := f.Changed()
			requireApplyErr(t, f.Apply(lsStartLog(t, tc.id, lsOp(tc.id, "op-x", tc.op), expect, 9_000)), tc.wantErr)
			requireUnchanged(t, f, services, insts, events, ch)
		})
	}

	// The current version is accepted.
	f := serviceFSM(t, model.LSActive, false)
	applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-x", model.OpAdjustInstances), mustService(t, f, "svc-1").Version, 9_000))
}

func TestFSM_LocalServiceOperationStepPlacementRefused(t *testing.T) {
	f := serviceFSM(t, model.LSAdjustingInstances, false)
	spec := testServiceSpec("svc", false)
	applyOK(t, f, placeLog(t, 500, at("e2", testSpec("app-i1", []int{3}, 1))))
	services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
	ch := f.Changed()

	requireInvalidCommand(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-run",
		Place: []PlaceInstance{at("e1", svcInstance(spec, "svc-i1", 0)), at("e9", svcInstance(spec, "svc-i2", 0))},
		Stop:  []string{"app-i1"}, Timestamp: 1_000})))
	requireUnchanged(t, f, services, insts, events, ch)

	requireApplyErr(t, f.Apply(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-run",
		Place: []PlaceInstance{at("e2", svcInstance(spec, "svc-i1", 2, 3))}, Timestamp: 1_000})), ErrConflict)
	requireUnchanged(t, f, services, insts, events, ch)
	require.Zero(t, mustService(t, f, "svc-1").Operation.Steps, "a refused step is not counted")
}

func TestFSM_LocalServiceOperationFinishFailsInstances(t *testing.T) {
	f := serviceFSM(t, model.LSActive, false)
	spec := testServiceSpec("svc", false)
	applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-1", model.OpAdjustInstances), 0, 100))
	applyOK(t, f, lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1", Timestamp: 200,
		Place: []PlaceInstance{at("e1", svcInstance(spec, "svc-i1", 0)), at("e2", svcInstance(spec, "svc-i2", 0))}}))
	applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1", Step: 1,
		Status: model.OpFailed, Message: "timed out", Stop: []string{"svc-i1"},
		Fail: map[string]string{"svc-i2": "not healthy in time"}, Timestamp: 300}))
	require.True(t, mustInstance(t, f, "svc-i1").StopRequested)
	i2 := mustInstance(t, f, "svc-i2")
	require.True(t, i2.StopRequested)
	require.Equal(t, "not healthy in time", i2.FailReason)
	ls := mustService(t, f, "svc-1")
	require.Equal(t, model.LSActive, ls.State)
	require.Equal(t, model.OpFailed, ls.Operation.Status)
	require.Equal(t, "timed out", ls.Operation.Message)
}

func TestFSM_LocalServiceOperationFinishEmergency(t *testing.T) {
	tests := []struct {
		name   string
		from   model.LocalServiceState
		op     model.OperationType
		status model.OperationStatus
		want   model.LocalServiceState
	}{
		{"adjust active cancelled", model.LSActive, model.OpAdjustInstances, model.OpCancelled, model.LSEmergencyDeactivationRequested},
		{"replace active failed", model.LSActive, model.OpReplaceInstances, model.OpFailed, model.LSEmergencyDeactivationRequested},
		{"adjust config testing", model.LSConfigTesting, model.OpAdjustInstances, model.OpCancelled, model.LSEmergencyDeactivationRequested},
		{"stop instances config testing", model.LSConfigTesting, model.OpStopInstances, model.OpCancelled, model.LSEmergencyDeactivationRequested},
		{"adjust inactive", model.LSInactive, model.OpAdjustInstances, model.OpCancelled, model.LSInactive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := serviceFSM(t, tc.from, false)
			act := mustService(t, f, "svc-1").ActivationState
			applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-1", tc.op), 0, 100))
			next := nextEventIndex(f)
			applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1",
				Status: tc.status, Emergency: true, Timestamp: 200}))
			ls := mustService(t, f, "svc-1")
			require.Equal(t, tc.want, ls.State)
			require.Equal(t, act, ls.ActivationState)
			require.Equal(t, tc.status, ls.Operation.Status)
			require.Equal(t, []string{"svc-1=" + string(tc.want)}, serviceStatesAfter(f, next-1))
			if tc.want != model.LSEmergencyDeactivationRequested {
				return
			}

			// Only DEACTIVATE (or its STOP alias) is accepted now.
			services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
			ch := f.Changed()
			for _, op := range []model.OperationType{model.OpActivate, model.OpDeployTestInstance, model.OpUpdateInstanceCount} {
				requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", op, 1, 0, 300)), ErrConflict)
			}
			for _, op := range []model.OperationType{model.OpAdjustInstances, model.OpReplaceInstances, model.OpStopInstances} {
				requireApplyErr(t, f.Apply(lsStartLog(t, "svc-1", lsOp("svc-1", "op-2", op), 0, 300)), ErrConflict)
			}
			requireApplyErr(t, f.Apply(lsDestroyLog(t, "svc-1", 0, 300)), ErrConflict)
			requireApplyErr(t, f.Apply(lsCancelLog(t, "svc-1", 300)), ErrConflict)
			requireUnchanged(t, f, services, insts, events, ch)

			next = nextEventIndex(f)
			applyOK(t, f, lsSetLog(t, "svc-1", model.OpDeactivate, 0, ls.Version, 400))
			ls = mustService(t, f, "svc-1")
			require.Equal(t, model.LSInactive, ls.State)
			require.Equal(t, model.ActivationInactive, ls.ActivationState)
			require.Equal(t, []string{"svc-1=DEACTIVATION_REQUESTED", "svc-1=INACTIVE"}, serviceStatesAfter(f, next-1))
		})
	}
}

func TestFSM_LocalServiceOperationCancel(t *testing.T) {
	f := serviceFSM(t, model.LSActive, false)
	requireApplyErr(t, f.Apply(lsCancelLog(t, "svc-1", 50)), ErrConflict)
	requireApplyErr(t, f.Apply(lsCancelLog(t, "nope-1", 50)), ErrNotFound)

	applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-1", model.OpReplaceInstances), 0, 100))
	before := mustService(t, f, "svc-1")
	events := allEvents(f)
	ch := f.Changed()
	applyOK(t, f, lsCancelLog(t, "svc-1", 200))
	require.True(t, isClosed(ch))
	ls := mustService(t, f, "svc-1")
	require.True(t, ls.Operation.CancelRequested)
	require.Equal(t, model.OpRunning, ls.Operation.Status, "cancelling only asks the engine to stop")
	require.Equal(t, model.LSReplacingInstances, ls.State)
	require.Equal(t, before.Version+1, ls.Version)
	require.Equal(t, int64(200), ls.Updated)
	require.Equal(t, events, allEvents(f), "no state change, no event")
	require.False(t, before.Operation.CancelRequested, "the earlier read is not modified in place")

	// Asking again is harmless; the engine then finishes it.
	applyOK(t, f, lsCancelLog(t, "svc-1", 250))
	applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1",
		Status: model.OpCancelled, Timestamp: 300}))
	ls = mustService(t, f, "svc-1")
	require.Equal(t, model.LSActive, ls.State)
	require.Equal(t, model.OpCancelled, ls.Operation.Status)
	require.True(t, ls.Operation.CancelRequested)
}

// ---- destroy ----

func TestFSM_LocalServiceDestroyRefused(t *testing.T) {
	for _, st := range []model.LocalServiceState{model.LSActive, model.LSConfigTesting, model.LSAdjustingInstances,
		model.LSReplacingInstances, model.LSStoppingInstances, model.LSEmergencyDeactivationRequested} {
		t.Run(string(st), func(t *testing.T) {
			f := serviceFSM(t, st, false)
			services, insts, events := f.LocalServices(), f.Instances(nil), allEvents(f)
			ch := f.Changed()
			err := requireApplyErr(t, f.Apply(lsDestroyLog(t, "svc-1", 0, 1_000)), ErrConflict)
			require.Contains(t, err.Error(), string(st))
			requireUnchanged(t, f, services, insts, events, ch)
		})
	}
	f := serviceFSM(t, model.LSInactive, false)
	requireApplyErr(t, f.Apply(lsDestroyLog(t, "nope-1", 0, 1_000)), ErrNotFound)
	v := mustService(t, f, "svc-1").Version
	requireApplyErr(t, f.Apply(lsDestroyLog(t, "svc-1", v+1, 1_000)), ErrConflict)
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpUpdateInstanceCount, 2, 0, 900))
	requireApplyErr(t, f.Apply(lsDestroyLog(t, "svc-1", v, 1_000)), ErrConflict)
	v = mustService(t, f, "svc-1").Version
	require.Equal(t, model.LSInactive, mustService(t, f, "svc-1").State)
	applyOK(t, f, lsDestroyLog(t, "svc-1", v, 1_000))
	_, ok := f.LocalService("svc-1")
	require.False(t, ok)
}

func TestFSM_LocalServiceDestroyAtOnce(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	spec, other := testServiceSpec("svc", false), testServiceSpec("other", false)
	applyOK(t, f, lsCreateLog(t, spec, 1, 10))
	applyOK(t, f, lsCreateLog(t, other, 1, 10))
	// Ended instances of the service, and instances of another service.
	placeOK(t, f, 20, at("e1", svcInstance(spec, "svc-i1", 0)), at("e1", svcInstance(spec, "svc-i2", 1)),
		at("e1", svcInstance(other, "other-i1", 2)))
	reportOK(t, f, "e1", 30, rep("e1", "svc-i1", model.InstanceStopped, 1, 1), rep("e1", "svc-i2", model.InstanceLost, 1, 2))
	otherInsts := f.Instances(func(r *model.InstanceRecord) bool { return r.BelongsTo(model.KindLocalService, "other-1") })
	next := nextEventIndex(f)
	ch := f.Changed()

	applyOK(t, f, lsDestroyLog(t, "svc-1", 0, 1_000))
	require.True(t, isClosed(ch))
	_, ok := f.LocalService("svc-1")
	require.False(t, ok)
	require.Equal(t, []string{"svc-1=DESTROY_REQUESTED", "svc-1=DESTROYED"}, serviceStatesAfter(f, next-1))
	ev := eventsAfter(f, next-1)
	require.Len(t, ev, 2, "only service events")
	require.Equal(t, int64(1_000), ev[1].Time)
	require.Equal(t, "svc-1", ev[1].Metadata[model.MetaLocalServiceID])
	require.Equal(t, otherInsts, f.Instances(nil), "only the service's instance records are deleted")
	require.Equal(t, []string{"other-1"}, serviceIDs(f.LocalServices()))

	// Gone: repeating it finds nothing; the id can be used again.
	requireApplyErr(t, f.Apply(lsDestroyLog(t, "svc-1", 0, 1_100)), ErrNotFound)
	applyOK(t, f, lsCreateLog(t, spec, 1, 1_200))
	require.Equal(t, model.LSInactive, mustService(t, f, "svc-1").State)
}

func serviceIDs(ls []model.LocalServiceInfo) []string {
	out := make([]string, len(ls))
	for i, s := range ls {
		out[i] = s.ServiceID
	}
	return out
}

func TestFSM_LocalServiceDestroyWaitsForInstances(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	spec := testServiceSpec("svc", false)
	applyOK(t, f, lsCreateLog(t, spec, 1, 10))
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpActivate, 0, 0, 20))
	applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-1", model.OpAdjustInstances), 0, 30))
	applyOK(t, f, lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "svc-1", OpID: "op-1", Timestamp: 40,
		Place: []PlaceInstance{
			at("e1", svcInstance(spec, "svc-i1", 0)), at("e2", svcInstance(spec, "svc-i2", 0)),
			at("e1", svcInstance(spec, "svc-i3", 1)),
		}}))
	applyOK(t, f, lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "svc-1", OpID: "op-1", Step: 1,
		Status: model.OpCompleted, Timestamp: 50}))
	reportOK(t, f, "e1", 60, rep("e1", "svc-i1", model.InstanceHealthy, 1, 1), rep("e1", "svc-i3", model.InstanceStopped, 1, 2))
	reportOK(t, f, "e2", 60, rep("e2", "svc-i2", model.InstanceHealthy, 1, 1))
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpDeactivate, 0, 0, 70))
	next := nextEventIndex(f)

	// First: stop the live instances and wait.
	applyOK(t, f, lsDestroyLog(t, "svc-1", 0, 1_000))
	ls := mustService(t, f, "svc-1")
	require.Equal(t, model.LSDestroyRequested, ls.State)
	require.Equal(t, []string{"svc-1=DESTROY_REQUESTED"}, serviceStatesAfter(f, next-1))
	require.True(t, mustInstance(t, f, "svc-i1").StopRequested)
	require.True(t, mustInstance(t, f, "svc-i2").StopRequested)
	require.False(t, mustInstance(t, f, "svc-i3").StopRequested, "an ended instance needs no stop")
	require.Len(t, f.Instances(nil), 3, "nothing deleted yet")

	// Nothing but the repeated destroy is accepted.
	for _, op := range []model.OperationType{model.OpActivate, model.OpDeactivate, model.OpDeployTestInstance} {
		requireApplyErr(t, f.Apply(lsSetLog(t, "svc-1", op, 0, 0, 1_100)), ErrConflict)
	}
	requireApplyErr(t, f.Apply(lsStartLog(t, "svc-1", lsOp("svc-1", "op-2", model.OpAdjustInstances), 0, 1_100)), ErrConflict)

	// Repeated while one is still stopping: still waiting, no new event. A
	// stale expected version does not matter any more.
	reportOK(t, f, "e1", 1_200, rep("e1", "svc-i1", model.InstanceStopped, 1, 3))
	next = nextEventIndex(f)
	applyOK(t, f, lsDestroyLog(t, "svc-1", 1, 1_300))
	require.Equal(t, model.LSDestroyRequested, mustService(t, f, "svc-1").State)
	require.Empty(t, serviceStatesAfter(f, next-1))
	require.Len(t, f.Instances(nil), 3)

	// Repeated once all ended: deleted with its instance records.
	reportOK(t, f, "e2", 1_400, rep("e2", "svc-i2", model.InstanceStopped, 1, 2))
	next = nextEventIndex(f)
	applyOK(t, f, lsDestroyLog(t, "svc-1", 0, 1_500))
	_, ok := f.LocalService("svc-1")
	require.False(t, ok)
	require.Empty(t, f.Instances(nil))
	require.Equal(t, []string{"svc-1=DESTROYED"}, serviceStatesAfter(f, next-1))
	require.Empty(t, f.LocalServices())
}

// ---- local service instances ----

func TestFSM_LocalServiceInstanceEvents(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	spec := testServiceSpec("svc", true)
	next := nextEventIndex(f)
	placeOK(t, f, 100, at("e1", svcInstance(spec, "svc-i1", 0)))
	reportOK(t, f, "e1", 200, withPorts(rep("e1", "svc-i1", model.InstanceHealthy, 1, 1), testPorts))
	reportOK(t, f, "e1", 300, withError(withPorts(rep("e1", "svc-i1", model.InstanceStopped, 1, 2), testPorts), "boom"))

	meta := func(state, ports string) map[string]any {
		return map[string]any{
			model.MetaServiceID: "svc-1", model.MetaServiceName: "svc", model.MetaInstanceID: "svc-i1",
			model.MetaExecutorID: "e1", model.MetaExecutorHost: "e1.host", model.MetaPorts: ports,
			model.MetaCurrentState: state, model.MetaCreated: int64(100),
		}
	}
	stopped := meta("STOPPED", "admin:31001:tcp,main:31000:http")
	stopped[model.MetaError] = "boom"
	require.Equal(t, []model.IndexedEvent{
		{Index: next, Event: model.Event{Type: model.EventLocalServiceInstanceStateChange, ID: eventID(next), Time: 100,
			Metadata: meta("PENDING", "")}},
		{Index: next + 1, Event: model.Event{Type: model.EventLocalServiceInstanceStateChange, ID: eventID(next + 1), Time: 200,
			Metadata: meta("HEALTHY", "admin:31001:tcp,main:31000:http")}},
		{Index: next + 2, Event: model.Event{Type: model.EventLocalServiceInstanceStateChange, ID: eventID(next + 2), Time: 300,
			Metadata: stopped}},
	}, eventsAfter(f, next-1))

	r := mustInstance(t, f, "svc-i1")
	require.True(t, r.Spec.HostLevel)
	require.Nil(t, r.TaskResult, "only tasks have results")

	// Lost with its executor: still a local service instance event.
	placeOK(t, f, 400, at("e1", svcInstance(spec, "svc-i2", 1)))
	next = nextEventIndex(f)
	require.Nil(t, f.Apply(lostLog(t, "e1", "gone", 500)))
	ev := eventsAfter(f, next-1)
	require.Len(t, ev, 2)
	require.Equal(t, model.EventExecutorRemoved, ev[0].Type)
	require.Equal(t, model.EventLocalServiceInstanceStateChange, ev[1].Type)
	require.Equal(t, "LOST", ev[1].Metadata[model.MetaCurrentState])
	require.Equal(t, "Executor lost: gone", ev[1].Metadata[model.MetaError])
	require.Nil(t, mustInstance(t, f, "svc-i2").TaskResult)
}

// ---- readiness of executors ----

func TestFSM_UnreadyExecutors(t *testing.T) {
	execs := []model.ExecutorInfo{
		infoFromReg(testReg("e-ready"), model.ExecutorActive, 1),
		infoFromReg(testReg("e-partial"), model.ExecutorActive, 1),
		infoFromReg(testReg("e-starting"), model.ExecutorUnready, 1),
		infoFromReg(testReg("e-stopping"), model.ExecutorActive, 1),
		infoFromReg(testReg("e-wrongkind"), model.ExecutorActive, 1),
		infoFromReg(testReg("e-blacklisted"), model.ExecutorBlacklisted, 1),
		infoFromReg(testReg("e-blreq"), model.ExecutorBlacklistRequested, 1),
		infoFromReg(testReg("e-removed"), model.ExecutorActive, 1),
	}
	f := restoreExecutors(t, execs...)
	require.Empty(t, f.UnreadyExecutors(), "no services: every executor is ready")

	spec := testServiceSpec("svc", false)
	applyOK(t, f, lsCreateLog(t, spec, 2, 10))
	applyOK(t, f, lsCreateLog(t, testServiceSpec("idle", false), 3, 10))
	applyOK(t, f, lsCreateLog(t, testServiceSpec("conf", false), 1, 10))
	applyOK(t, f, lsSetLog(t, "conf-1", model.OpDeployTestInstance, 0, 0, 15))
	require.Empty(t, f.UnreadyExecutors(), "INACTIVE and CONFIG_TESTING services reserve nothing")

	healthy := func(exec, id string, core int) []model.InstanceReport {
		placeOK(t, f, 20, at(exec, svcInstance(spec, id, core)))
		return []model.InstanceReport{rep(exec, id, model.InstanceHealthy, 1, uint64(core+1))}
	}
	reportOK(t, f, "e-ready", 30, append(healthy("e-ready", "r1", 0), healthy("e-ready", "r2", 1)...)...)
	placeOK(t, f, 20, at("e-partial", svcInstance(spec, "p2", 1)))
	reportOK(t, f, "e-partial", 30, append(healthy("e-partial", "p1", 0), rep("e-partial", "p2", model.InstanceReady, 1, 9))...)
	placeOK(t, f, 20, at("e-starting", svcInstance(spec, "s1", 0)))
	reportOK(t, f, "e-stopping", 30, append(healthy("e-stopping", "x1", 0), healthy("e-stopping", "x2", 1)...)...)
	require.Nil(t, f.Apply(stopLog(t, 35, "x2")))
	// An application instance whose app id equals the service id does not count.
	app := testSpec("w1", []int{0}, 1)
	app.AppID = "svc-1"
	appB := testSpec("w2", []int{1}, 1)
	appB.AppID = "svc-1"
	placeOK(t, f, 20, at("e-wrongkind", app), at("e-wrongkind", appB))
	reportOK(t, f, "e-wrongkind", 30, rep("e-wrongkind", "w1", model.InstanceHealthy, 1, 1),
		rep("e-wrongkind", "w2", model.InstanceHealthy, 1, 2))
	require.Nil(t, f.Apply(lostLog(t, "e-removed", "gone", 40)))

	require.Empty(t, f.UnreadyExecutors(), "the service is not ACTIVE yet")
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpActivate, 0, 0, 50))
	require.Equal(t, map[string]bool{"e-partial": true, "e-starting": true, "e-stopping": true, "e-wrongkind": true},
		f.UnreadyExecutors())

	// A second ACTIVE service the ready executor lacks makes it unready too.
	applyOK(t, f, lsSetLog(t, "idle-1", model.OpActivate, 0, 0, 60))
	require.Equal(t, map[string]bool{"e-ready": true, "e-partial": true, "e-starting": true, "e-stopping": true,
		"e-wrongkind": true}, f.UnreadyExecutors())
	applyOK(t, f, lsSetLog(t, "idle-1", model.OpDeactivate, 0, 0, 70))

	// Fewer wanted per host: the partial executor is ready.
	applyOK(t, f, lsSetLog(t, "svc-1", model.OpUpdateInstanceCount, 1, 0, 80))
	require.Equal(t, map[string]bool{"e-starting": true, "e-wrongkind": true}, f.UnreadyExecutors())

	// While an operation runs the intent (ACTIVE) still counts.
	applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-1", model.OpAdjustInstances), 0, 90))
	require.Equal(t, map[string]bool{"e-starting": true, "e-wrongkind": true}, f.UnreadyExecutors())

	// The result is a fresh map each time.
	got := f.UnreadyExecutors()
	got["e-ready"] = true
	require.False(t, f.UnreadyExecutors()["e-ready"])
}

// ---- snapshot and determinism ----

// serviceLogs builds a history touching every local service command,
// ending with services in several states.
func serviceLogs(t *testing.T) []*raft.Log {
	t.Helper()
	a, b, c, d := testServiceSpec("alpha", false), testServiceSpec("beta", true), testServiceSpec("gamma", false),
		testServiceSpec("delta", false)
	var logs []*raft.Log
	add := func(ls ...*raft.Log) { logs = append(logs, ls...) }
	add(leaderLog(t, 1, "node-1", "ctl-1", 1_000),
		registerLog(t, testReg("e1"), 1_100),
		registerLog(t, testReg("e2"), 1_100),
		registerLog(t, testReg("e3"), 1_100),
		lsCreateLog(t, a, 2, 1_200),
		lsCreateLog(t, b, 1, 1_200),
		lsCreateLog(t, c, 1, 1_200),
		lsCreateLog(t, d, 1, 1_200),
		lsCreateLog(t, a, 1, 1_250), // refused: exists
		lsSetLog(t, "alpha-1", model.OpActivate, 0, 0, 1_300),
		lsSetLog(t, "beta-1", model.OpDeployTestInstance, 0, 0, 1_300),
		lsSetLog(t, "beta-1", model.OpUpdateInstanceCount, 2, 0, 1_310), // refused: CONFIG_TESTING
		lsSetLog(t, "gamma-1", model.OpUpdateInstanceCount, 3, 0, 1_320),
		lsSetLog(t, "gamma-1", model.OpActivate, 0, 99, 1_330), // refused: stale version
		lsStartLog(t, "alpha-1", lsOp("alpha-1", "op-a", model.OpAdjustInstances), 0, 1_400),
		lsStartLog(t, "beta-1", lsOp("beta-1", "op-b", model.OpAdjustInstances), 0, 1_400),
		lsStartLog(t, "delta-1", lsOp("delta-1", "op-d", model.OpAdjustInstances), 0, 1_400),
	)
	var places []PlaceInstance
	for i, e := range []string{"e1", "e2", "e3"} {
		places = append(places, at(e, svcInstance(a, "alpha-i"+strconv.Itoa(2*i), 0)),
			at(e, svcInstance(a, "alpha-i"+strconv.Itoa(2*i+1), 1)))
	}
	add(lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "alpha-1", OpID: "op-a", Place: places, Timestamp: 1_500}),
		lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "beta-1", OpID: "op-b",
			Place: []PlaceInstance{at("e2", svcInstance(b, "beta-i0", 2))}, Timestamp: 1_500}),
		lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "delta-1", OpID: "op-d",
			Place:     []PlaceInstance{at("e3", svcInstance(d, "delta-i0", 3)), at("e1", svcInstance(d, "delta-i1", 3))},
			Timestamp: 1_500}),
		lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "alpha-1", OpID: "op-a", Step: 0, Timestamp: 1_550}), // stale
		reportLog(t, "e1", 1_600, withPorts(rep("e1", "alpha-i0", model.InstanceHealthy, 7, 1), testPorts),
			rep("e1", "alpha-i1", model.InstanceHealthy, 7, 2), rep("e1", "delta-i1", model.InstanceHealthy, 7, 3)),
		reportLog(t, "e2", 1_600, rep("e2", "alpha-i2", model.InstanceHealthy, 7, 1),
			withError(rep("e2", "alpha-i3", model.InstanceStartFailed, 7, 2), "no image"),
			rep("e2", "beta-i0", model.InstanceHealthy, 7, 3)),
		reportLog(t, "e3", 1_600, rep("e3", "alpha-i4", model.InstanceHealthy, 7, 1), rep("e3", "delta-i0", model.InstanceHealthy, 7, 2)),
		lsCancelLog(t, "beta-1", 1_700),
		lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "alpha-1", OpID: "op-a", Step: 1,
			Status: model.OpFailed, Message: "one failed", Fail: map[string]string{"alpha-i3": "start failed", "alpha-i5": "slow"},
			Timestamp: 1_800}),
		lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "delta-1", OpID: "op-d", Step: 1,
			Status: model.OpCompleted, Timestamp: 1_800}),
		lsSetLog(t, "delta-1", model.OpDestroy, 0, 0, 1_850), // refused: not a set
		lsDestroyLog(t, "delta-1", 0, 1_900),                 // waits: two live instances
		lsDestroyLog(t, "gamma-1", 0, 1_900),                 // at once
		reportLog(t, "e3", 2_000, rep("e3", "delta-i0", model.InstanceStopped, 7, 3)),
		lostLog(t, "e3", "missed heartbeats", 2_100),
		noopLog(t, 50),
	)
	return logs
}

func TestFSM_LocalServiceSnapshotRoundTrip(t *testing.T) {
	f := newTestFSM(t, 0)
	for _, l := range serviceLogs(t) {
		f.Apply(l)
	}
	// The history must leave services in varied states, or the round trip proves little.
	alpha := mustService(t, f, "alpha-1")
	require.Equal(t, model.LSActive, alpha.State)
	require.Equal(t, model.OpFailed, alpha.Operation.Status)
	require.Equal(t, 2, alpha.InstancesPerHost)
	beta := mustService(t, f, "beta-1")
	require.Equal(t, model.LSAdjustingInstances, beta.State)
	require.Equal(t, model.ActivationConfigTesting, beta.ActivationState)
	require.True(t, beta.Operation.CancelRequested)
	require.True(t, beta.Spec.HostLevel())
	require.Equal(t, model.LSDestroyRequested, mustService(t, f, "delta-1").State)
	_, ok := f.LocalService("gamma-1")
	require.False(t, ok)
	require.Equal(t, "slow", mustInstance(t, f, "alpha-i5").FailReason)
	require.Equal(t, model.InstanceLost, mustInstance(t, f, "alpha-i4").Info.State)

	g := snapshotRestore(t, f)
	require.Equal(t, f.LocalServices(), g.LocalServices())
	for _, ls := range f.LocalServices() {
		require.Equal(t, ls, mustService(t, g, ls.ServiceID))
	}
	requireSameRegistry(t, f, g)
	require.Equal(t, f.UnreadyExecutors(), g.UnreadyExecutors())
	require.Equal(t, map[string]bool{"e2": true}, g.UnreadyExecutors(), "alpha-1 wants 2 per host; e2 has one healthy")

	// A snapshot of the restored FSM holds the same records (order aside).
	require.Equal(t, sortedLines(persist(t, f)), sortedLines(persist(t, g)))

	// Both continue identically.
	more := []*raft.Log{
		lsStepLog(t, LocalServiceOperationStepRequest{ServiceID: "beta-1", OpID: "op-b", Step: 1, Stop: []string{"beta-i0"},
			Timestamp: 3_000}),
		lsFinishLog(t, LocalServiceOperationFinishRequest{ServiceID: "beta-1", OpID: "op-b", Step: 2,
			Status: model.OpCancelled, Emergency: true, Timestamp: 3_100}),
		lsSetLog(t, "beta-1", model.OpActivate, 0, 0, 3_200), // refused
		lsSetLog(t, "beta-1", model.OpDeactivate, 0, 0, 3_300),
		reportLog(t, "e1", 3_400, rep("e1", "delta-i1", model.InstanceStopped, 7, 4)),
		lsDestroyLog(t, "delta-1", 0, 3_500),
		lsSetLog(t, "alpha-1", model.OpUpdateInstanceCount, 1, alpha.Version, 3_600),
	}
	for _, l := range more {
		require.Equal(t, f.Apply(l), g.Apply(l))
	}
	require.Equal(t, f.LocalServices(), g.LocalServices())
	requireSameRegistry(t, f, g)
	require.Equal(t, model.LSInactive, mustService(t, g, "beta-1").State)
	_, ok = g.LocalService("delta-1")
	require.False(t, ok)
	require.Equal(t, 1, mustService(t, g, "alpha-1").InstancesPerHost)
}

func sortedLines(b []byte) []string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	sort.Strings(lines)
	return lines
}

func TestFSM_LocalServiceSnapshotIsPointInTime(t *testing.T) {
	f := serviceFSM(t, model.LSActive, false)
	want := snapshotRestore(t, f)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()

	applyOK(t, f, lsStartLog(t, "svc-1", lsOp("svc-1", "op-1", model.OpAdjustInstances), 0, 1_000))
	applyOK(t, f, lsCancelLog(t, "svc-1", 1_100))
	applyOK(t, f, lsCreateLog(t, testServiceSpec("late", false), 1, 1_200))
	applyOK(t, f, lsDestroyLog(t, "late-1", 0, 1_300))

	sink := &bufferSink{}
	require.NoError(t, snap.Persist(sink))
	g := newTestFSM(t, 0)
	require.NoError(t, restoreBytes(t, g, sink.Bytes()))
	require.Equal(t, want.LocalServices(), g.LocalServices())
	requireSameRegistry(t, want, g)
}

func TestFSM_LocalServiceRestoreReplacesServices(t *testing.T) {
	src := newTestFSM(t, 0)
	applyOK(t, src, lsCreateLog(t, testServiceSpec("src", false), 1, 1))
	dst := newTestFSM(t, 0)
	applyOK(t, dst, lsCreateLog(t, testServiceSpec("dst", false), 1, 1))
	require.NoError(t, restoreBytes(t, dst, persist(t, src)))
	require.Equal(t, []string{"src-1"}, serviceIDs(dst.LocalServices()))

	// A snapshot from before local services existed restores with none.
	old := newTestFSM(t, 0)
	require.NoError(t, restoreBytes(t, old, []byte(`{"version":1}`+"\n")))
	require.Empty(t, old.LocalServices())
	require.Empty(t, old.UnreadyExecutors())
}

func TestFSM_LocalServiceDeterminism(t *testing.T) {
	logs := serviceLogs(t)
	const replicas = 8
	fs := make([]*FSM, replicas)
	for i := range fs {
		fs[i] = newTestFSM(t, 0)
	}
	for n, l := range logs {
		want := fs[0].Apply(l)
		for i := 1; i < replicas; i++ {
			require.Equal(t, want, fs[i].Apply(l), "same result for log %d on replica %d", n, i)
		}
	}
	wire := func(f *FSM) string {
		b, err := json.Marshal(struct {
			Services  []model.LocalServiceInfo
			Instances []model.InstanceRecord
			Events    []model.IndexedEvent
			Unready   map[string]bool
		}{f.LocalServices(), f.Instances(nil), allEvents(f), f.UnreadyExecutors()})
		require.NoError(t, err)
		return string(b)
	}
	want, wantSnap := wire(fs[0]), sortedLines(persist(t, fs[0]))
	for i := 1; i < replicas; i++ {
		require.Equal(t, want, wire(fs[i]), "replica %d derived a different state", i)
		require.Equal(t, wantSnap, sortedLines(persist(t, fs[i])), "replica %d snapshots different records", i)
		// Restored replicas agree byte for byte too.
		require.Equal(t, wire(snapshotRestore(t, fs[0])), wire(snapshotRestore(t, fs[i])))
	}
}

// Regression test (fsm/applications.go applyAppDestroy).
func TestFSM_AppDestroyIgnoresLocalServiceWithSameID(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	spec := testServiceSpec("shared", false)
	applyOK(t, f, lsCreateLog(t, spec, 1, 10))
	appSpec := model.ApplicationSpec{Name: "shared", Version: "1"}
	applyOK(t, f, cmdLog(t, AppCreateType, AppCreateRequest{App: model.ApplicationInfo{AppID: "shared-1", Spec: appSpec,
		State: model.AppMonitoring}, Timestamp: 10}))
	placeOK(t, f, 20, at("e1", svcInstance(spec, "svc-live", 0)), at("e1", svcInstance(spec, "svc-ended", 1)))
	reportOK(t, f, "e1", 30, rep("e1", "svc-live", model.InstanceHealthy, 1, 1), rep("e1", "svc-ended", model.InstanceStopped, 1, 2))

	require.Nil(t, f.Apply(cmdLog(t, AppDestroyType, AppDestroyRequest{AppID: "shared-1", Timestamp: 40})),
		"the app has no instances of its own")
	_, ok := f.Application("shared-1")
	require.False(t, ok)
	require.Equal(t, []string{"svc-ended", "svc-live"}, instanceIDs(f.Instances(nil)),
		"the local service's instance records are not the app's")
}

// Regression test (fsm/fsm.go FSM.Snapshot, not specific to local services).
func TestFSM_LocalServiceSnapshotBytesDeterministic(t *testing.T) {
	a, b := newTestFSM(t, 0), newTestFSM(t, 0)
	for _, l := range serviceLogs(t) {
		a.Apply(l)
		b.Apply(l)
	}
	want := string(persist(t, a))
	for i := 0; i < 5; i++ {
		require.Equal(t, want, string(persist(t, b)), "replicas fed the same log persist the same bytes")
		require.Equal(t, want, string(persist(t, a)), "one FSM persists the same bytes every time")
	}
}

// Readiness latches as in Drove: an executor whose local services were
// all healthy stays ready when a service is activated later or an instance
// dies; one that returns from REMOVED is UNREADY again until they are.
func TestFSM_ExecutorReadinessLatches(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	require.Equal(t, []string{"e1"}, f.ExecutorsToLatch(), "no local services: ready at once")
	require.Nil(t, f.Apply(cmdLog(t, ExecutorsReadyType, ExecutorsBlacklistRequest{ExecutorIDs: []string{"e1"}})))
	require.Empty(t, f.ExecutorsToLatch())

	register(t, f, testReg("e2"), 2)
	svc := model.LocalServiceInfo{ServiceID: "S-1", InstancesPerHost: 1}
	require.Nil(t, f.Apply(cmdLog(t, LocalServiceCreateType, LocalServiceCreateRequest{Service: svc, Timestamp: 3})))
	require.Nil(t, f.Apply(cmdLog(t, LocalServiceSetType, LocalServiceSetRequest{ServiceID: "S-1", Op: model.OpActivate, Timestamp: 4})))
	require.Equal(t, map[string]bool{"e2": true}, f.UnreadyExecutors(), "e1 latched; e2 lacks the service")
	require.Empty(t, f.ExecutorsToLatch())

	require.Nil(t, f.Apply(cmdLog(t, ExecutorLostType, ExecutorLostRequest{ExecutorID: "e1", Reason: "test", Timestamp: 5})))
	register(t, f, testReg("e1"), 6)
	require.Equal(t, map[string]bool{"e1": true, "e2": true}, f.UnreadyExecutors(), "back from REMOVED: not ready")
}

// Blacklisting and draining stop an executor's local-service instances, so
// unblacklisting it, or reactivating it after its drain, makes it UNREADY
// again until its services are healthy there (Drove: UNBLACKLIST → UNREADY
// → ACTIVE). Deactivating alone stops nothing and keeps it ready.
func TestFSM_ExecutorReadinessAfterBlacklistAndDrain(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	require.Nil(t, f.Apply(cmdLog(t, ExecutorsReadyType, ExecutorsBlacklistRequest{ExecutorIDs: []string{"e1"}})))
	svc := model.LocalServiceInfo{ServiceID: "S-1", InstancesPerHost: 1}
	require.Nil(t, f.Apply(cmdLog(t, LocalServiceCreateType, LocalServiceCreateRequest{Service: svc, Timestamp: 2})))
	require.Nil(t, f.Apply(cmdLog(t, LocalServiceSetType, LocalServiceSetRequest{ServiceID: "S-1", Op: model.OpActivate, Timestamp: 3})))
	require.Empty(t, f.UnreadyExecutors(), "latched before the service was activated")

	res := f.Apply(cmdLog(t, ExecutorsBlacklistType, ExecutorsBlacklistRequest{ExecutorIDs: []string{"e1", "e1"}, Timestamp: 4}))
	require.Equal(t, model.BlacklistResult{Successful: []string{"e1"}, Failed: []string{}}, res, "a repeated id counts once")
	require.Nil(t, f.Apply(cmdLog(t, ExecutorBlacklistedType, ExecutorIDRequest{ExecutorID: "e1", Timestamp: 5})))
	f.Apply(cmdLog(t, ExecutorsUnblacklistType, ExecutorsBlacklistRequest{ExecutorIDs: []string{"e1"}, Timestamp: 6}))
	require.Equal(t, map[string]bool{"e1": true}, f.UnreadyExecutors(), "unblacklisted: UNREADY until S-1 is healthy on it")

	require.Nil(t, f.Apply(cmdLog(t, ExecutorsReadyType, ExecutorsBlacklistRequest{ExecutorIDs: []string{"e1"}})))
	require.Nil(t, f.Apply(cmdLog(t, ExecutorActivationType, ExecutorActivationRequest{ExecutorID: "e1", Deactivate: true, Timestamp: 7})))
	require.Nil(t, f.Apply(cmdLog(t, ExecutorActivationType, ExecutorActivationRequest{ExecutorID: "e1", Timestamp: 8})))
	require.Empty(t, f.UnreadyExecutors(), "deactivate/reactivate stops nothing")

	require.Nil(t, f.Apply(cmdLog(t, ExecutorDrainType, ExecutorDrainRequest{ExecutorID: "e1", Timestamp: 9})))
	require.Nil(t, f.Apply(cmdLog(t, ExecutorDrainedType, ExecutorIDRequest{ExecutorID: "e1", Timestamp: 10})))
	require.Nil(t, f.Apply(cmdLog(t, ExecutorActivationType, ExecutorActivationRequest{ExecutorID: "e1", Timestamp: 11})))
	require.Equal(t, map[string]bool{"e1": true}, f.UnreadyExecutors(), "reactivated after its drain: UNREADY until S-1 is healthy")
}
