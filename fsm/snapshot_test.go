package fsm

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// bufferSink is an in-memory raft.SnapshotSink.
type bufferSink struct {
	bytes.Buffer
	cancelled, closed int
}

var _ raft.SnapshotSink = (*bufferSink)(nil)

func (s *bufferSink) ID() string    { return "buffer-sink" }
func (s *bufferSink) Cancel() error { s.cancelled++; return nil }
func (s *bufferSink) Close() error  { s.closed++; return nil }

// failingSink accepts okBytes bytes, then fails every Write.
type failingSink struct {
	bufferSink
	okBytes int
}

func (s *failingSink) Write(p []byte) (int, error) {
	if s.Len()+len(p) > s.okBytes {
		return 0, errWrite
	}
	return s.bufferSink.Write(p)
}

// trackingReader records whether Restore closed it.
type trackingReader struct {
	io.Reader
	closed bool
}

func (r *trackingReader) Close() error { r.closed = true; return nil }

// persist snapshots f and returns the encoded bytes.
func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()
	sink := &bufferSink{}
	require.NoError(t, snap.Persist(sink))
	require.Equal(t, 1, sink.closed, "sink closed once on success")
	require.Zero(t, sink.cancelled)
	return sink.Bytes()
}

func restoreBytes(t *testing.T, f *FSM, data []byte) error {
	t.Helper()
	rc := &trackingReader{Reader: bytes.NewReader(data)}
	err := f.Restore(rc)
	require.True(t, rc.closed, "Restore closes its reader")
	return err
}

// snapshotRestore persists f through a fake sink and restores it into a new
// FSM with the same configuration.
func snapshotRestore(t *testing.T, f *FSM) *FSM {
	t.Helper()
	data := persist(t, f)
	g, err := New(f.cfg)
	require.NoError(t, err)
	require.NoError(t, restoreBytes(t, g, data))
	return g
}

// requireSameState asserts g holds exactly f's replicated state.
func requireSameState(t *testing.T, f, g *FSM) {
	t.Helper()
	require.Equal(t, f.ClusterState(), g.ClusterState())
	evF, firstF, nextF := f.EventsSince(0, math.MaxInt)
	evG, firstG, nextG := g.EventsSince(0, math.MaxInt)
	require.Equal(t, evF, evG)
	require.Equal(t, firstF, firstG)
	require.Equal(t, nextF, nextG)
}

func TestFSM_SnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		build    func(t *testing.T, f *FSM)
		wantIdx  []uint64
		wantNext uint64
	}{
		{"empty", 10, func(*testing.T, *FSM) {}, []uint64{}, 1},
		{"maintenance with events", 10, func(t *testing.T, f *FSM) {
			f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "ctl-1", 1_000))
			f.Apply(leaderLog(t, 2, "node-2", "ctl-2", 2_000))
			f.Apply(setStateLog(t, 3, model.ClusterNormal, "ctl-1", 3_000))
			f.Apply(setStateLog(t, 4, model.ClusterMaintenance, "ctl-1", 4_000))
		}, []uint64{1, 2, 3, 4}, 5},
		{"wrapped ring", 5, func(t *testing.T, f *FSM) {
			appendEvents(t, f, 12, 0)
			f.Apply(setStateLog(t, 13, model.ClusterMaintenance, "h", 99))
		}, []uint64{9, 10, 11, 12, 13}, 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, tc.capacity)
			tc.build(t, f)

			g := snapshotRestore(t, f)
			requireSameState(t, f, g)
			require.Equal(t, tc.wantIdx, indexes(allEvents(g)))
			_, _, next := g.EventsSince(0, 0)
			require.Equal(t, tc.wantNext, next)
			require.Equal(t, f.EventsLatest(0, 100), g.EventsLatest(0, 100))
			require.Equal(t, f.EventsSummary(0), g.EventsSummary(0))

			// The next event continues the sequence on both, identically:
			// no index (hence no id) is ever reused after a restore.
			l := leaderLog(t, 1_000, "node-new", "ctl-new", 5_000)
			f.Apply(l)
			g.Apply(l)
			evG := allEvents(g)
			last := evG[len(evG)-1]
			require.Equal(t, tc.wantNext, last.Index)
			require.Equal(t, eventID(tc.wantNext), last.ID)
			for _, e := range evG[:len(evG)-1] {
				require.NotEqual(t, last.ID, e.ID)
			}
			requireSameState(t, f, g)
		})
	}
}

func TestFSM_SnapshotIsPointInTime(t *testing.T) {
	f := newTestFSM(t, 10)
	f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 1))
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()
	want := newTestFSM(t, 10)
	want.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 1))

	// Changes after Snapshot() must not leak into what Persist writes.
	f.Apply(setStateLog(t, 2, model.ClusterNormal, "h", 2))
	appendEvents(t, f, 5, 10)

	sink := &bufferSink{}
	require.NoError(t, snap.Persist(sink))
	g := newTestFSM(t, 10)
	require.NoError(t, restoreBytes(t, g, sink.Bytes()))
	requireSameState(t, want, g)
}

func TestFSM_RestoreReplacesWholeState(t *testing.T) {
	src := newTestFSM(t, 10)
	src.Apply(leaderLog(t, 1, "n", "h", 50))

	dst := newTestFSM(t, 10)
	dst.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 1))
	appendEvents(t, dst, 6, 100)
	ch := dst.Changed()

	require.NoError(t, restoreBytes(t, dst, persist(t, src)))
	requireSameState(t, src, dst)
	require.Equal(t, model.ClusterStateData{State: model.ClusterNormal}, dst.ClusterState())
	require.True(t, isClosed(ch), "Restore wakes watchers")
	require.False(t, isClosed(dst.Changed()))
}

func TestFSM_RestoreIntoSmallerCapacityKeepsNewest(t *testing.T) {
	f := newTestFSM(t, 10)
	appendEvents(t, f, 10, 0)
	data := persist(t, f)

	g := newTestFSM(t, 3)
	require.NoError(t, restoreBytes(t, g, data))
	ev, first, next := g.EventsSince(0, 100)
	require.Equal(t, []uint64{8, 9, 10}, indexes(ev))
	all := allEvents(f)
	require.Equal(t, all[7:], ev, "the newest events, unchanged")
	require.Equal(t, uint64(8), first)
	require.Equal(t, uint64(11), next)

	g.Apply(leaderLog(t, 11, "n", "h", 11))
	require.Equal(t, []uint64{9, 10, 11}, indexes(allEvents(g)))
}

func TestFSM_RestoreIntoLargerCapacityKeepsFilling(t *testing.T) {
	f := newTestFSM(t, 3)
	appendEvents(t, f, 10, 0) // 8, 9, 10
	g := newTestFSM(t, 10)
	require.NoError(t, restoreBytes(t, g, persist(t, f)))
	require.Equal(t, []uint64{8, 9, 10}, indexes(allEvents(g)))

	for i := 11; i <= 17; i++ {
		g.Apply(leaderLog(t, uint64(i), "n", "h", int64(i)))
	}
	require.Equal(t, []uint64{8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, indexes(allEvents(g)))
	g.Apply(leaderLog(t, 18, "n", "h", 18))
	require.Equal(t, []uint64{9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, indexes(allEvents(g)))
}

func TestFSM_RestoreSkipsUnknownRecordKinds(t *testing.T) {
	f := newTestFSM(t, 10)
	f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 10))
	appendEvents(t, f, 3, 100)
	lines := strings.SplitAfter(string(persist(t, f)), "\n")
	require.GreaterOrEqual(t, len(lines), 3)

	unknown := []string{
		`{"kind":"applications","data":{"app-1":{"state":"RUNNING"}}}` + "\n",
		`{"kind":"future","data":[1,2,3]}` + "\n",
		`{"kind":"","data":null}` + "\n",
		`{"kind":"nodata"}` + "\n",
	}
	// header, then unknown records, the rest, and more unknown records at the end.
	var b strings.Builder
	b.WriteString(lines[0])
	b.WriteString(unknown[0])
	b.WriteString(unknown[1])
	b.WriteString(strings.Join(lines[1:], ""))
	b.WriteString(unknown[2])
	b.WriteString(unknown[3])

	g := newTestFSM(t, 10)
	require.NoError(t, restoreBytes(t, g, []byte(b.String())))
	requireSameState(t, f, g)
}

func TestFSM_RestoreRecordOrderIrrelevant(t *testing.T) {
	// A hand-written snapshot with nextEventIndex last and the cluster record
	// after the events must restore the same as the writer's order.
	data := `{"version":1}
{"kind":"event","data":{"index":4,"type":"LEADERSHIP_ACQUIRED","id":"` + eventID(4) + `","time":40,"metadata":{"HOSTNAME":"h"}}}
{"kind":"event","data":{"index":5,"type":"MAINTENANCE_MODE_SET","id":"` + eventID(5) + `","time":50,"metadata":{"HOSTNAME":"h"}}}
{"kind":"cluster","data":{"state":"MAINTENANCE","updated":50}}
{"kind":"nextEventIndex","data":6}
`
	g := newTestFSM(t, 10)
	require.NoError(t, restoreBytes(t, g, []byte(data)))
	require.Equal(t, model.ClusterStateData{State: model.ClusterMaintenance, Updated: 50}, g.ClusterState())
	ev, first, next := g.EventsSince(0, 10)
	require.Equal(t, []uint64{4, 5}, indexes(ev))
	require.Equal(t, map[string]any{model.MetaHostname: "h"}, ev[1].Metadata)
	require.Equal(t, uint64(4), first)
	require.Equal(t, uint64(6), next)
}

func TestFSM_RestoreErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"empty stream", "", "read snapshot header"},
		{"not json", "garbage", "read snapshot header"},
		{"future version", `{"version":2}` + "\n", "unsupported snapshot version 2"},
		{"version zero", `{"version":0}` + "\n", "unsupported snapshot version 0"},
		{"missing version", `{}` + "\n", "unsupported snapshot version 0"},
		{"truncated record", `{"version":1}` + "\n" + `{"kind":"cluster","data":`, "read snapshot record"},
		{"bad cluster data", `{"version":1}` + "\n" + `{"kind":"cluster","data":{"state":5}}`, `decode snapshot record "cluster"`},
		{"bad event data", `{"version":1}` + "\n" + `{"kind":"event","data":"oops"}`, `decode snapshot record "event"`},
		{"bad next index", `{"version":1}` + "\n" + `{"kind":"nextEventIndex","data":-1}`, `decode snapshot record "nextEventIndex"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t, 10)
			f.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 10))
			appendEvents(t, f, 2, 100)
			before := newTestFSM(t, 10)
			require.NoError(t, restoreBytes(t, before, persist(t, f)))
			ch := f.Changed()

			err := restoreBytes(t, f, []byte(tc.data))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)

			requireSameState(t, before, f) // a failed restore changes nothing
			require.False(t, isClosed(ch))
		})
	}
}

func TestFSM_PersistErrorCancelsSink(t *testing.T) {
	small := newTestFSM(t, 10)
	small.Apply(setStateLog(t, 1, model.ClusterMaintenance, "h", 10))

	big := newTestFSM(t, 1_000)
	appendEvents(t, big, 1_000, 0) // far more than one bufio buffer

	tests := []struct {
		name    string
		f       *FSM
		okBytes int
	}{
		{"first write fails (flush)", small, 0},
		{"first write fails, large snapshot", big, 0},
		{"fails mid-stream", big, 3 * 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := tc.f.Snapshot()
			require.NoError(t, err)
			defer snap.Release()
			sink := &failingSink{okBytes: tc.okBytes}

			err = snap.Persist(sink)
			require.ErrorIs(t, err, errWrite)
			require.Contains(t, err.Error(), "persist snapshot")
			require.Equal(t, 1, sink.cancelled, "Cancel called once")
			require.Zero(t, sink.closed, "Close not called after Cancel")
		})
	}
}

// closeFailSink fails Close; Persist must report it.
type closeFailSink struct{ bufferSink }

func (s *closeFailSink) Close() error { s.closed++; return errors.New("close failed") }

func TestFSM_PersistReportsCloseError(t *testing.T) {
	f := newTestFSM(t, 10)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	sink := &closeFailSink{}
	require.EqualError(t, snap.Persist(sink), "close failed")
	require.Equal(t, 1, sink.closed)
	require.Zero(t, sink.cancelled)
}

// A snapshot whose nextEventIndex record is missing (or lower than its
// events) must still never reuse an event index.
// Regression (fixed): restoreEventLog trusts nextIndex blindly and
// falls back to 1, so the next event reuses index 1 (and its id) while
// indexes 1..3 are still stored; since()'s arithmetic then returns wrong
// ranges. Fix: nextIndex = max(nextIndex, lastEvent.Index+1, 1).
func TestFSM_RestoreWithoutNextIndexNeverReusesIndexes(t *testing.T) {
	f := newTestFSM(t, 10)
	appendEvents(t, f, 3, 0)
	var kept []string
	for _, line := range strings.SplitAfter(string(persist(t, f)), "\n") {
		if !strings.Contains(line, `"nextEventIndex"`) {
			kept = append(kept, line)
		}
	}
	g := newTestFSM(t, 10)
	require.NoError(t, restoreBytes(t, g, []byte(strings.Join(kept, ""))))
	g.Apply(leaderLog(t, 4, "n", "h", 4))
	require.Equal(t, []uint64{1, 2, 3, 4}, indexes(allEvents(g)))
}
