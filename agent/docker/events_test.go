package docker

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/events"
	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/agent"
)

func newWatcher() *eventWatcher {
	return &eventWatcher{r: &Runtime{log: hclog.NewNullLogger()}, since: time.Unix(100, 0)}
}

func msg(action events.Action, id string, nano int64, attrs map[string]string) events.Message {
	return events.Message{
		Type:     events.ContainerEventType,
		Action:   action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Time:     nano / int64(time.Second),
		TimeNano: nano,
	}
}

func TestConvertEvent(t *testing.T) {
	w := newWatcher()
	attrs := map[string]string{
		"image": "img:1", "name": "c1", "exitCode": "3", "execDuration": "12",
		"drove.app.id": "app", "drove.instance.id": "i1",
	}
	ev, ok := w.convert(msg(events.ActionDie, "abc", 1, attrs))
	require.True(t, ok)
	require.Equal(t, agent.ContainerEvent{
		ContainerID: "abc",
		Labels:      map[string]string{"drove.app.id": "app", "drove.instance.id": "i1"},
		Status:      agent.ContainerExited,
		ExitCode:    3,
	}, ev)
	require.Equal(t, "3", attrs["exitCode"], "attributes are not modified")

	ev, ok = w.convert(msg(events.ActionDestroy, "abc", 1, attrs))
	require.True(t, ok)
	require.Equal(t, agent.ContainerStatus(""), ev.Status)
	require.Equal(t, map[string]string{"drove.app.id": "app", "drove.instance.id": "i1"}, ev.Labels)

	_, ok = w.convert(msg(events.ActionOOM, "abc", 1, attrs))
	require.False(t, ok, "oom is only logged")
	_, ok = w.convert(msg(events.ActionStart, "abc", 1, attrs))
	require.False(t, ok)
	m := msg(events.ActionDie, "abc", 1, attrs)
	m.Type = events.ImageEventType
	_, ok = w.convert(m)
	require.False(t, ok)
}

func TestEventDedup(t *testing.T) {
	w := newWatcher()
	sec := int64(time.Second)
	// First subscription: everything is fresh, even if older than since.
	require.True(t, w.fresh(msg(events.ActionDie, "a", 50*sec, nil)))
	require.True(t, w.fresh(msg(events.ActionDie, "b", 200*sec, nil)))
	require.True(t, w.fresh(msg(events.ActionDestroy, "b", 200*sec, nil)), "same time, other action")
	require.True(t, w.fresh(msg(events.ActionDie, "c", 200*sec, nil)), "same time, other container")
	// A replay after reconnecting repeats events from since on.
	require.False(t, w.fresh(msg(events.ActionDie, "a", 50*sec, nil)))
	require.False(t, w.fresh(msg(events.ActionDie, "b", 200*sec, nil)))
	require.False(t, w.fresh(msg(events.ActionDestroy, "b", 200*sec, nil)))
	require.False(t, w.fresh(msg(events.ActionDie, "c", 200*sec, nil)))
	require.True(t, w.fresh(msg(events.ActionDie, "d", 200*sec, nil)))
	require.True(t, w.fresh(msg(events.ActionDie, "a", 201*sec, nil)))
	require.False(t, w.fresh(msg(events.ActionDie, "d", 200*sec, nil)))
	require.Equal(t, time.Unix(201, 0), w.since)
	// Messages without nanoseconds use seconds.
	m := msg(events.ActionDie, "e", 0, nil)
	m.Time = 300
	require.True(t, w.fresh(m))
	require.Equal(t, time.Unix(300, 0), w.since)
}

// TestEventsReconnect runs Events against a fake daemon whose first event
// stream breaks after one event: the runtime resubscribes from the last
// event's time and drops the replayed duplicate.
func TestEventsReconnect(t *testing.T) {
	var mu sync.Mutex
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			_, _ = io.WriteString(w, "OK")
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/events") {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		queries = append(queries, r.URL.Query())
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		die := func(id string, sec int64, code string) {
			_ = enc.Encode(msg(events.ActionDie, id, sec*int64(time.Second),
				map[string]string{"name": id, "image": "img", "exitCode": code, "app": "x"}))
		}
		switch n {
		case 1:
			die("a", 1000, "3")
			w.(http.Flusher).Flush()
			// returning ends the stream: the client sees EOF
		case 2:
			die("a", 1000, "3") // replayed
			die("b", 1001, "4")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.Error(w, "unexpected", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	rt, err := New(Config{Host: "tcp://" + srv.Listener.Addr().String()})
	require.NoError(t, err)
	defer rt.Close()
	require.Equal(t, "1.41", rt.APIVersion())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ch, err := rt.Events(ctx)
	require.NoError(t, err)

	ev := <-ch
	require.Equal(t, agent.ContainerEvent{ContainerID: "a", Labels: map[string]string{"app": "x"}, Status: agent.ContainerExited, ExitCode: 3}, ev)
	ev = <-ch
	require.Equal(t, agent.ContainerEvent{ContainerID: "b", Labels: map[string]string{"app": "x"}, Status: agent.ContainerExited, ExitCode: 4}, ev)

	mu.Lock()
	require.Len(t, queries, 2)
	require.Empty(t, queries[0].Get("since"), "the first subscription is live only")
	require.Equal(t, "1000.000000000", queries[1].Get("since"))
	var f map[string]map[string]bool
	require.NoError(t, json.Unmarshal([]byte(queries[0].Get("filters")), &f))
	require.Equal(t, map[string]map[string]bool{
		"type":  {"container": true},
		"event": {"die": true, "destroy": true, "oom": true},
	}, f)
	mu.Unlock()

	cancel()
	for range ch {
		t.Fatal("unexpected event")
	}
}

func TestEventsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		_, _ = io.WriteString(w, "OK")
	}))
	rt, err := New(Config{Host: "tcp://" + srv.Listener.Addr().String(), PingTimeout: time.Second})
	require.NoError(t, err)
	defer rt.Close()
	srv.Close()
	_, err = rt.Events(t.Context())
	require.Error(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = rt.Events(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
