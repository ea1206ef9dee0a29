package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCommands_JSONFlag(t *testing.T) {
	isolate(t)
	srv, _ := fakeDrove(t)
	e := []string{"-e", srv.URL}

	f := newRoot().PersistentFlags().Lookup("json")
	require.NotNil(t, f)
	require.Empty(t, f.Shorthand, "--json has no shorthand")

	summary := `{"leader":"ctrl-1:4000","state":"NORMAL","numExecutors":3,"numApplications":10,
		"numActiveApplications":4,"numActiveTasks":2,"numLocalServices":1,"numActiveLocalServices":1,
		"freeCores":6,"usedCores":2,"totalCores":8,"freeMemory":12288,"usedMemory":4096,"totalMemory":16384}`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "summary"}, summary},
		{[]string{"cluster", "leader"}, summary},
		{[]string{"cluster", "maintenance-off"}, fmt.Sprintf(`{"state":"NORMAL","updated":%d}`, updatedMs)},
		{[]string{"cluster", "remove-controller", "c2"}, `{"removed":"c2"}`},
		{[]string{"cluster", "leave"}, `{"left":"c3"}`},
		{[]string{"cluster", "events", "-t", "EXECUTOR_ADDED"}, fmt.Sprintf(
			`[{"type":"EXECUTOR_ADDED","id":"e2","time":%d,"metadata":{"NODE_ID":"n1","HOSTNAME":"h1"}}]`, updatedMs+1000)},
		{[]string{"cluster", "events", "-t", "NOPE"}, `[]`},
	} {
		out, _, err := run(t, append(append(e, "--json"), tc.args...)...)
		require.NoError(t, err, tc.args)
		require.JSONEq(t, tc.want, out, tc.args)
	}

	out, _, err := run(t, append(e, "cluster", "controllers", "--json")...)
	require.NoError(t, err)
	var ctrls []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ctrls))
	require.Len(t, ctrls, 2)
	require.Equal(t, "c1", ctrls[0]["id"])

	_, _, err = run(t, append(e, "--json", "cluster", "events", "-s", "{id}")...)
	require.EqualError(t, err, "--json and --textfmt cannot be used together")
}

func TestCommands_EventsFollowJSON(t *testing.T) {
	isolate(t)
	var s *sseServer
	srv, s := newSSEServer(t, func(w http.ResponseWriter, flush func(), r *http.Request) {
		_, _ = fmt.Fprint(w, eventFrame(1, "EXECUTOR_ADDED", "a1", updatedMs, `{"NODE_ID":"n1"}`))
		_, _ = fmt.Fprint(w, "id: 2\nevent: event\ndata: {\"type\":\"EXECUTOR_REMOVED\",\n")
		_, _ = fmt.Fprint(w, "data:   \"id\":\"a2\",\"time\":1700000005000,\"metadata\":{\"PORT\":4000}}\n\n")
		flush()
		s.hold(r)
	})
	out := newSyncBuffer()
	root := newRoot()
	root.SetOut(out)
	root.SetErr(newSyncBuffer())
	root.SetArgs([]string{"-e", srv.URL, "--json", "cluster", "events", "-f"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- root.ExecuteContext(ctx) }()

	out.waitFor(t, `"a2"`)
	cancel()
	select {
	case err := <-result:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("follow did not stop after cancel")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2, "one JSON object per line")
	require.JSONEq(t, fmt.Sprintf(`{"type":"EXECUTOR_ADDED","id":"a1","time":%d,"metadata":{"NODE_ID":"n1"}}`, updatedMs), lines[0])
	require.Equal(t, `{"type":"EXECUTOR_REMOVED","id":"a2","time":1700000005000,"metadata":{"PORT":4000}}`, lines[1],
		"multi-line data is compacted onto one line")
}
