package fsm

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

func indexes(ev []model.IndexedEvent) []uint64 {
	out := make([]uint64, len(ev))
	for i, e := range ev {
		out[i] = e.Index
	}
	return out
}

func times(ev []model.Event) []int64 {
	out := make([]int64, len(ev))
	for i, e := range ev {
		out[i] = e.Time
	}
	return out
}

// ---- the ring itself ----

func TestFSM_EventLogRingWraps(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 5, 7} {
		l := newEventLog(capacity)
		for n := 1; n <= 4*capacity+3; n++ {
			e := l.append(model.EventLeadershipAcquired, int64(n), nil)
			require.Equal(t, uint64(n), e.Index)
			require.Equal(t, eventID(uint64(n)), e.ID)
			require.NotNil(t, e.Metadata, "nil metadata becomes an empty map")

			all := l.all()
			require.Len(t, all, min(n, capacity))
			require.Equal(t, uint64(n+1), l.nextIndex)
			require.Equal(t, uint64(n-len(all)+1), l.firstIndex())
			for i, got := range all {
				require.Equal(t, l.firstIndex()+uint64(i), got.Index, "capacity %d after %d appends", capacity, n)
			}
			require.Equal(t, e, all[len(all)-1], "newest last")
		}
	}
}

func TestFSM_EventLogCapacityClamped(t *testing.T) {
	for _, c := range []int{0, -5} {
		l := newEventLog(c)
		l.append(model.EventLeadershipAcquired, 1, nil)
		l.append(model.EventLeadershipAcquired, 2, nil)
		require.Equal(t, []uint64{2}, indexes(l.all()))
	}
}

func TestFSM_EventLogAllIsACopy(t *testing.T) {
	l := newEventLog(3)
	l.append(model.EventLeadershipAcquired, 1, nil)
	all := l.all()
	all[0].Index = 99
	require.Equal(t, uint64(1), l.all()[0].Index)
}

func TestFSM_RestoreEventLog(t *testing.T) {
	mk := func(idx ...uint64) []model.IndexedEvent {
		out := make([]model.IndexedEvent, len(idx))
		for i, x := range idx {
			out[i] = model.IndexedEvent{Index: x, Event: model.Event{ID: eventID(x), Time: int64(x)}}
		}
		return out
	}
	tests := []struct {
		name      string
		capacity  int
		events    []model.IndexedEvent
		next      uint64
		wantIdx   []uint64
		wantFirst uint64
		wantNext  uint64
	}{
		{"empty, next zero", 5, nil, 0, []uint64{}, 1, 1},
		{"empty, next kept", 5, nil, 9, []uint64{}, 9, 9},
		{"fits", 5, mk(3, 4, 5), 6, []uint64{3, 4, 5}, 3, 6},
		{"exactly full", 3, mk(3, 4, 5), 6, []uint64{3, 4, 5}, 3, 6},
		{"keeps newest", 2, mk(3, 4, 5), 6, []uint64{4, 5}, 4, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := restoreEventLog(tc.capacity, tc.events, tc.next)
			require.Equal(t, tc.wantIdx, indexes(l.all()))
			require.Equal(t, tc.wantFirst, l.firstIndex())
			require.Equal(t, tc.wantNext, l.nextIndex)
			require.Len(t, l.buf, tc.capacity)

			// Appending after a restore continues the sequence and still wraps.
			for i := 0; i < tc.capacity+1; i++ {
				e := l.append(model.EventLeadershipAcquired, 0, nil)
				require.Equal(t, tc.wantNext+uint64(i), e.Index)
			}
			all := l.all()
			require.Len(t, all, tc.capacity)
			for i := 1; i < len(all); i++ {
				require.Equal(t, all[i-1].Index+1, all[i].Index)
			}
		})
	}
}

// ---- bounds through the FSM ----

func TestFSM_EventLogBounds(t *testing.T) {
	f := newTestFSM(t, 5)
	appendEvents(t, f, 12, 1_000) // times 1001..1012, indexes 1..12

	ev, first, next := f.EventsSince(0, 100)
	require.Equal(t, []uint64{8, 9, 10, 11, 12}, indexes(ev), "only the newest 5, oldest first")
	require.Equal(t, uint64(8), first)
	require.Equal(t, uint64(13), next)
	for _, e := range ev {
		require.Equal(t, eventID(e.Index), e.ID)
		require.Equal(t, int64(1_000+e.Index), e.Time)
	}

	tests := []struct {
		name  string
		after uint64
		max   int
		want  []uint64
	}{
		{"from zero", 0, 100, []uint64{8, 9, 10, 11, 12}},
		{"dropped range", 3, 100, []uint64{8, 9, 10, 11, 12}},
		{"just before first", 7, 100, []uint64{8, 9, 10, 11, 12}},
		{"at first", 8, 100, []uint64{9, 10, 11, 12}},
		{"middle", 10, 100, []uint64{11, 12}},
		{"at newest", 12, 100, nil},
		{"at next", 13, 100, nil},
		{"beyond next", 1_000, 100, nil},
		{"max respected", 0, 3, []uint64{8, 9, 10}},
		{"max respected mid", 9, 2, []uint64{10, 11}},
		{"max one", 10, 1, []uint64{11}},
		{"max zero", 0, 0, nil},
		{"max negative", 0, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, first, next := f.EventsSince(tc.after, tc.max)
			if tc.want == nil {
				require.Empty(t, ev)
			} else {
				require.Equal(t, tc.want, indexes(ev))
			}
			require.Equal(t, uint64(8), first)
			require.Equal(t, uint64(13), next)
		})
	}
}

// EventsSince must treat any cursor past the newest event as "nothing new".
// Regression (fixed): skip = int(after-first+1) overflows int for
// after >= first+2^63-1, giving a negative skip; since() then calls
// l.at(negative) (eventlog.go:84) and panics with "index out of range" while
// holding the read lock. The cursor comes from API clients, so an absurd
// value must not crash a handler or watcher goroutine.
func TestFSM_EventsSinceHugeCursor(t *testing.T) {
	f := newTestFSM(t, 5)
	appendEvents(t, f, 12, 0)
	for _, after := range []uint64{math.MaxInt64, math.MaxInt64 + 7, math.MaxInt64 + 8, math.MaxUint64 - 1, math.MaxUint64} {
		var ev []model.IndexedEvent
		require.NotPanics(t, func() { ev, _, _ = f.EventsSince(after, 100) }, "after=%d", after)
		require.Empty(t, ev, "after=%d", after)
	}
}

func TestFSM_EventsSinceEmptyLog(t *testing.T) {
	f := newTestFSM(t, 5)
	for _, after := range []uint64{0, 1, 5} {
		ev, first, next := f.EventsSince(after, 10)
		require.Empty(t, ev)
		require.Equal(t, uint64(1), first)
		require.Equal(t, uint64(1), next)
	}
}

// ---- Drove's events/latest and events/summary ----

func TestFSM_EventsLatest(t *testing.T) {
	f := newTestFSM(t, 10)
	// times 100, 200, 300, 400, 500; types alternate to check the payload.
	f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h1", 100))
	f.Apply(setStateLog(t, 2, model.ClusterNormal, "h2", 200))
	f.Apply(leaderLog(t, 3, "n3", "h3", 300))
	f.Apply(setStateLog(t, 4, model.ClusterMaintenance, "h4", 400))
	f.Apply(leaderLog(t, 5, "n5", "h5", 500))

	tests := []struct {
		name         string
		lastSyncTime int64
		size         int
		wantTimes    []int64
		wantLastSync int64
	}{
		{"all", 0, 100, []int64{500, 400, 300, 200, 100}, 500},
		{"size limits to newest", 0, 2, []int64{500, 400}, 500},
		{"size one", 0, 1, []int64{500}, 500},
		{"strictly newer than sync time", 300, 100, []int64{500, 400}, 500},
		{"sync time between events", 250, 100, []int64{500, 400, 300}, 500},
		{"sync and size", 100, 3, []int64{500, 400, 300}, 500},
		{"up to date", 500, 100, []int64{}, 500},
		{"size zero", 0, 0, []int64{}, 500},
		{"negative size", 0, -3, []int64{}, 500},
		// Sync time ahead of every event: the code keeps the caller's value
		// (max(lastSyncTime, newest)), so a client never moves backwards.
		{"sync time in the future", 9_999, 100, []int64{}, 500}, // Drove: newest stored event time, whatever the input,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.EventsLatest(tc.lastSyncTime, tc.size)
			require.NotNil(t, got.Events)
			require.Equal(t, tc.wantTimes, times(got.Events))
			require.Equal(t, tc.wantLastSync, got.LastSyncTime)
		})
	}

	got := f.EventsLatest(0, 1)
	require.Equal(t, model.Event{
		Type: model.EventLeadershipAcquired, ID: eventID(5), Time: 500,
		Metadata: map[string]any{model.MetaHostname: "h5", model.MetaNodeID: "n5"},
	}, got.Events[0], "events carry id, type and metadata")
}

func TestFSM_EventsLatestEmpty(t *testing.T) {
	f := newTestFSM(t, 10)
	for _, sync := range []int64{0, 1234} {
		got := f.EventsLatest(sync, 10)
		require.NotNil(t, got.Events)
		require.Empty(t, got.Events)
		require.Equal(t, sync, got.LastSyncTime)

		b, err := json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, `{"events":[],"lastSyncTime":`+jsonInt(sync)+`}`, string(b), "Drove emits [], never null")
	}
}

func TestFSM_EventsLatestAfterWrap(t *testing.T) {
	f := newTestFSM(t, 5)
	appendEvents(t, f, 12, 0) // stored times 8..12
	got := f.EventsLatest(0, 100)
	require.Equal(t, []int64{12, 11, 10, 9, 8}, times(got.Events))
	require.Equal(t, int64(12), got.LastSyncTime)
}

// Timestamps come from proposers (possibly different leaders' clocks), so
// they may go backwards; events/latest filters by time but orders by log
// position, newest first.
func TestFSM_EventsLatestNonMonotonicTimes(t *testing.T) {
	f := newTestFSM(t, 10)
	f.Apply(leaderLog(t, 1, "a", "h", 100))
	f.Apply(leaderLog(t, 2, "b", "h", 300))
	f.Apply(leaderLog(t, 3, "c", "h", 200))
	got := f.EventsLatest(150, 10)
	require.Equal(t, []int64{200, 300}, times(got.Events))
	require.Equal(t, []string{eventID(3), eventID(2)}, []string{got.Events[0].ID, got.Events[1].ID})
}

func TestFSM_EventsSummary(t *testing.T) {
	f := newTestFSM(t, 10)
	f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 100))
	f.Apply(setStateLog(t, 2, model.ClusterNormal, "h", 200))
	f.Apply(setStateLog(t, 3, model.ClusterMaintenance, "h", 300))
	f.Apply(leaderLog(t, 4, "n", "h", 400))
	f.Apply(leaderLog(t, 5, "n", "h", 500))
	f.Apply(leaderLog(t, 6, "n", "h", 600))

	tests := []struct {
		name         string
		lastSyncTime int64
		want         map[model.EventType]int
		wantLastSync int64
	}{
		{"all", 0, map[model.EventType]int{
			model.EventMaintenanceModeSet:     2,
			model.EventMaintenanceModeRemoved: 1,
			model.EventLeadershipAcquired:     3,
		}, 600},
		{"newer than 250", 250, map[model.EventType]int{
			model.EventMaintenanceModeSet: 1,
			model.EventLeadershipAcquired: 3,
		}, 600},
		{"newer than 500", 500, map[model.EventType]int{model.EventLeadershipAcquired: 1}, 600},
		{"none newer", 600, map[model.EventType]int{}, 600},
		{"sync time in the future", 10_000, map[model.EventType]int{}, 600}, // newest stored event time,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.EventsSummary(tc.lastSyncTime)
			require.Equal(t, tc.want, got.EventsCount)
			require.Equal(t, tc.wantLastSync, got.LastSyncTime)
		})
	}

	empty := newTestFSM(t, 10).EventsSummary(42)
	require.NotNil(t, empty.EventsCount)
	require.Empty(t, empty.EventsCount)
	require.Equal(t, int64(42), empty.LastSyncTime)
}

func jsonInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
