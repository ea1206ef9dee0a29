package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/hashicorp/go-hclog"
)

// headerForwarded marks a request proxied by a follower. A node never
// forwards such a request again, so a stale view of the leader cannot loop.
const headerForwarded = "X-Drove-Forwarded-By"

// maxReplayBody is how much of a request body the forwarder keeps to retry
// against a new leader; larger bodies are streamed once without retry.
const maxReplayBody = 1 << 20

// errRetryForward is an attempt that wrote nothing and may be retried.
var errRetryForward = errors.New("forward attempt failed")

// leaderLocator is what the forwarder needs to know about leadership.
type leaderLocator interface {
	// leaderAPI returns the leader's HTTP address, whether it is this node,
	// and false when no leader is known.
	leaderAPI() (addr string, self bool, ok bool)
}

// forwarder proxies requests to the leader: the one place leader forwarding
// lives. It waits a bounded time for a leader to exist and retries when the
// target turns out not to be the leader (or is unreachable) while the body
// can be replayed.
type forwarder struct {
	locator   leaderLocator
	nodeID    string
	wait      time.Duration
	transport *http.Transport
	logger    hclog.Logger
}

func newForwarder(locator leaderLocator, nodeID string, wait time.Duration, logger hclog.Logger) *forwarder {
	return &forwarder{
		locator: locator, nodeID: nodeID, wait: wait, logger: logger,
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// forward proxies r to the leader and reports true, or reports false when this
// node became the leader meanwhile (the caller then serves r itself). The
// body of r is buffered into r.Body again in that case.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request) bool {
	body, replayable, err := bufferBody(r)
	if err != nil {
		writeError(w, &jsonError{err})
		return true
	}
	deadline := time.Now().Add(f.wait)
	backoff := 10 * time.Millisecond
	for {
		addr, self, ok := f.locator.leaderAPI()
		if ok && self {
			r.Body = body()
			return false
		}
		if ok {
			r.Body = body()
			err := f.proxy(w, r, addr)
			if err == nil || !replayable || r.Context().Err() != nil {
				return true
			}
			f.logger.Debug("forward attempt failed; retrying", "leader", addr, "error", err)
		}
		if time.Now().After(deadline) {
			writeError(w, errNoLeader)
			return true
		}
		select {
		case <-time.After(backoff):
		case <-r.Context().Done():
			return true
		}
		// A short cap: the new leader is usually known within a few hundred ms and
		// each poll is a local check, so waiting longer only delays the request.
		backoff = min(backoff*2, 25*time.Millisecond)
	}
}

// proxy sends one attempt. It returns errRetryForward when nothing was
// written to w and the request may be retried.
func (f *forwarder) proxy(w http.ResponseWriter, r *http.Request, leader string) error {
	var attemptErr error
	target := &url.URL{Scheme: "http", Host: leader}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = r.Host
			pr.Out.Header.Set(headerForwarded, f.nodeID)
		},
		Transport:     f.transport,
		FlushInterval: -1, // stream event watches and downloads as they come
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(headerNotLeader) != "" {
				_ = resp.Body.Close()
				return errRetryForward
			}
			return nil
		},
		ErrorHandler: func(_ http.ResponseWriter, _ *http.Request, err error) { attemptErr = err },
		ErrorLog:     f.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	rp.ServeHTTP(w, r)
	if attemptErr != nil {
		return errors.Join(errRetryForward, attemptErr)
	}
	return nil
}

// bufferBody reads up to maxReplayBody of r's body so it can be sent more
// than once. It returns a function producing a fresh body each call, and
// whether retries are possible (false once the body was larger).
func bufferBody(r *http.Request) (func() io.ReadCloser, bool, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return func() io.ReadCloser { return http.NoBody }, true, nil
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxReplayBody+1))
	if err != nil {
		return nil, false, err
	}
	if len(head) <= maxReplayBody {
		return func() io.ReadCloser { return io.NopCloser(bytes.NewReader(head)) }, true, nil
	}
	rest := r.Body
	return func() io.ReadCloser {
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), rest), rest}
	}, false, nil
}

// nodeClient calls other controllers' local endpoints with the cluster secret.
type nodeClient struct {
	client *http.Client
	secret string
	nodeID string
}

func (c *nodeClient) do(ctx context.Context, method, addr, path string, auth http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	if c.secret != "" {
		req.Header.Set(headerClusterAuth, c.secret)
		req.Header.Set(headerNodeID, c.nodeID)
	} else if a := auth.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	req.Header.Set(headerForwarded, c.nodeID)
	return c.client.Do(req)
}
