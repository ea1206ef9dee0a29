package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Mesos-style maintenance primitives of the controller: one schedule of
// windows, and machine modes UP → DRAINING (scheduled) → DOWN → UP.
const (
	schedulePath          = "/apis/v1/cluster/maintenance/schedule"
	maintenanceStatusPath = "/apis/v1/cluster/maintenance/status"
	machinesPath          = "/apis/v1/cluster/machines"
)

// machineID is Mesos' MachineID: a hostname and/or an IP.
type machineID struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
}

// String is the command-line form: HOST, HOST/IP or /IP.
func (m machineID) String() string {
	if m.IP == "" {
		return m.Hostname
	}
	return m.Hostname + "/" + m.IP
}

// key identifies the machine as the server does: lower-case hostname and ip.
func (m machineID) key() string { return strings.ToLower(m.Hostname) + "/" + m.IP }

// parseMachine parses HOST, HOST/IP or /IP.
func parseMachine(s string) (machineID, error) {
	const want = "want HOST, HOST/IP or /IP"
	t := strings.TrimSpace(s)
	host, ip, slash := strings.Cut(t, "/")
	switch {
	case t == "":
		return machineID{}, fmt.Errorf("empty machine: %s", want)
	case strings.Contains(ip, "/"):
		return machineID{}, fmt.Errorf("invalid machine %q: more than one '/': %s", s, want)
	case slash && ip == "":
		return machineID{}, fmt.Errorf("invalid machine %q: missing IP after '/': %s", s, want)
	case strings.ContainsAny(host, " \t"):
		return machineID{}, fmt.Errorf("invalid machine %q: the hostname must not contain spaces", s)
	case ip != "" && net.ParseIP(ip) == nil:
		return machineID{}, fmt.Errorf("invalid machine %q: %q is not a valid IP address", s, ip)
	}
	return machineID{Hostname: host, IP: ip}, nil
}

// parseMachines parses every argument; a machine given twice is an error.
func parseMachines(args []string) ([]machineID, error) {
	if len(args) == 0 {
		return nil, errors.New("at least one machine (HOST, HOST/IP or /IP) is required")
	}
	seen := map[string]bool{}
	out := make([]machineID, 0, len(args))
	for _, a := range args {
		m, err := parseMachine(a)
		if err != nil {
			return nil, err
		}
		if seen[m.key()] {
			return nil, fmt.Errorf("machine %s is given more than once", m)
		}
		seen[m.key()] = true
		out = append(out, m)
	}
	return out, nil
}

func machineList(ms []machineID) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

// nanos is Mesos' TimeInfo / DurationInfo.
type nanos struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// unavailability is from start for duration (absent: indefinitely).
type unavailability struct {
	Start    *nanos `json:"start"`
	Duration *nanos `json:"duration,omitempty"`
}

func (u *unavailability) start() string {
	if u == nil || u.Start == nil {
		return ""
	}
	return time.Unix(0, u.Start.Nanoseconds).Local().Format(time.RFC3339)
}

func (u *unavailability) duration() string {
	switch {
	case u == nil || u.Start == nil:
		return ""
	case u.Duration == nil:
		return "indefinite"
	}
	return shortDuration(time.Duration(u.Duration.Nanoseconds))
}

// maintenanceWindow is machines with one unavailability.
type maintenanceWindow struct {
	MachineIDs     []machineID     `json:"machine_ids"`
	Unavailability *unavailability `json:"unavailability"`
}

// maintenanceSchedule is the cluster's schedule (Mesos' maintenance::Schedule).
type maintenanceSchedule struct {
	Windows []maintenanceWindow `json:"windows"`
}

// machineStatus is one scheduled machine of GET /cluster/maintenance/status.
type machineStatus struct {
	ID             machineID      `json:"id"`
	Mode           string         `json:"mode"`
	Unavailability unavailability `json:"unavailability"`
	Since          int64          `json:"since"` // epoch ms
	Executors      []string       `json:"executors"`
}

// clusterMaintenanceStatus is Mesos' ClusterStatus plus every scheduled
// machine.
type clusterMaintenanceStatus struct {
	DrainingMachines []struct {
		ID machineID `json:"id"`
	} `json:"draining_machines"`
	DownMachines []machineID     `json:"down_machines"`
	Machines     []machineStatus `json:"machines"`
}

// rows are the scheduled machines; when the server sends only Mesos' two
// lists, they are made from those.
func (s clusterMaintenanceStatus) rows() []machineStatus {
	if len(s.Machines) > 0 {
		return s.Machines
	}
	var rows []machineStatus
	for _, d := range s.DrainingMachines {
		rows = append(rows, machineStatus{ID: d.ID, Mode: "DRAINING"})
	}
	for _, m := range s.DownMachines {
		rows = append(rows, machineStatus{ID: m, Mode: "DOWN"})
	}
	return rows
}

func machineMaintenanceCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Machine maintenance: schedule, status, machines down and up",
		Long: "Mesos-style maintenance: a schedule of windows names machines (HOST, HOST/IP or /IP) that will be\n" +
			"unavailable; scheduled machines are DRAINING, `maintenance down` takes them DOWN (their executors\n" +
			"are refused) and `maintenance up` brings them back. Cluster-wide maintenance mode is\n" +
			"`drove cluster maintenance-on|maintenance-off`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	schedule := &cobra.Command{
		Use:   "schedule",
		Short: "Show or change the maintenance schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	schedule.AddCommand(scheduleGetCmd(o), scheduleSetCmd(o), scheduleAddCmd(o), scheduleClearCmd(o))
	cmd.AddCommand(schedule, maintenanceStatusCmd(o), machinesCmd(o, true), machinesCmd(o, false))
	return cmd
}

func scheduleGetCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "get",
		Short: "Show the maintenance schedule",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var s maintenanceSchedule
			if printed, err := o.call(cmd, c, http.MethodGet, schedulePath, nil, &s); err != nil || printed {
				return err
			}
			return writeSchedule(cmd.OutOrStdout(), s)
		},
	})
}

// writeSchedule prints one row per window.
func writeSchedule(w io.Writer, s maintenanceSchedule) error {
	if len(s.Windows) == 0 {
		_, err := fmt.Fprintln(w, "No maintenance windows scheduled")
		return err
	}
	return writeRows(w, []column[maintenanceWindow]{
		{header: "MACHINES", value: func(w maintenanceWindow) string { return machineList(w.MachineIDs) }},
		{header: "START", value: func(w maintenanceWindow) string { return w.Unavailability.start() }},
		{header: "DURATION", value: func(w maintenanceWindow) string { return w.Unavailability.duration() }},
	}, s.Windows)
}

// postMaintenance posts body to path; the answer is the maintenance
// status, printed as a table after done (or as JSON with --json).
func (o *Options) postMaintenance(cmd *cobra.Command, c *Client, path string, body any, done string) error {
	if c == nil {
		var err error
		if c, err = o.client(cmd); err != nil {
			return err
		}
	}
	var raw json.RawMessage
	if err := c.DoContext(cmdContext(cmd), http.MethodPost, path, nil, body, &raw); err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(cmd.OutOrStdout(), raw)
	}
	var st clusterMaintenanceStatus
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("decoding maintenance status: %w", err)
		}
	}
	outln(cmd, done)
	return writeMaintenanceStatus(cmd.OutOrStdout(), st)
}

func scheduleSetCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "set FILE",
		Short: "Replace the maintenance schedule with a JSON file",
		Long: "Replaces the schedule with the one in FILE (\"-\" reads standard input), in Mesos' form:\n\n" +
			"  {\"windows\": [{\"machine_ids\": [{\"hostname\": \"h1\", \"ip\": \"10.0.0.1\"}],\n" +
			"                \"unavailability\": {\"start\": {\"nanoseconds\": 1700000000000000000},\n" +
			"                                   \"duration\": {\"nanoseconds\": 3600000000000}}}]}\n\n" +
			"Machines left out of the new schedule are UP again; DOWN machines must stay in it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readSpecFile(cmd, args[0])
			if err != nil {
				return err
			}
			var obj map[string]json.RawMessage
			_ = json.Unmarshal(raw, &obj)
			if _, ok := obj["windows"]; !ok {
				return fmt.Errorf("schedule file %s has no \"windows\" (an empty list cancels the schedule)", args[0])
			}
			return o.postMaintenance(cmd, nil, schedulePath, raw, "Maintenance schedule updated")
		},
	})
}

func scheduleClearCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "clear",
		Short: "Cancel the maintenance schedule (DOWN machines must be brought up first)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.postMaintenance(cmd, nil, schedulePath, map[string]any{"windows": []any{}}, "Maintenance schedule cleared")
		},
	})
}

// scheduleAddFlags are the options of `maintenance schedule add`.
type scheduleAddFlags struct {
	machines []string
	start    string
	duration string
}

// window builds the new window; now is the reference of "now" and "+DUR".
func (f scheduleAddFlags) window(now time.Time) (maintenanceWindow, error) {
	ms, err := parseMachines(f.machines)
	if err != nil {
		return maintenanceWindow{}, fmt.Errorf("--machine: %w", err)
	}
	start, err := parseStart(f.start, now)
	if err != nil {
		return maintenanceWindow{}, fmt.Errorf("--start: %w", err)
	}
	u := &unavailability{Start: &nanos{start.UnixNano()}}
	if f.duration != "" {
		d, err := parseAnyDuration(f.duration)
		if err != nil {
			return maintenanceWindow{}, fmt.Errorf("--duration: %w", err)
		}
		u.Duration = &nanos{int64(d)}
	}
	return maintenanceWindow{MachineIDs: ms, Unavailability: u}, nil
}

// parseStart parses "now", "+DURATION" (from now) or an RFC 3339 time.
func parseStart(s string, now time.Time) (time.Time, error) {
	t := strings.TrimSpace(s)
	switch {
	case strings.EqualFold(t, "now"):
		return now, nil
	case strings.HasPrefix(t, "+"):
		d, err := parseAnyDuration(t[1:])
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(d), nil
	}
	at, err := time.Parse(time.RFC3339, t)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid start %q: want now, +DURATION (+2h) or an RFC 3339 time (2024-05-01T22:00:00Z)", s)
	}
	return at, nil
}

func scheduleAddCmd(o *Options) *cobra.Command {
	var f scheduleAddFlags
	cmd := leaf(&cobra.Command{
		Use:   "add --machine HOST[/IP]... [--start TIME] [--duration DURATION]",
		Short: "Add a maintenance window to the schedule",
		Long: "Reads the current schedule, appends a window for the machines (HOST, HOST/IP or /IP; repeat\n" +
			"--machine or separate them with commas) and posts the result. --start is now (the default),\n" +
			"+DURATION from now (+2h) or an RFC 3339 time; without --duration the machines are unavailable\n" +
			"indefinitely. A machine may appear in one window only.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := f.window(time.Now())
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var cur struct {
				Windows []json.RawMessage `json:"windows"`
			}
			if err := c.DoContext(cmdContext(cmd), http.MethodGet, schedulePath, nil, nil, &cur); err != nil {
				return fmt.Errorf("reading the current schedule: %w", err)
			}
			if err := checkNotScheduled(cur.Windows, w.MachineIDs); err != nil {
				return err
			}
			add, err := json.Marshal(w)
			if err != nil {
				return err
			}
			body := map[string]any{"windows": append(cur.Windows, add)}
			return o.postMaintenance(cmd, c, schedulePath, body, "Maintenance window added")
		},
	})
	fs := cmd.Flags()
	fs.StringSliceVarP(&f.machines, "machine", "m", nil, "machine to schedule: HOST, HOST/IP or /IP (repeatable)")
	fs.StringVar(&f.start, "start", "now", "start of the window: now, +DURATION (+2h) or an RFC 3339 time")
	fs.StringVar(&f.duration, "duration", "", "length of the window (1h, 90m, \"2 hours\"); default indefinite")
	_ = cmd.MarkFlagRequired("machine")
	return cmd
}

// checkNotScheduled fails when one of ms is in a window already: the
// server refuses a machine that appears twice.
func checkNotScheduled(windows []json.RawMessage, ms []machineID) error {
	scheduled := map[string]*unavailability{}
	for i, raw := range windows {
		var w maintenanceWindow
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("decoding window %d of the current schedule: %w", i, err)
		}
		for _, m := range w.MachineIDs {
			scheduled[m.key()] = w.Unavailability
		}
	}
	for _, m := range ms {
		if u, ok := scheduled[m.key()]; ok {
			return fmt.Errorf("machine %s is already scheduled (window starting %s); change its window with `drove maintenance schedule set`",
				m, orDash(u.start()))
		}
	}
	return nil
}

func maintenanceStatusCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "status",
		Short: "Show the maintenance mode of every scheduled machine",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var st clusterMaintenanceStatus
			if printed, err := o.call(cmd, c, http.MethodGet, maintenanceStatusPath, nil, &st); err != nil || printed {
				return err
			}
			return writeMaintenanceStatus(cmd.OutOrStdout(), st)
		},
	})
}

// writeMaintenanceStatus prints one row per scheduled machine.
func writeMaintenanceStatus(w io.Writer, st clusterMaintenanceStatus) error {
	rows := st.rows()
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No machines scheduled for maintenance")
		return err
	}
	return writeRows(w, []column[machineStatus]{
		{header: "MACHINE", value: func(m machineStatus) string { return m.ID.String() }},
		{header: "MODE", value: func(m machineStatus) string { return m.Mode }},
		{header: "START", value: func(m machineStatus) string { return m.Unavailability.start() }},
		{header: "DURATION", value: func(m machineStatus) string { return m.Unavailability.duration() }},
		{header: "SINCE", value: func(m machineStatus) string { return formatTime(m.Since) }},
		{header: "EXECUTORS", value: func(m machineStatus) string { return strings.Join(m.Executors, ",") }},
	}, rows)
}

func machinesCmd(o *Options, down bool) *cobra.Command {
	use, short, done := "up", "Bring DOWN machines back UP (ends their maintenance)", "Machines are UP"
	if down {
		use, short, done = "down", "Take scheduled machines DOWN: their executors are refused until they are up", "Machines are DOWN"
	}
	return leaf(&cobra.Command{
		Use:   use + " MACHINE...",
		Short: short,
		Long:  short + ".\nMACHINE is HOST, HOST/IP or /IP (an IP only), as in the schedule.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := parseMachines(args)
			if err != nil {
				return err
			}
			return o.postMaintenance(cmd, nil, machinesPath+"/"+use, ms, done)
		},
	})
}
