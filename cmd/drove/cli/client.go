package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequestTimeout bounds every non-streaming request.
const RequestTimeout = 30 * time.Second

// maxBody caps how much of a response body is read.
const maxBody = 32 << 20

// Client calls a Drove controller's HTTP API.
type Client struct {
	BaseURL    string       // e.g. http://localhost:4000, without trailing slash
	Username   string       // basic auth user; with Password takes precedence over AuthHeader
	Password   string       // basic auth password
	AuthHeader string       // sent verbatim as Authorization when no username/password is set
	HTTP       *http.Client // for ordinary requests (30 s timeout)
	Stream     *http.Client // for streaming requests (no overall timeout)
	DebugOut   io.Writer    // when set, request lines and response status are written here
}

// NewClient builds a Client for cfg.
func NewClient(cfg Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicitly requested with --insecure
	}
	return &Client{
		BaseURL:    strings.TrimRight(cfg.Endpoint, "/"),
		Username:   cfg.Username,
		Password:   cfg.Password,
		AuthHeader: cfg.AuthHeader,
		HTTP:       &http.Client{Transport: tr, Timeout: RequestTimeout},
		Stream:     &http.Client{Transport: tr},
	}
}

// APIError is a failed API call: a FAILED envelope, an authentication
// failure or a response that is not Drove's envelope.
type APIError struct {
	StatusCode       int      // HTTP status code
	Status           string   // HTTP status line text, e.g. "400 Bad Request"
	Message          string   // the envelope's message
	ValidationErrors []string // the envelope's data.validationErrors
	Body             string   // raw body, when it was not an envelope
}

// Error renders the message, then each validation error on its own line.
func (e *APIError) Error() string {
	var b strings.Builder
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		b.WriteString("authentication failed (HTTP 401): check the username/password or auth header")
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
	case e.StatusCode == http.StatusForbidden:
		b.WriteString("permission denied (HTTP 403)")
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
	case e.Body != "" || (e.Message == "" && len(e.ValidationErrors) == 0):
		fmt.Fprintf(&b, "unexpected response (HTTP %s)", e.Status)
		if body := strings.TrimSpace(e.Body); body != "" {
			if len(body) > 2048 {
				body = body[:2048] + "…"
			}
			b.WriteString(": " + body)
		}
	default:
		msg := e.Message
		if msg == "" {
			msg = "request failed"
		}
		fmt.Fprintf(&b, "%s (HTTP %d)", msg, e.StatusCode)
	}
	for _, v := range e.ValidationErrors {
		b.WriteString("\n  - " + v)
	}
	return b.String()
}

// envelope is Drove's ApiResponse.
type envelope struct {
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

// Do calls the API and decodes the envelope's data into out (which may be
// nil). body, when not nil, is sent as JSON. Failures are *APIError values.
func (c *Client) Do(method, path string, query url.Values, body any, out any) error {
	return c.DoContext(context.Background(), method, path, query, body, out)
}

// DoContext is Do with a context.
func (c *Client) DoContext(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding request body: %w", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := c.newRequest(ctx, method, path, query, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(c.HTTP, req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", method, path, err)
	}
	data, err := decodeEnvelope(resp, raw)
	if err != nil {
		return err
	}
	if out == nil || len(data) == 0 || string(data) == "null" {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding response data: %w", method, path, err)
	}
	return nil
}

// newRequest builds a request for path below the base URL with auth headers.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	switch {
	case c.Username != "" || c.Password != "":
		req.SetBasicAuth(c.Username, c.Password)
	case c.AuthHeader != "":
		req.Header.Set("Authorization", c.AuthHeader)
	}
	return req, nil
}

// send performs req with hc, writing debug lines when enabled.
func (c *Client) send(hc *http.Client, req *http.Request) (*http.Response, error) {
	if c.DebugOut != nil {
		_, _ = fmt.Fprintf(c.DebugOut, "> %s %s\n", req.Method, req.URL.Redacted())
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		if c.DebugOut != nil {
			_, _ = fmt.Fprintf(c.DebugOut, "< error after %s: %v\n", time.Since(start).Round(time.Millisecond), err)
		}
		return nil, fmt.Errorf("calling %s: %w", c.BaseURL, err)
	}
	if c.DebugOut != nil {
		_, _ = fmt.Fprintf(c.DebugOut, "< HTTP %s (%s)\n", resp.Status, time.Since(start).Round(time.Millisecond))
	}
	return resp, nil
}

// decodeEnvelope returns the data of a SUCCESS envelope or an *APIError.
func decodeEnvelope(resp *http.Response, raw []byte) (json.RawMessage, error) {
	apiErr := &APIError{StatusCode: resp.StatusCode, Status: resp.Status}
	var env envelope
	isEnvelope := json.Unmarshal(raw, &env) == nil && env.Status != ""
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		if isEnvelope {
			apiErr.Message = env.Message
		}
		return nil, apiErr
	}
	if !isEnvelope {
		apiErr.Body = string(raw)
		if apiErr.Body == "" {
			apiErr.Body = "(empty body)"
		}
		return nil, apiErr
	}
	if env.Status == "SUCCESS" && resp.StatusCode < 400 {
		return env.Data, nil
	}
	apiErr.Message = env.Message
	apiErr.ValidationErrors = validationErrors(env.Data)
	if env.Status == "SUCCESS" && apiErr.Message == "" {
		apiErr.Message = "request failed"
	}
	return nil, apiErr
}

// validationErrors extracts data.validationErrors; entries that are not
// strings are rendered as compact JSON.
func validationErrors(data json.RawMessage) []string {
	var d struct {
		ValidationErrors []json.RawMessage `json:"validationErrors"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil {
		return nil
	}
	out := make([]string, 0, len(d.ValidationErrors))
	for _, v := range d.ValidationErrors {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out = append(out, s)
			continue
		}
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			out = append(out, buf.String())
		}
	}
	return out
}
