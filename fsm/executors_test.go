package fsm

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// ---- helpers shared by the executor and instance tests ----

// cmdLog wraps an encoded command in a log entry. The FSM never looks at the
// Raft index except in panic messages, so every entry gets index 1.
func cmdLog(tb testing.TB, t MessageType, payload any) *raft.Log {
	tb.Helper()
	return &raft.Log{Index: 1, Type: raft.LogCommand, Data: mustEncode(tb, t, payload)}
}

// testReg returns a fresh registration (no shared maps or slices) for an
// executor whose hostname is id+".host".
func testReg(id string) model.ExecutorRegistration {
	return model.ExecutorRegistration{
		ExecutorID:    id,
		Hostname:      id + ".host",
		Port:          3000,
		TransportType: model.TransportHTTP,
		Layout: model.ResourceLayout{
			Cores:  map[int][]int{0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}},
			Memory: map[int]int64{0: 1024, 1: 2048},
		},
		Tags:     []string{"ssd", "zone-a"},
		Metadata: map[string]string{"rack": "r1"},
		State:    model.ExecutorActive,
		Version:  "1.2.3",
	}
}

func registerLog(tb testing.TB, reg model.ExecutorRegistration, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, ExecutorRegisterType, ExecutorRegisterRequest{Registration: reg, Timestamp: ts})
}

func lostLog(tb testing.TB, id, reason string, ts int64) *raft.Log {
	tb.Helper()
	return cmdLog(tb, ExecutorLostType, ExecutorLostRequest{ExecutorID: id, Reason: reason, Timestamp: ts})
}

func purgeLog(tb testing.TB, ts int64, ids ...string) *raft.Log {
	tb.Helper()
	return cmdLog(tb, ExecutorPurgeType, ExecutorPurgeRequest{ExecutorIDs: ids, Timestamp: ts})
}

// register applies a registration that must succeed and returns the result.
func register(t *testing.T, f *FSM, reg model.ExecutorRegistration, ts int64) model.ExecutorInfo {
	t.Helper()
	res := f.Apply(registerLog(t, reg, ts))
	info, ok := res.(model.ExecutorInfo)
	require.True(t, ok, "want model.ExecutorInfo, got %T: %v", res, res)
	return info
}

func mustExecutor(t *testing.T, f *FSM, id string) model.ExecutorInfo {
	t.Helper()
	e, ok := f.Executor(id)
	require.True(t, ok, "executor %s not found", id)
	return e
}

// requireInvalidCommand asserts an Apply result is an error wrapping ErrInvalidCommand.
func requireInvalidCommand(t *testing.T, res any) error {
	t.Helper()
	err, ok := res.(error)
	require.True(t, ok, "want an error value, got %T: %v", res, res)
	require.ErrorIs(t, err, ErrInvalidCommand)
	return err
}

// eventsAfter returns every stored event with an index above after.
func eventsAfter(f *FSM, after uint64) []model.IndexedEvent {
	ev, _, _ := f.EventsSince(after, math.MaxInt)
	return ev
}

func nextEventIndex(f *FSM) uint64 {
	_, _, next := f.EventsSince(0, 0)
	return next
}

// restoreExecutors returns an FSM restored from a hand-written snapshot that
// holds execs. It is the only way to reach controller-owned states
// (BLACKLIST_REQUESTED, BLACKLISTED) until a command sets them.
func restoreExecutors(t *testing.T, execs ...model.ExecutorInfo) *FSM {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"version":1}` + "\n")
	for _, e := range execs {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		rec, err := json.Marshal(snapshotRecord{Kind: recordExecutor, Data: data})
		require.NoError(t, err)
		b.Write(rec)
		b.WriteByte('\n')
	}
	f := newTestFSM(t, 0)
	require.NoError(t, restoreBytes(t, f, []byte(b.String())))
	return f
}

// infoFromReg is what registering reg for the first time at ts stores.
func infoFromReg(reg model.ExecutorRegistration, state model.ExecutorState, ts int64) model.ExecutorInfo {
	return model.ExecutorInfo{
		ExecutorID: reg.ExecutorID, Hostname: reg.Hostname, Port: reg.Port, TransportType: reg.TransportType,
		Layout: reg.Layout, Tags: reg.Tags, Metadata: reg.Metadata, State: state, Version: reg.Version,
		Registered: ts, Updated: ts, Joined: ts,
	}
}

// eventsJSON renders every stored event as JSON. Events are compared on the
// wire after a snapshot: numeric metadata (PORT, CREATED) is an int/int64 on
// a replica that applied the log but a float64 on one restored from a
// snapshot, so the in-memory values differ while the API output does not.
func eventsJSON(t *testing.T, f *FSM) string {
	t.Helper()
	b, err := json.Marshal(allEvents(f))
	require.NoError(t, err)
	return string(b)
}

// requireSameRegistry asserts g holds exactly f's replicated state,
// executors and instances included.
func requireSameRegistry(t *testing.T, f, g *FSM) {
	t.Helper()
	require.Equal(t, f.ClusterState(), g.ClusterState())
	require.Equal(t, f.Executors(), g.Executors())
	require.Equal(t, f.Instances(nil), g.Instances(nil))
	require.Equal(t, eventsJSON(t, f), eventsJSON(t, g))
	_, firstF, nextF := f.EventsSince(0, 0)
	_, firstG, nextG := g.EventsSince(0, 0)
	require.Equal(t, firstF, firstG)
	require.Equal(t, nextF, nextG)
}

// ---- message types ----

func TestFSM_ExecutorMessageTypes(t *testing.T) {
	// Golden values: the numbers are part of the log format and never change.
	tests := []struct {
		t    MessageType
		num  uint8
		name string
	}{
		{ExecutorRegisterType, 3, "ExecutorRegister"},
		{ExecutorLostType, 4, "ExecutorLost"},
		{ExecutorPurgeType, 5, "ExecutorPurge"},
		{InstancesPlaceType, 6, "InstancesPlace"},
		{InstancesStopType, 7, "InstancesStop"},
		{InstanceReportType, 8, "InstanceReport"},
		{InstancesDeleteType, 9, "InstancesDelete"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.num, uint8(tc.t))
		require.Equal(t, tc.name, tc.t.String())
		require.Equal(t, tc.name, (tc.t | IgnoreUnknownFlag).String())
	}
}

func TestFSM_ExecutorCommandsPanicOnMalformedPayload(t *testing.T) {
	types := []MessageType{ExecutorRegisterType, ExecutorLostType, ExecutorPurgeType, InstancesPlaceType,
		InstancesStopType, InstanceReportType, InstancesDeleteType}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			f := newTestFSM(t, 0)
			register(t, f, testReg("e1"), 1)
			before, beforeEvents := f.Executors(), allEvents(f)
			for _, payload := range []string{"", "{", "[1]", "7", `"text"`, `{"x":1} trailing`} {
				require.Panics(t, func() { f.Apply(&raft.Log{Index: 2, Data: append([]byte{byte(typ)}, payload...)}) }, "payload %q", payload)
			}
			require.Equal(t, before, f.Executors())
			require.Equal(t, beforeEvents, allEvents(f))
			register(t, f, testReg("e2"), 2) // the lock was not left held
		})
	}
}

// ---- ExecutorRegister ----

func TestFSM_ExecutorRegisterNew(t *testing.T) {
	tests := []struct {
		name  string
		asked model.ExecutorState
		want  model.ExecutorState
	}{
		{"active", model.ExecutorActive, model.ExecutorActive},
		{"unready", model.ExecutorUnready, model.ExecutorUnready},
		{"state omitted", "", model.ExecutorActive},
		{"executor cannot blacklist itself", model.ExecutorBlacklisted, model.ExecutorActive},
		{"executor cannot request blacklisting", model.ExecutorBlacklistRequested, model.ExecutorActive},
		{"executor cannot remove itself", model.ExecutorRemoved, model.ExecutorActive},
		{"unknown state", "SLEEPING", model.ExecutorActive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			ch := f.Changed()
			reg := testReg("e1")
			reg.State = tc.asked

			info := register(t, f, reg, 1_000)

			want := infoFromReg(testReg("e1"), tc.want, 1_000)
			require.Equal(t, want, info)
			require.Equal(t, want, mustExecutor(t, f, "e1"))
			require.Equal(t, []model.ExecutorInfo{want}, f.Executors())
			require.Equal(t, []model.IndexedEvent{{Index: 1, Event: model.Event{
				Type: model.EventExecutorAdded, ID: eventID(1), Time: 1_000,
				Metadata: map[string]any{model.MetaExecutorID: "e1", model.MetaHostname: "e1.host", model.MetaPort: 3000},
			}}}, allEvents(f))
			require.True(t, isClosed(ch))
		})
	}
}

func TestFSM_ExecutorReRegister(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1_000)
	register(t, f, testReg("e2"), 1_100)
	require.Len(t, allEvents(f), 2)

	// Same data again: only Updated moves, no event.
	info := register(t, f, testReg("e1"), 2_000)
	want := infoFromReg(testReg("e1"), model.ExecutorActive, 1_000)
	want.Updated = 2_000
	require.Equal(t, want, info)
	require.Equal(t, want, mustExecutor(t, f, "e1"))
	require.Len(t, allEvents(f), 2, "re-registration emits no event")

	// Changed data is stored; the first registration time is kept.
	reg := testReg("e1")
	reg.Hostname, reg.Port, reg.TransportType, reg.Version = "e1.other", 3443, model.TransportHTTPS, "2.0"
	reg.Tags = []string{"gpu"}
	reg.Metadata = map[string]string{"rack": "r9", "row": "2"}
	reg.Layout = model.ResourceLayout{Cores: map[int][]int{0: {0, 1}}, Memory: map[int]int64{0: 512}}
	reg.State = model.ExecutorUnready
	info = register(t, f, reg, 3_000)
	want = infoFromReg(reg, model.ExecutorUnready, 1_000)
	want.Updated = 3_000
	require.Equal(t, want, info)
	require.Equal(t, want, mustExecutor(t, f, "e1"))
	require.Len(t, allEvents(f), 2, "an update of a known executor emits no event")

	// Back to ready.
	info = register(t, f, testReg("e1"), 4_000)
	require.Equal(t, model.ExecutorActive, info.State)
	require.Equal(t, int64(1_000), info.Registered)

	got := f.Executors()
	require.Len(t, got, 2)
	require.Equal(t, "e1", got[0].ExecutorID, "sorted by id")
	require.Equal(t, "e2", got[1].ExecutorID)
	require.Equal(t, int64(1_100), got[1].Updated, "other executors untouched")
}

func TestFSM_ExecutorRegisterEmptyID(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1_000)
	before, beforeEvents, beforeNext := f.Executors(), allEvents(f), nextEventIndex(f)
	ch := f.Changed()

	reg := testReg("")
	err := requireInvalidCommand(t, f.Apply(registerLog(t, reg, 2_000)))
	require.Contains(t, err.Error(), "executorId")

	require.Equal(t, before, f.Executors())
	_, ok := f.Executor("")
	require.False(t, ok)
	require.Equal(t, beforeEvents, allEvents(f))
	require.Equal(t, beforeNext, nextEventIndex(f))
	require.False(t, isClosed(ch), "watchers are not woken")
}

func TestFSM_ExecutorRegistrationChanges(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *model.ExecutorRegistration)
		want   bool
	}{
		{"identical", func(*model.ExecutorRegistration) {}, false},
		{"state omitted means active", func(r *model.ExecutorRegistration) { r.State = "" }, false},
		{"executor asks blacklisted: still active", func(r *model.ExecutorRegistration) { r.State = model.ExecutorBlacklisted }, false},
		{"state unready", func(r *model.ExecutorRegistration) { r.State = model.ExecutorUnready }, true},
		{"hostname", func(r *model.ExecutorRegistration) { r.Hostname = "elsewhere" }, true},
		{"port", func(r *model.ExecutorRegistration) { r.Port++ }, true},
		{"transport", func(r *model.ExecutorRegistration) { r.TransportType = model.TransportHTTPS }, true},
		{"version", func(r *model.ExecutorRegistration) { r.Version = "9.9.9" }, true},
		{"boot (agent restarted)", func(r *model.ExecutorRegistration) { r.Boot++ }, true},
		{"layout cores", func(r *model.ExecutorRegistration) { r.Layout.Cores[1] = []int{4, 5, 6} }, true},
		{"layout memory", func(r *model.ExecutorRegistration) { r.Layout.Memory[0] = 1023 }, true},
		{"layout new numa node", func(r *model.ExecutorRegistration) {
			r.Layout.Cores[2] = []int{8}
			r.Layout.Memory[2] = 64
		}, true},
		{"tags added", func(r *model.ExecutorRegistration) { r.Tags = append(r.Tags, "new") }, true},
		{"tags reordered", func(r *model.ExecutorRegistration) { r.Tags = []string{"zone-a", "ssd"} }, true},
		{"tags removed", func(r *model.ExecutorRegistration) { r.Tags = nil }, true},
		{"metadata value", func(r *model.ExecutorRegistration) { r.Metadata["rack"] = "r2" }, true},
		{"metadata key added", func(r *model.ExecutorRegistration) { r.Metadata["row"] = "1" }, true},
		{"metadata removed", func(r *model.ExecutorRegistration) { r.Metadata = nil }, true},
		{"unknown executor", func(r *model.ExecutorRegistration) { r.ExecutorID = "e9" }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			register(t, f, testReg("e1"), 1_000)
			before := f.Executors()
			reg := testReg("e1")
			tc.mutate(&reg)

			require.Equal(t, tc.want, f.RegistrationChanges(reg))
			require.Equal(t, before, f.Executors(), "a read changes nothing")
			if !tc.want {
				return
			}
			// What RegistrationChanges calls a change must really change the
			// stored executor (or add it).
			register(t, f, reg, 2_000)
			require.NotEqual(t, before, f.Executors())
			require.False(t, f.RegistrationChanges(reg), "after committing it, the same registration is no change")
		})
	}
}

func TestFSM_ExecutorRegistrationChangesByState(t *testing.T) {
	unready := testReg("e1")
	unready.State = model.ExecutorUnready
	tests := []struct {
		name  string
		setup func(t *testing.T, f *FSM)
		reg   model.ExecutorRegistration
		want  bool
	}{
		{"unready stays unready", func(t *testing.T, f *FSM) { register(t, f, unready, 1) }, unready, false},
		{"unready becomes active", func(t *testing.T, f *FSM) { register(t, f, unready, 1) }, testReg("e1"), true},
		{"removed, identical registration", func(t *testing.T, f *FSM) {
			register(t, f, testReg("e1"), 1)
			require.Nil(t, f.Apply(lostLog(t, "e1", "gone", 2)))
		}, testReg("e1"), true},
		{"empty FSM", func(*testing.T, *FSM) {}, testReg("e1"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			tc.setup(t, f)
			require.Equal(t, tc.want, f.RegistrationChanges(tc.reg))
		})
	}
}

// ---- blacklisting survives registration and loss ----

// No command sets a blacklisted state yet, so these executors come from a
// hand-written snapshot.
func TestFSM_ExecutorBlacklistedStateSurvives(t *testing.T) {
	for _, st := range []model.ExecutorState{model.ExecutorBlacklisted, model.ExecutorBlacklistRequested} {
		t.Run(string(st), func(t *testing.T) {
			stored := infoFromReg(testReg("e1"), st, 1_000)
			f := restoreExecutors(t, stored)
			require.Equal(t, stored, mustExecutor(t, f, "e1"))

			// The executor keeps asking for ACTIVE or UNREADY: no change to commit.
			unready := testReg("e1")
			unready.State = model.ExecutorUnready
			require.False(t, f.RegistrationChanges(testReg("e1")))
			require.False(t, f.RegistrationChanges(unready))

			info := register(t, f, unready, 2_000)
			require.Equal(t, st, info.State, "re-registration keeps the controller's state")
			require.Equal(t, int64(1_000), info.Registered)
			require.Empty(t, allEvents(f))

			require.Nil(t, f.Apply(lostLog(t, "e1", "gone", 3_000)))
			e := mustExecutor(t, f, "e1")
			require.Equal(t, model.ExecutorRemoved, e.State)
			require.Equal(t, st, e.PreviousState)
			require.True(t, f.RegistrationChanges(testReg("e1")), "a removed executor must re-register")

			info = register(t, f, testReg("e1"), 4_000)
			require.Equal(t, st, info.State, "a rejoining executor is still blacklisted")
			require.Equal(t, model.ExecutorState(""), info.PreviousState)
			require.Zero(t, info.Removed)
			require.Equal(t, int64(1_000), info.Registered)
			ev := allEvents(f)
			require.Len(t, ev, 2)
			require.Equal(t, model.EventExecutorRemoved, ev[0].Type)
			require.Equal(t, model.EventExecutorAdded, ev[1].Type)
		})
	}
}

// ---- ExecutorLost ----

func TestFSM_ExecutorLost(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1_000)
	register(t, f, testReg("e2"), 1_000)
	placeOK(t, f, 2_000,
		at("e1", testSpec("i-pending", []int{0}, 128)),
		at("e1", testSpec("i-healthy", []int{1}, 128)),
		at("e1", testSpec("i-stopping", []int{2}, 128)),
		at("e1", testSpec("i-stopped", []int{3}, 128)),
		at("e1", testSpec("i-lost", []int{4}, 128)),
		at("e2", testSpec("i-other", []int{0}, 128)),
	)
	reportOK(t, f, "e1", 3_000,
		rep("e1", "i-healthy", model.InstanceHealthy, 10, 1),
		rep("e1", "i-stopping", model.InstanceStopping, 10, 1),
		rep("e1", "i-stopped", model.InstanceStopped, 10, 1),
		rep("e1", "i-lost", model.InstanceLost, 10, 1),
	)
	reportOK(t, f, "e2", 3_000, rep("e2", "i-other", model.InstanceHealthy, 10, 1))
	before := map[string]model.InstanceRecord{}
	for _, r := range f.Instances(nil) {
		before[r.Info.InstanceID] = r
	}
	beforeE1 := mustExecutor(t, f, "e1")
	beforeE2 := mustExecutor(t, f, "e2")
	next := nextEventIndex(f)
	ch := f.Changed()

	require.Nil(t, f.Apply(lostLog(t, "e1", "missed heartbeats", 5_000)))
	require.True(t, isClosed(ch))

	want := beforeE1
	want.State, want.PreviousState = model.ExecutorRemoved, model.ExecutorActive
	want.Removed, want.Updated = 5_000, 5_000
	require.Equal(t, want, mustExecutor(t, f, "e1"))
	require.Equal(t, beforeE2, mustExecutor(t, f, "e2"))

	lost := []string{"i-pending", "i-healthy", "i-stopping"}
	for _, id := range lost {
		r := mustInstance(t, f, id)
		w := before[id]
		w.Info.State, w.Info.Updated = model.InstanceLost, 5_000
		w.Info.ErrorMessage = "Executor lost: missed heartbeats"
		require.Equal(t, w, r, id)
	}
	for _, id := range []string{"i-stopped", "i-lost", "i-other"} {
		require.Equal(t, before[id], mustInstance(t, f, id), "%s untouched", id)
	}

	ev := eventsAfter(f, next-1)
	require.Len(t, ev, 1+len(lost))
	require.Equal(t, model.EventExecutorRemoved, ev[0].Type)
	require.Equal(t, int64(5_000), ev[0].Time)
	require.Equal(t, map[string]any{model.MetaExecutorID: "e1"}, ev[0].Metadata)
	var changed []string
	for _, e := range ev[1:] {
		require.Equal(t, model.EventInstanceStateChange, e.Type)
		require.Equal(t, int64(5_000), e.Time)
		require.Equal(t, string(model.InstanceLost), e.Metadata[model.MetaCurrentState])
		require.Equal(t, "e1", e.Metadata[model.MetaExecutorID])
		require.Contains(t, e.Metadata[model.MetaError], "missed heartbeats")
		changed = append(changed, e.Metadata[model.MetaInstanceID].(string))
	}
	require.ElementsMatch(t, lost, changed)

	// Reports from the lost executor no longer change anything.
	require.Equal(t, 0, f.Apply(reportLog(t, "e1", 6_000, rep("e1", "i-healthy", model.InstanceHealthy, 10, 2))))
	require.Equal(t, model.InstanceLost, mustInstance(t, f, "i-healthy").Info.State)
}

func TestFSM_ExecutorLostNoOp(t *testing.T) {
	tests := []struct {
		name string
		id   string
	}{
		{"already removed", "e1"},
		{"unknown executor", "e9"},
		{"empty id", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			register(t, f, testReg("e1"), 1_000)
			placeOK(t, f, 1_500, at("e1", testSpec("i1", []int{0}, 1)))
			require.Nil(t, f.Apply(lostLog(t, "e1", "first", 2_000)))
			execs, insts, events := f.Executors(), f.Instances(nil), allEvents(f)
			ch := f.Changed()

			require.Nil(t, f.Apply(lostLog(t, tc.id, "second", 3_000)))

			require.Equal(t, execs, f.Executors())
			require.Equal(t, insts, f.Instances(nil))
			require.Equal(t, events, allEvents(f), "no second event")
			require.False(t, isClosed(ch))
			e := mustExecutor(t, f, "e1")
			require.Equal(t, int64(2_000), e.Removed, "the first loss time is kept")
			require.Equal(t, model.ExecutorActive, e.PreviousState, "PreviousState is not overwritten with REMOVED")
		})
	}
}

func TestFSM_ExecutorLostKeepsPreviousState(t *testing.T) {
	f := newTestFSM(t, 0)
	reg := testReg("e1")
	reg.State = model.ExecutorUnready
	register(t, f, reg, 1_000)
	require.Nil(t, f.Apply(lostLog(t, "e1", "gone", 2_000)))
	e := mustExecutor(t, f, "e1")
	require.Equal(t, model.ExecutorRemoved, e.State)
	require.Equal(t, model.ExecutorUnready, e.PreviousState)

	// Only a blacklisted previous state is restored; otherwise the executor's own request wins.
	info := register(t, f, testReg("e1"), 3_000)
	require.Equal(t, model.ExecutorActive, info.State)
}

func TestFSM_ExecutorReRegisterAfterLost(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1_000)
	placeOK(t, f, 1_500, at("e1", testSpec("i1", []int{0}, 1)))
	require.Nil(t, f.Apply(lostLog(t, "e1", "gone", 2_000)))
	next := nextEventIndex(f)
	require.True(t, f.RegistrationChanges(testReg("e1")))

	info := register(t, f, testReg("e1"), 3_000)

	want := infoFromReg(testReg("e1"), model.ExecutorActive, 1_000)
	want.Updated, want.Joined = 3_000, 3_000
	require.Equal(t, want, info, "ACTIVE again, PreviousState and Removed cleared, first registration kept, rejoined")
	require.Equal(t, want, mustExecutor(t, f, "e1"))
	require.False(t, f.RegistrationChanges(testReg("e1")))
	require.Equal(t, []model.IndexedEvent{{Index: next, Event: model.Event{
		Type: model.EventExecutorAdded, ID: eventID(next), Time: 3_000,
		Metadata: map[string]any{model.MetaExecutorID: "e1", model.MetaHostname: "e1.host", model.MetaPort: 3000},
	}}}, eventsAfter(f, next-1))

	// Its old instances stay LOST; new ones can be placed on it again.
	require.Equal(t, model.InstanceLost, mustInstance(t, f, "i1").Info.State)
	require.Equal(t, 0, f.Apply(reportLog(t, "e1", 4_000, rep("e1", "i1", model.InstanceHealthy, 20, 1))))
	require.Equal(t, model.InstanceLost, mustInstance(t, f, "i1").Info.State)
	placeOK(t, f, 5_000, at("e1", testSpec("i2", []int{0}, 1)))
}

// The order in which a lost executor's instances get their LOST events
// decides those events' indexes (and ids), so it must be the same on every
// replica.
//
// Regression (fixed): applyExecutorLost ranges over the
// f.st.instances map and appends one INSTANCE_STATE_CHANGE event per
// instance in map iteration order, which Go randomises: replicas applying
// the same log assign different event indexes/ids to the same instance.
// Fix: collect the matching instances and visit them in a fixed order
// (e.g. sorted by Created, then InstanceID, as Instances() does).
func TestFSM_ExecutorLostEventOrderIsDeterministic(t *testing.T) {
	logs := []*raft.Log{registerLog(t, testReg("e1"), 1_000)}
	var places []PlaceInstance
	for i := range 12 {
		places = append(places, at("e1", testSpec("i-"+string(rune('a'+i)), []int{i}, 1)))
	}
	logs = append(logs, placeLog(t, 2_000, places...), lostLog(t, "e1", "gone", 3_000))

	var want []model.IndexedEvent
	for replica := range 8 {
		f := newTestFSM(t, 0)
		for _, l := range logs {
			f.Apply(l)
		}
		got := allEvents(f)
		if replica == 0 {
			want = got
			continue
		}
		require.Equal(t, want, got, "replica %d derived different events", replica)
	}
}

// ---- ExecutorPurge ----

func TestFSM_ExecutorPurge(t *testing.T) {
	f := newTestFSM(t, 0)
	unready := testReg("e-unready")
	unready.State = model.ExecutorUnready
	register(t, f, testReg("e-active"), 1)
	register(t, f, unready, 1)
	register(t, f, testReg("e-removed"), 1)
	register(t, f, testReg("e-removed-kept"), 1)
	require.Nil(t, f.Apply(lostLog(t, "e-removed", "x", 2)))
	require.Nil(t, f.Apply(lostLog(t, "e-removed-kept", "x", 2)))
	events := allEvents(f)
	kept := map[string]model.ExecutorInfo{}
	for _, e := range f.Executors() {
		kept[e.ExecutorID] = e
	}

	require.Nil(t, f.Apply(purgeLog(t, 3, "e-active", "e-unready", "e-removed", "e-unknown", "")))

	var ids []string
	for _, e := range f.Executors() {
		ids = append(ids, e.ExecutorID)
		require.Equal(t, kept[e.ExecutorID], e, "survivors untouched")
	}
	require.Equal(t, []string{"e-active", "e-removed-kept", "e-unready"}, ids)
	_, ok := f.Executor("e-removed")
	require.False(t, ok)
	require.Equal(t, events, allEvents(f), "purging emits no event")

	// A purged executor registers like a new one.
	next := nextEventIndex(f)
	info := register(t, f, testReg("e-removed"), 4)
	require.Equal(t, infoFromReg(testReg("e-removed"), model.ExecutorActive, 4), info)
	require.Equal(t, model.EventExecutorAdded, eventsAfter(f, next-1)[0].Type)
}

// ---- ExecutorUsage ----

func TestFSM_ExecutorUsage(t *testing.T) {
	tests := []struct {
		state  model.InstanceState
		counts bool
	}{
		{model.InstancePending, true},
		{model.InstanceProvisioning, true},
		{model.InstanceStarting, true},
		{model.InstanceUnready, true},
		{model.InstanceReady, true},
		{model.InstanceHealthy, true},
		{model.InstanceUnhealthy, true},
		{model.InstanceDeprovisioning, true},
		{model.InstanceStopping, true},
		{model.InstanceProvisioningFailed, false},
		{model.InstanceStartFailed, false},
		{model.InstanceReadinessCheckFailed, false},
		{model.InstanceStopped, false},
		{model.InstanceLost, false},
		{model.InstanceUnknown, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.state), func(t *testing.T) {
			f := newTestFSM(t, 0)
			register(t, f, testReg("e1"), 1)
			register(t, f, testReg("e2"), 1)
			// A baseline instance on each NUMA node, one under test, and
			// noise on another executor.
			base := testSpec("base", []int{7}, 100)
			base.Resources = append(base.Resources,
				model.ResourceAllocation{Type: model.ResourceCPU, Cores: map[int][]int{1: {5, 4}}},
				model.ResourceAllocation{Type: model.ResourceMemory, MemoryInMB: map[int]int64{1: 50}})
			placeOK(t, f, 2,
				at("e1", base),
				at("e1", testSpec("probe", []int{2, 1}, 300)),
				at("e2", testSpec("other", []int{0, 3}, 999)),
			)
			if tc.state != model.InstancePending {
				reportOK(t, f, "e1", 3, rep("e1", "probe", tc.state, 10, 1))
			}
			require.Equal(t, tc.state, mustInstance(t, f, "probe").Info.State)

			cores, mem := f.ExecutorUsage("e1")
			if tc.counts {
				require.Equal(t, map[int][]int{0: {1, 2, 7}, 1: {4, 5}}, cores, "merged and sorted per node")
				require.Equal(t, map[int]int64{0: 400, 1: 50}, mem)
			} else {
				require.Equal(t, map[int][]int{0: {7}, 1: {4, 5}}, cores)
				require.Equal(t, map[int]int64{0: 100, 1: 50}, mem)
			}
		})
	}
}

func TestFSM_ExecutorUsageEmpty(t *testing.T) {
	f := newTestFSM(t, 0)
	cores, mem := f.ExecutorUsage("nobody")
	require.NotNil(t, cores)
	require.NotNil(t, mem)
	require.Empty(t, cores)
	require.Empty(t, mem)

	register(t, f, testReg("e1"), 1)
	placeOK(t, f, 2, at("e1", testSpec("i1", []int{0}, 10)))
	require.Nil(t, f.Apply(lostLog(t, "e1", "x", 3)))
	cores, mem = f.ExecutorUsage("e1")
	require.Empty(t, cores, "LOST instances hold nothing")
	require.Empty(t, mem)
}
