package fsm

import (
	"strconv"

	"github.com/drove-go/drove/fsm/model"
	"github.com/google/uuid"
)

// eventNamespace seeds event ids: an event's id is a name-based UUID of its
// log index, so every replica derives the same id without coordination.
var eventNamespace = uuid.MustParse("5d1c7c6e-36f3-4c1d-9d8c-6a2b9a0e3f10")

// eventLog is a bounded ring of events, oldest first. It is part of the
// replicated state (and of snapshots), so events survive leader changes.
// Not safe for concurrent use; the FSM's lock guards it.
type eventLog struct {
	buf       []model.IndexedEvent
	start     int // position of the oldest event in buf
	count     int
	nextIndex uint64 // index the next appended event gets; starts at 1
}

func newEventLog(capacity int) *eventLog {
	if capacity < 1 {
		capacity = 1
	}
	return &eventLog{buf: make([]model.IndexedEvent, capacity), nextIndex: 1}
}

// append stores an event built from its type, time and metadata, dropping the
// oldest one when full, and returns it with its id and index filled in.
func (l *eventLog) append(t model.EventType, timeMs int64, meta map[string]any) model.IndexedEvent {
	idx := l.nextIndex
	l.nextIndex++
	if meta == nil {
		meta = map[string]any{}
	}
	e := model.IndexedEvent{Index: idx, Event: model.Event{
		Type:     t,
		ID:       uuid.NewSHA1(eventNamespace, []byte(strconv.FormatUint(idx, 10))).String(),
		Time:     timeMs,
		Metadata: meta,
	}}
	pos := (l.start + l.count) % len(l.buf)
	l.buf[pos] = e
	if l.count < len(l.buf) {
		l.count++
	} else {
		l.start = (l.start + 1) % len(l.buf)
	}
	return e
}

// at returns the i-th oldest event (0 = oldest).
func (l *eventLog) at(i int) model.IndexedEvent { return l.buf[(l.start+i)%len(l.buf)] }

// all returns a copy of every stored event, oldest first.
func (l *eventLog) all() []model.IndexedEvent {
	out := make([]model.IndexedEvent, l.count)
	for i := range out {
		out[i] = l.at(i)
	}
	return out
}

// firstIndex is the index of the oldest stored event (nextIndex if empty).
func (l *eventLog) firstIndex() uint64 {
	if l.count == 0 {
		return l.nextIndex
	}
	return l.at(0).Index
}

// since returns up to max events with Index > after, oldest first.
func (l *eventLog) since(after uint64, max int) []model.IndexedEvent {
	first := l.firstIndex()
	skip := 0
	if after >= first {
		if after-first >= uint64(l.count) {
			return nil
		}
		skip = int(after - first + 1)
	}
	var out []model.IndexedEvent
	for i := skip; i < l.count && len(out) < max; i++ {
		out = append(out, l.at(i))
	}
	return out
}

// restore rebuilds a log of the given capacity from events (oldest first),
// keeping the newest ones if there are more than fit.
func restoreEventLog(capacity int, events []model.IndexedEvent, nextIndex uint64) *eventLog {
	l := newEventLog(capacity)
	if len(events) > len(l.buf) {
		events = events[len(events)-len(l.buf):]
	}
	copy(l.buf, events)
	l.count = len(events)
	// Never reuse an index, even if the snapshot's counter is missing or low.
	l.nextIndex = max(nextIndex, 1)
	if l.count > 0 {
		l.nextIndex = max(l.nextIndex, l.at(l.count-1).Index+1)
	}
	return l
}
