package fsm

import "github.com/drove-go/drove/fsm/model"

// ClusterState returns the current cluster state.
func (f *FSM) ClusterState() model.ClusterStateData {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.cluster
}

// Events returned by the accessors share their Metadata maps with the
// stored state: callers must treat them as read-only.

// Changed returns a channel closed at the next state change that watchers
// care about (an appended event or a restore). Take it before reading, then
// wait on it, so no change is missed.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// EventsSince returns up to max events with index > after (oldest first), the
// index of the oldest event still stored, and the index the next event gets.
// When after+1 < first, events in between were dropped from the bounded log.
func (f *FSM) EventsSince(after uint64, max int) (events []model.IndexedEvent, first, next uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.events.since(after, max), f.st.events.firstIndex(), f.st.events.nextIndex
}

// EventsLatest implements Drove's events/latest: events newer than
// lastSyncTime, newest first, at most size; LastSyncTime is the time of the
// newest stored event (or the input when there is none).
func (f *FSM) EventsLatest(lastSyncTime int64, size int) model.EventsList {
	f.mu.RLock()
	defer f.mu.RUnlock()
	l := f.st.events
	out := model.EventsList{Events: []model.Event{}, LastSyncTime: lastSyncTime}
	if l.count > 0 {
		out.LastSyncTime = l.at(l.count - 1).Time
	}
	for i := l.count - 1; i >= 0 && len(out.Events) < size; i-- {
		e := l.at(i)
		if e.Time > lastSyncTime {
			out.Events = append(out.Events, e.Event)
		}
	}
	return out
}

// EventsSummary counts events newer than lastSyncTime per type;
// LastSyncTime is the newest stored event's time, as in EventsLatest.
func (f *FSM) EventsSummary(lastSyncTime int64) model.EventsSummary {
	f.mu.RLock()
	defer f.mu.RUnlock()
	l := f.st.events
	out := model.EventsSummary{EventsCount: map[model.EventType]int{}, LastSyncTime: lastSyncTime}
	for i := 0; i < l.count; i++ {
		e := l.at(i)
		if e.Time > lastSyncTime {
			out.EventsCount[e.Type]++
		}
	}
	if l.count > 0 {
		out.LastSyncTime = l.at(l.count - 1).Time
	}
	return out
}
