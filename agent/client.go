package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// Headers of node-to-node authentication (Drove's names, as the controller uses).
const (
	headerClusterAuth = "Cluster-Authorization"
	headerNodeID      = "NodeId"
)

// maxResponseBytes bounds controller answers (expected lists of thousands
// of specs are a few MB).
const maxResponseBytes = 64 << 20

// envelope is Drove's ApiResponse {status, data, message}.
type envelope struct {
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data,omitempty"`
	Message string          `json:"message"`
}

// apiError is a non-success answer of a controller.
type apiError struct {
	url     string
	code    int
	message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.url, e.code, e.message)
}

// controllerClient calls the controllers' internal executor endpoints. It
// tries the controllers in turn, starting with the last one that answered,
// so that no single controller is needed. Safe for concurrent use.
type controllerClient struct {
	urls    []string
	secret  string
	nodeID  string
	timeout time.Duration
	hc      *http.Client
	logger  hclog.Logger
	first   atomic.Int64 // index of the controller that last answered
}

func newControllerClient(urls []string, secret, nodeID string, timeout time.Duration, logger hclog.Logger) *controllerClient {
	clean := make([]string, 0, len(urls))
	for _, u := range urls {
		clean = append(clean, strings.TrimRight(strings.TrimSpace(u), "/"))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &controllerClient{urls: clean, secret: secret, nodeID: nodeID, timeout: timeout,
		hc: &http.Client{Transport: tr}, logger: logger}
}

func (c *controllerClient) executorPath(suffix string) string {
	return "/apis/v1/internal/executors/" + url.PathEscape(c.nodeID) + suffix
}

// register sends the executor's registration.
func (c *controllerClient) register(ctx context.Context, reg model.ExecutorRegistration) (model.ReportAck, error) {
	var ack model.ReportAck
	err := c.call(ctx, http.MethodPost, "/apis/v1/internal/executors/register", reg, &ack)
	return ack, err
}

// report sends an instance report.
func (c *controllerClient) report(ctx context.Context, rep model.ExecutorReport) (model.ReportAck, error) {
	var ack model.ReportAck
	err := c.call(ctx, http.MethodPost, c.executorPath("/report"), rep, &ack)
	return ack, err
}

// expected fetches the leader's view of what this executor should run.
// hostname lets the leader tell an executor it does not know that its
// machine is DOWN for maintenance.
func (c *controllerClient) expected(ctx context.Context, hostname string) (model.ExpectedInstances, error) {
	var exp model.ExpectedInstances
	err := c.call(ctx, http.MethodGet, c.executorPath("/instances/expected?hostname="+url.QueryEscape(hostname)), nil, &exp)
	return exp, err
}

// call tries each controller once, starting with the last one that worked.
// Any failure (connection error, timeout, non-2xx, FAILED envelope) moves
// on to the next controller; the error lists every attempt.
func (c *controllerClient) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	start := int(c.first.Load())
	var errs []error
	for i := range c.urls {
		idx := (start + i) % len(c.urls)
		err := c.try(ctx, c.urls[idx], method, path, body, out)
		if err == nil {
			if idx != start {
				c.first.Store(int64(idx))
				c.logger.Debug("switched controller", "url", c.urls[idx])
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%s %s failed on every controller: %w", method, path, errors.Join(errs...))
}

func (c *controllerClient) try(ctx context.Context, base, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(headerClusterAuth, c.secret)
	req.Header.Set(headerNodeID, c.nodeID)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", base, err)
	}
	var env envelope
	decErr := json.Unmarshal(raw, &env)
	if resp.StatusCode/100 != 2 {
		msg := env.Message
		if decErr != nil || msg == "" {
			msg = strings.TrimSpace(string(raw))
		}
		return &apiError{url: base, code: resp.StatusCode, message: msg}
	}
	if decErr != nil {
		return fmt.Errorf("%s: decode response: %w", base, decErr)
	}
	if env.Status != "SUCCESS" {
		return &apiError{url: base, code: resp.StatusCode, message: env.Status + ": " + env.Message}
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s: decode response data: %w", base, err)
		}
	}
	return nil
}
