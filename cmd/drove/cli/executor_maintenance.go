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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// blacklistResult is Drove's BlacklistOperationResponse.
type blacklistResult struct {
	Successful             []string `json:"successful"`
	Failed                 []string `json:"failed"`
	ApproxCompletionTimeMs int64    `json:"approxCompletionTimeMs"`
	Message                string   `json:"message"`
}

func executorBlacklistCmd(o *Options, on bool) *cobra.Command {
	use, short, verb := "blacklist", "Blacklist executors: migrate their application instances away", "blacklist"
	if !on {
		use, short, verb = "unblacklist", "Un-blacklist executors", "un-blacklist"
	}
	return leaf(&cobra.Command{
		Use:   use + " EXECUTOR_ID...",
		Short: short,
		Long: "Posts the ids to " + executorsPath + "/" + use + " and prints the executors that succeeded and\n" +
			"failed, with the server's message and estimated completion time. It fails when any executor\n" +
			"failed, and in maintenance mode (Drove answers FAILED \"Cluster is in maintenance mode\").",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			query := url.Values{}
			for _, id := range args {
				if strings.TrimSpace(id) == "" {
					return errors.New("executor id must not be empty")
				}
				query.Add("id", id)
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			raw, callErr := postKeepingData(cmdContext(cmd), c, executorsPath+"/"+use, query, struct{}{})
			if len(raw) == 0 || string(raw) == "null" {
				if callErr != nil {
					return callErr
				}
				return fmt.Errorf("no data returned by %s", use)
			}
			if o.JSON {
				if err := writeJSON(cmd.OutOrStdout(), raw); err != nil {
					return err
				}
			}
			var res blacklistResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return errors.Join(callErr, fmt.Errorf("decoding %s response: %w", use, err))
			}
			if !o.JSON {
				writeBlacklistResult(cmd.OutOrStdout(), res)
			}
			if callErr != nil {
				return fmt.Errorf("could not %s executors: %w", verb, callErr)
			}
			if len(res.Failed) > 0 {
				return fmt.Errorf("could not %s executors: %s", verb, strings.Join(res.Failed, ","))
			}
			return nil
		},
	})
}

// writeBlacklistResult prints the ids as Drove's CLI does, then the
// message and estimate when there are any.
func writeBlacklistResult(w io.Writer, res blacklistResult) {
	_, _ = fmt.Fprintln(w, "Successful: "+strings.Join(res.Successful, ","))
	_, _ = fmt.Fprintln(w, "Failed: "+strings.Join(res.Failed, ","))
	if res.Message != "" {
		_, _ = fmt.Fprintln(w, "Message: "+res.Message)
	}
	if res.ApproxCompletionTimeMs > 0 {
		_, _ = fmt.Fprintln(w, "Approximate completion time: "+
			shortDuration(time.Duration(res.ApproxCompletionTimeMs)*time.Millisecond))
	}
}

// postKeepingData posts body like Client.DoContext and returns the
// response data, also that of a FAILED envelope, which Drove fills for
// (un)blacklist; err is the *APIError of a failed call.
func postKeepingData(ctx context.Context, c *Client, path string, query url.Values, body any) (json.RawMessage, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding request body: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, path, query, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(c.HTTP, req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("POST %s: reading response: %w", path, err)
	}
	data, err := decodeEnvelope(resp, raw)
	if err == nil {
		return data, nil
	}
	var env envelope
	if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &env) == nil {
		return env.Data, err
	}
	return nil, err
}

// executorMaintenancePath is /cluster/executors/{id}/{action}.
func executorMaintenancePath(id, action string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errors.New("executor id must not be empty")
	}
	return executorsPath + "/" + url.PathEscape(id) + "/" + action, nil
}

// postExecutorAction posts body to /cluster/executors/{id}/{action}; the
// data is the executor's summary. With --json it has printed it already.
func (o *Options) postExecutorAction(cmd *cobra.Command, c *Client, id, action string, body any) (executorSummary, json.RawMessage, error) {
	var s executorSummary
	path, err := executorMaintenancePath(id, action)
	if err != nil {
		return s, nil, err
	}
	var raw json.RawMessage
	if err := c.DoContext(cmdContext(cmd), http.MethodPost, path, nil, body, &raw); err != nil {
		return s, nil, err
	}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &s); err != nil {
			return s, nil, fmt.Errorf("decoding executor summary: %w", err)
		}
	}
	return s, raw, nil
}

// writeExecutorSummary prints one executor summary as key/values.
func writeExecutorSummary(w io.Writer, s executorSummary, id string) error {
	deactivated := "no"
	if s.Deactivated {
		deactivated = "yes"
	}
	return writeKeyValues(w, [][2]string{
		{"Executor Id", orElse(s.ExecutorID, id)},
		{"Hostname", s.Hostname},
		{"Port", strconv.Itoa(s.Port)},
		{"State", s.State},
		{"Drain State", s.DrainState},
		{"Deactivated", deactivated},
		{"Cores", fmt.Sprintf("Free: %d Used: %d", s.FreeCores, s.UsedCores)},
		{"Memory", fmt.Sprintf("Free: %s MB Used: %s MB", thousands(s.FreeMemory), thousands(s.UsedMemory))},
	})
}

func executorActivationCmd(o *Options, deactivate bool) *cobra.Command {
	use, short, done := "reactivate", "Reactivate an executor (also ends a finished drain)", "reactivated"
	if deactivate {
		use, short, done = "deactivate", "Deactivate an executor: nothing new is placed on it, nothing is stopped", "deactivated"
	}
	return leaf(&cobra.Command{
		Use:   use + " EXECUTOR_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			s, raw, err := o.postExecutorAction(cmd, c, args[0], use, nil)
			if err != nil {
				return err
			}
			if o.JSON {
				return writeJSON(cmd.OutOrStdout(), raw)
			}
			outf(cmd, "Executor %s %s\n", args[0], done)
			return writeExecutorSummary(cmd.OutOrStdout(), s, args[0])
		},
	})
}

// drainFlags are the options of `executor drain`.
type drainFlags struct {
	maxGrace string
	markGone bool
	wait     bool
}

// body is the drain request: Mesos' DRAIN_AGENT options, the grace period
// as a Drove duration string (omitted: unbounded).
func (f drainFlags) body() (map[string]any, error) {
	body := map[string]any{"markGone": f.markGone}
	if f.maxGrace != "" {
		d, err := droveDuration(f.maxGrace)
		if err != nil {
			return nil, fmt.Errorf("--max-grace-period: %w", err)
		}
		body["maxGracePeriod"] = d
	}
	return body, nil
}

func executorDrainCmd(o *Options) *cobra.Command {
	var f drainFlags
	cmd := leaf(&cobra.Command{
		Use:   "drain EXECUTOR_ID",
		Short: "Drain an executor: stop everything on it (application instances after replacements run elsewhere)",
		Long: "Starts draining an executor; a drain cannot be cancelled. Every instance and task on it is stopped,\n" +
			"application instances after their replacements run elsewhere, each with its kill grace period\n" +
			"bounded by --max-grace-period (a Go duration such as 30s or 10m, or a Drove duration such as\n" +
			"\"30 seconds\"). With --mark-gone the executor is removed for good once DRAINED. With --wait the\n" +
			"executor is polled until it is DRAINED (and, with --mark-gone, removed), progress going to stderr.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := f.body()
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			s, raw, err := o.postExecutorAction(cmd, c, args[0], "drain", body)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !f.wait {
				if o.JSON {
					return writeJSON(out, raw)
				}
				outf(cmd, "Drain of executor %s started\n", args[0])
				return writeExecutorSummary(out, s, args[0])
			}
			if !o.JSON {
				outf(cmd, "Drain of executor %s started\n", args[0])
				if err := writeExecutorSummary(out, s, args[0]); err != nil {
					return err
				}
			}
			w := drainWaiter{c: c, id: args[0], markGone: f.markGone}
			final, msg, err := w.wait(cmdContext(cmd), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if o.JSON {
				if final == nil {
					final = raw
				}
				return writeJSON(out, final)
			}
			outln(cmd, msg)
			return nil
		},
	})
	fs := cmd.Flags()
	fs.StringVar(&f.maxGrace, "max-grace-period", "", "upper bound of each instance's kill grace period (30s, 10m, \"30 seconds\"); default unbounded")
	fs.BoolVar(&f.markGone, "mark-gone", false, "remove the executor for good once it is DRAINED")
	fs.BoolVarP(&f.wait, "wait", "w", false, "wait until the executor is DRAINED; Ctrl-C stops waiting (the drain continues)")
	return cmd
}

// drainView is the part of GET /cluster/executors/{id} the drain wait reads.
type drainView struct {
	ExecutorState    string            `json:"executorState"`
	DrainState       string            `json:"drainState"`
	Instances        []json.RawMessage `json:"instances"`
	Tasks            []json.RawMessage `json:"tasks"`
	ServiceInstances []json.RawMessage `json:"serviceInstances"`
}

func (v drainView) line(id string) string {
	return fmt.Sprintf("Executor %s: drain %s, state %s, %d instances and tasks left", id, orElse(v.DrainState, "-"),
		orDash(v.ExecutorState), len(v.Instances)+len(v.Tasks)+len(v.ServiceInstances))
}

// drainWaiter polls an executor until its drain finished.
type drainWaiter struct {
	c        *Client
	id       string
	markGone bool
}

// wait polls every opPollInterval until the executor is DRAINED (or, with
// markGone, no longer known); each change goes to errOut as a line. It returns the last executor data (nil when gone) and the message
// to print. SIGINT/SIGTERM stop waiting.
func (w drainWaiter) wait(ctx context.Context, errOut io.Writer) (json.RawMessage, string, error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	path := executorsPath + "/" + url.PathEscape(w.id)
	retry := pollRetrier{what: "executor " + w.id}
	var last json.RawMessage
	lastLine := ""
	for {
		var raw json.RawMessage
		err := w.c.DoContext(ctx, http.MethodGet, path, nil, nil, &raw)
		if ctx.Err() != nil {
			return nil, "", w.interrupted()
		}
		var v drainView
		if err == nil && json.Unmarshal(raw, &v) != nil {
			err = fmt.Errorf("GET %s: decoding executor", path)
		}
		switch {
		case err == nil:
			retry.reset()
			last = raw
			if line := v.line(w.id); line != lastLine {
				_, _ = fmt.Fprintln(errOut, line)
				lastLine = line
			}
			if msg, done := w.done(v); done {
				return raw, msg, nil
			}
		case w.markGone && isFailedLookup(err):
			return last, "Executor " + w.id + " is DRAINED and gone", nil
		default:
			if err := retry.failed(errOut, err); err != nil {
				return nil, "", err
			}
		}
		if !pause(ctx, opPollInterval) {
			return nil, "", w.interrupted()
		}
	}
}

// done reports whether the drain finished, with the message to print: the
// executor is DRAINED (with markGone also REMOVED at the same time; a
// REMOVED executor that is still DRAINING finishes once it is back). One
// that is no longer draining at all was drained and reactivated (a drain
// cannot be cancelled).
func (w drainWaiter) done(v drainView) (string, bool) {
	switch {
	case v.DrainState == "DRAINED" && v.ExecutorState == "REMOVED":
		return "Executor " + w.id + " is DRAINED and removed", true
	case v.DrainState == "DRAINED":
		return "Executor " + w.id + " is DRAINED", true
	case v.DrainState == "":
		return "Executor " + w.id + " is no longer draining (drained and reactivated)", true
	}
	return "", false
}

func (w drainWaiter) interrupted() error {
	return fmt.Errorf("stopped waiting; the drain of executor %s continues on the cluster", w.id)
}

// droveUnits are Dropwizard's duration units as Drove accepts them.
var droveUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
	"us": time.Microsecond, "microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// droveUnitNames are the units Drove writes, largest first.
var droveUnitNames = []struct {
	name string
	size time.Duration
}{
	{"days", 24 * time.Hour}, {"hours", time.Hour}, {"minutes", time.Minute}, {"seconds", time.Second},
	{"milliseconds", time.Millisecond}, {"microseconds", time.Microsecond}, {"nanoseconds", time.Nanosecond},
}

// parseDroveDuration parses Drove's "<integer><optional spaces><unit>"
// ("30 seconds", "5m", "1 day").
func parseDroveDuration(s string) (time.Duration, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	unit, ok := droveUnits[strings.ToLower(strings.TrimLeft(s[i:], " \t"))]
	if i == 0 || !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > int64(1<<63-1)/int64(unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// formatDroveDuration writes d in the largest unit that holds it exactly,
// singular for 1 ("90 seconds", "10 minutes", "1 hour").
func formatDroveDuration(d time.Duration) string {
	if d == 0 {
		return "0 seconds"
	}
	for _, u := range droveUnitNames {
		if d%u.size == 0 {
			n := int64(d / u.size)
			if n == 1 {
				return "1 " + strings.TrimSuffix(u.name, "s")
			}
			return strconv.FormatInt(n, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + " nanoseconds"
}

// parseAnyDuration accepts a Go duration ("30s", "1h30m") or a Drove one
// ("30 seconds"); negative durations are refused.
func parseAnyDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err != nil {
		var ok bool
		if d, ok = parseDroveDuration(t); !ok {
			return 0, fmt.Errorf("invalid duration %q: want a Go duration such as 30s or 1h30m, or a Drove duration such as \"30 seconds\"", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return d, nil
}

// droveDuration turns a Go duration into Drove's string form ("30s" is
// "30 seconds") and passes strings in Drove's form through unchanged.
func droveDuration(s string) (string, error) {
	t := strings.TrimSpace(s)
	if _, ok := parseDroveDuration(t); ok {
		if _, err := time.ParseDuration(t); err != nil {
			return t, nil
		}
	}
	d, err := parseAnyDuration(t)
	if err != nil {
		return "", err
	}
	return formatDroveDuration(d), nil
}

// shortDuration is d without trailing zero units ("1h", "1h30m", "20s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
