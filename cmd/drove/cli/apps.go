package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// appSummary is Drove's AppSummary (GET /apis/v1/applications[/{id}]).
// Memory is in MB.
type appSummary struct {
	ID                string                     `json:"id"`
	Name              string                     `json:"name"`
	RequiredInstances int                        `json:"requiredInstances"`
	HealthyInstances  int                        `json:"healthyInstances"`
	TotalCPUs         int64                      `json:"totalCPUs"`
	TotalMemory       int64                      `json:"totalMemory"`
	Tags              map[string]json.RawMessage `json:"tags"`
	State             string                     `json:"state"`
	Created           int64                      `json:"created"`
	Updated           int64                      `json:"updated"`
}

// column is one column of a sortable table.
type column[T any] struct {
	header string
	value  func(T) string
	cmp    func(a, b T) int
}

// sortRows sorts rows by column `by` (reverse: descending); ties keep the
// order of tie.
func sortRows[T any](rows []T, cols []column[T], by int, reverse bool, tie func(a, b T) int) {
	slices.SortStableFunc(rows, func(a, b T) int {
		c := cols[by].cmp(a, b)
		if reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
		return tie(a, b)
	})
}

// writeRows prints a table with the columns' headers.
func writeRows[T any](w io.Writer, cols []column[T], rows []T) error {
	tw := newTable(w)
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = c.header
	}
	_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, r := range rows {
		for i, c := range cols {
			cells[i] = orDash(c.value(r))
		}
		_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// writeSorted prints a sorted copy of rows; ties are broken by column 0.
func writeSorted[T any](w io.Writer, cols []column[T], rows []T, by int, reverse bool) error {
	rows = slices.Clone(rows)
	sortRows(rows, cols, by, reverse, cols[0].cmp)
	return writeRows(w, cols, rows)
}

// sortFlags are the -s/--sort and -r/--reverse flags of a table command.
type sortFlags struct {
	by      int
	reverse bool
}

// add registers the flags on cmd; def is the default column.
func (f *sortFlags) add(cmd *cobra.Command, usage string, def int) {
	cmd.Flags().IntVarP(&f.by, "sort", "s", def, usage)
	cmd.Flags().BoolVarP(&f.reverse, "reverse", "r", false, "sort in reverse order")
}

// sortUsage describes the -s values of cols.
func sortUsage[T any](cols []column[T]) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%d=%s", i, strings.ToLower(c.header))
	}
	return "sort by column: " + strings.Join(parts, ", ")
}

func checkSort[T any](cols []column[T], by int) error {
	if by < 0 || by >= len(cols) {
		return fmt.Errorf("--sort must be between 0 and %d, got %d", len(cols)-1, by)
	}
	return nil
}

var appColumns = []column[appSummary]{
	{"ID", func(a appSummary) string { return a.ID }, func(a, b appSummary) int { return strings.Compare(a.ID, b.ID) }},
	{"NAME", func(a appSummary) string { return a.Name }, func(a, b appSummary) int { return strings.Compare(a.Name, b.Name) }},
	{"STATE", func(a appSummary) string { return a.State }, func(a, b appSummary) int { return strings.Compare(a.State, b.State) }},
	{"TOTAL CPU", func(a appSummary) string { return strconv.FormatInt(a.TotalCPUs, 10) },
		func(a, b appSummary) int { return cmp.Compare(a.TotalCPUs, b.TotalCPUs) }},
	{"TOTAL MEMORY (MB)", func(a appSummary) string { return thousands(a.TotalMemory) },
		func(a, b appSummary) int { return cmp.Compare(a.TotalMemory, b.TotalMemory) }},
	{"REQUIRED INSTANCES", func(a appSummary) string { return strconv.Itoa(a.RequiredInstances) },
		func(a, b appSummary) int { return cmp.Compare(a.RequiredInstances, b.RequiredInstances) }},
	{"HEALTHY INSTANCES", func(a appSummary) string { return strconv.Itoa(a.HealthyInstances) },
		func(a, b appSummary) int { return cmp.Compare(a.HealthyInstances, b.HealthyInstances) }},
	{"CREATED", func(a appSummary) string { return formatTime(a.Created) },
		func(a, b appSummary) int { return cmp.Compare(a.Created, b.Created) }},
	{"UPDATED", func(a appSummary) string { return formatTime(a.Updated) },
		func(a, b appSummary) int { return cmp.Compare(a.Updated, b.Updated) }},
}

func appsCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apps",
		Short: "Drove application related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		appsListCmd(o), appsSummaryCmd(o), appsSpecCmd(o), appsCreateCmd(o), appsDestroyCmd(o),
		appsDeployCmd(o), appsScaleCmd(o), appsSuspendCmd(o), appsRestartCmd(o), appsCancelOpCmd(o),
	)
	return cmd
}

func appsListCmd(o *Options) *cobra.Command {
	var sf sortFlags
	cmd := leaf(&cobra.Command{
		Use:   "list",
		Short: "List all applications",
		Long:  "Lists all applications. With --json the data is printed as returned: an object keyed by app id (--sort does not apply).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSort(appColumns, sf.by); err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var apps map[string]appSummary
			if printed, err := o.call(cmd, c, http.MethodGet, appsPath, nil, &apps); err != nil || printed {
				return err
			}
			rows := make([]appSummary, 0, len(apps))
			for id, a := range apps {
				a.ID = orElse(id, a.ID)
				rows = append(rows, a)
			}
			return writeSorted(cmd.OutOrStdout(), appColumns, rows, sf.by, sf.reverse)
		},
	})
	sf.add(cmd, sortUsage(appColumns), 0)
	return cmd
}

// appPath is /apis/v1/applications/{id} plus suffix.
func appPath(id, suffix string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errors.New("app id must not be empty")
	}
	return appsPath + "/" + url.PathEscape(id) + suffix, nil
}

func appsSummaryCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "summary APP_ID",
		Short: "Show a summary for an application",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := appPath(args[0], "")
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var a appSummary
			if printed, err := o.call(cmd, c, http.MethodGet, path, nil, &a); err != nil || printed {
				return err
			}
			return writeKeyValues(cmd.OutOrStdout(), [][2]string{
				{"Id", orElse(a.ID, args[0])},
				{"Name", a.Name},
				{"State", a.State},
				{"Required Instances", strconv.Itoa(a.RequiredInstances)},
				{"Healthy Instances", strconv.Itoa(a.HealthyInstances)},
				{"Total CPUs", strconv.FormatInt(a.TotalCPUs, 10)},
				{"Total Memory (MB)", thousands(a.TotalMemory)},
				{"Tags", formatMetadata(a.Tags)},
				{"Created", formatTime(a.Created)},
				{"Updated", formatTime(a.Updated)},
			})
		},
	})
}

// writeKeyValues prints a two-column key/value table; empty values print "-".
func writeKeyValues(w io.Writer, rows [][2]string) error {
	tw := newTable(w)
	for _, r := range rows {
		_, _ = fmt.Fprintf(tw, "%s\t%s\n", r[0], orDash(r[1]))
	}
	return tw.Flush()
}

func appsSpecCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "spec APP_ID",
		Short: "Print the JSON spec of an application",
		Long:  "Prints the application spec as indented JSON (secrets are masked by the server).",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := appPath(args[0], "/spec")
			if err != nil {
				return err
			}
			return o.printSpec(cmd, path)
		},
	})
}

// printSpec prints the data of GET path, a spec, as indented JSON in the
// order the server sent it, with or without --json.
func (o *Options) printSpec(cmd *cobra.Command, path string) error {
	c, err := o.client(cmd)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.DoContext(cmdContext(cmd), http.MethodGet, path, nil, nil, &raw); err != nil {
		return err
	}
	return writeJSON(cmd.OutOrStdout(), raw)
}

// readSpecFile reads a JSON object from path ("-" is standard input).
func readSpecFile(cmd *cobra.Command, path string) (json.RawMessage, error) {
	var (
		raw []byte
		err error
	)
	if path == "-" {
		raw, err = io.ReadAll(cmd.InOrStdin())
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading spec file: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("spec file %s is not a JSON object: %w", path, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("spec file %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

func appsCreateCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "create SPEC_FILE",
		Short: "Create an application on the cluster",
		Long: "Creates an application from a JSON spec file (\"-\" reads standard input), with no instances;\n" +
			"start them with `drove apps deploy` or `drove apps scale`.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := readSpecFile(cmd, args[0])
			if err != nil {
				return err
			}
			raw, printed, err := o.postSimple(cmd, appOpsPath, map[string]any{
				"type": "CREATE", "spec": spec, "opSpec": defaultOpSpec(),
			})
			if err != nil || printed {
				return err
			}
			var data struct {
				AppID string `json:"appId"`
			}
			_ = json.Unmarshal(raw, &data)
			outln(cmd, "Application created with app id: "+orDash(data.AppID))
			return nil
		},
	})
}

func appsDestroyCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "destroy APP_ID",
		Short: "Destroy an application with zero instances",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return errors.New("app id must not be empty")
			}
			_, printed, err := o.postSimple(cmd, appOpsPath, map[string]any{
				"type": "DESTROY", "appId": args[0], "opSpec": defaultOpSpec(),
			})
			if err != nil || printed {
				return err
			}
			outln(cmd, "Application destroyed")
			return nil
		},
	})
}

// instancesArg parses a non-negative instance count.
func instancesArg(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("instances must be a non-negative integer, got %q", s)
	}
	return n, nil
}

func appsDeployCmd(o *Options) *cobra.Command {
	var f opFlags
	cmd := leaf(&cobra.Command{
		Use:   "deploy APP_ID INSTANCES",
		Short: "Deploy new instances of an application",
		Long:  "Starts INSTANCES new instances in addition to the healthy ones (START_INSTANCES).",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := instancesArg(args[1])
			if err != nil {
				return err
			}
			return o.submitAppOp(cmd, f, appOperation{
				appID: args[0],
				body: map[string]any{
					"type": "START_INSTANCES", "appId": args[0], "instances": n, "opSpec": f.opSpec(),
				},
				accepted: "Application deployment command accepted. Please use the appinstances command or the UI to check the status of the deployment",
				done:     "Required number of instances reached",
			})
		},
	})
	f.add(cmd, o, "wait for the operation to finish")
	return cmd
}

func appsScaleCmd(o *Options) *cobra.Command {
	var f opFlags
	cmd := leaf(&cobra.Command{
		Use:   "scale APP_ID INSTANCES",
		Short: "Scale an application to the required number of instances",
		Long:  "Starts or stops instances until INSTANCES are running; 0 suspends the application.",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := instancesArg(args[1])
			if err != nil {
				return err
			}
			return o.submitAppOp(cmd, f, appOperation{
				appID: args[0],
				body: map[string]any{
					"type": "SCALE", "appId": args[0], "requiredInstances": n, "opSpec": f.opSpec(),
				},
				accepted: "Application scaling command accepted. Please use the appinstances command or the UI to check the status of the deployment",
				done:     "Required number of instances reached",
			})
		},
	})
	f.add(cmd, o, "wait for the operation to finish")
	return cmd
}

func appsSuspendCmd(o *Options) *cobra.Command {
	var f opFlags
	cmd := leaf(&cobra.Command{
		Use:   "suspend APP_ID",
		Short: "Suspend an application (stop all its instances)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.submitAppOp(cmd, f, appOperation{
				appID:    args[0],
				body:     map[string]any{"type": "SUSPEND", "appId": args[0], "opSpec": f.opSpec()},
				accepted: "Application suspend command accepted.",
				done:     "All instances suspended",
			})
		},
	})
	f.add(cmd, o, "wait for all instances to stop")
	return cmd
}

func appsRestartCmd(o *Options) *cobra.Command {
	var (
		f         opFlags
		stopFirst bool
	)
	cmd := leaf(&cobra.Command{
		Use:   "restart APP_ID",
		Short: "Restart an application by replacing all its healthy instances",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.submitAppOp(cmd, f, appOperation{
				appID: args[0],
				body: map[string]any{
					"type": "REPLACE_INSTANCES", "appId": args[0], "instanceIds": []string{}, "stopFirst": stopFirst, "opSpec": f.opSpec(),
				},
				accepted: "Application restart command accepted.",
				done:     "All instances replaced",
			})
		},
	})
	f.add(cmd, o, "wait for all instances to be replaced")
	cmd.Flags().BoolVarP(&stopFirst, "stop-first", "s", false, "stop each old instance before starting its replacement (for fixed host ports)")
	return cmd
}

func appsCancelOpCmd(o *Options) *cobra.Command {
	return cancelOpCmd(o, "cancelop APP_ID", "Cancel the current operation of an application", appOpsPath, "app id")
}

// cancelOpCmd builds a cancelop command, which posts opsPath/{id}/cancel;
// idName names the argument in messages.
func cancelOpCmd(o *Options, use, short, opsPath, idName string) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return errors.New(idName + " must not be empty")
			}
			_, printed, err := o.postSimple(cmd, opsPath+"/"+url.PathEscape(args[0])+"/cancel", nil)
			if err != nil || printed {
				return err
			}
			outln(cmd, "Operation cancellation request registered.")
			return nil
		},
	})
}
