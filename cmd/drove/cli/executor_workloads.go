package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// The executor workload commands (executor appinstances|lsinstances|tasks)
// show one list of GET /apis/v1/cluster/executors/{id}: instances,
// serviceInstances or tasks. Like Drove's CLI they sort by the second
// column (app, service or source app) unless told otherwise.

// executorInstanceColumns are the columns of the instance tables of an
// executor; ownerHeader and owner name the app or service of an instance.
func executorInstanceColumns(ownerHeader string, owner func(instanceInfo) string) []column[instanceInfo] {
	cores := func(i instanceInfo) int { c, _ := allocated(i.Resources); return c }
	mem := func(i instanceInfo) int64 { _, m := allocated(i.Resources); return m }
	return []column[instanceInfo]{
		{"INSTANCE ID", func(i instanceInfo) string { return i.InstanceID },
			func(a, b instanceInfo) int { return strings.Compare(a.InstanceID, b.InstanceID) }},
		{ownerHeader, owner, func(a, b instanceInfo) int { return strings.Compare(owner(a), owner(b)) }},
		{"STATE", func(i instanceInfo) string { return i.State }, func(a, b instanceInfo) int { return strings.Compare(a.State, b.State) }},
		{"CORES", func(i instanceInfo) string { return strconv.Itoa(cores(i)) },
			func(a, b instanceInfo) int { return cmp.Compare(cores(a), cores(b)) }},
		{"MEMORY (MB)", func(i instanceInfo) string { return thousands(mem(i)) },
			func(a, b instanceInfo) int { return cmp.Compare(mem(a), mem(b)) }},
		{"PORTS", instancePorts, func(a, b instanceInfo) int { return strings.Compare(instancePorts(a), instancePorts(b)) }},
		{"UPDATED", func(i instanceInfo) string { return formatTime(i.Updated) },
			func(a, b instanceInfo) int { return cmp.Compare(a.Updated, b.Updated) }},
	}
}

var (
	executorAppInstanceColumns     = executorInstanceColumns("APP ID", func(i instanceInfo) string { return i.AppID })
	executorServiceInstanceColumns = executorInstanceColumns("SERVICE ID", func(i instanceInfo) string { return i.ServiceID })
)

// writeInstances prints application instances sorted by app id and
// instance id.
func writeInstances(w io.Writer, instances []instanceInfo) error {
	return writeSorted(w, executorAppInstanceColumns, instances, 1, false)
}

// writeServiceInstances prints local-service instances sorted by service
// id and instance id.
func writeServiceInstances(w io.Writer, instances []instanceInfo) error {
	return writeSorted(w, executorServiceInstanceColumns, instances, 1, false)
}

// executorList returns the list field of the executor data raw ([] when
// missing or null).
func executorList(raw json.RawMessage, field string) ([]json.RawMessage, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decoding executor data: %w", err)
	}
	var list []json.RawMessage
	if v, found := d[field]; found {
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, fmt.Errorf("decoding executor data: %s: %w", field, err)
		}
	}
	if list == nil {
		list = []json.RawMessage{}
	}
	return list, nil
}

// executorWorkloadCmd builds `executor appinstances|lsinstances|tasks ID`:
// with --json it prints the list field of the executor data, filtered by
// keep; otherwise it decodes it as T and prints the sorted table.
func executorWorkloadCmd[T any](o *Options, cmd *cobra.Command, field string, cols []column[T], keep func(T) bool) *cobra.Command {
	var sf sortFlags
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkSort(cols, sf.by); err != nil {
			return err
		}
		raw, err := getExecutor(cmd, o, args[0])
		if err != nil {
			return err
		}
		list, err := executorList(raw, field)
		if err != nil {
			return err
		}
		rows := make([]T, 0, len(list))
		kept := make([]json.RawMessage, 0, len(list))
		for _, item := range list {
			var v T
			if err := json.Unmarshal(item, &v); err != nil {
				return fmt.Errorf("decoding executor data: %s: %w", field, err)
			}
			if keep(v) {
				rows = append(rows, v)
				kept = append(kept, item)
			}
		}
		if o.JSON {
			return writeJSON(cmd.OutOrStdout(), kept)
		}
		return writeSorted(cmd.OutOrStdout(), cols, rows, sf.by, sf.reverse)
	}
	sf.add(cmd, sortUsage(cols), 1)
	return leaf(cmd)
}

func executorAppInstancesCmd(o *Options) *cobra.Command {
	return executorWorkloadCmd(o, &cobra.Command{
		Use:   "appinstances ID",
		Short: "Show the application instances running on an executor",
		Long:  "Shows the application instances running on an executor; with --json the instances list of the executor data.",
	}, "instances", executorAppInstanceColumns, func(instanceInfo) bool { return true })
}

func executorLSInstancesCmd(o *Options) *cobra.Command {
	return executorWorkloadCmd(o, &cobra.Command{
		Use:   "lsinstances ID",
		Short: "Show the local service instances running on an executor",
		Long:  "Shows the local service instances running on an executor; with --json the serviceInstances list of the executor data.",
	}, "serviceInstances", executorServiceInstanceColumns, func(instanceInfo) bool { return true })
}

func executorTasksCmd(o *Options) *cobra.Command {
	var app string
	cmd := executorWorkloadCmd(o, &cobra.Command{
		Use:   "tasks ID",
		Short: "Show the tasks running on an executor",
		Long:  "Shows the tasks running on an executor; with --json the tasks list of the executor data (filtered by --app).",
	}, "tasks", taskColumns, func(t taskInfo) bool { return app == "" || t.SourceAppName == app })
	cmd.Flags().StringVarP(&app, "app", "a", "", "show only the tasks of this source app")
	return cmd
}
