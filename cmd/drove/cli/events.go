package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// followRetryDelay is the first reconnect delay of `events --follow`.
var followRetryDelay = 500 * time.Millisecond

type eventsFlags struct {
	count   int
	types   []string
	follow  bool
	textfmt string
	since   string
	asJSON  bool // the global --json
}

func eventsCmd(o *Options) *cobra.Command {
	var f eventsFlags
	cmd := leaf(&cobra.Command{
		Use:   "events",
		Short: "Events on the cluster",
		Long: "Lists the latest cluster events (newest first) or, with --follow, streams new events\n" +
			"as they happen, one line each: TIME TYPE id KEY=value,...\n" +
			"With --json the list is printed as a JSON array and followed events as one JSON object per line.\n\n" +
			"Drove CLI's shorthands -c, -t and -f mean --count, --type and --follow here; the global\n" +
			"--cluster, --auth-header and --file flags are available in their long form.",
		Example: "  drove cluster events -c 50 -t EXECUTOR_ADDED -t EXECUTOR_REMOVED\n" +
			"  drove cluster events -f\n" +
			"  drove cluster events -s '{type: <25} | {id: <36} | {time: <20} | {metadata}'",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.count <= 0 {
				return fmt.Errorf("--count must be positive, got %d", f.count)
			}
			f.asJSON = o.JSON
			if f.asJSON && f.textfmt != "" {
				return errors.New("--json and --textfmt cannot be used together")
			}
			if f.textfmt != "" {
				if _, err := formatTemplate(f.textfmt, eventFields(Event{})); err != nil {
					return err
				}
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			if f.follow {
				return followEvents(cmd, c, f)
			}
			return listEvents(cmd, c, f)
		},
	})
	fs := cmd.Flags()
	fs.IntVarP(&f.count, "count", "c", 1024, "fetch at most this many events")
	fs.StringArrayVarP(&f.types, "type", "t", nil, "show only events of this type (repeatable)")
	fs.BoolVarP(&f.follow, "follow", "f", false, "follow events as they happen (Ctrl-C to stop)")
	fs.StringVarP(&f.textfmt, "textfmt", "s", "", "format string for each event, Python style, fields {type} {id} {time} {metadata}")
	fs.StringVar(&f.since, "since", "", "with --follow: start after this event log index instead of where the server starts")
	o.addLongAliases(fs, "cluster", "auth-header", "file")
	return cmd
}

// render formats one event per the flags; with --json as compact JSON.
func (f eventsFlags) render(ev Event) (string, error) {
	if f.asJSON {
		var buf bytes.Buffer
		if len(ev.raw) > 0 && json.Compact(&buf, ev.raw) == nil {
			return buf.String(), nil
		}
		raw, err := json.Marshal(ev)
		return string(raw), err
	}
	if f.textfmt == "" {
		return eventLine(ev), nil
	}
	return formatTemplate(f.textfmt, eventFields(ev))
}

// wanted applies the --type filter.
func (f eventsFlags) wanted(ev Event) bool {
	if len(f.types) == 0 {
		return true
	}
	for _, t := range f.types {
		if strings.EqualFold(t, ev.Type) {
			return true
		}
	}
	return false
}

func listEvents(cmd *cobra.Command, c *Client, f eventsFlags) error {
	q := url.Values{"lastSyncTime": {"0"}, "size": {strconv.Itoa(f.count)}}
	var events []json.RawMessage
	if err := c.DoContext(cmd.Context(), http.MethodGet, "/apis/v1/cluster/events", q, nil, &events); err != nil {
		return err
	}
	keptRaw := make([]json.RawMessage, 0, len(events))
	kept := make([]Event, 0, len(events))
	for _, raw := range events {
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("decoding event: %w", err)
		}
		if f.wanted(ev) {
			keptRaw, kept = append(keptRaw, raw), append(kept, ev)
		}
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return writeJSON(out, keptRaw)
	}
	for _, ev := range kept {
		line, err := f.render(ev)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(out, line); err != nil {
			return err
		}
	}
	return nil
}

func followEvents(cmd *cobra.Command, c *Client, f eventsFlags) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	err := c.WatchEvents(ctx, WatchOptions{
		Since:      f.since,
		RetryDelay: followRetryDelay,
		OnEvent: func(_ string, ev Event) error {
			if !f.wanted(ev) {
				return nil
			}
			line, err := f.render(ev)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(out, line)
			return err
		},
		OnGap: func(g Gap) error {
			warn(errOut, gapMessage(g))
			return nil
		},
		OnWarning: func(msg string) { warn(errOut, msg) },
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func gapMessage(g Gap) string {
	if g.FirstIndex > g.Requested {
		return fmt.Sprintf("some events were missed: requested index %d but the oldest retained event is %d (%d events dropped)",
			g.Requested, g.FirstIndex, g.FirstIndex-g.Requested)
	}
	return fmt.Sprintf("some events were missed: requested index %d, oldest retained event is %d", g.Requested, g.FirstIndex)
}

func warn(w io.Writer, msg string) {
	_, _ = fmt.Fprintln(w, "WARNING: "+msg)
}
