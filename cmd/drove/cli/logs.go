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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// The log commands (appinstances|lsinstances|tasks logs|tail|download) use
// Drove's log-file APIs, /apis/v1/logfiles/{applications|localservices|tasks}/
// {id}/{instanceId or taskId}/…, whose answers are not enveloped:
// {"files": […]}, {"data": …, "offset": …}, a file stream, {"error": …} on
// failure and 204 No Content when the instance or its executor is unknown.

// logTarget describes what a family of log commands reads the logs of.
type logTarget struct {
	kind    string // path segment below /apis/v1/logfiles
	what    string // with article, for help texts: "an application instance"
	idArg   string // usage name of the first argument: APP_ID
	subArg  string // usage name of the second argument: INSTANCE_ID
	idName  string // the first argument in messages: "app id"
	subName string // the second argument in messages: "instance id"
}

var (
	appInstanceLogs = logTarget{kind: "applications", what: "an application instance",
		idArg: "APP_ID", subArg: "INSTANCE_ID", idName: "app id", subName: "instance id"}
	serviceInstanceLogs = logTarget{kind: "localservices", what: "a local service instance",
		idArg: "SERVICE_ID", subArg: "INSTANCE_ID", idName: "service id", subName: "instance id"}
	taskLogs = logTarget{kind: "tasks", what: "a task",
		idArg: "SOURCE_APP", subArg: "TASK_ID", idName: "source app name", subName: "task id"}
)

// tailInterval is how long tail waits when no new output is there.
var tailInterval = time.Second

// errNoInstanceLogs is the controller's 204: unknown instance or executor.
var errNoInstanceLogs = errors.New("instance not found, or its executor is unknown")

// logChunk is the answer of a read.
type logChunk struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// path is the log-file API path of one instance or task.
func (t logTarget) path(id, sub, suffix string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errors.New(t.idName + " must not be empty")
	}
	if strings.TrimSpace(sub) == "" {
		return "", errors.New(t.subName + " must not be empty")
	}
	return "/apis/v1/logfiles/" + t.kind + "/" + url.PathEscape(id) + "/" + url.PathEscape(sub) + suffix, nil
}

// getLogs sends a GET to a log-file API and returns the response when it is
// 200; any other answer becomes an error (errNoInstanceLogs for 204, an
// *APIError carrying the {"error": …} text otherwise). hc chooses between
// the ordinary and the streaming HTTP client.
func (c *Client) getLogs(ctx context.Context, hc *http.Client, path string, query url.Values) (*http.Response, error) {
	req, err := c.newRequest(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(hc, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNoContent {
		return nil, errNoInstanceLogs
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading response: %w", path, err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return nil, &APIError{StatusCode: resp.StatusCode, Status: resp.Status, Message: e.Error}
	}
	if _, err := decodeEnvelope(resp, raw); err != nil {
		return nil, err
	}
	return nil, &APIError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(raw)}
}

// getLogsJSON is getLogs decoding a JSON answer into out.
func (c *Client) getLogsJSON(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.getLogs(ctx, c.HTTP, path, query)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decoding response: %w", path, err)
	}
	return nil
}

// noLogsError names the instance in errNoInstanceLogs.
func noLogsError(err error, appID, instanceID string) error {
	if errors.Is(err, errNoInstanceLogs) {
		return fmt.Errorf("no logs for %s/%s: %w", appID, instanceID, err)
	}
	return err
}

func logsListCmd(o *Options, t logTarget) *cobra.Command {
	return leaf(&cobra.Command{
		Use:   "logs " + t.idArg + " " + t.subArg,
		Short: "List the log files of " + t.what,
		Long:  "Lists the log files of " + t.what + " on its executor (output.log and rotated ones), one per line.",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := t.path(args[0], args[1], "/list")
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var list struct {
				Files []string `json:"files"`
			}
			if err := c.getLogsJSON(cmd.Context(), path, nil, &list); err != nil {
				return noLogsError(err, args[0], args[1])
			}
			if o.JSON {
				if list.Files == nil {
					list.Files = []string{}
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			for _, f := range list.Files {
				if _, err := fmt.Fprintln(cmd.OutOrStdout(), f); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

func logsTailCmd(o *Options, t logTarget) *cobra.Command {
	var (
		file string
		skip int
	)
	cmd := leaf(&cobra.Command{
		Use:   "tail " + t.idArg + " " + t.subArg,
		Short: "Follow the log of " + t.what,
		Long: "Prints what is appended to the log of " + t.what + " from now on, until interrupted (Ctrl-C).\n" +
			"--skip-chars drops that many characters from the start of every line (e.g. a timestamp).\n" +
			"When the log is rotated tail continues at the start of the new file.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if skip < 0 {
				return fmt.Errorf("--skip-chars must be >= 0, got %d", skip)
			}
			path, err := t.path(args[0], args[1], "/read/"+url.PathEscape(file))
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = tailLog(ctx, c, path, &lineSkipper{w: cmd.OutOrStdout(), skip: skip}, cmd.ErrOrStderr())
			if ctx.Err() != nil {
				return nil
			}
			return noLogsError(err, args[0], args[1])
		},
	})
	fs := cmd.Flags()
	fs.StringVarP(&file, "log", "l", "output.log", "log file to follow")
	fs.IntVarP(&skip, "skip-chars", "S", 0, "characters to drop from the start of each line")
	return cmd
}

// tailLog follows a log with Drove's algorithm: read with offset -1 for the
// current length, then read from there, advancing by the length of the
// data, and wait tailInterval whenever nothing new came. When nothing came
// and the file is shorter than the offset reached, it was rotated: reading
// goes on from its start. Failures that may pass (network, 5xx) are
// reported on errOut and retried; it returns when ctx ends (nil) or on
// any other failure.
func tailLog(ctx context.Context, c *Client, path string, out, errOut io.Writer) error {
	offset := int64(-1)
	failing := false
	for {
		var chunk logChunk
		q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
		err := c.getLogsJSON(ctx, path, q, &chunk)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !transient(err):
			return err
		case err != nil:
			if !failing {
				warn(errOut, err.Error()+" (retrying)")
			}
			failing = true
		case offset == -1:
			offset, failing = chunk.Offset, false
			continue
		case chunk.Data != "":
			failing = false
			offset += int64(len(chunk.Data))
			if _, err := io.WriteString(out, chunk.Data); err != nil {
				return err
			}
			continue
		default:
			failing = false
			var end logChunk
			if err := c.getLogsJSON(ctx, path, url.Values{"offset": {"-1"}}, &end); err == nil && end.Offset < offset {
				offset = 0 // rotated or truncated
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tailInterval):
		}
	}
}

// transient reports whether a failure may go away by itself: no answer at
// all or a server error. 204 and 4xx answers are final.
func transient(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 500
	}
	return !errors.Is(err, errNoInstanceLogs)
}

// lineSkipper drops the first skip characters of every line written to
// it, also when a line arrives in several writes.
type lineSkipper struct {
	w    io.Writer
	skip int
	col  int // characters of the current line seen so far
}

func (s *lineSkipper) Write(p []byte) (int, error) {
	if s.skip == 0 {
		return s.w.Write(p)
	}
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == '\n' {
			s.col = 0
			out = append(out, '\n')
		} else {
			if s.col >= s.skip {
				out = append(out, p[i:i+size]...)
			}
			s.col++
		}
		i += size
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func logsDownloadCmd(o *Options, t logTarget) *cobra.Command {
	var out string
	cmd := leaf(&cobra.Command{
		Use:   "download " + t.idArg + " " + t.subArg + " FILE",
		Short: "Download a log file of " + t.what,
		Long: "Downloads the log file to --out (default: the file's name in the current directory;\n" +
			"\"-\" writes it to standard output). The file appears only once it is complete.",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[2]
			if strings.TrimSpace(file) == "" {
				return errors.New("file name must not be empty")
			}
			path, err := t.path(args[0], args[1], "/download/"+url.PathEscape(file))
			if err != nil {
				return err
			}
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Base(file)
			}
			msgs := cmd.OutOrStdout()
			if out == "-" {
				msgs = cmd.ErrOrStderr()
			}
			_, _ = fmt.Fprintln(msgs, "Downloading log to: "+out)
			n, err := downloadLog(cmd.Context(), c, path, out, cmd.OutOrStdout())
			if err != nil {
				return noLogsError(err, args[0], args[1])
			}
			_, err = fmt.Fprintf(msgs, "Downloaded size: %s bytes\n", thousands(n))
			return err
		},
	})
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (\"-\" for standard output; default: FILE's name)")
	return cmd
}

// downloadLog streams the file at path into out ("-": stdout), through a
// temporary file next to it that is renamed once complete.
func downloadLog(ctx context.Context, c *Client, path, out string, stdout io.Writer) (int64, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	resp, err := c.getLogs(ctx, c.Stream, path, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if out == "-" {
		return io.Copy(stdout, resp.Body)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op once renamed
	n, err := io.Copy(tmp, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return n, fmt.Errorf("downloading to %s: %w", out, err)
	}
	return n, nil
}
