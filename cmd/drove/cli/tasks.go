package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

const (
	tasksPath   = "/apis/v1/tasks"
	taskOpsPath = tasksPath + "/operations"
)

// taskInfo is Drove's TaskInfo (GET /apis/v1/tasks[/{app}/instances/{id}]).
type taskInfo struct {
	SourceAppName string `json:"sourceAppName"`
	TaskID        string `json:"taskId"`
	InstanceID    string `json:"instanceId"`
	ExecutorID    string `json:"executorId"`
	Hostname      string `json:"hostname"`
	Executable    struct {
		URL  string `json:"url"`
		Type string `json:"type"`
	} `json:"executable"`
	Resources []resourceAllocation `json:"resources"`
	Volumes   []struct {
		PathInContainer string `json:"pathInContainer"`
		PathOnHost      string `json:"pathOnHost"`
		Mode            string `json:"mode"`
	} `json:"volumes"`
	LoggingSpec *struct {
		Type string `json:"type"`
	} `json:"loggingSpec"`
	State      string                     `json:"state"`
	Metadata   map[string]json.RawMessage `json:"metadata"`
	TaskResult *struct {
		Status   string `json:"status"`
		ExitCode int64  `json:"exitCode"`
	} `json:"taskResult"`
	ErrorMessage string `json:"errorMessage"`
	Created      int64  `json:"created"`
	Updated      int64  `json:"updated"`
}

// finished reports a terminal task state.
func (t taskInfo) finished() bool { return t.State == "STOPPED" || t.State == "LOST" }

// result renders the task result as Drove's CLI does; "" when there is none.
func (t taskInfo) result() string {
	if t.TaskResult == nil {
		return ""
	}
	return fmt.Sprintf("%s (Task exit code: %d)", t.TaskResult.Status, t.TaskResult.ExitCode)
}

var taskColumns = []column[taskInfo]{
	{"ID", func(t taskInfo) string { return t.InstanceID }, func(a, b taskInfo) int { return strings.Compare(a.InstanceID, b.InstanceID) }},
	{"SOURCE APP", func(t taskInfo) string { return t.SourceAppName },
		func(a, b taskInfo) int { return strings.Compare(a.SourceAppName, b.SourceAppName) }},
	{"TASK ID", func(t taskInfo) string { return t.TaskID }, func(a, b taskInfo) int { return strings.Compare(a.TaskID, b.TaskID) }},
	{"STATE", func(t taskInfo) string { return t.State }, func(a, b taskInfo) int { return strings.Compare(a.State, b.State) }},
	{"HOST", func(t taskInfo) string { return t.Hostname }, func(a, b taskInfo) int { return strings.Compare(a.Hostname, b.Hostname) }},
	{"CPU", func(t taskInfo) string { return strconv.Itoa(taskCores(t)) },
		func(a, b taskInfo) int { return cmp.Compare(taskCores(a), taskCores(b)) }},
	{"MEMORY (MB)", func(t taskInfo) string { return thousands(taskMemory(t)) },
		func(a, b taskInfo) int { return cmp.Compare(taskMemory(a), taskMemory(b)) }},
	{"CREATED", func(t taskInfo) string { return formatTime(t.Created) },
		func(a, b taskInfo) int { return cmp.Compare(a.Created, b.Created) }},
	{"UPDATED", func(t taskInfo) string { return formatTime(t.Updated) },
		func(a, b taskInfo) int { return cmp.Compare(a.Updated, b.Updated) }},
}

func taskCores(t taskInfo) int    { c, _ := allocated(t.Resources); return c }
func taskMemory(t taskInfo) int64 { _, m := allocated(t.Resources); return m }

func tasksCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "Drove task related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(tasksCreateCmd(o), tasksKillCmd(o), tasksListCmd(o), tasksShowCmd(o), tasksDeleteCmd(o),
		logsListCmd(o, taskLogs), logsTailCmd(o, taskLogs), logsDownloadCmd(o, taskLogs))
	return cmd
}

// taskPath is /apis/v1/tasks/{app}/instances/{taskId}.
func taskPath(app, taskID string) (string, error) {
	if strings.TrimSpace(app) == "" {
		return "", errors.New("source app name must not be empty")
	}
	if strings.TrimSpace(taskID) == "" {
		return "", errors.New("task id must not be empty")
	}
	return tasksPath + "/" + url.PathEscape(app) + "/instances/" + url.PathEscape(taskID), nil
}

func tasksCreateCmd(o *Options) *cobra.Command {
	var wait bool
	cmd := leaf(&cobra.Command{
		Use:   "create SPEC_FILE",
		Short: "Spawn a new task on the cluster",
		Long: "Creates a task from a JSON task spec file (\"-\" reads standard input) and prints the id\n" +
			"Drove assigned to it.\n\n" +
			"--wait (a drove extension) then follows the task until it has STOPPED or is LOST, printing\n" +
			"its state changes to stderr, and prints its result (with --json the final task info). The\n" +
			"command fails unless the result is SUCCESSFUL, so scripts can use its exit status.\n" +
			"Ctrl-C stops waiting; the task keeps running.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := readSpecFile(cmd, args[0])
			if err != nil {
				return err
			}
			var ids struct {
				SourceAppName string `json:"sourceAppName"`
				TaskID        string `json:"taskId"`
			}
			_ = json.Unmarshal(spec, &ids)
			if wait && (strings.TrimSpace(ids.SourceAppName) == "" || strings.TrimSpace(ids.TaskID) == "") {
				return errors.New("--wait needs sourceAppName and taskId in the task spec")
			}
			body := map[string]any{"type": "CREATE", "spec": spec, "opSpec": defaultOpSpec()}
			if !wait {
				raw, printed, err := o.postSimple(cmd, taskOpsPath, body)
				if err != nil || printed {
					return err
				}
				printTaskCreated(cmd, ids.SourceAppName, ids.TaskID, raw)
				return nil
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.DoContext(cmdContext(cmd), http.MethodPost, taskOpsPath, nil, body, &raw); err != nil {
				return err
			}
			if !o.JSON { // with --json only the final task is printed
				printTaskCreated(cmd, ids.SourceAppName, ids.TaskID, raw)
			}
			return taskWaiter{c: c, app: ids.SourceAppName, taskID: ids.TaskID}.waitAndReport(cmd, o.JSON)
		},
	})
	cmd.Flags().BoolVarP(&wait, "wait", "w", false,
		"wait for the task to finish and fail unless it is SUCCESSFUL (drove extension)")
	return cmd
}

// printTaskCreated prints Drove CLI's message for a created task; raw is
// the response data.
func printTaskCreated(cmd *cobra.Command, app, taskID string, raw json.RawMessage) {
	var data struct {
		TaskID string `json:"taskId"`
	}
	_ = json.Unmarshal(raw, &data)
	outf(cmd, "Task created. Source App Name: %s Task ID: %s. Drove assigned task ID: %s\n",
		orDash(app), orDash(taskID), orDash(data.TaskID))
}

func tasksKillCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "kill SOURCE_APP TASK_ID",
		Short: "Kill a running task",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := taskPath(args[0], args[1]); err != nil {
				return err
			}
			_, printed, err := o.postSimple(cmd, taskOpsPath, map[string]any{
				"type": "KILL", "sourceAppName": args[0], "taskId": args[1], "opSpec": defaultOpSpec(),
			})
			if err != nil || printed {
				return err
			}
			outln(cmd, "Task kill issued")
			return nil
		},
	})
}

func tasksListCmd(o *Options) *cobra.Command {
	var (
		sf  sortFlags
		app string
	)
	cmd := leaf(&cobra.Command{
		Use:   "list",
		Short: "List all active tasks",
		Long: "Lists the active tasks, optionally only those of one source app. With --json the task list\n" +
			"is printed as returned, filtered by --app (--sort does not apply).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSort(taskColumns, sf.by); err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var list []json.RawMessage
			if err := c.DoContext(cmd.Context(), http.MethodGet, tasksPath, nil, nil, &list); err != nil {
				return err
			}
			rows := make([]taskInfo, 0, len(list))
			kept := make([]json.RawMessage, 0, len(list))
			for _, item := range list {
				var t taskInfo
				if err := json.Unmarshal(item, &t); err != nil {
					return fmt.Errorf("decoding tasks: %w", err)
				}
				if app == "" || t.SourceAppName == app {
					rows = append(rows, t)
					kept = append(kept, item)
				}
			}
			if o.JSON {
				return writeJSON(cmd.OutOrStdout(), kept)
			}
			return writeSorted(cmd.OutOrStdout(), taskColumns, rows, sf.by, sf.reverse)
		},
	})
	cmd.Flags().StringVarP(&app, "app", "a", "", "show only the tasks of this source app")
	sf.add(cmd, sortUsage(taskColumns), 0)
	return cmd
}

func tasksShowCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "show SOURCE_APP TASK_ID",
		Short: "Show details about a task",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := taskPath(args[0], args[1])
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var t taskInfo
			if printed, err := o.call(cmd, c, http.MethodGet, path, nil, &t); err != nil || printed {
				return err
			}
			return writeKeyValues(cmd.OutOrStdout(), taskDetails(t, args[0], args[1]))
		},
	})
}

// taskDetails are the key/value rows describing a task.
func taskDetails(t taskInfo, app, taskID string) [][2]string {
	cpus, mem := allocationDetails(t.Resources)
	executable := t.Executable.URL
	if t.Executable.Type != "" {
		executable += " (" + t.Executable.Type + ")"
	}
	volumes := make([]string, len(t.Volumes))
	for i, v := range t.Volumes {
		volumes[i] = fmt.Sprintf("%s (Mounted as %s in %s mode)", v.PathOnHost, v.PathInContainer, v.Mode)
	}
	logging := ""
	if t.LoggingSpec != nil {
		logging = t.LoggingSpec.Type
	}
	return [][2]string{
		{"Source App", orElse(t.SourceAppName, app)},
		{"Task ID", orElse(t.TaskID, taskID)},
		{"Instance ID", t.InstanceID},
		{"State", t.State},
		{"Executor ID", t.ExecutorID},
		{"Executor Host", t.Hostname},
		{"CPU", cpus},
		{"Memory (MB)", mem},
		{"Executable", strings.TrimSpace(executable)},
		{"Volumes", strings.Join(volumes, ", ")},
		{"Logging Mode", logging},
		{"Metadata", formatMetadata(t.Metadata)},
		{"Result", t.result()},
		{"Error Message", oneLine(t.ErrorMessage)},
		{"Created", formatTime(t.Created)},
		{"Updated", formatTime(t.Updated)},
	}
}

func tasksDeleteCmd(o *Options) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "delete SOURCE_APP TASK_ID",
		Short: "Delete the record of a finished task",
		Long:  "Deletes the stored record of a task (DELETE /apis/v1/tasks/{app}/instances/{taskId}; drove extension).",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := taskPath(args[0], args[1])
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var data struct {
				Deleted bool `json:"deleted"`
			}
			if printed, err := o.call(cmd, c, http.MethodDelete, path, nil, &data); err != nil || printed {
				return err
			}
			if !data.Deleted {
				return fmt.Errorf("task %s/%s was not deleted", args[0], args[1])
			}
			outf(cmd, "Task %s/%s deleted\n", args[0], args[1])
			return nil
		},
	})
}

// taskWaiter follows a created task until it finishes (tasks create --wait).
type taskWaiter struct {
	c           *Client
	app, taskID string
}

// waitAndReport waits for the task to finish and prints its result (with
// --json the final task info); a result other than SUCCESSFUL is an error.
func (w taskWaiter) waitAndReport(cmd *cobra.Command, asJSON bool) error {
	t, raw, err := w.wait(cmdContext(cmd), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if asJSON {
		err = writeJSON(cmd.OutOrStdout(), raw)
	} else {
		outln(cmd, "Task result: "+orDash(t.result()))
	}
	if err != nil {
		return err
	}
	return w.outcome(t)
}

// outcome is nil for a SUCCESSFUL task, else an error describing it.
func (w taskWaiter) outcome(t taskInfo) error {
	if t.TaskResult != nil && t.TaskResult.Status == "SUCCESSFUL" {
		return nil
	}
	msg := fmt.Sprintf("task %s/%s ended in state %s without a result", w.app, w.taskID, t.State)
	if t.TaskResult != nil {
		msg = fmt.Sprintf("task %s/%s finished with result %s (exit code %d)", w.app, w.taskID, t.TaskResult.Status, t.TaskResult.ExitCode)
	}
	if m := oneLine(t.ErrorMessage); m != "" {
		msg += ": " + m
	}
	return errors.New(msg)
}

// wait polls the task every opPollInterval until it is STOPPED or LOST,
// printing each new state to errOut. SIGINT/SIGTERM stop waiting.
func (w taskWaiter) wait(ctx context.Context, errOut io.Writer) (taskInfo, json.RawMessage, error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	path, err := taskPath(w.app, w.taskID)
	if err != nil {
		return taskInfo{}, nil, err
	}
	var (
		seen      bool
		lastState string
	)
	retry := pollRetrier{what: "task " + w.app + "/" + w.taskID}
	appearBy := time.Now().Add(opAppearTimeout)
	for {
		var raw json.RawMessage
		err := w.c.DoContext(ctx, http.MethodGet, path, nil, nil, &raw)
		if ctx.Err() != nil {
			return taskInfo{}, nil, w.interrupted()
		}
		var t taskInfo
		if err == nil && json.Unmarshal(raw, &t) != nil {
			err = fmt.Errorf("GET %s: decoding task", path)
		}
		switch {
		case err == nil:
			retry.reset()
			seen = true
			if t.State != lastState {
				_, _ = fmt.Fprintf(errOut, "Task %s/%s: %s\n", w.app, w.taskID, orDash(t.State))
				lastState = t.State
			}
			if t.finished() {
				return t, raw, nil
			}
		case !seen && isFailedLookup(err):
			// the task is not recorded yet
		default:
			if err := retry.failed(errOut, err); err != nil {
				return taskInfo{}, nil, err
			}
		}
		if !seen && time.Now().After(appearBy) {
			return taskInfo{}, nil, fmt.Errorf("task %s/%s did not show up in GET %s within %s", w.app, w.taskID, path, opAppearTimeout)
		}
		if !pause(ctx, opPollInterval) {
			return taskInfo{}, nil, w.interrupted()
		}
	}
}

func (w taskWaiter) interrupted() error {
	return fmt.Errorf("stopped waiting; task %s/%s continues on the cluster (`drove tasks kill %s %s` kills it)",
		w.app, w.taskID, w.app, w.taskID)
}
