package fsm

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"sync"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/google/uuid"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---- helpers shared by the fsm tests ----

// newTestFSM returns an FSM with the given event capacity (the default when
// capacity is 0).
func newTestFSM(tb testing.TB, capacity int) *FSM {
	tb.Helper()
	cfg := DefaultConfig()
	if capacity > 0 {
		cfg.EventCapacity = capacity
	}
	f, err := New(cfg)
	require.NoError(tb, err)
	return f
}

func mustEncode(tb testing.TB, t MessageType, payload any) []byte {
	tb.Helper()
	b, err := Encode(t, payload)
	require.NoError(tb, err)
	return b
}

func setStateLog(tb testing.TB, index uint64, state model.ClusterState, host string, ts int64) *raft.Log {
	tb.Helper()
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: mustEncode(tb, SetClusterStateType,
		SetClusterStateRequest{State: state, Hostname: host, Timestamp: ts})}
}

func leaderLog(tb testing.TB, index uint64, nodeID, host string, ts int64) *raft.Log {
	tb.Helper()
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: mustEncode(tb, LeadershipAcquiredType,
		LeadershipRequest{NodeID: nodeID, Hostname: host, Timestamp: ts})}
}

func noopLog(tb testing.TB, index uint64) *raft.Log {
	tb.Helper()
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: mustEncode(tb, NoopType, NoopRequest{Data: []byte("x")})}
}

// allEvents returns every stored event, oldest first.
func allEvents(f *FSM) []model.IndexedEvent {
	ev, _, _ := f.EventsSince(0, math.MaxInt)
	return ev
}

// appendEvents applies n leadership commands with times base+1 .. base+n.
func appendEvents(tb testing.TB, f *FSM, n int, base int64) {
	tb.Helper()
	for i := 1; i <= n; i++ {
		require.Nil(tb, f.Apply(leaderLog(tb, uint64(i), "node-"+strconv.Itoa(i), "host", base+int64(i))))
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// eventID is the deterministic id of the event with the given log index.
func eventID(idx uint64) string {
	return uuid.NewSHA1(eventNamespace, []byte(strconv.FormatUint(idx, 10))).String()
}

// ---- configuration and encoding ----

func TestFSM_NewValidatesConfig(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		wantErr  bool
	}{
		{"zero", 0, true},
		{"negative", -1, true},
		{"one", 1, false},
		{"default", DefaultConfig().EventCapacity, false},
		{"max", 1_000_000, false},
		{"above max", 1_000_001, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(Config{EventCapacity: tc.capacity}) // nil Logger must be fine
			if tc.wantErr {
				require.Error(t, err)
				require.Nil(t, f)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, f)
			require.Equal(t, model.ClusterStateData{State: model.ClusterNormal}, f.ClusterState())
			ev, first, next := f.EventsSince(0, 10)
			require.Empty(t, ev)
			require.Equal(t, uint64(1), first)
			require.Equal(t, uint64(1), next)
		})
	}
}

func TestFSM_EncodeLayout(t *testing.T) {
	req := SetClusterStateRequest{State: model.ClusterMaintenance, Hostname: "h", Timestamp: 42}
	data := mustEncode(t, SetClusterStateType|IgnoreUnknownFlag, req)
	require.Equal(t, byte(SetClusterStateType|IgnoreUnknownFlag), data[0])
	require.JSONEq(t, `{"state":"MAINTENANCE","hostname":"h","timestamp":42}`, string(data[1:]))

	_, err := Encode(NoopType, func() {}) // not JSON-encodable
	require.Error(t, err)
}

func TestFSM_MessageTypeString(t *testing.T) {
	tests := []struct {
		t    MessageType
		want string
	}{
		{SetClusterStateType, "SetClusterState"},
		{LeadershipAcquiredType, "LeadershipAcquired"},
		{NoopType, "Noop"},
		{NoopType | IgnoreUnknownFlag, "Noop"},
		{MessageType(77), "MessageType(77)"},
		{MessageType(77) | IgnoreUnknownFlag, "MessageType(205)"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, tc.t.String())
	}
}

// ---- SetClusterState ----

func TestFSM_SetClusterStateMaintenanceThenNormal(t *testing.T) {
	f := newTestFSM(t, 0)
	require.Equal(t, model.ClusterStateData{State: model.ClusterNormal}, f.ClusterState())

	res := f.Apply(setStateLog(t, 10, model.ClusterMaintenance, "ctl-1", 1_000))
	want := model.ClusterStateData{State: model.ClusterMaintenance, Updated: 1_000}
	require.Equal(t, want, res)
	require.Equal(t, want, f.ClusterState())

	res = f.Apply(setStateLog(t, 11, model.ClusterNormal, "ctl-2", 2_000))
	want = model.ClusterStateData{State: model.ClusterNormal, Updated: 2_000}
	require.Equal(t, want, res)
	require.Equal(t, want, f.ClusterState())

	// Event indexes are the event log's own sequence, not the Raft index.
	require.Equal(t, []model.IndexedEvent{
		{Index: 1, Event: model.Event{
			Type: model.EventMaintenanceModeSet, ID: eventID(1), Time: 1_000,
			Metadata: map[string]any{model.MetaHostname: "ctl-1"},
		}},
		{Index: 2, Event: model.Event{
			Type: model.EventMaintenanceModeRemoved, ID: eventID(2), Time: 2_000,
			Metadata: map[string]any{model.MetaHostname: "ctl-2"},
		}},
	}, allEvents(f))
}

func TestFSM_SetClusterStateCaseInsensitive(t *testing.T) {
	tests := []struct {
		in        string
		wantState model.ClusterState
		wantEvent model.EventType
	}{
		{"maintenance", model.ClusterMaintenance, model.EventMaintenanceModeSet},
		{"Maintenance", model.ClusterMaintenance, model.EventMaintenanceModeSet},
		{" MAINTENANCE ", model.ClusterMaintenance, model.EventMaintenanceModeSet},
		{"normal", model.ClusterNormal, model.EventMaintenanceModeRemoved},
		{"NoRmAl", model.ClusterNormal, model.EventMaintenanceModeRemoved},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			f := newTestFSM(t, 0)
			res := f.Apply(setStateLog(t, 1, model.ClusterState(tc.in), "h", 77))
			want := model.ClusterStateData{State: tc.wantState, Updated: 77}
			require.Equal(t, want, res, "result carries the canonical upper-case state")
			require.Equal(t, want, f.ClusterState())
			ev := allEvents(f)
			require.Len(t, ev, 1)
			require.Equal(t, tc.wantEvent, ev[0].Type)
			require.Equal(t, int64(77), ev[0].Time)
		})
	}
}

func TestFSM_SetClusterStateInvalid(t *testing.T) {
	tests := []string{"", " ", "BROKEN", "MAINT", "normal_", "MAINTENANCE MODE"}
	for _, in := range tests {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			f := newTestFSM(t, 0)
			f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 1_000))
			before, beforeEvents := f.ClusterState(), allEvents(f)
			_, _, beforeNext := f.EventsSince(0, 0)
			ch := f.Changed()

			res := f.Apply(setStateLog(t, 2, model.ClusterState(in), "h", 2_000))
			err, ok := res.(error)
			require.True(t, ok, "want an error value, got %T", res)
			require.ErrorIs(t, err, ErrInvalidClusterState)
			require.Contains(t, err.Error(), strconv.Quote(in))

			require.Equal(t, before, f.ClusterState())
			require.Equal(t, beforeEvents, allEvents(f))
			_, _, next := f.EventsSince(0, 0)
			require.Equal(t, beforeNext, next, "no event index consumed")
			require.False(t, isClosed(ch), "watchers are not woken")
		})
	}
}

func TestFSM_LeadershipAcquiredEvent(t *testing.T) {
	f := newTestFSM(t, 0)
	require.Nil(t, f.Apply(leaderLog(t, 5, "node-a", "ctl-a", 123)))
	require.Equal(t, []model.IndexedEvent{{Index: 1, Event: model.Event{
		Type: model.EventLeadershipAcquired, ID: eventID(1), Time: 123,
		Metadata: map[string]any{model.MetaHostname: "ctl-a", model.MetaNodeID: "node-a"},
	}}}, allEvents(f))
	require.Equal(t, model.ClusterStateData{State: model.ClusterNormal}, f.ClusterState(), "cluster state untouched")
}

// ---- determinism ----

func TestFSM_EventIDsAreStable(t *testing.T) {
	// Golden values: every replica and every future version must derive the
	// same ids from the same indexes, or mixed-version clusters diverge.
	f := newTestFSM(t, 0)
	appendEvents(t, f, 12, 0)
	ev := allEvents(f)
	require.Equal(t, "c3cc5762-0de6-5c4c-ada6-a232fe970804", ev[0].ID)
	require.Equal(t, "6e307cce-b903-53fa-953f-6869c47bb26c", ev[1].ID)
	require.Equal(t, "e4192e41-5341-5586-986b-df007fded373", ev[11].ID)

	seen := map[string]bool{}
	for _, e := range ev {
		id, err := uuid.Parse(e.ID)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(5), id.Version())
		require.False(t, seen[e.ID], "duplicate id %s", e.ID)
		seen[e.ID] = true
	}
}

func TestFSM_Determinism(t *testing.T) {
	var logs []*raft.Log
	idx := uint64(0)
	add := func(l *raft.Log) { logs = append(logs, l) }
	for i := 0; i < 50; i++ {
		idx++
		switch i % 5 {
		case 0:
			add(setStateLog(t, idx, model.ClusterMaintenance, "ctl-"+strconv.Itoa(i), int64(1_000+i)))
		case 1:
			add(setStateLog(t, idx, "normal", "ctl-"+strconv.Itoa(i), int64(1_000+i)))
		case 2:
			add(leaderLog(t, idx, "node-"+strconv.Itoa(i), "ctl", int64(1_000+i)))
		case 3:
			add(noopLog(t, idx))
		case 4:
			add(setStateLog(t, idx, "bogus", "ctl", int64(1_000+i)))
			idx++
			add(&raft.Log{Index: idx, Data: append([]byte{byte(99 | IgnoreUnknownFlag)}, "{}"...)})
		}
	}

	a, b := newTestFSM(t, 16), newTestFSM(t, 16)
	for _, l := range logs {
		ra, rb := a.Apply(l), b.Apply(l)
		require.Equal(t, ra, rb, "same result at index %d", l.Index)
	}
	require.Equal(t, a.ClusterState(), b.ClusterState())
	evA, firstA, nextA := a.EventsSince(0, math.MaxInt)
	evB, firstB, nextB := b.EventsSince(0, math.MaxInt)
	require.Equal(t, evA, evB)
	require.Equal(t, firstA, firstB)
	require.Equal(t, nextA, nextB)
	require.Equal(t, uint64(31), nextA, "30 events were appended")
	require.Len(t, evA, 16)
	require.Equal(t, a.EventsLatest(0, 100), b.EventsLatest(0, 100))
	require.Equal(t, a.EventsSummary(0), b.EventsSummary(0))

	ja, err := json.Marshal(evA)
	require.NoError(t, err)
	jb, err := json.Marshal(evB)
	require.NoError(t, err)
	require.Equal(t, string(ja), string(jb), "byte-identical on the wire")
}

// ---- dispatch: unknown types, malformed payloads ----

func TestFSM_ApplyIgnoredWithoutChange(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown with flag", append([]byte{byte(77 | IgnoreUnknownFlag)}, `{"x":1}`...)},
		{"unknown 127 with flag, garbage payload", append([]byte{255}, "not json at all"...)},
		{"unknown with flag, no payload", []byte{byte(120 | IgnoreUnknownFlag)}},
		{"noop", mustEncode(t, NoopType, NoopRequest{})},
		{"noop with data", mustEncode(t, NoopType, NoopRequest{Data: []byte{1, 2, 3}})},
		{"noop with flag", mustEncode(t, NoopType|IgnoreUnknownFlag, NoopRequest{})},
		{"noop payload is not decoded", append([]byte{byte(NoopType)}, "{garbage"...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 10))
			before, beforeEvents := f.ClusterState(), allEvents(f)
			ch := f.Changed()

			require.Nil(t, f.Apply(&raft.Log{Index: 2, Data: tc.data}))

			require.Equal(t, before, f.ClusterState())
			require.Equal(t, beforeEvents, allEvents(f))
			require.False(t, isClosed(ch))
		})
	}
}

func TestFSM_ApplyKnownTypeWithIgnoreFlagIsApplied(t *testing.T) {
	f := newTestFSM(t, 0)
	data := mustEncode(t, SetClusterStateType|IgnoreUnknownFlag,
		SetClusterStateRequest{State: model.ClusterMaintenance, Hostname: "h", Timestamp: 5})
	res := f.Apply(&raft.Log{Index: 1, Data: data})
	require.Equal(t, model.ClusterStateData{State: model.ClusterMaintenance, Updated: 5}, res)
	require.Len(t, allEvents(f), 1)

	data = mustEncode(t, LeadershipAcquiredType|IgnoreUnknownFlag, LeadershipRequest{NodeID: "n", Timestamp: 6})
	require.Nil(t, f.Apply(&raft.Log{Index: 2, Data: data}))
	require.Len(t, allEvents(f), 2)
}

func TestFSM_ApplyPanics(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"nil data", nil},
		{"empty data", []byte{}},
		{"unknown without flag", append([]byte{77}, "{}"...)},
		{"unknown 127 without flag", append([]byte{127}, "{}"...)},
		{"next unassigned type without flag", append([]byte{100}, "{}"...)},
		{"set state malformed json", append([]byte{byte(SetClusterStateType)}, `{"state":`...)},
		{"set state no payload", []byte{byte(SetClusterStateType)}},
		{"set state wrong field type", append([]byte{byte(SetClusterStateType)}, `{"state":5}`...)},
		{"set state trailing garbage", append([]byte{byte(SetClusterStateType)}, `{"state":"NORMAL"} x`...)},
		{"set state with flag malformed", append([]byte{byte(SetClusterStateType | IgnoreUnknownFlag)}, `{bad`...)},
		{"leadership malformed json", append([]byte{byte(LeadershipAcquiredType)}, `[`...)},
		{"leadership wrong field type", append([]byte{byte(LeadershipAcquiredType)}, `{"timestamp":"soon"}`...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 10))
			before, beforeEvents := f.ClusterState(), allEvents(f)

			require.Panics(t, func() { f.Apply(&raft.Log{Index: 2, Data: tc.data}) })

			require.Equal(t, before, f.ClusterState(), "a panicking apply leaves state untouched")
			require.Equal(t, beforeEvents, allEvents(f))
			// The lock must not be left held: these would deadlock otherwise.
			f.Apply(setStateLog(t, 3, model.ClusterNormal, "h", 20))
			require.Equal(t, model.ClusterNormal, f.ClusterState().State)
		})
	}
}

func TestFSM_ApplyPanicMessageNamesIndex(t *testing.T) {
	f := newTestFSM(t, 0)
	require.PanicsWithError(t, "fsm: unknown message type 77 at index 42", func() {
		f.Apply(&raft.Log{Index: 42, Data: []byte{77}})
	})
	require.PanicsWithError(t, "fsm: empty log entry at index 43", func() {
		f.Apply(&raft.Log{Index: 43})
	})
}

// ---- Changed ----

func TestFSM_ChangedClosedOnApply(t *testing.T) {
	tests := []struct {
		name      string
		log       func(t *testing.T) *raft.Log
		wantClose bool
	}{
		{"set maintenance", func(t *testing.T) *raft.Log { return setStateLog(t, 1, model.ClusterMaintenance, "h", 1) }, true},
		{"set normal", func(t *testing.T) *raft.Log { return setStateLog(t, 1, model.ClusterNormal, "h", 1) }, true},
		{"leadership", func(t *testing.T) *raft.Log { return leaderLog(t, 1, "n", "h", 1) }, true},
		{"noop", func(t *testing.T) *raft.Log { return noopLog(t, 1) }, false},
		{"invalid state", func(t *testing.T) *raft.Log { return setStateLog(t, 1, "nope", "h", 1) }, false},
		{"ignored unknown", func(t *testing.T) *raft.Log {
			return &raft.Log{Index: 1, Data: []byte{byte(50 | IgnoreUnknownFlag)}}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			ch := f.Changed()
			require.False(t, isClosed(ch))
			f.Apply(tc.log(t))
			require.Equal(t, tc.wantClose, isClosed(ch))
			if tc.wantClose {
				next := f.Changed()
				require.NotEqual(t, ch, next, "a fresh channel replaces the closed one")
				require.False(t, isClosed(next))
			} else {
				require.Equal(t, ch, f.Changed())
			}
		})
	}
}

func TestFSM_ChangedNotClosedByReadsOrSnapshot(t *testing.T) {
	f := newTestFSM(t, 0)
	appendEvents(t, f, 3, 0)
	ch := f.Changed()
	f.ClusterState()
	f.EventsSince(0, 10)
	f.EventsLatest(0, 10)
	f.EventsSummary(0)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	require.NoError(t, snap.Persist(&bufferSink{}))
	snap.Release()
	require.False(t, isClosed(ch))
}

func TestFSM_ChangedWakesWaiter(t *testing.T) {
	f := newTestFSM(t, 0)
	ch := f.Changed()
	done := make(chan struct{})
	go func() {
		<-ch
		close(done)
	}()
	f.Apply(leaderLog(t, 1, "n", "h", 1))
	<-done // would hang (test timeout) if the channel were not closed
}

// ---- concurrency ----

func TestFSM_ConcurrentReadersDuringApply(t *testing.T) {
	const commands = 1000
	f := newTestFSM(t, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup

	for r := 0; r < 4; r++ {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cs := f.ClusterState()
				assert.Contains(t, []model.ClusterState{model.ClusterNormal, model.ClusterMaintenance}, cs.State)

				ev, first, next := f.EventsSince(0, 32)
				assert.LessOrEqual(t, len(ev), 32)
				assert.LessOrEqual(t, first, next)
				for i := range ev {
					assert.Equal(t, first+uint64(i), ev[i].Index, "contiguous, oldest first")
				}
				if len(ev) > 0 {
					tail, _, _ := f.EventsSince(ev[len(ev)-1].Index, 8)
					for _, e := range tail {
						assert.Greater(t, e.Index, ev[len(ev)-1].Index)
					}
				}

				latest := f.EventsLatest(0, 10)
				assert.NotNil(t, latest.Events)
				assert.LessOrEqual(t, len(latest.Events), 10)
				for i := 1; i < len(latest.Events); i++ {
					assert.GreaterOrEqual(t, latest.Events[i-1].Time, latest.Events[i].Time, "newest first")
				}
				f.EventsSummary(0)
			}
		})
	}
	// A watcher following Changed, as an API long-poll would.
	var wakeups int
	wg.Go(func() {
		for {
			ch := f.Changed()
			select {
			case <-ch:
				wakeups++
			case <-stop:
				return
			}
		}
	})
	// A snapshotter running alongside, as Raft does.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			snap, err := f.Snapshot()
			if !assert.NoError(t, err) {
				return
			}
			assert.NoError(t, snap.Persist(&bufferSink{}))
			snap.Release()
		}
	})

	events := 0
	for i := 1; i <= commands; i++ {
		var l *raft.Log
		switch i % 4 {
		case 0:
			l = setStateLog(t, uint64(i), model.ClusterMaintenance, "h", int64(i))
			events++
		case 1:
			l = setStateLog(t, uint64(i), model.ClusterNormal, "h", int64(i))
			events++
		case 2:
			l = leaderLog(t, uint64(i), "n", "h", int64(i))
			events++
		case 3:
			l = noopLog(t, uint64(i))
		}
		f.Apply(l)
	}
	close(stop)
	wg.Wait()

	ev, first, next := f.EventsSince(0, math.MaxInt)
	require.Len(t, ev, 64)
	require.Equal(t, uint64(events+1), next)
	require.Equal(t, next-64, first)
	require.Equal(t, model.ClusterStateData{State: model.ClusterMaintenance, Updated: commands}, f.ClusterState())
	require.LessOrEqual(t, wakeups, events)
}

// ---- benchmark ----

func BenchmarkFSM_ApplySetClusterState(b *testing.B) {
	f := newTestFSM(b, 0)
	logs := [2]*raft.Log{
		setStateLog(b, 0, model.ClusterMaintenance, "ctl-1", 1_000),
		setStateLog(b, 0, model.ClusterNormal, "ctl-1", 2_000),
	}
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		l := logs[i%2]
		l.Index = i
		if res, ok := f.Apply(l).(model.ClusterStateData); !ok {
			b.Fatalf("unexpected result %v", res)
		}
	}
}

// errWrite is returned by failingSink.
var errWrite = errors.New("disk full")
