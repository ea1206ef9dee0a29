package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

const executorsPath = "/apis/v1/cluster/executors"

// executorSummary is one entry of GET /apis/v1/cluster/executors (Drove's
// ExecutorSummary). Memory is in MB.
type executorSummary struct {
	ExecutorID    string   `json:"executorId"`
	Hostname      string   `json:"hostname"`
	Port          int      `json:"port"`
	TransportType string   `json:"transportType"`
	FreeCores     int64    `json:"freeCores"`
	UsedCores     int64    `json:"usedCores"`
	FreeMemory    int64    `json:"freeMemory"`
	UsedMemory    int64    `json:"usedMemory"`
	Tags          []string `json:"tags"`
	State         string   `json:"state"`
	DrainState    string   `json:"drainState"`  // drove extension; "" when not draining
	Deactivated   bool     `json:"deactivated"` // drove extension
}

// executorNodeData is the data of GET /apis/v1/cluster/executors/{id}
// (Drove's ExecutorNodeData). Per-NUMA-node maps are keyed by node id.
type executorNodeData struct {
	Hostname      string `json:"hostname"`
	Port          int    `json:"port"`
	TransportType string `json:"transportType"`
	Updated       int64  `json:"updated"`
	State         struct {
		ExecutorID string `json:"executorId"`
		CPUs       struct {
			FreeCores map[string][]int `json:"freeCores"`
			UsedCores map[string][]int `json:"usedCores"`
		} `json:"cpus"`
		Memory struct {
			FreeMemory map[string]int64 `json:"freeMemory"`
			UsedMemory map[string]int64 `json:"usedMemory"`
		} `json:"memory"`
		Layout struct {
			Cores  map[string][]int `json:"cores"`
			Memory map[string]int64 `json:"memory"`
		} `json:"layout"`
	} `json:"state"`
	Instances        []instanceInfo             `json:"instances"`
	Tasks            []taskInfo                 `json:"tasks"`
	ServiceInstances []instanceInfo             `json:"serviceInstances"`
	Tags             []string                   `json:"tags"`
	Metadata         map[string]json.RawMessage `json:"metadata"`
	ExecutorState    string                     `json:"executorState"`
	DrainState       string                     `json:"drainState"`  // drove extension
	Deactivated      bool                       `json:"deactivated"` // drove extension
}

// instanceInfo is an application instance (Drove's InstanceInfo) or a
// local-service instance (LocalServiceInstanceInfo, which has serviceId and
// serviceName where InstanceInfo has appId and appName).
type instanceInfo struct {
	AppID       string `json:"appId"`
	AppName     string `json:"appName"`
	ServiceID   string `json:"serviceId"`
	ServiceName string `json:"serviceName"`
	InstanceID  string `json:"instanceId"`
	ExecutorID  string `json:"executorId"`
	LocalInfo   struct {
		Hostname string `json:"hostname"`
		Ports    map[string]struct {
			ContainerPort int    `json:"containerPort"`
			HostPort      int    `json:"hostPort"`
			PortType      string `json:"portType"`
		} `json:"ports"`
	} `json:"localInfo"`
	Resources    []resourceAllocation       `json:"resources"`
	State        string                     `json:"state"`
	Metadata     map[string]json.RawMessage `json:"metadata"`
	ErrorMessage string                     `json:"errorMessage"`
	Created      int64                      `json:"created"`
	Updated      int64                      `json:"updated"`
}

// resourceAllocation is Drove's ResourceAllocation of an instance or task:
// CPU cores or memory per NUMA node.
type resourceAllocation struct {
	Type       string           `json:"type"`
	Cores      map[string][]int `json:"cores"`
	MemoryInMB map[string]int64 `json:"memoryInMB"`
}

// allocated sums the allocated cores and memory (MB) over all NUMA nodes.
func allocated(rs []resourceAllocation) (cores int, mem int64) {
	for _, r := range rs {
		switch r.Type {
		case "CPU":
			cores += countCores(r.Cores)
		case "MEMORY":
			mem += sumMemory(r.MemoryInMB)
		}
	}
	return cores, mem
}

func executorCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Drove cluster executor related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(executorListCmd(o), executorInfoCmd(o), executorAppInstancesCmd(o), executorTasksCmd(o), executorLSInstancesCmd(o),
		executorBlacklistCmd(o, true), executorBlacklistCmd(o, false), executorDrainCmd(o),
		executorActivationCmd(o, true), executorActivationCmd(o, false))
	return cmd
}

func executorListCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "list",
		Short: "List all executors",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var list []executorSummary
			if printed, err := o.call(cmd, c, http.MethodGet, executorsPath, nil, &list); err != nil || printed {
				return err
			}
			return writeExecutorList(cmd.OutOrStdout(), list)
		},
	})
}

// writeExecutorList prints the executors; the maintenance columns DRAIN
// STATE and DEACTIVATED are shown only when some executor has either.
func writeExecutorList(w io.Writer, list []executorSummary) error {
	maintenance := false
	for _, e := range list {
		maintenance = maintenance || e.DrainState != "" || e.Deactivated
	}
	tw := newTable(w)
	header := "ID\tHOST\tPORT\tTRANSPORT\tSTATE\t"
	if maintenance {
		header += "DRAIN STATE\tDEACTIVATED\t"
	}
	_, _ = fmt.Fprintln(tw, header+"FREE CORES\tUSED CORES\tFREE MEMORY (MB)\tUSED MEMORY (MB)\tTAGS")
	for _, e := range list {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t", orDash(e.ExecutorID), orDash(e.Hostname), e.Port, orDash(e.TransportType), orDash(e.State))
		if maintenance {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t", orDash(e.DrainState), yesNo(&e.Deactivated))
		}
		_, _ = fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", e.FreeCores, e.UsedCores, thousands(e.FreeMemory), thousands(e.UsedMemory),
			orDash(strings.Join(e.Tags, ",")))
	}
	return tw.Flush()
}

// getExecutor fetches GET /apis/v1/cluster/executors/{id} as raw JSON; an
// unknown id is a FAILED envelope, returned as an *APIError.
func getExecutor(cmd *cobra.Command, o *Options, id string) (json.RawMessage, error) {
	if strings.TrimSpace(id) == "" {
		return nil, errors.New("executor id must not be empty")
	}
	c, err := o.client(cmd)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.DoContext(cmd.Context(), http.MethodGet, executorsPath+"/"+url.PathEscape(id), nil, nil, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("no data returned for executor %s", id)
	}
	return raw, nil
}

func executorInfoCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "info ID",
		Short: "Show details about an executor and the instances and tasks on it",
		Long: "Shows an executor's resources and the application instances on it, followed by its\n" +
			"local-service instances and tasks when there are any.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := getExecutor(cmd, o, args[0])
			if err != nil {
				return err
			}
			if o.JSON {
				return writeJSON(cmd.OutOrStdout(), raw)
			}
			var d executorNodeData
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("decoding executor data: %w", err)
			}
			out := cmd.OutOrStdout()
			if err := writeExecutorInfo(out, d, args[0]); err != nil {
				return err
			}
			_, _ = fmt.Fprintln(out, "\nApplication instances:")
			if err := writeInstances(out, d.Instances); err != nil {
				return err
			}
			if len(d.ServiceInstances) > 0 {
				_, _ = fmt.Fprintln(out, "\nLocal service instances:")
				if err := writeServiceInstances(out, d.ServiceInstances); err != nil {
					return err
				}
			}
			if len(d.Tasks) == 0 {
				return nil
			}
			_, _ = fmt.Fprintln(out, "\nTasks:")
			return writeSorted(out, taskColumns, d.Tasks, 1, false)
		},
	})
}

// writeExecutorInfo prints the key/value table of one executor, with free
// and used cores and memory per NUMA node.
func writeExecutorInfo(w io.Writer, d executorNodeData, id string) error {
	st := d.State
	nodes := numaNodes(st.Layout.Cores, st.CPUs.FreeCores, st.CPUs.UsedCores)
	freeCores, usedCores := countCores(st.CPUs.FreeCores), countCores(st.CPUs.UsedCores)
	totalCores := countCores(st.Layout.Cores)
	if totalCores == 0 {
		totalCores = freeCores + usedCores
	}
	freeMem, usedMem := sumMemory(st.Memory.FreeMemory), sumMemory(st.Memory.UsedMemory)
	totalMem := sumMemory(st.Layout.Memory)
	if totalMem == 0 {
		totalMem = freeMem + usedMem
	}
	rows := [][2]string{
		{"Executor Id", orElse(st.ExecutorID, id)},
		{"Hostname", orDash(d.Hostname)},
		{"Port", strconv.Itoa(d.Port)},
		{"Transport", orDash(d.TransportType)},
		{"State", orDash(d.ExecutorState)},
	}
	if d.DrainState != "" {
		rows = append(rows, [2]string{"Drain State", d.DrainState})
	}
	if d.Deactivated {
		rows = append(rows, [2]string{"Deactivated", "yes"})
	}
	rows = append(rows, [2]string{"Cores", fmt.Sprintf("Free: %d Used: %d Total: %d", freeCores, usedCores, totalCores)})
	for _, n := range nodes {
		rows = append(rows, [2]string{"  NUMA node " + n, fmt.Sprintf("Free: %s Used: %s",
			coreList(st.CPUs.FreeCores[n]), coreList(st.CPUs.UsedCores[n]))})
	}
	rows = append(rows, [2]string{"Memory", fmt.Sprintf("Free: %s MB Used: %s MB Total: %s MB",
		thousands(freeMem), thousands(usedMem), thousands(totalMem))})
	for _, n := range numaNodes(st.Layout.Memory, st.Memory.FreeMemory, st.Memory.UsedMemory) {
		rows = append(rows, [2]string{"  NUMA node " + n, fmt.Sprintf("Free: %s MB Used: %s MB",
			thousands(st.Memory.FreeMemory[n]), thousands(st.Memory.UsedMemory[n]))})
	}
	rows = append(rows,
		[2]string{"Tags", orDash(strings.Join(d.Tags, ","))},
		[2]string{"Metadata", orDash(formatMetadata(d.Metadata))},
		[2]string{"Updated", formatTime(d.Updated)},
	)
	tw := newTable(w)
	for _, r := range rows {
		_, _ = fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// instancePorts renders the port mapping as name:hostPort, sorted by name.
func instancePorts(in instanceInfo) string {
	names := make([]string, 0, len(in.LocalInfo.Ports))
	for name := range in.LocalInfo.Ports {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		names[i] = name + ":" + strconv.Itoa(in.LocalInfo.Ports[name].HostPort)
	}
	return strings.Join(names, ",")
}

// numaNodes returns the keys of all maps, numeric ids in numeric order.
func numaNodes[V any](maps ...map[string]V) []string {
	seen := map[string]bool{}
	var nodes []string
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				nodes = append(nodes, k)
			}
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		a, errA := strconv.Atoi(nodes[i])
		b, errB := strconv.Atoi(nodes[j])
		if errA == nil && errB == nil {
			return a < b
		}
		if (errA == nil) != (errB == nil) {
			return errA == nil
		}
		return nodes[i] < nodes[j]
	})
	return nodes
}

// coreList renders core ids sorted and comma separated; none renders as "-".
func coreList(ids []int) string {
	if len(ids) == 0 {
		return "-"
	}
	sorted := append([]int(nil), ids...)
	sort.Ints(sorted)
	parts := make([]string, len(sorted))
	for i, id := range sorted {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

func countCores(m map[string][]int) int {
	n := 0
	for _, ids := range m {
		n += len(ids)
	}
	return n
}

func sumMemory(m map[string]int64) int64 {
	var n int64
	for _, mb := range m {
		n += mb
	}
	return n
}
