package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// executorWorkloadsJSON is an executor running tasks and local-service
// instances but no application instances.
var executorWorkloadsJSON = `{"type":"EXECUTOR","hostname":"h2","port":3001,"transportType":"HTTP","updated":1721630351178,
 "state":{"executorId":"exec-2","cpus":{"type":"CPU","freeCores":{"0":[0]},"usedCores":{"0":[1,5]}},
  "memory":{"type":"MEMORY","freeMemory":{"0":1024},"usedMemory":{"0":1024}}},
 "instances":[],
 "tasks":[` + strings.Join([]string{
	task("TEST_APP", "T0012", "RUNNING", "h2", "", 0, 1700000300000),
	task("OTHER", "T0001", "PROVISIONING", "h2", "", 0, 1700000100000),
	task("TEST_APP", "T0009", "RUN_COMPLETED", "h2", "SUCCESSFUL", 0, 1700000200000),
}, ",") + `],
 "serviceInstances":[` + strings.Join([]string{si2, si4}, ",") + `],
 "tags":["h2"],"metadata":{},"executorState":"ACTIVE"}`

func TestCommands_ExecutorTasks(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "executor", "tasks", "exec-2")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"ID", "SOURCE APP", "TASK ID", "STATE", "HOST", "CPU", "MEMORY (MB)", "CREATED", "UPDATED"},
		{"TI-T0001", "OTHER", "T0001", "PROVISIONING", "h2", "2", "512", formatTime(1700000099000), formatTime(1700000100000)},
		{"TI-T0009", "TEST_APP", "T0009", "RUN_COMPLETED", "h2", "2", "512", formatTime(1700000199000), formatTime(1700000200000)},
		{"TI-T0012", "TEST_APP", "T0012", "RUNNING", "h2", "2", "512", formatTime(1700000299000), formatTime(1700000300000)},
	}, tableRows(out), "sorted by source app by default")

	ids := func(out string) []string {
		var ids []string
		for _, r := range tableRows(out)[1:] {
			ids = append(ids, r[0])
		}
		return ids
	}
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"-r"}, []string{"TI-T0009", "TI-T0012", "TI-T0001"}},
		{[]string{"-s", "0", "-r"}, []string{"TI-T0012", "TI-T0009", "TI-T0001"}},
		{[]string{"-a", "TEST_APP"}, []string{"TI-T0009", "TI-T0012"}},
		{[]string{"--app", "TEST_APP", "--sort", "8", "--reverse"}, []string{"TI-T0012", "TI-T0009"}},
	} {
		out, _, err := run(t, append(append(e, "executor", "tasks", "exec-2"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.Equal(t, tc.want, ids(out), tc.flags)
	}
	_, _, err = run(t, append(e, "executor", "tasks", "exec-2", "-s", "9")...)
	require.EqualError(t, err, "--sort must be between 0 and 8, got 9")

	out, _, err = run(t, append(e, "--json", "executor", "tasks", "exec-2", "-a", "OTHER")...)
	require.NoError(t, err)
	require.JSONEq(t, "["+task("OTHER", "T0001", "PROVISIONING", "h2", "", 0, 1700000100000)+"]", out)
	out, _, err = run(t, append(e, "--json", "executor", "tasks", "exec-1")...)
	require.NoError(t, err)
	require.JSONEq(t, `[]`, out)

	_, _, err = run(t, append(e, "executor", "tasks", "nope")...)
	require.EqualError(t, err, "No executor found with id: nope (HTTP 200)")
}

func TestCommands_ExecutorLSInstances(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "executor", "lsinstances", "exec-2")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"INSTANCE ID", "SERVICE ID", "STATE", "CORES", "MEMORY (MB)", "PORTS", "UPDATED"},
		{"SI-2", "svc-1", "HEALTHY", "1", "512", "main:32001", formatTime(1700000200000)},
		{"SI-4", "svc-1", "HEALTHY", "1", "512", "main:32003", formatTime(1700000500000)},
	}, tableRows(out))
	out, _, err = run(t, append(e, "executor", "lsinstances", "exec-2", "-s", "6", "-r")...)
	require.NoError(t, err)
	require.Equal(t, "SI-4", tableRows(out)[1][0])
	_, _, err = run(t, append(e, "executor", "lsinstances", "exec-2", "-s", "7")...)
	require.EqualError(t, err, "--sort must be between 0 and 6, got 7")

	out, _, err = run(t, append(e, "--json", "executor", "lsinstances", "exec-2")...)
	require.NoError(t, err)
	require.JSONEq(t, lsList(si2, si4), out)

	// appinstances takes the same sort flags.
	out, _, err = run(t, append(e, "executor", "appinstances", "exec-1", "-s", "0", "-r")...)
	require.NoError(t, err)
	require.Equal(t, []string{"AI-b", "AI-a"}, []string{tableRows(out)[1][0], tableRows(out)[2][0]})
}

func TestCommands_ExecutorInfoWithTasksAndServices(t *testing.T) {
	isolate(t)
	srv := fakeExecutors(t)
	out, _, err := run(t, "-e", srv.URL, "executor", "info", "exec-2")
	require.NoError(t, err)
	_, rest, found := strings.Cut(out, "\nApplication instances:\n")
	require.True(t, found, out)
	apps, rest, found := strings.Cut(rest, "\nLocal service instances:\n")
	require.True(t, found, out)
	require.Len(t, tableRows(apps), 1, "header only")
	services, tasks, found := strings.Cut(rest, "\nTasks:\n")
	require.True(t, found, out)
	require.Equal(t, []string{"SI-2", "SI-4"}, []string{tableRows(services)[1][0], tableRows(services)[2][0]})
	require.Len(t, tableRows(tasks), 4)
	require.Equal(t, "TI-T0001", tableRows(tasks)[1][0])
}
