package cli

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

var instanceColumns = []column[instanceInfo]{
	{"INSTANCE ID", func(i instanceInfo) string { return i.InstanceID },
		func(a, b instanceInfo) int { return strings.Compare(a.InstanceID, b.InstanceID) }},
	{"HOST", func(i instanceInfo) string { return i.LocalInfo.Hostname },
		func(a, b instanceInfo) int { return strings.Compare(a.LocalInfo.Hostname, b.LocalInfo.Hostname) }},
	{"PORTS", instancePorts, func(a, b instanceInfo) int { return strings.Compare(instancePorts(a), instancePorts(b)) }},
	{"STATE", func(i instanceInfo) string { return i.State }, func(a, b instanceInfo) int { return strings.Compare(a.State, b.State) }},
	{"ERROR", func(i instanceInfo) string { return oneLine(i.ErrorMessage) },
		func(a, b instanceInfo) int { return strings.Compare(oneLine(a.ErrorMessage), oneLine(b.ErrorMessage)) }},
	{"CREATED", func(i instanceInfo) string { return formatTime(i.Created) },
		func(a, b instanceInfo) int { return cmp.Compare(a.Created, b.Created) }},
	{"UPDATED", func(i instanceInfo) string { return formatTime(i.Updated) },
		func(a, b instanceInfo) int { return cmp.Compare(a.Updated, b.Updated) }},
}

// oneLine collapses whitespace runs, newlines included, to single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func appInstancesCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "appinstances",
		Short: "Drove application instance related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(instancesListCmd(o, appOwner), instanceInfoCmd(o, appOwner), appInstancesReplaceCmd(o), appInstancesKillCmd(o),
		logsListCmd(o, appInstanceLogs), logsTailCmd(o, appInstanceLogs), logsDownloadCmd(o, appInstanceLogs))
	return cmd
}

// instanceOwner is what an instance command's first argument names: an
// application or a local service. The list and info commands are the same
// for both but for the path and the owner rows.
type instanceOwner struct {
	arg     string // APP_ID, SERVICE_ID
	noun    string // "an application", "a local service"
	path    func(id, suffix string) (string, error)
	idRow   string // "App ID"
	nameRow string // "App Name"
	of      func(instanceInfo) (id, name string)
}

var (
	appOwner = instanceOwner{arg: "APP_ID", noun: "an application", path: appPath, idRow: "App ID", nameRow: "App Name",
		of: func(in instanceInfo) (string, string) { return in.AppID, in.AppName }}
	serviceOwner = instanceOwner{arg: "SERVICE_ID", noun: "a local service", path: servicePath, idRow: "Service ID", nameRow: "Service Name",
		of: func(in instanceInfo) (string, string) { return in.ServiceID, in.ServiceName }}
)

func instancesListCmd(o *Options, owner instanceOwner) *cobra.Command {
	var (
		old bool
		sf  sortFlags
	)
	cmd := leaf(&cobra.Command{
		Use:   "list " + owner.arg,
		Short: "List the instances of " + owner.noun,
		Long: "Lists the active instances of " + owner.noun + ", or with --old the stopped ones the cluster\n" +
			"still remembers. With --json the instance list is printed as returned (--sort does not apply).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSort(instanceColumns, sf.by); err != nil {
				return err
			}
			suffix := "/instances"
			if old {
				suffix += "/old"
			}
			path, err := owner.path(args[0], suffix)
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var list []instanceInfo
			if printed, err := o.call(cmd, c, http.MethodGet, path, nil, &list); err != nil || printed {
				return err
			}
			return writeSorted(cmd.OutOrStdout(), instanceColumns, list, sf.by, sf.reverse)
		},
	})
	cmd.Flags().BoolVarP(&old, "old", "o", false, "show old (stopped) instances")
	sf.add(cmd, sortUsage(instanceColumns), 0)
	return cmd
}

func instanceInfoCmd(o *Options, owner instanceOwner) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "info " + owner.arg + " INSTANCE_ID",
		Short: "Show details of " + owner.noun + " instance",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[1]) == "" {
				return errors.New("instance id must not be empty")
			}
			path, err := owner.path(args[0], "/instances/"+url.PathEscape(args[1]))
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var in instanceInfo
			if printed, err := o.call(cmd, c, http.MethodGet, path, nil, &in); err != nil || printed {
				return err
			}
			id, name := owner.of(in)
			return writeKeyValues(cmd.OutOrStdout(), instanceDetails(in, args[1],
				[2]string{owner.idRow, orElse(id, args[0])}, [2]string{owner.nameRow, name}))
		},
	})
}

// instanceDetails are the key/value rows describing an application or
// local-service instance; owner rows (app or service id and name) follow
// the instance id. id is shown when the data lacks the instance id.
func instanceDetails(in instanceInfo, id string, owner ...[2]string) [][2]string {
	cpus, mem := allocationDetails(in.Resources)
	rows := append([][2]string{{"Instance ID", orElse(in.InstanceID, id)}}, owner...)
	return append(rows, [][2]string{
		{"State", in.State},
		{"Host", in.LocalInfo.Hostname},
		{"Executor ID", in.ExecutorID},
		{"CPU", cpus},
		{"Memory (MB)", mem},
		{"Ports", instancePortDetails(in)},
		{"Metadata", formatMetadata(in.Metadata)},
		{"Error Message", oneLine(in.ErrorMessage)},
		{"Created", formatTime(in.Created)},
		{"Updated", formatTime(in.Updated)},
	}...)
}

// allocationDetails renders the allocated cores and memory per NUMA node.
func allocationDetails(rs []resourceAllocation) (cpus, mem string) {
	var c, m []string
	for _, r := range rs {
		switch r.Type {
		case "CPU":
			for _, n := range numaNodes(r.Cores) {
				c = append(c, fmt.Sprintf("NUMA node %s: %s", n, coreList(r.Cores[n])))
			}
		case "MEMORY":
			for _, n := range numaNodes(r.MemoryInMB) {
				m = append(m, fmt.Sprintf("NUMA node %s: %s", n, thousands(r.MemoryInMB[n])))
			}
		}
	}
	return strings.Join(c, "; "), strings.Join(m, "; ")
}

// instancePortDetails renders ports as name: containerPort->hostPort (type).
func instancePortDetails(in instanceInfo) string {
	names := make([]string, 0, len(in.LocalInfo.Ports))
	for name := range in.LocalInfo.Ports {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		p := in.LocalInfo.Ports[name]
		names[i] = name + ": " + strconv.Itoa(p.ContainerPort) + "->" + strconv.Itoa(p.HostPort)
		if p.PortType != "" {
			names[i] += " (" + p.PortType + ")"
		}
	}
	return strings.Join(names, ", ")
}

func appInstancesReplaceCmd(o *Options) *cobra.Command {
	var (
		f         opFlags
		stopFirst bool
	)
	cmd := leaf(&cobra.Command{
		Use:   "replace APP_ID INSTANCE_ID...",
		Short: "Replace application instances with fresh ones",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.submitAppOp(cmd, f, appOperation{
				appID: args[0],
				body: map[string]any{
					"type": "REPLACE_INSTANCES", "appId": args[0], "instanceIds": args[1:], "stopFirst": stopFirst, "opSpec": f.opSpec(),
				},
				accepted: "Instance(s) replace command accepted.",
				done:     "All instances replaced",
			})
		},
	})
	f.add(cmd, o, "wait for the instances to be replaced")
	cmd.Flags().BoolVarP(&stopFirst, "stop-first", "s", false, "stop each old instance before starting its replacement (for fixed host ports)")
	return cmd
}

func appInstancesKillCmd(o *Options) *cobra.Command {
	var f opFlags
	cmd := leaf(&cobra.Command{
		Use:   "kill APP_ID INSTANCE_ID...",
		Short: "Kill application instances without replacing them",
		Long:  "Stops the given instances and lowers the application's instance count accordingly (STOP_INSTANCES with skipRespawn).",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.submitAppOp(cmd, f, appOperation{
				appID: args[0],
				body: map[string]any{
					"type": "STOP_INSTANCES", "appId": args[0], "instanceIds": args[1:], "skipRespawn": true, "opSpec": f.opSpec(),
				},
				accepted: "Instance(s) kill command accepted.",
				done:     "All instances killed",
			})
		},
	})
	f.add(cmd, o, "wait for the instances to stop")
	return cmd
}
