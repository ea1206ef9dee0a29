package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const appInstancesJSON = `[
 {"appId":"web-1","appName":"web","instanceId":"AI-2","executorId":"exec-2",
  "localInfo":{"hostname":"h2","ports":{"main":{"containerPort":8000,"hostPort":32001,"portType":"HTTP"}}},
  "resources":[{"type":"CPU","cores":{"0":[3]}},{"type":"MEMORY","memoryInMB":{"0":512}}],
  "state":"UNHEALTHY","metadata":{},"errorMessage":"health check failed:\n  connection refused","created":1700000200000,"updated":1700000400000},
 {"appId":"web-1","appName":"web","instanceId":"AI-1","executorId":"exec-1",
  "localInfo":{"hostname":"h1","ports":{"main":{"containerPort":8000,"hostPort":32000,"portType":"HTTP"},
    "admin":{"containerPort":8001,"hostPort":32100,"portType":"HTTP"}}},
  "resources":[{"type":"CPU","cores":{"0":[1,0]}},{"type":"MEMORY","memoryInMB":{"0":1024}}],
  "state":"HEALTHY","metadata":{},"errorMessage":"","created":1700000100000,"updated":1700000300000},
 {"appId":"web-1","appName":"web","instanceId":"AI-3","executorId":"exec-1",
  "localInfo":{"hostname":"h1","ports":{}},"resources":[],
  "state":"PROVISIONING","metadata":{},"errorMessage":"","created":1700000300000,"updated":1700000350000}
]`

const appInstanceJSON = `{"appId":"web-1","appName":"web","instanceId":"AI-1","executorId":"exec-1",
 "localInfo":{"hostname":"h1","ports":{"main":{"containerPort":8000,"hostPort":32000,"portType":"HTTP"},
   "admin":{"containerPort":8001,"hostPort":32100,"portType":"TCP"}}},
 "resources":[{"type":"CPU","cores":{"1":[9],"0":[1,0]}},{"type":"MEMORY","memoryInMB":{"0":1024,"1":512}}],
 "state":"HEALTHY","metadata":{"zone":"z1","rack":"r2"},"errorMessage":"","created":1700000100000,"updated":1700000300000}`

func TestCommands_AppInstancesList(t *testing.T) {
	isolate(t)
	srv, f := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "appinstances", "list", "web-1")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"INSTANCE ID", "HOST", "PORTS", "STATE", "ERROR", "CREATED", "UPDATED"},
		{"AI-1", "h1", "admin:32100,main:32000", "HEALTHY", "-", formatTime(1700000100000), formatTime(1700000300000)},
		{"AI-2", "h2", "main:32001", "UNHEALTHY", "health check failed: connection refused", formatTime(1700000200000), formatTime(1700000400000)},
		{"AI-3", "h1", "-", "PROVISIONING", "-", formatTime(1700000300000), formatTime(1700000350000)},
	}, tableRows(out))

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
		{[]string{"-r"}, []string{"AI-3", "AI-2", "AI-1"}},
		{[]string{"-s", "1"}, []string{"AI-1", "AI-3", "AI-2"}},
		{[]string{"-s", "1", "-r"}, []string{"AI-2", "AI-1", "AI-3"}}, // ties stay in id order
		{[]string{"-s", "3"}, []string{"AI-1", "AI-3", "AI-2"}},
		{[]string{"--sort", "6", "--reverse"}, []string{"AI-2", "AI-3", "AI-1"}},
	} {
		out, _, err := run(t, append(append(e, "appinstances", "list", "web-1"), tc.flags...)...)
		require.NoError(t, err, tc.flags)
		require.Equal(t, tc.want, ids(out), tc.flags)
	}
	_, _, err = run(t, append(e, "appinstances", "list", "web-1", "-s", "7")...)
	require.EqualError(t, err, "--sort must be between 0 and 6, got 7")

	out, _, err = run(t, append(e, "appinstances", "list", "web-1", "--old")...)
	require.NoError(t, err)
	require.Len(t, tableRows(out), 1, "header only")
	_, _, err = run(t, append(e, "appinstances", "list", "web-1", "-o")...)
	require.NoError(t, err)
	_, _, paths := f.snapshot()
	require.Equal(t, "/apis/v1/applications/web-1/instances", paths[0])
	require.Equal(t, []string{"/apis/v1/applications/web-1/instances/old", "/apis/v1/applications/web-1/instances/old"}, paths[len(paths)-2:])

	out, _, err = run(t, append(e, "--json", "appinstances", "list", "web-1", "-s", "3")...)
	require.NoError(t, err)
	require.JSONEq(t, appInstancesJSON, out)
}

func TestCommands_AppInstancesInfo(t *testing.T) {
	isolate(t)
	srv, _ := newFakeAppAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "appinstances", "info", "web-1", "AI-1")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"Instance ID", "AI-1"}, {"App ID", "web-1"}, {"App Name", "web"}, {"State", "HEALTHY"}, {"Host", "h1"},
		{"Executor ID", "exec-1"},
		{"CPU", "NUMA node 0: 0,1; NUMA node 1: 9"},
		{"Memory (MB)", "NUMA node 0: 1,024; NUMA node 1: 512"},
		{"Ports", "admin: 8001->32100 (TCP), main: 8000->32000 (HTTP)"},
		{"Metadata", "rack=r2,zone=z1"},
		{"Error Message", "-"},
		{"Created", formatTime(1700000100000)}, {"Updated", formatTime(1700000300000)},
	}, tableRows(out))

	_, _, err = run(t, append(e, "appinstances", "info", "web-1", "AI-9")...)
	require.EqualError(t, err, "No such application instance web-1/AI-9 (HTTP 200)")

	out, _, err = run(t, append(e, "--json", "appinstances", "info", "web-1", "AI-1")...)
	require.NoError(t, err)
	require.JSONEq(t, appInstanceJSON, out)
}
