package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func lsInstancesCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lsinstances",
		Short: "Drove local service instance related commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(instancesListCmd(o, serviceOwner), instanceInfoCmd(o, serviceOwner), lsInstancesReplaceCmd(o), lsInstancesKillCmd(o),
		logsListCmd(o, serviceInstanceLogs), logsTailCmd(o, serviceInstanceLogs), logsDownloadCmd(o, serviceInstanceLogs))
	return cmd
}

func lsInstancesReplaceCmd(o *Options) *cobra.Command {
	var (
		f         opFlags
		stopFirst bool
	)
	cmd := leaf(&cobra.Command{
		Use:   "replace SERVICE_ID INSTANCE_ID...",
		Short: "Replace local service instances with fresh ones",
		Long: "Replaces the given healthy instances of a local service (REPLACE_INSTANCES).\n" +
			"--wait polls the service's instances until none of the given ones is left; with --json it\n" +
			"then prints the service's instance list.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.submitServiceOp(cmd, f, serviceOperation{
				serviceID: args[0],
				body: map[string]any{
					"type": "REPLACE_INSTANCES", "serviceId": args[0], "instanceIds": args[1:], "stopFirst": stopFirst, "opSpec": f.opSpec(),
				},
				instanceIDs: args[1:],
				accepted:    "Instance(s) replace command accepted.",
				done:        "All instances replaced",
			})
		},
	})
	f.add(cmd, o, "wait for the instances to be replaced")
	cmd.Flags().BoolVarP(&stopFirst, "stop", "s", false, "stop each old instance before starting its replacement (for fixed host ports)")
	return cmd
}

func lsInstancesKillCmd(o *Options) *cobra.Command {
	var f opFlags
	cmd := leaf(&cobra.Command{
		Use:   "kill SERVICE_ID INSTANCE_ID...",
		Short: "Kill local service instances",
		Long: "Stops the given instances of a local service (STOP_INSTANCES); the cluster starts new ones\n" +
			"when fewer than the required instances per executor are left.\n" +
			"--wait polls the service's instances (GET /apis/v1/localservices/{id}/instances) until none of\n" +
			"the given ones is left; with --json it then prints the service's instance list.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.submitServiceOp(cmd, f, serviceOperation{
				serviceID: args[0],
				body: map[string]any{
					"type": "STOP_INSTANCES", "serviceId": args[0], "instanceIds": args[1:], "opSpec": f.opSpec(),
				},
				instanceIDs: args[1:],
				accepted:    "Instance(s) kill command accepted.",
				done:        "All instances killed",
			})
		},
	})
	f.add(cmd, o, "wait for the instances to stop")
	return cmd
}

// serviceOperation is one POST /apis/v1/localservices/operations with
// opFlags.
type serviceOperation struct {
	serviceID   string
	body        map[string]any
	instanceIDs []string // the instances replaced or stopped; nil: all healthy ones
	accepted    string   // printed when not waiting
	done        string   // printed when --wait saw the instances go
}

// submitServiceOp posts op. Without --wait it prints op.accepted (or, with
// --json, the response data). With --wait it polls the service's active
// instances until none of op.instanceIDs (or of the instances that were
// healthy before submitting) is left, reporting how many remain on stderr,
// then prints op.done (or, with --json, the last instance list).
func (o *Options) submitServiceOp(cmd *cobra.Command, f opFlags, op serviceOperation) error {
	if err := f.validate(); err != nil {
		return err
	}
	if _, err := servicePath(op.serviceID, ""); err != nil {
		return err
	}
	c, err := o.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmdContext(cmd)
	w := instancesGoneWaiter{c: c, serviceID: op.serviceID, ids: op.instanceIDs}
	if f.wait && w.ids == nil {
		list, _, err := w.fetch(ctx)
		if err != nil {
			return err
		}
		w.ids = []string{}
		for _, in := range list {
			if in.State == "HEALTHY" {
				w.ids = append(w.ids, in.InstanceID)
			}
		}
	}
	var raw json.RawMessage
	if err := c.DoContext(ctx, http.MethodPost, lsOpsPath, nil, op.body, &raw); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if !f.wait {
		if o.JSON {
			return writeJSON(out, raw)
		}
		outln(cmd, op.accepted)
		return nil
	}
	final, err := w.wait(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(out, final)
	}
	outln(cmd, op.done)
	return nil
}

// instancesGoneWaiter waits until none of the given instances of a local
// service is active any more.
type instancesGoneWaiter struct {
	c         *Client
	serviceID string
	ids       []string
}

// fetch gets the active instances of the service.
func (w instancesGoneWaiter) fetch(ctx context.Context) ([]instanceInfo, json.RawMessage, error) {
	path, err := servicePath(w.serviceID, "/instances")
	if err != nil {
		return nil, nil, err
	}
	var raw json.RawMessage
	if err := w.c.DoContext(ctx, http.MethodGet, path, nil, nil, &raw); err != nil {
		return nil, nil, err
	}
	var list []instanceInfo
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, nil, fmt.Errorf("GET %s: decoding instances: %w", path, err)
		}
	}
	return list, raw, nil
}

// remaining counts the waited-for instances in list.
func (w instancesGoneWaiter) remaining(list []instanceInfo) int {
	n := 0
	for _, in := range list {
		for _, id := range w.ids {
			if in.InstanceID == id {
				n++
				break
			}
		}
	}
	return n
}

// wait polls every opPollInterval until no waited-for instance is left,
// writing "Remaining old instance count: N" to errOut whenever N changes.
// It returns the last instance list. SIGINT/SIGTERM stop waiting.
func (w instancesGoneWaiter) wait(ctx context.Context, errOut io.Writer) (json.RawMessage, error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	retry := pollRetrier{what: "the instances of local service " + w.serviceID}
	last := -1
	for {
		list, raw, err := w.fetch(ctx)
		if ctx.Err() != nil {
			return nil, w.interrupted()
		}
		if err == nil {
			retry.reset()
			n := w.remaining(list)
			if n != last {
				_, _ = fmt.Fprintf(errOut, "Remaining old instance count: %d\n", n)
				last = n
			}
			if n == 0 {
				if len(raw) == 0 || string(raw) == "null" {
					raw = json.RawMessage("[]")
				}
				return raw, nil
			}
		} else if err := retry.failed(errOut, err); err != nil {
			return nil, err
		}
		if !pause(ctx, opPollInterval) {
			return nil, w.interrupted()
		}
	}
}

func (w instancesGoneWaiter) interrupted() error {
	return fmt.Errorf("stopped waiting; the operation continues on the cluster (`drove localservices cancelop %s` cancels it)", w.serviceID)
}
