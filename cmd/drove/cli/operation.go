package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

const (
	appsPath   = "/apis/v1/applications"
	appOpsPath = appsPath + "/operations"
)

// Operation tracking of --wait; variables so that tests can shorten them.
var (
	// opPollInterval is how often --wait polls the operation.
	opPollInterval = time.Second
	// opAppearTimeout bounds how long --wait waits for the submitted
	// operation to show up in GET /applications/{id}/operation.
	opAppearTimeout = 30 * time.Second
	// maxPollFailures is how many polls in a row may fail (network errors,
	// leader changes) before --wait gives up.
	maxPollFailures = 30
)

// opStatusRunning is the only non-final operation status.
const opStatusRunning = "RUNNING"

// opFlags are the -p/-t/-w flags of the commands that submit operations.
type opFlags struct {
	parallelism int
	timeout     string
	wait        bool
}

// add registers -p/--parallelism, -t/--timeout and -w/--wait on cmd. -p and
// -t are global shorthands too (--password, --auth-header), which stay
// available in their long form, as on `cluster events`.
func (f *opFlags) add(cmd *cobra.Command, o *Options, waitUsage string) {
	fs := cmd.Flags()
	fs.IntVarP(&f.parallelism, "parallelism", "p", 1, "number of instances handled in parallel (1-512)")
	fs.StringVarP(&f.timeout, "timeout", "t", "5m", "timeout for each job of the operation on the cluster (Drove duration: 5m, 100 seconds, ...)")
	fs.BoolVarP(&f.wait, "wait", "w", false, waitUsage+"; progress goes to stderr, Ctrl-C stops waiting (the operation continues)")
	o.addLongAliases(fs, "password", "auth-header")
}

func (f opFlags) validate() error {
	if f.parallelism < 1 || f.parallelism > 512 {
		return fmt.Errorf("--parallelism must be between 1 and 512, got %d", f.parallelism)
	}
	if strings.TrimSpace(f.timeout) == "" {
		return errors.New("--timeout must not be empty")
	}
	return nil
}

// opSpec is the operation's ClusterOpSpec.
func (f opFlags) opSpec() map[string]any {
	return map[string]any{"timeout": f.timeout, "parallelism": f.parallelism, "failureStrategy": "STOP"}
}

// defaultOpSpec is what Drove's CLI sends where it has no flags.
func defaultOpSpec() map[string]any {
	return opFlags{parallelism: 1, timeout: "5m"}.opSpec()
}

// appOperation is one POST /apis/v1/applications/operations.
type appOperation struct {
	appID    string
	body     map[string]any
	accepted string // printed when not waiting
	done     string // printed when --wait saw the operation complete
}

// submitAppOp posts op. Without --wait it prints op.accepted (or, with
// --json, the response data). With --wait it follows the operation until it
// ends, printing progress lines to stderr, then op.done (or, with --json,
// the final operation); a failed or cancelled operation is an error.
func (o *Options) submitAppOp(cmd *cobra.Command, f opFlags, op appOperation) error {
	if err := f.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(op.appID) == "" {
		return errors.New("app id must not be empty")
	}
	c, err := o.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmdContext(cmd)
	var w *opWaiter
	if f.wait {
		if w, err = newOpWaiter(ctx, c, op.appID); err != nil {
			return err
		}
	}
	var raw json.RawMessage
	if err := c.DoContext(ctx, http.MethodPost, appOpsPath, nil, op.body, &raw); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if w == nil {
		if o.JSON {
			return writeJSON(out, raw)
		}
		outln(cmd, op.accepted)
		return nil
	}
	final, err := w.wait(ctx, cmd.ErrOrStderr())
	if o.JSON && final.raw != nil {
		if werr := writeJSON(out, final.raw); werr != nil && err == nil {
			err = werr
		}
	} else if err == nil {
		outln(cmd, op.done)
	}
	return err
}

// postSimple posts an operation without flags (create, destroy) and returns
// the response data; with --json it has printed it already.
func (o *Options) postSimple(cmd *cobra.Command, path string, body any) (raw json.RawMessage, printed bool, err error) {
	c, err := o.client(cmd)
	if err != nil {
		return nil, false, err
	}
	if err := c.DoContext(cmdContext(cmd), http.MethodPost, path, nil, body, &raw); err != nil {
		return nil, false, err
	}
	if o.JSON {
		return raw, true, writeJSON(cmd.OutOrStdout(), raw)
	}
	return raw, false, nil
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// opProgress is the data of GET /apis/v1/applications/{appId}/operation:
// the running or last operation of the app with its progress.
type opProgress struct {
	ID                string   `json:"id"`
	AppID             string   `json:"appId"`
	Type              string   `json:"type"`
	Source            string   `json:"source"`
	RequiredInstances int      `json:"requiredInstances"`
	InstanceIDs       []string `json:"instanceIds"`
	Status            string   `json:"status"`
	Message           string   `json:"message"`
	JobsTotal         int      `json:"jobsTotal"`
	JobsDone          int      `json:"jobsDone"`
	JobsFailed        int      `json:"jobsFailed"`
	Started           int64    `json:"started"`
	Deadline          int64    `json:"deadline"`
	Finished          int64    `json:"finished"`
	AppState          string   `json:"appState"`

	raw json.RawMessage // as received
}

// label is the operation type as submitted (START_INSTANCES and SUSPEND run
// as SCALE on the server).
func (p opProgress) label() string { return orElse(p.Source, orElse(p.Type, "OPERATION")) }

func (p opProgress) line() string {
	return fmt.Sprintf("%s %s: %d/%d done, %d failed (%s)", p.label(), p.ID, p.JobsDone, p.JobsTotal, p.JobsFailed, p.Status)
}

// opWaiter follows the operation submitted for one app.
type opWaiter struct {
	c         *Client
	appID     string
	prevID    string    // the app's operation before submitting
	prevKnown bool      // whether prevID is reliable
	submitted time.Time // just before submitting
}

// newOpWaiter records the app's current operation, so that the one about to
// be submitted can be told apart. It fails when the server cannot report
// operations at all, before anything is submitted.
func newOpWaiter(ctx context.Context, c *Client, appID string) (*opWaiter, error) {
	w := &opWaiter{c: c, appID: appID}
	p, err := w.fetch(ctx)
	var apiErr *APIError
	switch {
	case err == nil:
		w.prevID, w.prevKnown = p.ID, true
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("--wait needs GET %s (operation progress), which this server does not provide: %w", w.path(), err)
	case isFailedLookup(err):
		w.prevKnown = true // no operation recorded (yet)
	}
	w.submitted = time.Now()
	return w, nil
}

func (w *opWaiter) path() string { return appsPath + "/" + url.PathEscape(w.appID) + "/operation" }

func (w *opWaiter) fetch(ctx context.Context) (opProgress, error) {
	var raw json.RawMessage
	if err := w.c.DoContext(ctx, http.MethodGet, w.path(), nil, nil, &raw); err != nil {
		return opProgress{}, err
	}
	var p opProgress
	if len(raw) == 0 || string(raw) == "null" {
		return p, fmt.Errorf("GET %s: no data", w.path())
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("GET %s: decoding operation: %w", w.path(), err)
	}
	p.raw = raw
	return p, nil
}

// isMine reports whether p is the operation submitted after newOpWaiter:
// its id differs from the one seen before, or, when that is unknown, it
// started after the submission (allowing 5 s of clock skew).
func (w *opWaiter) isMine(p opProgress) bool {
	if p.ID == "" {
		return false
	}
	if w.prevKnown {
		return p.ID != w.prevID
	}
	return p.Started >= w.submitted.Add(-5*time.Second).UnixMilli()
}

// isFailedLookup reports a FAILED envelope answered with HTTP 200, Drove's
// way of saying that something looked up does not exist.
func isFailedLookup(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusOK && apiErr.Body == ""
}

// wait polls the operation every opPollInterval until it ends, printing a
// progress line to errOut whenever it changes. It returns the final state;
// FAILED and CANCELLED are errors. SIGINT/SIGTERM stop waiting.
func (w *opWaiter) wait(ctx context.Context, errOut io.Writer) (opProgress, error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		mine     opProgress
		lastLine string
	)
	retry := pollRetrier{what: "the operation of app " + w.appID}
	appearBy := time.Now().Add(opAppearTimeout)
	for {
		p, err := w.fetch(ctx)
		if ctx.Err() != nil {
			return mine, w.interrupted(mine)
		}
		switch {
		case err == nil:
			retry.reset()
			if mine.ID == "" && w.isMine(p) {
				mine = p
			}
			if mine.ID == "" {
				break
			}
			if p.ID != mine.ID {
				return mine, fmt.Errorf("operation %s (%s) of app %s was superseded by operation %s (%s); no longer waiting",
					mine.ID, mine.label(), w.appID, p.ID, p.label())
			}
			mine = p
			if line := p.line(); line != lastLine {
				_, _ = fmt.Fprintln(errOut, line)
				lastLine = line
			}
			if p.Status != opStatusRunning {
				return p, p.result(w.appID)
			}
		case mine.ID == "" && isFailedLookup(err):
			// the operation is not recorded yet
		case mine.ID != "" && isFailedLookup(err):
			return mine, fmt.Errorf("operation %s of app %s: %w", mine.ID, w.appID, err)
		default:
			if err := retry.failed(errOut, err); err != nil {
				return mine, err
			}
		}
		if mine.ID == "" && time.Now().After(appearBy) {
			return mine, fmt.Errorf("the submitted operation did not show up in GET %s within %s; check with `drove apps summary %s`",
				w.path(), opAppearTimeout, w.appID)
		}
		if !pause(ctx, opPollInterval) {
			return mine, w.interrupted(mine)
		}
	}
}

// pollRetrier decides, for the --wait loops, which failed polls are
// retried: network failures and server errors are, up to maxPollFailures
// in a row, each new message reported once on the error output;
// authentication failures, 404s and FAILED lookups are final.
type pollRetrier struct {
	what     string // what is polled, for messages: "the operation of app X"
	failures int
	lastErr  string
}

func (r *pollRetrier) reset() { r.failures, r.lastErr = 0, "" }

// failed records a failed poll; a non-nil result ends the wait.
func (r *pollRetrier) failed(errOut io.Writer, err error) error {
	var apiErr *APIError
	if isFailedLookup(err) || errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnauthorized ||
		apiErr.StatusCode == http.StatusForbidden || apiErr.StatusCode == http.StatusNotFound) {
		return err
	}
	r.failures++
	if r.failures >= maxPollFailures {
		return fmt.Errorf("giving up waiting for %s after %d failed polls: %w", r.what, r.failures, err)
	}
	if msg := err.Error(); msg != r.lastErr {
		warn(errOut, "polling "+r.what+": "+msg+"; retrying")
		r.lastErr = msg
	}
	return nil
}

// pause waits d; false means ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// result is nil for a COMPLETED operation, else an error with its message.
func (p opProgress) result(appID string) error {
	if p.Status == "COMPLETED" {
		return nil
	}
	msg := fmt.Sprintf("operation %s (%s) of app %s %s", p.ID, p.label(), appID, p.Status)
	if p.Message != "" {
		msg += ": " + p.Message
	}
	return errors.New(msg)
}

func (w *opWaiter) interrupted(mine opProgress) error {
	what := "the operation"
	if mine.ID != "" {
		what = "operation " + mine.ID
	}
	return fmt.Errorf("stopped waiting; %s continues on the cluster (`drove apps cancelop %s` cancels it)", what, w.appID)
}
