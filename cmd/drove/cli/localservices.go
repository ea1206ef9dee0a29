package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

const (
	localServicesPath = "/apis/v1/localservices"
	lsOpsPath         = localServicesPath + "/operations"
)

// localServiceSummary is Drove's LocalServiceSummary
// (GET /apis/v1/localservices[/{id}]). Memory is in MB.
type localServiceSummary struct {
	ID               string                     `json:"id"`
	Name             string                     `json:"name"`
	InstancesPerHost int                        `json:"instancesPerHost"`
	HealthyInstances int                        `json:"healthyInstances"`
	TotalCPUs        int64                      `json:"totalCPUs"`
	TotalMemory      int64                      `json:"totalMemory"`
	Tags             map[string]json.RawMessage `json:"tags"`
	ActivationState  string                     `json:"activationState"`
	State            string                     `json:"state"`
	Created          int64                      `json:"created"`
	Updated          int64                      `json:"updated"`
}

// localServiceColumns are Drove CLI's columns of `localservices list`.
var localServiceColumns = []column[localServiceSummary]{
	{"ID", func(s localServiceSummary) string { return s.ID },
		func(a, b localServiceSummary) int { return strings.Compare(a.ID, b.ID) }},
	{"NAME", func(s localServiceSummary) string { return s.Name },
		func(a, b localServiceSummary) int { return strings.Compare(a.Name, b.Name) }},
	{"STATE", func(s localServiceSummary) string { return s.State },
		func(a, b localServiceSummary) int { return strings.Compare(a.State, b.State) }},
	{"ACTIVATION STATE", func(s localServiceSummary) string { return s.ActivationState },
		func(a, b localServiceSummary) int { return strings.Compare(a.ActivationState, b.ActivationState) }},
	{"TOTAL CPU", func(s localServiceSummary) string { return strconv.FormatInt(s.TotalCPUs, 10) },
		func(a, b localServiceSummary) int { return cmp.Compare(a.TotalCPUs, b.TotalCPUs) }},
	{"TOTAL MEMORY (MB)", func(s localServiceSummary) string { return thousands(s.TotalMemory) },
		func(a, b localServiceSummary) int { return cmp.Compare(a.TotalMemory, b.TotalMemory) }},
	{"INSTANCES PER HOST", func(s localServiceSummary) string { return strconv.Itoa(s.InstancesPerHost) },
		func(a, b localServiceSummary) int { return cmp.Compare(a.InstancesPerHost, b.InstancesPerHost) }},
	{"HEALTHY INSTANCES", func(s localServiceSummary) string { return strconv.Itoa(s.HealthyInstances) },
		func(a, b localServiceSummary) int { return cmp.Compare(a.HealthyInstances, b.HealthyInstances) }},
	{"CREATED", func(s localServiceSummary) string { return formatTime(s.Created) },
		func(a, b localServiceSummary) int { return cmp.Compare(a.Created, b.Created) }},
	{"UPDATED", func(s localServiceSummary) string { return formatTime(s.Updated) },
		func(a, b localServiceSummary) int { return cmp.Compare(a.Updated, b.Updated) }},
}

func localServicesCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "localservices",
		Short: "Drove local service related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		localServicesListCmd(o), localServicesSummaryCmd(o), localServicesSpecCmd(o), localServicesCreateCmd(o),
		lsSimpleOpCmd(o, "destroy", "Destroy an inactive local service", "DESTROY", "Local service destroyed"),
		lsSimpleOpCmd(o, "activate", "Activate a local service", "ACTIVATE", "Local service activated"),
		lsSimpleOpCmd(o, "conftest", "Spin up one instance of a local service on any executor to test its configuration",
			"DEPLOY_TEST_INSTANCE", "Local service test instance requested"),
		lsSimpleOpCmd(o, "deactivate", "Deactivate a local service", "DEACTIVATE", "Local service deactivated"),
		localServicesUpdateCmd(o), localServicesRestartCmd(o), localServicesCancelOpCmd(o),
	)
	return cmd
}

// servicePath is /apis/v1/localservices/{id} plus suffix.
func servicePath(id, suffix string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errors.New("service id must not be empty")
	}
	return localServicesPath + "/" + url.PathEscape(id) + suffix, nil
}

func localServicesListCmd(o *Options) *cobra.Command {
	var sf sortFlags
	cmd := leaf(&cobra.Command{
		Use:   "list",
		Short: "List all local services",
		Long:  "Lists all local services. With --json the data is printed as returned: an object keyed by service id (--sort does not apply).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSort(localServiceColumns, sf.by); err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var services map[string]localServiceSummary
			if printed, err := o.call(cmd, c, http.MethodGet, localServicesPath, nil, &services); err != nil || printed {
				return err
			}
			rows := make([]localServiceSummary, 0, len(services))
			for id, s := range services {
				s.ID = orElse(id, s.ID)
				rows = append(rows, s)
			}
			return writeSorted(cmd.OutOrStdout(), localServiceColumns, rows, sf.by, sf.reverse)
		},
	})
	sf.add(cmd, sortUsage(localServiceColumns), 0)
	return cmd
}

func localServicesSummaryCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "summary SERVICE_ID",
		Short: "Show a summary for a local service",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := servicePath(args[0], "")
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var s localServiceSummary
			if printed, err := o.call(cmd, c, http.MethodGet, path, nil, &s); err != nil || printed {
				return err
			}
			return writeKeyValues(cmd.OutOrStdout(), [][2]string{
				{"Id", orElse(s.ID, args[0])},
				{"Name", s.Name},
				{"State", s.State},
				{"Activation State", s.ActivationState},
				{"Instances Per Host", strconv.Itoa(s.InstancesPerHost)},
				{"Healthy Instances", strconv.Itoa(s.HealthyInstances)},
				{"Total CPUs", strconv.FormatInt(s.TotalCPUs, 10)},
				{"Total Memory (MB)", thousands(s.TotalMemory)},
				{"Tags", formatMetadata(s.Tags)},
				{"Created", formatTime(s.Created)},
				{"Updated", formatTime(s.Updated)},
			})
		},
	})
}

func localServicesSpecCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "spec SERVICE_ID",
		Short: "Print the JSON spec of a local service",
		Long:  "Prints the local service spec as indented JSON (secrets are masked by the server).",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := servicePath(args[0], "/spec")
			if err != nil {
				return err
			}
			return o.printSpec(cmd, path)
		},
	})
}

// checkInstancesPerHost checks an instances-per-host count: 1..255, as
// Drove's CLI accepts.
func checkInstancesPerHost(n int) error {
	if n < 1 || n > 255 {
		return fmt.Errorf("instances per host must be between 1 and 255, got %d", n)
	}
	return nil
}

func localServicesCreateCmd(o *Options) *cobra.Command {
	var instances int
	cmd := leaf(&cobra.Command{
		Use:   "create SPEC_FILE",
		Short: "Create a local service on the cluster",
		Long: "Creates a local service from a JSON spec file (\"-\" reads standard input). The service starts\n" +
			"INACTIVE; run its instances with `drove localservices activate` (or test one with conftest).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkInstancesPerHost(instances); err != nil {
				return err
			}
			spec, err := readSpecFile(cmd, args[0])
			if err != nil {
				return err
			}
			raw, printed, err := o.postSimple(cmd, lsOpsPath, map[string]any{
				"type": "CREATE", "spec": spec, "instancesPerHost": instances,
			})
			if err != nil || printed {
				return err
			}
			var data struct {
				ServiceID string `json:"serviceId"`
			}
			_ = json.Unmarshal(raw, &data)
			outln(cmd, "Local service created with service id: "+orDash(data.ServiceID))
			return nil
		},
	})
	cmd.Flags().IntVarP(&instances, "instances", "i", 1, "number of instances to run per executor (1-255)")
	o.addLongAliases(cmd.Flags(), "insecure")
	return cmd
}

// lsSimpleOpCmd builds a command that posts {"type": opType, "serviceId":
// SERVICE_ID} and prints done.
func lsSimpleOpCmd(o *Options, name, short, opType, done string) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   name + " SERVICE_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := servicePath(args[0], ""); err != nil {
				return err
			}
			_, printed, err := o.postSimple(cmd, lsOpsPath, map[string]any{"type": opType, "serviceId": args[0]})
			if err != nil || printed {
				return err
			}
			outln(cmd, done)
			return nil
		},
	})
}

func localServicesUpdateCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "update SERVICE_ID COUNT",
		Short: "Update the number of instances per executor of a local service",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := servicePath(args[0], ""); err != nil {
				return err
			}
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("instances per host must be an integer, got %q", args[1])
			}
			if err := checkInstancesPerHost(n); err != nil {
				return err
			}
			_, printed, err := o.postSimple(cmd, lsOpsPath, map[string]any{
				"type": "UPDATE_INSTANCE_COUNT", "serviceId": args[0], "instancesPerHost": n,
			})
			if err != nil || printed {
				return err
			}
			outln(cmd, "Local service instance count updated")
			return nil
		},
	})
}

func localServicesRestartCmd(o *Options) *cobra.Command {
	var (
		f         opFlags
		stopFirst bool
	)
	cmd := leaf(&cobra.Command{
		Use:   "restart SERVICE_ID",
		Short: "Restart a local service by replacing all its healthy instances",
		Long: "Replaces all healthy instances of a local service (RESTART). The cluster operation spec is sent\n" +
			"as both opSpec and clusterOpSpec, the field Drove reads for this operation.\n" +
			"--wait polls the service's instances until none of the instances that were healthy before\n" +
			"are left; with --json it then prints the service's instance list.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := f.opSpec()
			return o.submitServiceOp(cmd, f, serviceOperation{
				serviceID: args[0],
				body: map[string]any{
					"type": "RESTART", "serviceId": args[0], "stopFirst": stopFirst, "opSpec": spec, "clusterOpSpec": spec,
				},
				accepted: "Local service restart command accepted.",
				done:     "All instances replaced",
			})
		},
	})
	f.add(cmd, o, "wait for all instances to be replaced")
	cmd.Flags().BoolVarP(&stopFirst, "stop", "s", false, "stop each old instance before starting its replacement (for fixed host ports)")
	return cmd
}

func localServicesCancelOpCmd(o *Options) *cobra.Command {
	return cancelOpCmd(o, "cancelop SERVICE_ID", "Cancel the current operation of a local service", lsOpsPath, "service id")
}
