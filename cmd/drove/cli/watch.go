package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Event is one cluster event (Drove's DroveEvent). Metadata values are kept
// as raw JSON.
type Event struct {
	Type     string                     `json:"type"`
	ID       string                     `json:"id"`
	Time     int64                      `json:"time"`
	Metadata map[string]json.RawMessage `json:"metadata"`

	raw json.RawMessage // the event as received, when it came from a stream
}

// Gap is the watch stream's notice that events before FirstIndex were
// already dropped from the bounded event log when Requested was asked for.
type Gap struct {
	FirstIndex uint64 `json:"firstIndex"`
	Requested  uint64 `json:"requested"`
}

// WatchOptions configure WatchEvents.
type WatchOptions struct {
	// Since is the first request's ?since= index; "" lets the server choose.
	Since string
	// RetryDelay is the first wait before reconnecting after a failed
	// connection (default 500ms); it doubles up to MaxRetryDelay (default
	// 10s). A stream that delivered data is resumed at once.
	RetryDelay, MaxRetryDelay time.Duration
	// IdleTimeout drops a stream that sent nothing, not even a keep-alive,
	// for this long (default 90s).
	IdleTimeout time.Duration
	// OnEvent is called for each event with its stream id (the log index).
	// An error stops the watch and is returned.
	OnEvent func(id string, ev Event) error
	// OnGap is called for gap notices; an error stops the watch.
	OnGap func(g Gap) error
	// OnWarning reports interruptions, reconnects and skipped frames.
	OnWarning func(msg string)
}

const watchPath = "/apis/v1/cluster/events/watch"

// errStreamClosed is reported when the server ends a stream cleanly.
var errStreamClosed = errors.New("stream closed by server")

// fatalError marks errors that reconnecting cannot fix.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

// WatchEvents follows the server-sent event stream of cluster events until
// ctx ends (returning ctx.Err()), a callback fails, or the server rejects the
// request with a 4xx status. Broken streams are reopened with the
// Last-Event-ID header set to the last id seen.
func (c *Client) WatchEvents(ctx context.Context, o WatchOptions) error {
	o = o.withDefaults()
	lastID := ""
	delay := o.RetryDelay
	for {
		progressed, err := c.watchOnce(ctx, o, &lastID)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		wait := delay
		if progressed {
			wait, delay = 0, o.RetryDelay
		} else {
			delay = min(delay*2, o.MaxRetryDelay)
		}
		from := "from the start"
		if lastID != "" {
			from = "after event " + lastID
		}
		o.warn(fmt.Sprintf("event stream interrupted: %v; reconnecting in %s %s", err, wait, from))
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	if o.MaxRetryDelay < o.RetryDelay {
		o.MaxRetryDelay = max(10*time.Second, o.RetryDelay)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 90 * time.Second
	}
	return o
}

func (o WatchOptions) warn(msg string) {
	if o.OnWarning != nil {
		o.OnWarning(msg)
	}
}

// watchOnce runs one connection. progressed reports whether the stream
// delivered anything.
func (c *Client) watchOnce(ctx context.Context, o WatchOptions, lastID *string) (progressed bool, err error) {
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(o.IdleTimeout, func() {
		cancel(fmt.Errorf("no data for %s", o.IdleTimeout))
	})
	defer idle.Stop()

	query := url.Values{}
	if *lastID == "" && o.Since != "" {
		query.Set("since", o.Since)
	}
	req, err := c.newRequest(connCtx, http.MethodGet, watchPath, query, nil)
	if err != nil {
		return false, &fatalError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := c.send(c.Stream, req)
	if err != nil {
		return false, causeOf(connCtx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_, apiErr := decodeEnvelope(resp, raw)
		if apiErr == nil {
			apiErr = &APIError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(raw)}
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			return false, &fatalError{apiErr}
		}
		return false, apiErr
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, &fatalError{fmt.Errorf("watch: unexpected content type %q (server does not support event streaming?)", resp.Header.Get("Content-Type"))}
	}
	err = readSSE(resp.Body, func() {
		progressed = true
		idle.Reset(o.IdleTimeout)
	}, func(f sseFrame) error {
		return dispatch(o, f, lastID)
	})
	if err == nil {
		err = errStreamClosed
	}
	return progressed, causeOf(connCtx, err)
}

// causeOf prefers the reason connCtx was cancelled (the idle timeout) over
// the resulting I/O error.
func causeOf(connCtx context.Context, err error) error {
	var fatal *fatalError
	if errors.As(err, &fatal) {
		return err
	}
	if cause := context.Cause(connCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// dispatch hands one complete frame to the callbacks and records its id.
func dispatch(o WatchOptions, f sseFrame, lastID *string) error {
	if f.data != "" {
		switch f.event {
		case "", "event":
			var ev Event
			if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
				o.warn(fmt.Sprintf("skipping undecodable event %s: %v", f.id, err))
			} else if o.OnEvent != nil {
				ev.raw = json.RawMessage(f.data)
				if err := o.OnEvent(f.id, ev); err != nil {
					return &fatalError{err}
				}
			}
		case "gap":
			var g Gap
			if err := json.Unmarshal([]byte(f.data), &g); err != nil {
				o.warn(fmt.Sprintf("skipping undecodable gap notice: %v", err))
			} else if o.OnGap != nil {
				if err := o.OnGap(g); err != nil {
					return &fatalError{err}
				}
			}
		}
	}
	if f.hasID {
		*lastID = f.id
	}
	return nil
}

// sseFrame is one dispatched server-sent event.
type sseFrame struct {
	id, event, data string
	hasID           bool
}

// readSSE parses a text/event-stream body, calling touch for every line
// (including keep-alive comments) and fn for every complete frame. It
// returns nil at a clean end of stream.
func readSSE(r io.Reader, touch func(), fn func(sseFrame) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var (
		cur  sseFrame
		data []string
	)
	for sc.Scan() {
		touch()
		line := sc.Text()
		if line == "" {
			if len(data) > 0 || cur.hasID {
				cur.data = strings.Join(data, "\n")
				if err := fn(cur); err != nil {
					return err
				}
			}
			cur, data = sseFrame{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			cur.id, cur.hasID = value, true
		case "event":
			cur.event = value
		case "data":
			data = append(data, value)
		}
	}
	return sc.Err()
}
