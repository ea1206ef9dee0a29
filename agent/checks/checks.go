// Package checks runs the readiness and health checks and the pre-shutdown
// hooks of application instances (Drove's CheckSpec and PreShutdownSpec).
//
// A Checker performs one check: NewHTTP calls an HTTP(S) endpoint of the
// container through its host port (NewHTTPProbe asks an HTTPProbe
// instead, for runtimes whose containers listen on no port), NewCmd runs a
// command inside the container. WaitReady and Monitor drive a Checker by a CheckSpec:
// WaitReady is the readiness check (and the single health pass that
// follows it), Monitor the periodic health check of a running instance.
// RunPreShutdown runs the hooks of a PreShutdownSpec before a container is
// stopped.
//
// Nothing here knows about instance states or runtimes: the agent passes
// the host port of the checked port and an exec function of the container.
// All waits are bounded by the context given, so cancelling it (a stop, an
// agent shutdown) ends any of them promptly.
package checks

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

// Result is the outcome of one check.
type Result struct {
	Healthy bool
	Detail  string // what was seen: a status code, an exit code, an error
}

// Checker performs one check. Implementations must be safe for use by one
// goroutine at a time and must return when ctx is done.
type Checker interface {
	Check(ctx context.Context) Result
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) Result

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }

// ExecFunc runs cmd inside the checked container and returns its exit code
// and output (the agent passes Runtime.Exec bound to the container).
type ExecFunc func(ctx context.Context, cmd []string) (exitCode int, output []byte, err error)

// CheckHost is where HTTP checks and hooks connect: the executor host's
// loopback, on which container ports are published (Drove: localhost).
const CheckHost = "127.0.0.1"

// maxDetailOutput caps how much command output or response text a Detail carries.
const maxDetailOutput = 256

// NewHTTP returns a checker that calls http(s)://127.0.0.1:<hostPort><path>
// as mode describes: protocol (HTTP unless HTTPS), path (default "/"), verb
// (default GET; the payload is sent as the body of POST and PUT), success
// codes (default [200]), connectionTimeout (dial and TLS handshake, default
// 1 second) and insecure (skip TLS certificate verification). timeout bounds
// each call (Drove: the CheckSpec's timeout); 0 leaves it to ctx. Redirects
// are not followed: a 3xx status is compared with the success codes, as in
// Drove.
func NewHTTP(mode model.CheckModeSpec, hostPort int, timeout time.Duration) Checker {
	return newHTTP(mode, hostPort, timeout)
}

// HTTPProbe answers an HTTP check or hook in place of a network call: it
// returns the status code the call would get. A runtime whose containers
// do not listen on their host ports (the fake runtime simulates them)
// provides one.
type HTTPProbe func(ctx context.Context, mode model.CheckModeSpec) (status int, err error)

// NewHTTPProbe is NewHTTP with each call answered by probe: the status it
// returns is compared with the mode's success codes (default [200]), an
// error fails the check; timeout bounds each probe (0 leaves it to ctx).
func NewHTTPProbe(mode model.CheckModeSpec, probe HTTPProbe, timeout time.Duration) Checker {
	return newProbe(mode, probe, timeout)
}

// httpChecker calls url, or asks probe when it is set.
type httpChecker struct {
	client  *http.Client
	probe   HTTPProbe
	mode    model.CheckModeSpec // what probe is asked
	method  string
	url     string // as shown in details
	payload string
	codes   []int
	timeout time.Duration
}

// newHTTPRequest fills in what a call needs from mode; target is shown in
// place of host:port.
func newHTTPRequest(mode model.CheckModeSpec, target string, timeout time.Duration) *httpChecker {
	scheme := "http"
	if mode.Protocol == model.ProtocolHTTPS {
		scheme = "https"
	}
	path := mode.Path
	if path == "" {
		path = model.DefaultHTTPPath
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method := string(mode.Verb)
	if method == "" {
		method = string(model.DefaultHTTPVerb)
	}
	codes := mode.SuccessCodes
	if len(codes) == 0 {
		codes = []int{http.StatusOK}
	}
	return &httpChecker{mode: mode, method: method, url: scheme + "://" + target + path, payload: mode.Payload,
		codes: codes, timeout: timeout}
}

func newHTTP(mode model.CheckModeSpec, hostPort int, timeout time.Duration) *httpChecker {
	h := newHTTPRequest(mode, net.JoinHostPort(CheckHost, strconv.Itoa(hostPort)), timeout)
	connTimeout := mode.EffectiveConnectionTimeout()
	dialer := &net.Dialer{Timeout: connTimeout}
	// Never through a proxy (the target is this host); no keep-alives (one
	// call per interval: no idle connections held per instance);
	// certificates unchecked if the spec says insecure.
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: connTimeout,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: mode.Insecure},
		DisableKeepAlives:   true,
		DisableCompression:  true,
	}
	h.client = &http.Client{Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

func newProbe(mode model.CheckModeSpec, probe HTTPProbe, timeout time.Duration) *httpChecker {
	h := newHTTPRequest(mode, "<port "+mode.PortName+">", timeout)
	h.probe = probe
	return h
}

// Check makes one call.
func (h *httpChecker) Check(ctx context.Context) Result {
	ok, detail := h.call(ctx, h.timeout)
	return Result{Healthy: ok, Detail: detail}
}

// call makes one request bounded by timeout (0: by ctx only) and reports
// whether the status is one of the success codes.
func (h *httpChecker) call(ctx context.Context, timeout time.Duration) (bool, string) {
	parent := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if h.probe != nil {
		return h.ask(ctx, parent, timeout)
	}
	var body io.Reader
	if h.payload != "" && h.method != http.MethodGet {
		body = strings.NewReader(h.payload)
	}
	req, err := http.NewRequestWithContext(ctx, h.method, h.url, body)
	if err != nil {
		return false, h.method + " " + h.url + ": " + err.Error()
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return false, fmt.Sprintf("%s %s: no response within %s", h.method, h.url, timeout)
		}
		return false, h.method + " " + h.url + ": " + unwrapURLError(err).Error()
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, maxDetailOutput))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if slices.Contains(h.codes, resp.StatusCode) {
		return true, fmt.Sprintf("%s %s: status %d", h.method, h.url, resp.StatusCode)
	}
	detail := fmt.Sprintf("%s %s: status %d, want one of %v", h.method, h.url, resp.StatusCode, h.codes)
	if t := strings.TrimSpace(string(text)); t != "" {
		detail += ": " + t
	}
	return false, detail
}

// ask is call answered by the probe.
func (h *httpChecker) ask(ctx, parent context.Context, timeout time.Duration) (bool, string) {
	status, err := h.probe(ctx, h.mode)
	switch {
	case err != nil && parent.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return false, fmt.Sprintf("%s %s: no response within %s", h.method, h.url, timeout)
	case err != nil:
		return false, h.method + " " + h.url + ": " + err.Error()
	case slices.Contains(h.codes, status):
		return true, fmt.Sprintf("%s %s: status %d", h.method, h.url, status)
	}
	return false, fmt.Sprintf("%s %s: status %d, want one of %v", h.method, h.url, status, h.codes)
}

// unwrapURLError drops the "Get \"url\": " prefix net/http adds (the
// caller names the request already).
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		return ue.Err
	}
	return err
}

// Command is the command line a CMD check or hook runs in the container:
// the command split on whitespace when shellDisabled, else
// ["sh", "-c", command].
func Command(mode model.CheckModeSpec) []string {
	if mode.ShellDisabled {
		return strings.Fields(mode.Command)
	}
	return []string{"sh", "-c", mode.Command}
}

// NewCmd returns a checker that runs the mode's command inside the
// container through exec (see Command); exit code 0 is healthy. timeout
// bounds each run; 0 leaves it to ctx.
func NewCmd(mode model.CheckModeSpec, exec func(ctx context.Context, cmd []string) (int, []byte, error), timeout time.Duration) Checker {
	return &cmdChecker{cmd: Command(mode), exec: exec, timeout: timeout}
}

type cmdChecker struct {
	cmd     []string
	exec    ExecFunc
	timeout time.Duration
}

// Check runs the command once.
func (c *cmdChecker) Check(ctx context.Context) Result {
	ok, detail := runCmd(ctx, c.exec, c.cmd, c.timeout)
	return Result{Healthy: ok, Detail: detail}
}

// runCmd runs cmd through exec bounded by timeout (0: by ctx only) and
// reports whether it exited with 0.
func runCmd(ctx context.Context, exec ExecFunc, cmd []string, timeout time.Duration) (bool, string) {
	if len(cmd) == 0 || (len(cmd) == 3 && cmd[0] == "sh" && strings.TrimSpace(cmd[2]) == "") {
		return false, "empty command"
	}
	parent := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	code, out, err := exec(ctx, cmd)
	name := strconv.Quote(strings.Join(cmd, " "))
	switch {
	case err != nil && parent.Err() == nil && ctx.Err() != nil:
		return false, fmt.Sprintf("command %s did not finish within %s", name, timeout)
	case err != nil:
		return false, fmt.Sprintf("command %s: %v", name, err)
	case code != 0:
		detail := fmt.Sprintf("command %s exited with code %d", name, code)
		if t := clip(out); t != "" {
			detail += ": " + t
		}
		return false, detail
	}
	return true, fmt.Sprintf("command %s exited with code 0", name)
}

// clip trims output and caps it at maxDetailOutput bytes.
func clip(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > maxDetailOutput {
		s = s[:maxDetailOutput] + "…"
	}
	return s
}
