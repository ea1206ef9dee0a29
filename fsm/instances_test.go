package fsm

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// ---- helpers ----

// testSpec returns a fresh spec for app-1 holding cores and mem MB on NUMA node 0.
func testSpec(id string, cores []int, mem int64) model.InstanceSpec {
	return model.InstanceSpec{
		AppID: "app-1", AppName: "app", InstanceID: id,
		Executable: model.Executable{Type: "DOCKER", URL: "docker.io/app:1", DockerPullTimeout: "100 seconds"},
		Resources: []model.ResourceAllocation{
			{Type: model.ResourceCPU, Cores: map[int][]int{0: append([]int(nil), cores...)}},
			{Type: model.ResourceMemory, MemoryInMB: map[int]int64{0: mem}},
		},
		Ports: []model.PortSpec{{Name: "main", Port: 8080, Type: model.PortHTTP}},
		Env:   map[string]string{"KEY": "value"},
		Args:  []string{"--flag"},
	}
}

func at(executorID string, spec model.InstanceSpec) PlaceInstance {
	return PlaceInstance{Spec: spec, ExecutorID: executorID}
}

func placeLog(tb testing.TB, ts int64, places ...PlaceInstance) *raft.Log {
	tb.Helper()
	return cmdLog(tb, InstancesPlaceType, InstancesPlaceRequest{Instances: places, Timestamp: ts})
}

func stopLog(tb testing.TB, ts int64, ids ...string) *raft.Log {
	tb.Helper()
	return cmdLog(tb, InstancesStopType, InstancesStopRequest{InstanceIDs: ids, Timestamp: ts})
}

func reportLog(tb testing.TB, executorID string, ts int64, reports ...model.InstanceReport) *raft.Log {
	tb.Helper()
	return cmdLog(tb, InstanceReportType, InstanceReportRequest{ExecutorID: executorID, Reports: reports, Timestamp: ts})
}

func deleteLog(tb testing.TB, ids ...string) *raft.Log {
	tb.Helper()
	return cmdLog(tb, InstancesDeleteType, InstancesDeleteRequest{InstanceIDs: ids})
}

// rep is a report from executorID (host executorID+".host") with no ports.
func rep(executorID, id string, st model.InstanceState, boot int64, seq uint64) model.InstanceReport {
	return model.InstanceReport{Boot: boot, Seq: seq, Info: model.InstanceInfo{
		AppID: "app-1", AppName: "app", InstanceID: id, ExecutorID: executorID, State: st,
		LocalInfo: model.LocalInstanceInfo{Hostname: executorID + ".host", Ports: map[string]model.InstancePort{}},
	}}
}

func withPorts(r model.InstanceReport, ports map[string]model.InstancePort) model.InstanceReport {
	r.Info.LocalInfo.Ports = ports
	return r
}

func withError(r model.InstanceReport, msg string) model.InstanceReport {
	r.Info.ErrorMessage = msg
	return r
}

func placeOK(t *testing.T, f *FSM, ts int64, places ...PlaceInstance) {
	t.Helper()
	require.Nil(t, f.Apply(placeLog(t, ts, places...)))
}

// reportOK applies reports that must all be applied.
func reportOK(t *testing.T, f *FSM, executorID string, ts int64, reports ...model.InstanceReport) {
	t.Helper()
	require.Equal(t, len(reports), f.Apply(reportLog(t, executorID, ts, reports...)))
}

func mustInstance(t *testing.T, f *FSM, id string) model.InstanceRecord {
	t.Helper()
	r, ok := f.Instance(id)
	require.True(t, ok, "instance %s not found", id)
	return r
}

func instanceIDs(rs []model.InstanceRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Info.InstanceID
	}
	return out
}

var testPorts = map[string]model.InstancePort{
	"main":  {ContainerPort: 8080, HostPort: 31000, PortType: model.PortHTTP},
	"admin": {ContainerPort: 8081, HostPort: 31001, PortType: model.PortTCP},
}

// ---- InstancesPlace ----

func TestFSM_InstancesPlace(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	reg2 := testReg("e2")
	reg2.State = model.ExecutorUnready // the FSM leaves choosing executors to the scheduler
	register(t, f, reg2, 1)
	next := nextEventIndex(f)
	ch := f.Changed()

	s1, s2 := testSpec("i-b", []int{1, 2}, 512), testSpec("i-a", []int{3}, 256)
	s2.AppID, s2.AppName = "app-2", "other"
	require.Nil(t, f.Apply(placeLog(t, 5_000, at("e1", s1), at("e2", s2))))
	require.True(t, isClosed(ch))

	want1 := model.InstanceRecord{Spec: s1, Info: model.InstanceInfo{
		AppID: "app-1", AppName: "app", InstanceID: "i-b", ExecutorID: "e1",
		LocalInfo: model.LocalInstanceInfo{Hostname: "e1.host", Ports: map[string]model.InstancePort{}},
		Resources: s1.Resources, State: model.InstancePending, Metadata: map[string]string{},
		Created: 5_000, Updated: 5_000,
	}}
	want2 := model.InstanceRecord{Spec: s2, Info: model.InstanceInfo{
		AppID: "app-2", AppName: "other", InstanceID: "i-a", ExecutorID: "e2",
		LocalInfo: model.LocalInstanceInfo{Hostname: "e2.host", Ports: map[string]model.InstancePort{}},
		Resources: s2.Resources, State: model.InstancePending, Metadata: map[string]string{},
		Created: 5_000, Updated: 5_000,
	}}
	require.Equal(t, want1, mustInstance(t, f, "i-b"))
	require.Equal(t, want2, mustInstance(t, f, "i-a"))
	require.Equal(t, []model.InstanceRecord{want2, want1}, f.Instances(nil), "same creation time: sorted by id")

	// One event per instance, in request order.
	require.Equal(t, []model.IndexedEvent{
		{Index: next, Event: model.Event{Type: model.EventInstanceStateChange, ID: eventID(next), Time: 5_000,
			Metadata: map[string]any{
				model.MetaAppID: "app-1", model.MetaAppName: "app", model.MetaInstanceID: "i-b",
				model.MetaExecutorID: "e1", model.MetaExecutorHost: "e1.host", model.MetaPorts: "",
				model.MetaCurrentState: "PENDING", model.MetaCreated: int64(5_000),
			}}},
		{Index: next + 1, Event: model.Event{Type: model.EventInstanceStateChange, ID: eventID(next + 1), Time: 5_000,
			Metadata: map[string]any{
				model.MetaAppID: "app-2", model.MetaAppName: "other", model.MetaInstanceID: "i-a",
				model.MetaExecutorID: "e2", model.MetaExecutorHost: "e2.host", model.MetaPorts: "",
				model.MetaCurrentState: "PENDING", model.MetaCreated: int64(5_000),
			}}},
	}, eventsAfter(f, next-1))

	// Later placements sort after earlier ones regardless of id.
	placeOK(t, f, 6_000, at("e1", testSpec("a-first-by-name", nil, 1)))
	require.Equal(t, []string{"i-a", "i-b", "a-first-by-name"}, instanceIDs(f.Instances(nil)))
	require.Equal(t, []string{"i-a"}, instanceIDs(f.Instances(func(r *model.InstanceRecord) bool {
		return r.Info.ExecutorID == "e2"
	})))
}

func TestFSM_InstancesPlaceAllOrNothing(t *testing.T) {
	tests := []struct {
		name    string
		bad     PlaceInstance
		wantMsg string
	}{
		{"duplicate id in batch", at("e1", testSpec("new-1", []int{1}, 1)), "new-1"},
		{"existing id", at("e1", testSpec("old", []int{1}, 1)), "old"},
		{"existing id on another executor", at("e2", testSpec("old", []int{1}, 1)), "old"},
		{"empty id", at("e1", testSpec("", []int{1}, 1)), `""`},
		{"unknown executor", at("e9", testSpec("new-3", []int{1}, 1)), "e9"},
		{"empty executor id", at("", testSpec("new-3", []int{1}, 1)), "executor"},
		{"removed executor", at("e-removed", testSpec("new-3", []int{1}, 1)), "e-removed"},
	}
	for _, tc := range tests {
		for _, badFirst := range []bool{false, true} {
			t.Run(tc.name+"/bad first="+strconv.FormatBool(badFirst), func(t *testing.T) {
				f := newTestFSM(t, 0)
				register(t, f, testReg("e1"), 1)
				register(t, f, testReg("e2"), 1)
				register(t, f, testReg("e-removed"), 1)
				placeOK(t, f, 2, at("e1", testSpec("old", []int{0}, 1)))
				require.Nil(t, f.Apply(lostLog(t, "e-removed", "x", 3)))
				insts, events, next := f.Instances(nil), allEvents(f), nextEventIndex(f)
				ch := f.Changed()

				batch := []PlaceInstance{at("e1", testSpec("new-1", []int{2}, 1)), at("e2", testSpec("new-2", []int{3}, 1))}
				if badFirst {
					batch = append([]PlaceInstance{tc.bad}, batch...)
				} else {
					batch = append(batch, tc.bad)
				}
				err := requireInvalidCommand(t, f.Apply(placeLog(t, 4, batch...)))
				require.Contains(t, err.Error(), tc.wantMsg)

				require.Equal(t, insts, f.Instances(nil), "no instance of the batch is stored")
				require.Equal(t, events, allEvents(f))
				require.Equal(t, next, nextEventIndex(f))
				require.False(t, isClosed(ch))
			})
		}
	}
}

// ---- InstancesStop ----

func TestFSM_InstancesStop(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	placeOK(t, f, 100,
		at("e1", testSpec("i-pending", []int{0}, 1)),
		at("e1", testSpec("i-healthy", []int{1}, 1)),
		at("e1", testSpec("i-stopped", []int{2}, 1)),
		at("e1", testSpec("i-lost", []int{3}, 1)),
		at("e1", testSpec("i-untouched", []int{4}, 1)),
	)
	reportOK(t, f, "e1", 200,
		rep("e1", "i-healthy", model.InstanceHealthy, 10, 1),
		rep("e1", "i-stopped", model.InstanceStopped, 10, 1),
		rep("e1", "i-lost", model.InstanceLost, 10, 1),
		rep("e1", "i-untouched", model.InstanceHealthy, 10, 1),
	)
	before := map[string]model.InstanceRecord{}
	for _, r := range f.Instances(nil) {
		before[r.Info.InstanceID] = r
	}
	next := nextEventIndex(f)

	require.Nil(t, f.Apply(stopLog(t, 300, "i-pending", "i-healthy", "i-stopped", "i-lost", "i-unknown", "")))

	// PENDING: a START may be on its way, so only the executor can say it
	// stopped (it reports STOPPED for an instance it never had).
	w := before["i-pending"]
	w.StopRequested = true
	require.Equal(t, w, mustInstance(t, f, "i-pending"))
	// Running: the request is recorded; the executor reports the stop.
	r := mustInstance(t, f, "i-healthy")
	require.True(t, r.StopRequested)
	require.Equal(t, model.InstanceHealthy, r.Info.State)
	// Terminal and unrelated instances are untouched.
	for _, id := range []string{"i-stopped", "i-lost", "i-untouched"} {
		require.Equal(t, before[id], mustInstance(t, f, id), id)
	}
	_, ok := f.Instance("i-unknown")
	require.False(t, ok, "unknown ids are ignored, not created")
	require.Len(t, f.Instances(nil), 5)

	require.Empty(t, eventsAfter(f, next-1), "a stop request changes no state by itself")

	// Stopping again changes nothing.
	insts, events := f.Instances(nil), allEvents(f)
	require.Nil(t, f.Apply(stopLog(t, 400, "i-pending", "i-healthy")))
	require.Equal(t, insts, f.Instances(nil))
	require.Equal(t, events, allEvents(f))

	// The executor then reports the stop.
	reportOK(t, f, "e1", 500,
		rep("e1", "i-healthy", model.InstanceStopping, 10, 2),
		rep("e1", "i-healthy", model.InstanceStopped, 10, 3))
	r = mustInstance(t, f, "i-healthy")
	require.Equal(t, model.InstanceStopped, r.Info.State)
	require.True(t, r.StopRequested)
}

// ---- InstanceReport ----

func TestFSM_InstanceReportOrdering(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	placeOK(t, f, 10, at("e1", testSpec("i1", []int{0}, 1)))

	type step struct {
		name      string
		executor  string
		report    model.InstanceReport
		applied   int
		wantState model.InstanceState
		wantEvent bool
	}
	r := func(st model.InstanceState, boot int64, seq uint64) model.InstanceReport {
		return rep("e1", "i1", st, boot, seq)
	}
	steps := []step{
		{"first report", "e1", r(model.InstanceProvisioning, 100, 1), 1, model.InstanceProvisioning, true},
		{"next seq", "e1", r(model.InstanceStarting, 100, 2), 1, model.InstanceStarting, true},
		{"same seq again", "e1", r(model.InstanceHealthy, 100, 2), 0, model.InstanceStarting, false},
		{"lower seq", "e1", r(model.InstanceHealthy, 100, 1), 0, model.InstanceStarting, false},
		{"seq gap", "e1", r(model.InstanceHealthy, 100, 99), 1, model.InstanceHealthy, true},
		{"older boot, higher seq", "e1", r(model.InstanceUnhealthy, 99, 1_000), 0, model.InstanceHealthy, false},
		{"newer boot, seq 1", "e1", r(model.InstanceReady, 101, 1), 1, model.InstanceReady, true},
		{"previous boot now stale", "e1", r(model.InstanceUnhealthy, 100, 100), 0, model.InstanceReady, false},
		{"other executor", "e2", rep("e2", "i1", model.InstanceUnhealthy, 500, 1), 0, model.InstanceReady, false},
		{"claims e1 but sent by e2", "e2", r(model.InstanceUnhealthy, 500, 1), 0, model.InstanceReady, false},
		{"empty state", "e1", r("", 101, 2), 0, model.InstanceReady, false},
		{"ports, same state", "e1", withPorts(r(model.InstanceReady, 101, 3), testPorts), 1, model.InstanceReady, false},
		{"error, same state", "e1", withPorts(withError(r(model.InstanceReady, 101, 4), "slow"), testPorts), 1, model.InstanceReady, false},
		{"lost", "e1", r(model.InstanceLost, 101, 5), 1, model.InstanceLost, true},
		{"terminal stays", "e1", r(model.InstanceHealthy, 101, 6), 0, model.InstanceLost, false},
		{"terminal stays on new boot", "e1", r(model.InstanceHealthy, 200, 1), 0, model.InstanceLost, false},
	}
	ts := int64(1_000)
	for _, s := range steps {
		ts += 100
		before := mustInstance(t, f, "i1")
		next := nextEventIndex(f)

		res := f.Apply(reportLog(t, s.executor, ts, s.report))

		require.Equal(t, s.applied, res, s.name)
		got := mustInstance(t, f, "i1")
		require.Equal(t, s.wantState, got.Info.State, s.name)
		if s.applied == 0 {
			require.Equal(t, before, got, "%s: an ignored report changes nothing", s.name)
		} else {
			require.Equal(t, s.report.Boot, got.ReportBoot, s.name)
			require.Equal(t, s.report.Seq, got.ReportSeq, s.name)
			require.Equal(t, ts, got.Info.Updated, s.name)
			require.Equal(t, s.report.Info.LocalInfo, got.Info.LocalInfo, s.name)
			require.Equal(t, s.report.Info.ErrorMessage, got.Info.ErrorMessage, s.name)
			require.Equal(t, before.Info.Created, got.Info.Created, s.name)
			require.Equal(t, before.Spec, got.Spec, s.name)
			require.Equal(t, "e1", got.Info.ExecutorID, s.name)
		}
		ev := eventsAfter(f, next-1)
		if !s.wantEvent {
			require.Empty(t, ev, s.name)
			continue
		}
		require.Len(t, ev, 1, s.name)
		require.Equal(t, model.EventInstanceStateChange, ev[0].Type, s.name)
		require.Equal(t, ts, ev[0].Time, s.name)
		require.Equal(t, string(s.wantState), ev[0].Metadata[model.MetaCurrentState], s.name)
	}

	// The last applied report's ports and error are in the LOST event.
	lostEv := allEvents(f)
	last := lostEv[len(lostEv)-1]
	require.Equal(t, map[string]any{
		model.MetaAppID: "app-1", model.MetaAppName: "app", model.MetaInstanceID: "i1",
		model.MetaExecutorID: "e1", model.MetaExecutorHost: "e1.host", model.MetaPorts: "",
		model.MetaCurrentState: "LOST", model.MetaCreated: int64(10),
	}, last.Metadata, "the LOST report carried no ports and no error")
}

func TestFSM_InstanceReportEventMetadata(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	placeOK(t, f, 10, at("e1", testSpec("i1", []int{0}, 1)))
	next := nextEventIndex(f)

	reportOK(t, f, "e1", 20, withError(withPorts(rep("e1", "i1", model.InstanceUnhealthy, 1, 1), testPorts), "check failed"))

	require.Equal(t, []model.IndexedEvent{{Index: next, Event: model.Event{
		Type: model.EventInstanceStateChange, ID: eventID(next), Time: 20,
		Metadata: map[string]any{
			model.MetaAppID: "app-1", model.MetaAppName: "app", model.MetaInstanceID: "i1",
			model.MetaExecutorID: "e1", model.MetaExecutorHost: "e1.host",
			model.MetaPorts:        "admin:31001:tcp,main:31000:http",
			model.MetaCurrentState: "UNHEALTHY", model.MetaCreated: int64(10),
			model.MetaError: "check failed",
		},
	}}}, eventsAfter(f, next-1))
}

func TestFSM_InstanceReportBatch(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	placeOK(t, f, 10,
		at("e1", testSpec("i1", []int{0}, 1)),
		at("e1", testSpec("i2", []int{1}, 1)),
		at("e1", testSpec("i3", []int{2}, 1)),
		at("e2", testSpec("i4", []int{0}, 1)),
	)
	reportOK(t, f, "e1", 20, rep("e1", "i3", model.InstanceStopped, 5, 1))
	next := nextEventIndex(f)
	ch := f.Changed()

	res := f.Apply(reportLog(t, "e1", 30,
		rep("e1", "i1", model.InstanceStarting, 5, 1),
		rep("e1", "i1", model.InstanceHealthy, 5, 2),  // two reports for one instance, in order
		rep("e1", "i1", model.InstanceStarting, 5, 2), // stale within the same batch
		rep("e1", "i2", model.InstanceReady, 5, 1),
		rep("e1", "i3", model.InstanceHealthy, 5, 2), // terminal
		rep("e1", "i4", model.InstanceHealthy, 5, 1), // another executor's
		rep("e1", "nope", model.InstanceHealthy, 5, 1),
	))
	require.Equal(t, 3, res)
	require.True(t, isClosed(ch))
	require.Equal(t, model.InstanceHealthy, mustInstance(t, f, "i1").Info.State)
	require.Equal(t, model.InstanceReady, mustInstance(t, f, "i2").Info.State)
	require.Equal(t, model.InstanceStopped, mustInstance(t, f, "i3").Info.State)
	require.Equal(t, model.InstancePending, mustInstance(t, f, "i4").Info.State)
	_, ok := f.Instance("nope")
	require.False(t, ok)

	var states []any
	for _, e := range eventsAfter(f, next-1) {
		states = append(states, e.Metadata[model.MetaInstanceID].(string)+"="+e.Metadata[model.MetaCurrentState].(string))
	}
	require.Equal(t, []any{"i1=STARTING", "i1=HEALTHY", "i2=READY"}, states)

	// A batch where nothing applies does not wake watchers.
	ch = f.Changed()
	require.Equal(t, 0, f.Apply(reportLog(t, "e1", 40, rep("e1", "i1", model.InstanceStopped, 5, 1))))
	require.Equal(t, 0, f.Apply(reportLog(t, "e1", 40)))
	require.False(t, isClosed(ch))
}

func TestFSM_InstanceChangingReports(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	placeOK(t, f, 10,
		at("e1", testSpec("i1", []int{0}, 1)),
		at("e1", testSpec("i-stopped", []int{1}, 1)),
		at("e2", testSpec("i-e2", []int{0}, 1)),
	)
	reportOK(t, f, "e1", 20,
		withPorts(rep("e1", "i1", model.InstanceHealthy, 100, 5), testPorts),
		rep("e1", "i-stopped", model.InstanceStopped, 100, 1))

	same := func(boot int64, seq uint64) model.InstanceReport {
		return withPorts(rep("e1", "i1", model.InstanceHealthy, boot, seq), map[string]model.InstancePort{
			"admin": testPorts["admin"], "main": testPorts["main"],
		})
	}
	otherPorts := map[string]model.InstancePort{"main": {ContainerPort: 8080, HostPort: 32000, PortType: model.PortHTTP}}
	tests := []struct {
		name     string
		executor string
		report   model.InstanceReport
		want     bool
	}{
		{"newer but identical", "e1", same(100, 6), false},
		{"new boot but identical", "e1", same(101, 1), false},
		{"newer, state changed", "e1", withPorts(rep("e1", "i1", model.InstanceUnhealthy, 100, 6), testPorts), true},
		{"newer, ports changed", "e1", withPorts(same(100, 6), otherPorts), true},
		{"newer, ports dropped", "e1", withPorts(same(100, 6), nil), true},
		{"newer, error set", "e1", withError(same(100, 6), "oops"), true},
		{"new boot, state changed", "e1", withPorts(rep("e1", "i1", model.InstanceStarting, 101, 1), testPorts), true},
		{"same seq, state changed", "e1", withPorts(rep("e1", "i1", model.InstanceUnhealthy, 100, 5), testPorts), false},
		{"older seq, state changed", "e1", withPorts(rep("e1", "i1", model.InstanceUnhealthy, 100, 4), testPorts), false},
		{"older boot, state changed", "e1", withPorts(rep("e1", "i1", model.InstanceUnhealthy, 99, 50), testPorts), false},
		{"other executor", "e2", withPorts(rep("e2", "i1", model.InstanceUnhealthy, 100, 6), testPorts), false},
		{"unknown instance", "e1", rep("e1", "nope", model.InstanceHealthy, 100, 6), false},
		{"terminal instance", "e1", rep("e1", "i-stopped", model.InstanceHealthy, 100, 2), false},
		{"empty state", "e1", withPorts(rep("e1", "i1", "", 100, 6), testPorts), false},
	}
	insts := f.Instances(nil)
	var all []model.InstanceReport
	var kept []model.InstanceReport
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.ChangingReports(tc.executor, []model.InstanceReport{tc.report})
			if tc.want {
				require.Equal(t, []model.InstanceReport{tc.report}, got)
			} else {
				require.Empty(t, got)
			}
		})
		if tc.executor == "e1" {
			all = append(all, tc.report)
			if tc.want {
				kept = append(kept, tc.report)
			}
		}
	}
	// A whole batch keeps the changing reports, in order.
	require.Equal(t, kept, f.ChangingReports("e1", all))
	require.Nil(t, f.ChangingReports("e1", nil))
	require.Equal(t, insts, f.Instances(nil), "a read changes nothing")

	// What ChangingReports keeps is exactly what changes the instance.
	for _, tc := range tests {
		if !tc.want {
			continue
		}
		g := snapshotRestore(t, f)
		before := mustInstance(t, g, tc.report.Info.InstanceID)
		require.Equal(t, 1, g.Apply(reportLog(t, tc.executor, 30, tc.report)), tc.name)
		require.NotEqual(t, before.Info, mustInstance(t, g, tc.report.Info.InstanceID).Info, tc.name)
	}
}

// ---- InstancesDelete ----

func TestFSM_InstancesDelete(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	states := []model.InstanceState{
		model.InstancePending, model.InstanceHealthy, model.InstanceStopping, model.InstanceProvisioningFailed,
		model.InstanceUnknown, model.InstanceStopped, model.InstanceLost,
	}
	var ids []string
	for i, st := range states {
		id := "i-" + string(st)
		ids = append(ids, id)
		placeOK(t, f, int64(10+i), at("e1", testSpec(id, []int{i}, 1)))
		if st != model.InstancePending {
			reportOK(t, f, "e1", 100, rep("e1", id, st, 1, uint64(i+1)))
		}
	}
	events := allEvents(f)
	before := f.Instances(nil)

	require.Nil(t, f.Apply(deleteLog(t, append(ids, "unknown", "")...)))

	require.Equal(t, before[:5], f.Instances(nil), "only STOPPED and LOST are deleted; the rest are untouched")
	for _, id := range []string{"i-STOPPED", "i-LOST"} {
		_, ok := f.Instance(id)
		require.False(t, ok, id)
	}
	require.Equal(t, events, allEvents(f), "deleting emits no event")

	// A deleted id can be placed again.
	placeOK(t, f, 200, at("e1", testSpec("i-STOPPED", []int{5}, 1)))
}

func TestFSM_InstancesPlace_RefusesCoresAlreadyAllocated(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	register(t, f, testReg("e2"), 1)
	placeOK(t, f, 10, at("e1", testSpec("i-1", []int{0, 1}, 1)))

	err := f.Apply(placeLog(t, 11, at("e1", testSpec("i-2", []int{1}, 1))))
	require.ErrorIs(t, err.(error), ErrConflict, "core 1 of e1 is held by i-1")
	err = f.Apply(placeLog(t, 12, at("e2", testSpec("i-3", []int{2}, 1)), at("e2", testSpec("i-4", []int{2}, 1))))
	require.ErrorIs(t, err.(error), ErrConflict, "two placements of one batch on the same core")
	_, placed := f.Instance("i-3")
	require.False(t, placed, "a refused batch places nothing")

	placeOK(t, f, 13, at("e2", testSpec("i-5", []int{0, 1}, 1))) // same cores, other executor
	reportOK(t, f, "e1", 14, rep("e1", "i-1", model.InstanceStopped, 1, 1))
	placeOK(t, f, 15, at("e1", testSpec("i-2", []int{1}, 1))) // freed once i-1 ended
}

// ---- snapshot and determinism with executors and instances ----

// registryLogs builds a history touching every executor and instance command
// and leaving every optional field set somewhere.
func registryLogs(t *testing.T) []*raft.Log {
	t.Helper()
	unready := testReg("e2")
	unready.State = model.ExecutorUnready
	changed := testReg("e1")
	changed.Tags, changed.Version = []string{"gpu"}, "1.3.0"
	var places []PlaceInstance
	for i := range 6 {
		places = append(places, at("e3", testSpec("e3-i"+strconv.Itoa(i), []int{i}, 64)))
	}
	return []*raft.Log{
		leaderLog(t, 1, "node-1", "ctl-1", 1_000),
		registerLog(t, testReg("e1"), 1_100),
		registerLog(t, unready, 1_200),
		registerLog(t, testReg("e3"), 1_300),
		registerLog(t, testReg("e4"), 1_400),
		registerLog(t, testReg(""), 1_450), // rejected
		placeLog(t, 2_000,
			at("e1", testSpec("i1", []int{0, 1}, 512)),
			at("e1", testSpec("i2", []int{2}, 256)),
			at("e1", testSpec("i3", []int{3}, 128)),
			at("e1", testSpec("i4", []int{4}, 128)),
			at("e2", testSpec("i5", []int{0}, 1_024)),
			at("e4", testSpec("i9", []int{0}, 1))),
		placeLog(t, 2_100, places...),
		placeLog(t, 2_200, at("e1", testSpec("dup", nil, 1)), at("e1", testSpec("dup", nil, 1))), // rejected
		reportLog(t, "e1", 3_000,
			withPorts(rep("e1", "i1", model.InstanceHealthy, 50, 3), testPorts),
			withError(rep("e1", "i2", model.InstanceStarting, 50, 1), "pulling image"),
			rep("e1", "i3", model.InstanceStopped, 50, 2)),
		reportLog(t, "e3", 3_100,
			rep("e3", "e3-i0", model.InstanceHealthy, 60, 1),
			rep("e3", "e3-i1", model.InstanceReady, 60, 1),
			rep("e3", "e3-i2", model.InstanceStopped, 60, 1)),
		reportLog(t, "e1", 3_200, rep("e1", "i1", model.InstanceUnhealthy, 50, 1)), // stale
		stopLog(t, 4_000, "i2", "i4", "missing"),
		setStateLog(t, 20, model.ClusterMaintenance, "ctl-1", 4_500),
		lostLog(t, "e3", "missed heartbeats", 5_000),
		registerLog(t, changed, 5_100),
		lostLog(t, "e4", "decommissioned", 5_200),
		purgeLog(t, 5_300, "e4", "e1"),
		deleteLog(t, "i3", "i1"),
		noopLog(t, 30),
	}
}

func TestFSM_InstanceSnapshotRoundTrip(t *testing.T) {
	f := newTestFSM(t, 0)
	for _, l := range registryLogs(t) {
		f.Apply(l)
	}
	// The history must have set every optional field, or the round trip
	// proves little.
	e3 := mustExecutor(t, f, "e3")
	require.Equal(t, model.ExecutorRemoved, e3.State)
	require.Equal(t, model.ExecutorActive, e3.PreviousState)
	require.NotZero(t, e3.Removed)
	require.Equal(t, model.ExecutorUnready, mustExecutor(t, f, "e2").State)
	i1 := mustInstance(t, f, "i1")
	require.Equal(t, int64(50), i1.ReportBoot)
	require.Equal(t, uint64(3), i1.ReportSeq)
	require.Len(t, i1.Info.LocalInfo.Ports, 2)
	i2 := mustInstance(t, f, "i2")
	require.True(t, i2.StopRequested)
	require.Equal(t, "pulling image", i2.Info.ErrorMessage)
	require.True(t, mustInstance(t, f, "i4").StopRequested)
	require.Equal(t, model.InstanceLost, mustInstance(t, f, "e3-i0").Info.State)
	_, ok := f.Executor("e4")
	require.False(t, ok)
	_, ok = f.Instance("i3")
	require.False(t, ok)

	g := snapshotRestore(t, f)
	requireSameRegistry(t, f, g)
	for _, e := range f.Executors() {
		require.Equal(t, e, mustExecutor(t, g, e.ExecutorID))
	}
	for _, r := range f.Instances(nil) {
		require.Equal(t, r, mustInstance(t, g, r.Info.InstanceID))
	}
	latestF, err := json.Marshal(f.EventsLatest(0, 1_000))
	require.NoError(t, err)
	latestG, err := json.Marshal(g.EventsLatest(0, 1_000))
	require.NoError(t, err)
	require.Equal(t, string(latestF), string(latestG))
	require.Equal(t, f.EventsSummary(0), g.EventsSummary(0))
	cf, mf := f.ExecutorUsage("e1")
	cg, mg := g.ExecutorUsage("e1")
	require.Equal(t, cf, cg)
	require.Equal(t, mf, mg)
	require.Equal(t, f.RegistrationChanges(testReg("e1")), g.RegistrationChanges(testReg("e1")))

	// Both continue identically: report ordering, stop requests and
	// executor states survived.
	more := []*raft.Log{
		reportLog(t, "e1", 6_000, rep("e1", "i1", model.InstanceStopped, 50, 3)), // stale on both
		reportLog(t, "e1", 6_000, rep("e1", "i2", model.InstanceStopping, 50, 2)),
		registerLog(t, testReg("e3"), 6_100),
		placeLog(t, 6_200, at("e3", testSpec("i1", []int{0}, 1))), // exists on both
		placeLog(t, 6_300, at("e3", testSpec("i10", []int{0}, 1))),
		stopLog(t, 6_400, "i2", "i10"),
	}
	for _, l := range more {
		require.Equal(t, f.Apply(l), g.Apply(l))
	}
	requireSameRegistry(t, f, g)
	require.Equal(t, model.InstanceHealthy, mustInstance(t, g, "i1").Info.State)
	require.Equal(t, model.InstanceStopping, mustInstance(t, g, "i2").Info.State)
	require.True(t, mustInstance(t, g, "i10").StopRequested)
}

func TestFSM_InstanceSnapshotIsPointInTime(t *testing.T) {
	f := newTestFSM(t, 0)
	register(t, f, testReg("e1"), 1)
	placeOK(t, f, 2, at("e1", testSpec("i1", []int{0}, 1)), at("e1", testSpec("i2", []int{1}, 1)))
	want := snapshotRestore(t, f)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()

	// Changes after Snapshot() must not leak into what Persist writes.
	reportOK(t, f, "e1", 3, rep("e1", "i1", model.InstanceHealthy, 1, 1))
	require.Nil(t, f.Apply(stopLog(t, 4, "i2")))
	register(t, f, testReg("e2"), 5)
	require.Nil(t, f.Apply(lostLog(t, "e1", "x", 6)))
	require.Nil(t, f.Apply(deleteLog(t, "i1", "i2")))

	sink := &bufferSink{}
	require.NoError(t, snap.Persist(sink))
	g := newTestFSM(t, 0)
	require.NoError(t, restoreBytes(t, g, sink.Bytes()))
	requireSameRegistry(t, want, g)
}

func TestFSM_InstanceRestoreReplacesRegistry(t *testing.T) {
	src := newTestFSM(t, 0)
	register(t, src, testReg("e-src"), 1)

	dst := newTestFSM(t, 0)
	register(t, dst, testReg("e-dst"), 1)
	placeOK(t, dst, 2, at("e-dst", testSpec("i-dst", []int{0}, 1)))

	require.NoError(t, restoreBytes(t, dst, persist(t, src)))
	requireSameRegistry(t, src, dst)
	_, ok := dst.Executor("e-dst")
	require.False(t, ok)
	require.Empty(t, dst.Instances(nil))
}

// See TestFSM_ExecutorLostEventOrderIsDeterministic for the known bug this
// also catches (the history loses an executor with several instances).
func TestFSM_InstanceDeterminism(t *testing.T) {
	logs := registryLogs(t)
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
	for i := 1; i < replicas; i++ {
		require.Equal(t, fs[0].ClusterState(), fs[i].ClusterState())
		require.Equal(t, fs[0].Executors(), fs[i].Executors())
		require.Equal(t, fs[0].Instances(nil), fs[i].Instances(nil))
		evA, firstA, nextA := fs[0].EventsSince(0, 1<<30)
		evB, firstB, nextB := fs[i].EventsSince(0, 1<<30)
		require.Equal(t, firstA, firstB)
		require.Equal(t, nextA, nextB)
		require.Equal(t, evA, evB, "replica %d derived different events", i)
	}
}
