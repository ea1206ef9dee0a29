package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// Commands returns the client command trees: `cluster` with its subcommands
// ping, summary, leader, maintenance-on, maintenance-off, events,
// controllers, remove-controller and leave; `executor` with list, info,
// appinstances, tasks, lsinstances, blacklist, unblacklist, drain,
// deactivate and reactivate; `maintenance` with schedule get|set|add|clear,
// status, down and up; `apps` with list, summary, spec,
// create, destroy, deploy, scale, suspend, restart and cancelop;
// `appinstances` with list, info, replace, kill, logs, tail and download;
// `localservices` with list, summary, spec, create, destroy, activate,
// conftest, deactivate, update, restart and cancelop; `lsinstances` with
// list, info, replace, kill, logs, tail and download; and `tasks` with
// create, kill, list, show, delete, logs, tail and download. The commands
// read the global flags from o, which AddFlags must have registered on the
// root command; with --json they print the response data as JSON instead
// of tables.
func Commands(o *Options) []*cobra.Command {
	cluster := &cobra.Command{
		Use:   "cluster",
		Short: "Drove cluster related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cluster.AddCommand(
		pingCmd(o), summaryCmd(o), leaderCmd(o),
		maintenanceCmd(o, true), maintenanceCmd(o, false),
		eventsCmd(o),
		controllersCmd(o), removeControllerCmd(o), leaveCmd(o),
	)
	return []*cobra.Command{
		cluster, executorCmd(o), appsCmd(o), appInstancesCmd(o), localServicesCmd(o), lsInstancesCmd(o), tasksCmd(o),
		machineMaintenanceCmd(o),
	}
}

// client resolves the connection settings and builds a Client.
func (o *Options) client(cmd *cobra.Command) (*Client, error) {
	cfg, err := o.Resolve()
	if err != nil {
		return nil, err
	}
	c := NewClient(cfg)
	if o.Debug {
		c.DebugOut = cmd.ErrOrStderr()
		_, _ = fmt.Fprintf(c.DebugOut, "* endpoint %s (%s)\n", cfg.Endpoint, cfg.Source)
	}
	return c, nil
}

// leaf sets what all client leaf commands share.
func leaf(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceUsage = true
	if cmd.Args == nil {
		cmd.Args = cobra.NoArgs
	}
	return cmd
}

func pingCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "ping",
		Short: "Ping the cluster",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var pong string
			printed, err := o.call(cmd, c, http.MethodGet, "/apis/v1/ping", nil, &pong)
			if err != nil {
				return fmt.Errorf("error pinging drove cluster: %w", err)
			}
			if !printed {
				outln(cmd, "Cluster ping successful")
			}
			return nil
		},
	})
}

// ClusterSummary is the data of GET /apis/v1/cluster. Memory is in MB.
type ClusterSummary struct {
	Leader                 string `json:"leader"`
	State                  string `json:"state"`
	NumExecutors           int    `json:"numExecutors"`
	NumApplications        int    `json:"numApplications"`
	NumActiveApplications  int    `json:"numActiveApplications"`
	NumActiveTasks         int    `json:"numActiveTasks"`
	NumLocalServices       int    `json:"numLocalServices"`
	NumActiveLocalServices int    `json:"numActiveLocalServices"`
	FreeCores              int64  `json:"freeCores"`
	UsedCores              int64  `json:"usedCores"`
	TotalCores             int64  `json:"totalCores"`
	FreeMemory             int64  `json:"freeMemory"`
	UsedMemory             int64  `json:"usedMemory"`
	TotalMemory            int64  `json:"totalMemory"`
}

// getSummary fetches the cluster summary; printed reports that --json
// already printed it.
func getSummary(cmd *cobra.Command, o *Options) (s ClusterSummary, printed bool, err error) {
	c, err := o.client(cmd)
	if err != nil {
		return s, false, err
	}
	printed, err = o.call(cmd, c, http.MethodGet, "/apis/v1/cluster", nil, &s)
	return s, printed, err
}

func summaryCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "summary",
		Short: "Show cluster summary",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, printed, err := getSummary(cmd, o)
			if err != nil || printed {
				return err
			}
			tw := newTable(cmd.OutOrStdout())
			rows := [][2]string{
				{"State", s.State},
				{"Leader Controller", s.Leader},
				{"Cores", fmt.Sprintf("Utilization: %d%% (Total: %s Used: %s Free: %s)",
					percent(s.UsedCores, s.TotalCores), thousands(s.TotalCores), thousands(s.UsedCores), thousands(s.FreeCores))},
				{"Memory", fmt.Sprintf("Utilization: %d%% (Total: %s MB Used: %s MB Free: %s MB)",
					percent(s.UsedMemory, s.TotalMemory), thousands(s.TotalMemory), thousands(s.UsedMemory), thousands(s.FreeMemory))},
				{"Number of live executors", strconv.Itoa(s.NumExecutors)},
				{"Applications", fmt.Sprintf("Active: %d Total: %d", s.NumActiveApplications, s.NumApplications)},
				{"Active tasks", strconv.Itoa(s.NumActiveTasks)},
				{"Local services", fmt.Sprintf("Active: %d Total: %d", s.NumActiveLocalServices, s.NumLocalServices)},
			}
			for _, r := range rows {
				_, _ = fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
			}
			return tw.Flush()
		},
	})
}

func leaderCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "leader",
		Short: "Show leader for cluster",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, printed, err := getSummary(cmd, o)
			if err != nil || printed {
				return err
			}
			if s.Leader == "" {
				outln(cmd, "Cluster has no leader")
				return nil
			}
			outln(cmd, "Cluster leader: "+s.Leader)
			return nil
		},
	})
}

// MaintenanceState is the data of the maintenance set/unset calls.
type MaintenanceState struct {
	State   string `json:"state"`
	Updated int64  `json:"updated"` // epoch ms
}

func maintenanceCmd(o *Options, on bool) *cobra.Command {
	use, short, path := "maintenance-on", "Set cluster to maintenance mode", "/apis/v1/cluster/maintenance/set"
	if !on {
		use, short, path = "maintenance-off", "Remove maintenance mode on cluster", "/apis/v1/cluster/maintenance/unset"
	}
	return leaf(&cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var st MaintenanceState
			if printed, err := o.call(cmd, c, http.MethodPost, path, nil, &st); err != nil || printed {
				return err
			}
			tw := newTable(cmd.OutOrStdout())
			_, _ = fmt.Fprintf(tw, "Cluster state:\t%s\n", st.State)
			_, _ = fmt.Fprintf(tw, "Updated:\t%s\n", formatTime(st.Updated))
			if err := tw.Flush(); err != nil {
				return err
			}
			if !on && st.State == "MAINTENANCE" {
				outln(cmd, "Maintenance mode removal accepted; the cluster stays in maintenance mode for a few more minutes.")
			}
			return nil
		},
	})
}

// ControllerInfo is one entry of GET /apis/v1/cluster/controllers; fields
// the server does not report are nil or empty.
type ControllerInfo struct {
	ID            string  `json:"id"`
	RaftAddress   string  `json:"raftAddress"`
	HTTPAddress   string  `json:"httpAddress"`
	GossipAddress string  `json:"gossipAddress"`
	Voter         *bool   `json:"voter"`
	Leader        *bool   `json:"leader"`
	State         string  `json:"state"`
	Reachable     *bool   `json:"reachable"`
	LastContactMs *int64  `json:"lastContactMs"`
	AppliedIndex  *uint64 `json:"appliedIndex"`
	CommitIndex   *uint64 `json:"commitIndex"`
	LastLogIndex  *uint64 `json:"lastLogIndex"`
}

func controllersCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "controllers",
		Short: "List the controllers of the cluster and their Raft state",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var list []ControllerInfo
			if printed, err := o.call(cmd, c, http.MethodGet, "/apis/v1/cluster/controllers", nil, &list); err != nil || printed {
				return err
			}
			tw := newTable(cmd.OutOrStdout())
			_, _ = fmt.Fprintln(tw, "ID\tRAFT ADDRESS\tHTTP ADDRESS\tGOSSIP ADDRESS\tVOTER\tLEADER\tSTATE\tREACHABLE\tLAST CONTACT\tAPPLIED\tCOMMIT\tLAST LOG")
			for _, ci := range list {
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
					orDash(ci.ID), orDash(ci.RaftAddress), orDash(ci.HTTPAddress), orDash(ci.GossipAddress),
					yesNo(ci.Voter), yesNo(ci.Leader), orDash(ci.State), yesNo(ci.Reachable),
					contact(ci.LastContactMs), index(ci.AppliedIndex), index(ci.CommitIndex), index(ci.LastLogIndex))
			}
			return tw.Flush()
		},
	})
}

func removeControllerCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "remove-controller ID",
		Short: "Remove a (dead) controller from the Raft configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Removed string `json:"removed"`
			}
			path := "/apis/v1/cluster/controllers/" + url.PathEscape(args[0])
			if printed, err := o.call(cmd, c, http.MethodDelete, path, nil, &out); err != nil || printed {
				return err
			}
			outf(cmd, "Controller %s removed from the cluster\n", orElse(out.Removed, args[0]))
			return nil
		},
	})
}

func leaveCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "leave",
		Short: "Make the controller at --endpoint leave the cluster and shut down",
		Long: "Asks the controller addressed by -e/--endpoint (or " + EnvEndpoint + ") to leave the cluster\n" +
			"gracefully and shut down. The endpoint must be given explicitly: a cluster entry of the\n" +
			"config file may point at any controller.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Endpoint == "" && os.Getenv(EnvEndpoint) == "" {
				return errors.New("cluster leave is sent to one specific controller: pass -e http://HOST:PORT of the controller that should leave")
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Left string `json:"left"`
			}
			if printed, err := o.call(cmd, c, http.MethodPost, "/apis/v1/cluster/controllers/self/leave", nil, &out); err != nil || printed {
				return err
			}
			outf(cmd, "Controller %s left the cluster and is shutting down\n", orElse(out.Left, c.BaseURL))
			return nil
		},
	})
}

func percent(used, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return used * 100 / total
}

// thousands renders n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func orDash(s string) string { return orElse(s, "-") }

func orElse(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "-"
	case *b:
		return "yes"
	default:
		return "no"
	}
}

func contact(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return (time.Duration(*ms) * time.Millisecond).String()
}

func index(i *uint64) string {
	if i == nil {
		return "-"
	}
	return strconv.FormatUint(*i, 10)
}

// outln and outf write to the command's standard output (cobra's Println
// defaults to stderr).
func outln(cmd *cobra.Command, s string) { _, _ = fmt.Fprintln(cmd.OutOrStdout(), s) }

func outf(cmd *cobra.Command, format string, args ...any) {
	_, _ = fmt.Fprintf(cmd.OutOrStdout(), format, args...)
}
