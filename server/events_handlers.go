package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// defaultEventsSize is Drove's default page of events.
const defaultEventsSize = 1024

func (a *api) eventsList(_ http.ResponseWriter, r *http.Request) (any, error) {
	since, size, err := eventsQuery(r)
	if err != nil {
		return nil, err
	}
	return a.fsm.EventsLatest(since, size).Events, nil
}

func (a *api) eventsLatest(_ http.ResponseWriter, r *http.Request) (any, error) {
	since, size, err := eventsQuery(r)
	if err != nil {
		return nil, err
	}
	return a.fsm.EventsLatest(since, size), nil
}

func (a *api) eventsSummary(_ http.ResponseWriter, r *http.Request) (any, error) {
	since, _, err := eventsQuery(r)
	if err != nil {
		return nil, err
	}
	return a.fsm.EventsSummary(since), nil
}

// eventsQuery parses Drove's lastSyncTime (epoch ms, default 0) and size
// (default 1024) parameters.
func eventsQuery(r *http.Request) (since int64, size int, err error) {
	q := r.URL.Query()
	var errs []string
	if v := q.Get("lastSyncTime"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			errs = append(errs, fmt.Sprintf("lastSyncTime must be a non-negative epoch time in ms, got %q", v))
		}
	}
	size = defaultEventsSize
	if v := q.Get("size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 0 {
			errs = append(errs, fmt.Sprintf("size must be a non-negative integer, got %q", v))
		}
	}
	if len(errs) > 0 {
		return 0, 0, invalid(errs...)
	}
	return since, size, nil
}

// watchBatch bounds the events written between flushes of a watch stream.
const watchBatch = 256

// eventsWatch streams events as Server-Sent Events, oldest first, resuming
// after the index in ?since= or the Last-Event-ID header (without either,
// only new events). Frames: "id: <index>", "event: event", "data: <event>".
// A "gap" frame reports events that had already left the bounded log.
func (a *api) eventsWatch(w http.ResponseWriter, r *http.Request) {
	after, err := watchStart(r, a)
	if err != nil {
		writeError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	idle := 0
	for {
		changed := a.fsm.Changed()
		events, first, _ := a.fsm.EventsSince(after, watchBatch)
		if after+1 < first {
			fmt.Fprintf(w, "event: gap\ndata: {\"firstIndex\":%d,\"requested\":%d}\n\n", first, after+1)
			after = first - 1
		}
		for _, e := range events {
			if err := writeEventFrame(w, e); err != nil {
				return
			}
			after = e.Index
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if len(events) == watchBatch {
			continue
		}
		select {
		case <-changed:
			idle = 0
		case <-tick.C:
			// A node that lost leadership ends the stream so the client
			// reconnects (with Last-Event-ID) through the new leader.
			if !a.servesLocally(r) {
				return
			}
			if idle++; idle%15 == 0 {
				fmt.Fprint(w, ": keepalive\n\n")
			}
		case <-r.Context().Done():
			return
		case <-a.shutdownCh:
			return
		}
	}
}

func writeEventFrame(w http.ResponseWriter, e model.IndexedEvent) error {
	data, err := json.Marshal(e.Event)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Index, data)
	return err
}

// watchStart returns the index after which a watch starts.
func watchStart(r *http.Request, a *api) (uint64, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		v = r.Header.Get("Last-Event-ID")
	}
	if v == "" {
		_, _, next := a.fsm.EventsSince(0, 0)
		return next - 1, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalid(fmt.Sprintf("since must be an event index (a non-negative integer), got %q", v))
	}
	return n, nil
}
