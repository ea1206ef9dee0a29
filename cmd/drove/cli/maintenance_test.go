package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	windowStartNs = int64(1_714_600_800_000_000_000) // 2024-05-01T22:00:00Z
	hourNs        = int64(time.Hour)
)

// scheduleJSON has a window of two machines for an hour, with a field this
// CLI does not know, and an indefinite window.
var scheduleJSON = `{"windows":[
 {"machine_ids":[{"hostname":"h1","ip":"10.0.0.1"},{"ip":"10.0.0.2"}],
  "unavailability":{"start":{"nanoseconds":1714600800000000000},"duration":{"nanoseconds":3600000000000}},"note":"kernel"},
 {"machine_ids":[{"hostname":"h3"}],"unavailability":{"start":{"nanoseconds":1714608000000000000}}}]}`

const maintenanceStatusJSON = `{"draining_machines":[{"id":{"hostname":"h3"}}],"down_machines":[{"hostname":"h1","ip":"10.0.0.1"}],
 "machines":[
  {"id":{"hostname":"h1","ip":"10.0.0.1"},"mode":"DOWN","unavailability":{"start":{"nanoseconds":1714600800000000000},
   "duration":{"nanoseconds":3600000000000}},"since":1700000000000,"executors":["exec-1","exec-2"]},
  {"id":{"hostname":"h3"},"mode":"DRAINING","unavailability":{"start":{"nanoseconds":1714608000000000000}},
   "since":1700000100000,"executors":[]}]}`

// fakeScheduleAPI serves the maintenance schedule API: POSTed schedules
// replace the one GET answers; POSTs answer the status.
type fakeScheduleAPI struct {
	recorder
	schedule string
	status   string
	reject   []string // validation errors for every POST
}

func (f *fakeScheduleAPI) set(fn func(f *fakeScheduleAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func newFakeScheduleAPI(t *testing.T) (*httptest.Server, *fakeScheduleAPI) {
	t.Helper()
	f := &fakeScheduleAPI{schedule: scheduleJSON, status: maintenanceStatusJSON}
	mux := http.NewServeMux()
	post := func(update func(body string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.reject != nil {
				writeEnvelope(w, http.StatusBadRequest, "FAILED", map[string]any{"validationErrors": f.reject}, "Command validation failure")
				return
			}
			body, _ := io.ReadAll(r.Body)
			update(string(body))
			okRaw(w, f.status)
		}
	}
	mux.HandleFunc("GET "+schedulePath, func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		okRaw(w, f.schedule)
	})
	mux.HandleFunc("POST "+schedulePath, post(func(body string) { f.schedule = body }))
	mux.HandleFunc("POST "+machinesPath+"/{mode}", post(func(string) {}))
	mux.HandleFunc("GET "+maintenanceStatusPath, func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		okRaw(w, f.status)
	})
	srv := httptest.NewServer(f.wrap(mux))
	t.Cleanup(srv.Close)
	return srv, f
}

func rfc3339(ns int64) string { return time.Unix(0, ns).Local().Format(time.RFC3339) }

// statusRows is the table of maintenanceStatusJSON.
func statusRows() [][]string {
	return [][]string{
		{"MACHINE", "MODE", "START", "DURATION", "SINCE", "EXECUTORS"},
		{"h1/10.0.0.1", "DOWN", rfc3339(windowStartNs), "1h", formatTime(1700000000000), "exec-1,exec-2"},
		{"h3", "DRAINING", rfc3339(windowStartNs + 2*hourNs), "indefinite", formatTime(1700000100000), "-"},
	}
}

func TestMaintenance_ScheduleGet(t *testing.T) {
	isolate(t)
	srv, f := newFakeScheduleAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "maintenance", "schedule", "get")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"MACHINES", "START", "DURATION"},
		{"h1/10.0.0.1,/10.0.0.2", rfc3339(windowStartNs), "1h"},
		{"h3", rfc3339(windowStartNs + 2*hourNs), "indefinite"},
	}, tableRows(out))
	require.Equal(t, "GET "+schedulePath, f.last(t).String())

	out, _, err = run(t, append(e, "maintenance", "schedule", "get", "--json")...)
	require.NoError(t, err)
	require.JSONEq(t, scheduleJSON, out)

	f.set(func(f *fakeScheduleAPI) { f.schedule = `{"windows":[]}` })
	out, _, err = run(t, append(e, "maintenance", "schedule", "get")...)
	require.NoError(t, err)
	require.Equal(t, "No maintenance windows scheduled\n", out)
}

func TestMaintenance_ScheduleSetAndClear(t *testing.T) {
	isolate(t)
	srv, f := newFakeScheduleAPI(t)
	e := []string{"-e", srv.URL}
	dir := t.TempDir()
	file := filepath.Join(dir, "schedule.json")
	require.NoError(t, os.WriteFile(file, []byte(scheduleJSON), 0o600))

	out, _, err := run(t, append(e, "maintenance", "schedule", "set", file)...)
	require.NoError(t, err)
	req := f.last(t)
	require.Equal(t, "POST "+schedulePath, req.String())
	require.JSONEq(t, scheduleJSON, req.body)
	head, table, _ := strings.Cut(out, "\n")
	require.Equal(t, "Maintenance schedule updated", head)
	require.Equal(t, statusRows(), tableRows(table))

	out, _, err = run(t, append(e, "--json", "maintenance", "schedule", "set", file)...)
	require.NoError(t, err)
	require.JSONEq(t, maintenanceStatusJSON, out)

	out, _, err = run(t, append(e, "maintenance", "schedule", "clear")...)
	require.NoError(t, err)
	require.Equal(t, "POST "+schedulePath, f.last(t).String())
	require.JSONEq(t, `{"windows":[]}`, f.last(t).body)
	require.True(t, strings.HasPrefix(out, "Maintenance schedule cleared\nMACHINE "), out)

	t.Run("bad files are not posted", func(t *testing.T) {
		n := len(f.requests())
		noWindows := filepath.Join(dir, "typo.json")
		require.NoError(t, os.WriteFile(noWindows, []byte(`{"window":[]}`), 0o600))
		_, _, err := run(t, append(e, "maintenance", "schedule", "set", noWindows)...)
		require.ErrorContains(t, err, `has no "windows"`)
		notJSON := filepath.Join(dir, "bad.json")
		require.NoError(t, os.WriteFile(notJSON, []byte(`windows`), 0o600))
		_, _, err = run(t, append(e, "maintenance", "schedule", "set", notJSON)...)
		require.ErrorContains(t, err, "is not a JSON object")
		_, _, err = run(t, append(e, "maintenance", "schedule", "set", filepath.Join(dir, "missing.json"))...)
		require.Error(t, err)
		require.Len(t, f.requests(), n)
	})
	t.Run("validation errors", func(t *testing.T) {
		f.set(func(f *fakeScheduleAPI) {
			f.reject = []string{"machine h1 (10.0.0.1) is DOWN and must remain in the schedule (bring it up first)"}
		})
		out, _, err := run(t, append(e, "maintenance", "schedule", "clear")...)
		require.EqualError(t, err, "Command validation failure (HTTP 400)\n"+
			"  - machine h1 (10.0.0.1) is DOWN and must remain in the schedule (bring it up first)")
		require.Empty(t, out)
	})
}

// postedWindows decodes the windows of the last POSTed schedule.
func postedWindows(t *testing.T, f *fakeScheduleAPI) []json.RawMessage {
	t.Helper()
	req := f.last(t)
	require.Equal(t, "POST "+schedulePath, req.String())
	var s struct {
		Windows []json.RawMessage `json:"windows"`
	}
	require.NoError(t, json.Unmarshal([]byte(req.body), &s))
	return s.Windows
}

func TestMaintenance_ScheduleAdd(t *testing.T) {
	isolate(t)
	srv, f := newFakeScheduleAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "maintenance", "schedule", "add", "--machine", "h2/10.0.0.5", "-m", "/10.0.0.6",
		"--start", "2024-05-01T22:00:00Z", "--duration", "90m")...)
	require.NoError(t, err)
	reqs := f.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "GET "+schedulePath, reqs[0].String(), "reads the current schedule first")
	var before struct {
		Windows []json.RawMessage `json:"windows"`
	}
	require.NoError(t, json.Unmarshal([]byte(scheduleJSON), &before))
	windows := postedWindows(t, f)
	require.Len(t, windows, 3)
	require.JSONEq(t, string(before.Windows[0]), string(windows[0]), "existing windows are kept as they were")
	require.JSONEq(t, string(before.Windows[1]), string(windows[1]))
	require.JSONEq(t, `{"machine_ids":[{"hostname":"h2","ip":"10.0.0.5"},{"ip":"10.0.0.6"}],
		"unavailability":{"start":{"nanoseconds":1714600800000000000},"duration":{"nanoseconds":5400000000000}}}`, string(windows[2]))
	head, table, _ := strings.Cut(out, "\n")
	require.Equal(t, "Maintenance window added", head)
	require.Equal(t, statusRows(), tableRows(table))

	t.Run("relative start, comma separated machines, indefinite", func(t *testing.T) {
		f.set(func(f *fakeScheduleAPI) { f.schedule = `{"windows":[]}` })
		from := time.Now()
		_, _, err := run(t, append(e, "maintenance", "schedule", "add", "--machine", "h4,h5", "--start", "+2h")...)
		to := time.Now()
		require.NoError(t, err)
		windows := postedWindows(t, f)
		require.Len(t, windows, 1)
		var w maintenanceWindow
		require.NoError(t, json.Unmarshal(windows[0], &w))
		require.Equal(t, []machineID{{Hostname: "h4"}, {Hostname: "h5"}}, w.MachineIDs)
		require.Nil(t, w.Unavailability.Duration, "no --duration: indefinite")
		start := time.Unix(0, w.Unavailability.Start.Nanoseconds)
		require.False(t, start.Before(from.Add(2*time.Hour)), start)
		require.False(t, start.After(to.Add(2*time.Hour)), start)
		require.NotContains(t, string(windows[0]), "duration")
	})
	t.Run("default start is now", func(t *testing.T) {
		f.set(func(f *fakeScheduleAPI) { f.schedule = `{"windows":[]}` })
		from := time.Now()
		_, _, err := run(t, append(e, "maintenance", "schedule", "add", "-m", "h6", "--duration", "1 hour")...)
		require.NoError(t, err)
		var w maintenanceWindow
		require.NoError(t, json.Unmarshal(postedWindows(t, f)[0], &w))
		require.False(t, time.Unix(0, w.Unavailability.Start.Nanoseconds).Before(from))
		require.Equal(t, hourNs, w.Unavailability.Duration.Nanoseconds)
	})
	t.Run("json prints the status", func(t *testing.T) {
		f.set(func(f *fakeScheduleAPI) { f.schedule = `{"windows":[]}` })
		out, _, err := run(t, append(e, "--json", "maintenance", "schedule", "add", "-m", "h6")...)
		require.NoError(t, err)
		require.JSONEq(t, maintenanceStatusJSON, out)
	})
	t.Run("refused before posting", func(t *testing.T) {
		f.set(func(f *fakeScheduleAPI) { f.schedule = scheduleJSON })
		for _, tc := range []struct {
			args []string
			err  string
		}{
			{[]string{"-m", "H1/10.0.0.1"}, "machine H1/10.0.0.1 is already scheduled (window starting " + rfc3339(windowStartNs) + ")"},
			{[]string{"-m", "/10.0.0.2"}, "machine /10.0.0.2 is already scheduled"},
			{[]string{"-m", "h7", "-m", "H7"}, "--machine: machine H7 is given more than once"},
			{[]string{"-m", "h7/"}, `--machine: invalid machine "h7/": missing IP after '/'`},
			{[]string{"-m", "h7/10.0.0.300"}, `"10.0.0.300" is not a valid IP address`},
			{[]string{"-m", "h7", "--start", "tomorrow"}, `--start: invalid start "tomorrow"`},
			{[]string{"-m", "h7", "--start", "+soon"}, `--start: invalid duration "soon"`},
			{[]string{"-m", "h7", "--duration", "-1h"}, `--duration: invalid duration "-1h": must not be negative`},
			{[]string{"-m", "h7", "--duration", "long"}, `--duration: invalid duration "long"`},
			{nil, `required flag(s) "machine" not set`},
		} {
			n := f.count(http.MethodPost)
			_, _, err := run(t, append(append(e, "maintenance", "schedule", "add"), tc.args...)...)
			require.ErrorContains(t, err, tc.err, tc.args)
			require.Equal(t, n, f.count(http.MethodPost), tc.args)
		}
	})
}

func TestMaintenance_Status(t *testing.T) {
	isolate(t)
	srv, f := newFakeScheduleAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "maintenance", "status")...)
	require.NoError(t, err)
	require.Equal(t, statusRows(), tableRows(out))
	require.Equal(t, "GET "+maintenanceStatusPath, f.last(t).String())

	out, _, err = run(t, append(e, "maintenance", "status", "--json")...)
	require.NoError(t, err)
	require.JSONEq(t, maintenanceStatusJSON, out)

	f.set(func(f *fakeScheduleAPI) {
		f.status = `{"draining_machines":[{"id":{"hostname":"h3"}}],"down_machines":[{"ip":"10.0.0.1"}]}`
	})
	out, _, err = run(t, append(e, "maintenance", "status")...)
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"MACHINE", "MODE", "START", "DURATION", "SINCE", "EXECUTORS"},
		{"h3", "DRAINING", "-", "-", "-", "-"},
		{"/10.0.0.1", "DOWN", "-", "-", "-", "-"},
	}, tableRows(out), "Mesos' lists alone are shown too")

	f.set(func(f *fakeScheduleAPI) { f.status = `{"draining_machines":[],"down_machines":[],"machines":[]}` })
	out, _, err = run(t, append(e, "maintenance", "status")...)
	require.NoError(t, err)
	require.Equal(t, "No machines scheduled for maintenance\n", out)
}

func TestMaintenance_MachinesDownUp(t *testing.T) {
	isolate(t)
	srv, f := newFakeScheduleAPI(t)
	e := []string{"-e", srv.URL}

	out, _, err := run(t, append(e, "maintenance", "down", "h1/10.0.0.1", "/10.0.0.2", "h3")...)
	require.NoError(t, err)
	req := f.last(t)
	require.Equal(t, "POST "+machinesPath+"/down", req.String())
	require.JSONEq(t, `[{"hostname":"h1","ip":"10.0.0.1"},{"ip":"10.0.0.2"},{"hostname":"h3"}]`, req.body)
	head, table, _ := strings.Cut(out, "\n")
	require.Equal(t, "Machines are DOWN", head)
	require.Equal(t, statusRows(), tableRows(table))

	out, _, err = run(t, append(e, "maintenance", "up", "h1/10.0.0.1")...)
	require.NoError(t, err)
	require.Equal(t, "POST "+machinesPath+"/up", f.last(t).String())
	require.JSONEq(t, `[{"hostname":"h1","ip":"10.0.0.1"}]`, f.last(t).body)
	require.True(t, strings.HasPrefix(out, "Machines are UP\n"), out)

	out, _, err = run(t, append(e, "--json", "maintenance", "up", "h3")...)
	require.NoError(t, err)
	require.JSONEq(t, maintenanceStatusJSON, out)

	n := len(f.requests())
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"down"}, "requires at least 1 arg"},
		{[]string{"down", "h1", "a/b/c"}, `invalid machine "a/b/c": more than one '/'`},
		{[]string{"up", "/"}, `invalid machine "/": missing IP after '/'`},
		{[]string{"up", ""}, "empty machine"},
		{[]string{"up", "h1", "h1"}, "machine h1 is given more than once"},
	} {
		_, _, err := run(t, append(append(e, "maintenance"), tc.args...)...)
		require.ErrorContains(t, err, tc.err, tc.args)
	}
	require.Len(t, f.requests(), n, "nothing is posted")

	f.set(func(f *fakeScheduleAPI) {
		f.reject = []string{"machines[0] - machine h9 is not scheduled for maintenance"}
	})
	_, _, err = run(t, append(e, "maintenance", "down", "h9")...)
	require.EqualError(t, err, "Command validation failure (HTTP 400)\n  - machines[0] - machine h9 is not scheduled for maintenance")
}

func TestParseMachine(t *testing.T) {
	for in, want := range map[string]machineID{
		"h1":                 {Hostname: "h1"},
		" h1 ":               {Hostname: "h1"},
		"h1/10.0.0.1":        {Hostname: "h1", IP: "10.0.0.1"},
		"/10.0.0.1":          {IP: "10.0.0.1"},
		"h1.example.com/::1": {Hostname: "h1.example.com", IP: "::1"},
	} {
		got, err := parseMachine(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		if in == strings.TrimSpace(in) {
			require.Equal(t, in, got.String(), "String is the command-line form")
		}
	}
	for in, msg := range map[string]string{
		"":                "empty machine",
		"  ":              "empty machine",
		"/":               "missing IP after '/'",
		"h1/":             "missing IP after '/'",
		"h1/1.2.3.4/5":    "more than one '/'",
		"h1/not-an-ip":    `"not-an-ip" is not a valid IP address`,
		"my host/1.2.3.4": "must not contain spaces",
	} {
		_, err := parseMachine(in)
		require.ErrorContains(t, err, msg, in)
	}
}
