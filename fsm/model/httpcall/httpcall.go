// Package httpcall performs Drove's HTTPCallSpec calls (configs fetched by
// the executor, EXECUTOR_HTTP_FETCH, or by the controller before dispatch,
// CONTROLLER_HTTP_FETCH), so both sides have the same semantics.
package httpcall

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// DefaultOperationTimeout bounds a call after connecting when the spec sets
// no operationTimeout (Drove's default).
const DefaultOperationTimeout = time.Second

// Do makes the call h describes and returns the
// response body. Connecting (and the TLS handshake) is bounded by the
// connection timeout (default 1s), the whole call by the connection timeout
// plus the operation timeout (default 1s, as in Drove). A status not among
// the success codes (default [200]) or a body over maxBody fails.
// username and password (both set) give basic authentication; authHeader,
// if set, replaces that Authorization header; headers are set last.
// Redirects are followed; the proxy comes from the environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
func Do(ctx context.Context, h model.HTTPCallSpec, maxBody int) ([]byte, error) {
	scheme := "http"
	if h.EffectiveProtocol() == model.ProtocolHTTPS {
		scheme = "https"
	}
	p := h.EffectivePath()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	target := scheme + "://" + net.JoinHostPort(h.Hostname, strconv.Itoa(h.EffectivePort())) + p
	method := string(h.EffectiveVerb())
	connTimeout := h.EffectiveConnectionTimeout()
	opTimeout := h.OperationTimeout.D()
	if h.OperationTimeout.IsZero() {
		opTimeout = DefaultOperationTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, connTimeout+opTimeout)
	defer cancel()
	var body io.Reader
	if h.Payload != "" && method != http.MethodGet {
		body = strings.NewReader(h.Payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	if h.Username != "" && h.Password != "" {
		req.SetBasicAuth(h.Username, h.Password)
	}
	if h.AuthHeader != "" {
		req.Header.Set("Authorization", h.AuthHeader)
	}
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: connTimeout}).DialContext,
		TLSHandshakeTimeout: connTimeout,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: h.Insecure},
		DisableKeepAlives:   true,
	}
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s %s: no complete response within %s", method, target, connTimeout+opTimeout)
		}
		return nil, fmt.Errorf("%s %s: %w", method, target, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(maxBody)+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, target, err)
	}
	codes := h.EffectiveSuccessCodes()
	if !slices.Contains(codes, resp.StatusCode) {
		msg := fmt.Sprintf("%s %s: status %d, want one of %v", method, target, resp.StatusCode, codes)
		if t := strings.TrimSpace(string(data[:min(len(data), 256)])); t != "" {
			msg += ": " + t
		}
		return nil, errors.New(msg)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s %s: body larger than %d bytes", method, target, maxBody)
	}
	return data, nil
}

// unwrapURLError drops the `Get "url": ` prefix net/http adds.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
