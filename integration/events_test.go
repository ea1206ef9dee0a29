package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/server"
	"github.com/stretchr/testify/require"
)

// sseFrame is one Server-Sent Events frame.
type sseFrame struct {
	id, event, data string
}

// watch opens the event stream on node i and delivers frames until the
// stream ends or ctx is done. lastID, when non-empty, is sent as Last-Event-ID.
func watch(ctx context.Context, t *testing.T, tc *testCluster, i int, query, lastID string) <-chan sseFrame {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+tc.nodes[i].cfg.HTTPAddr+"/apis/v1/cluster/events/watch"+query, nil)
	require.NoError(t, err)
	req.SetBasicAuth(readOnly[0], readOnly[1])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	out := make(chan sseFrame, 1024)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.event != "" {
					out <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, "id: "):
				f.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				f.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				f.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

func nextFrame(t *testing.T, ch <-chan sseFrame) sseFrame {
	t.Helper()
	select {
	case f, ok := <-ch:
		require.True(t, ok, "stream ended")
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	return sseFrame{}
}

func frameEvent(t *testing.T, f sseFrame) model.Event {
	t.Helper()
	require.Equal(t, "event", f.event)
	var e model.Event
	require.NoError(t, json.Unmarshal([]byte(f.data), &e))
	return e
}

func TestEvents_WatchThroughFollowerResumesAcrossLeaderFailover(t *testing.T) {
	tc := newCluster(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	f := tc.follower()
	stream := watch(ctx, t, tc, f, "?since=0", "")
	first := frameEvent(t, nextFrame(t, stream))
	require.Equal(t, model.EventLeadershipAcquired, first.Type, "history starts with the first leader")

	requireSuccess(t, tc.call(f, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	var last sseFrame
	for {
		last = nextFrame(t, stream)
		if frameEvent(t, last).Type == model.EventMaintenanceModeSet {
			break
		}
	}

	// Kill the leader: the proxied stream ends; resume through a survivor.
	l := tc.leaderIndex()
	tc.stop(l)
	for range stream {
	}
	requireSuccess(t, tc.call(f, rootUser, "POST", "/apis/v1/cluster/maintenance/unset", nil))
	survivor := 3 - l - f
	resumed := watch(ctx, t, tc, survivor, "", last.id)
	var seen []model.EventType
	lastIdx, _ := strconv.ParseUint(last.id, 10, 64)
	for len(seen) == 0 || seen[len(seen)-1] != model.EventMaintenanceModeRemoved {
		fr := nextFrame(t, resumed)
		idx, err := strconv.ParseUint(fr.id, 10, 64)
		require.NoError(t, err)
		require.Equal(t, lastIdx+1, idx, "no event lost or repeated across the failover")
		lastIdx = idx
		seen = append(seen, frameEvent(t, fr).Type)
	}
	require.Contains(t, seen, model.EventLeadershipAcquired, "the new leader's election is itself an event")
}

func TestEvents_WatchReportsGapWhenResumingBeyondTheBoundedLog(t *testing.T) {
	tc := newCluster(t, 1, func(c *server.ControllerConfig) { c.FSM.EventCapacity = 5 })
	for i := 0; i < 6; i++ {
		path := "/apis/v1/cluster/maintenance/set"
		if i%2 == 1 {
			path = "/apis/v1/cluster/maintenance/unset"
		}
		requireSuccess(t, tc.call(0, rootUser, "POST", path, nil))
	}
	// 7 events so far (leadership + 6); only indexes 3..7 are kept.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := watch(ctx, t, tc, 0, "?since=1", "")
	gap := nextFrame(t, stream)
	require.Equal(t, "gap", gap.event)
	require.JSONEq(t, `{"firstIndex":3,"requested":2}`, gap.data)
	require.Equal(t, "3", nextFrame(t, stream).id)

	// Without since, only new events arrive.
	fresh := watch(ctx, t, tc, 0, "", "")
	requireSuccess(t, tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	fr := nextFrame(t, fresh)
	require.Equal(t, "8", fr.id)
	require.Equal(t, model.EventMaintenanceModeSet, frameEvent(t, fr).Type)
}

func TestEvents_LatestAndSummaryShapes(t *testing.T) {
	tc := newCluster(t, 1)
	requireSuccess(t, tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/set", nil))
	r := tc.call(0, readOnly, "GET", "/apis/v1/cluster/events/latest?lastSyncTime=0&size=1", nil)
	requireSuccess(t, r)
	var latest model.EventsList
	r.data(t, &latest)
	require.Len(t, latest.Events, 1)
	require.Equal(t, model.EventMaintenanceModeSet, latest.Events[0].Type)
	require.Equal(t, latest.Events[0].Time, latest.LastSyncTime)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, latest.Events[0].ID)

	r = tc.call(0, readOnly, "GET", "/apis/v1/cluster/events/summary?lastSyncTime=0", nil)
	requireSuccess(t, r)
	var sum model.EventsSummary
	r.data(t, &sum)
	require.Equal(t, 1, sum.EventsCount[model.EventMaintenanceModeSet])
	require.Equal(t, 1, sum.EventsCount[model.EventLeadershipAcquired])

	r = tc.call(0, readOnly, "GET", "/apis/v1/cluster/events?lastSyncTime="+strconv.FormatInt(latest.LastSyncTime, 10), nil)
	requireSuccess(t, r)
	require.JSONEq(t, `[]`, string(r.Env.Data), "nothing newer than the last sync time")
}
