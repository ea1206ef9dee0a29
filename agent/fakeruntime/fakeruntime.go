package fakeruntime

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drove-go/drove/agent"
)

// RuntimeName is what Runtime.Name returns.
const RuntimeName = "fake"

// EventBuffer is the capacity of each channel returned by Events. When a
// subscriber's channel is full further events for it are dropped (and
// counted, see Runtime.DroppedEvents) rather than blocking the runtime.
const EventBuffer = 1024

// MaxLogLines bounds the log lines kept per container; older lines are
// discarded first.
const MaxLogLines = 256

// Exit codes the simulated containers end with.
const (
	// ExitCodeStartFailed is the exit code of a container whose Start failed.
	ExitCodeStartFailed = 1
	// ExitCodeCrashed is the exit code of a container that crashed by itself
	// (CrashAfter) or was removed by force while running.
	ExitCodeCrashed = 137
	// ExitCodeStopped is the exit code of a container stopped with Stop
	// (it always "handles" SIGTERM).
	ExitCodeStopped = 143
	// ExitCodeBadEnv is the exit code of a container whose EXIT_CODE or
	// SLEEP cannot be parsed (integration/testtask exits with 2 then too).
	ExitCodeBadEnv = 2
)

// Environment variables that make a container exit by itself, as they make
// integration/testtask do: EnvExitCode is the exit code, EnvSleep (a Go
// duration, default 0) how long after the start.
const (
	EnvExitCode = "EXIT_CODE"
	EnvSleep    = "SLEEP"
)

// Messages stored in agent.Container.Error.
const (
	// ErrorStartFailed is the Error of a container whose Start failed.
	ErrorStartFailed = "simulated start failure"
	// ErrorCrashed is the Error of a container that crashed (CrashAfter).
	ErrorCrashed = "crashed"
	// ErrorKilled is the Error of a container ended with Runtime.Kill.
	ErrorKilled = "killed"
)

// Errors specific to the fake runtime; match with errors.Is. Missing
// containers and images use agent.ErrNotFound and agent.ErrImage.
var (
	// ErrNameInUse means another container already has the requested name.
	ErrNameInUse = errors.New("name already in use")
	// ErrNotRunning means the operation needs a running container.
	ErrNotRunning = errors.New("container is not running")
	// ErrStartFailed means Start failed as simulated by Config.FailureRate.
	ErrStartFailed = errors.New("simulated start failure")
	// ErrStartInProgress means another Start call for the container has not
	// finished yet.
	ErrStartInProgress = errors.New("start already in progress")
	// ErrStartAborted means the container was stopped while Start was waiting
	// for StartDelay.
	ErrStartAborted = errors.New("container stopped while starting")
)

// Config controls how the simulated containers behave. The zero value is
// valid: containers start instantly, never fail and never crash.
type Config struct {
	// StartDelay is how long Start takes before the container is running.
	// It is simulated with a timer in the calling goroutine.
	StartDelay time.Duration
	// FailureRate is the probability (0..1) that Start fails: Start returns an
	// error wrapping ErrStartFailed, the container ends exited with exit code
	// 1 and Error set, and an event is emitted.
	FailureRate float64
	// CrashAfter, if > 0, makes a running container exit by itself (exit
	// code 137, Error "crashed", event emitted) this long after it started.
	CrashAfter time.Duration
	// MissingImages are image references for which Create fails with an error
	// wrapping agent.ErrImage.
	MissingImages []string
	// Seed seeds the failure RNG; 0 means time-based.
	Seed int64
	// Now is the clock used for Created, StartedAt and FinishedAt; nil means
	// time.Now. Timers always use real time.
	Now func() time.Time
}

// Validate reports whether the configuration is usable. FailureRate must be
// within [0, 1] and durations must not be negative.
func (c Config) Validate() error {
	var errs []error
	if math.IsNaN(c.FailureRate) || c.FailureRate < 0 || c.FailureRate > 1 {
		errs = append(errs, fmt.Errorf("fakeruntime: FailureRate must be within [0, 1], got %v", c.FailureRate))
	}
	if c.StartDelay < 0 {
		errs = append(errs, fmt.Errorf("fakeruntime: StartDelay must be >= 0, got %v", c.StartDelay))
	}
	if c.CrashAfter < 0 {
		errs = append(errs, fmt.Errorf("fakeruntime: CrashAfter must be >= 0, got %v", c.CrashAfter))
	}
	return errors.Join(errs...)
}

// Runtime is an in-memory agent.Runtime. Create one with New; it is safe for
// concurrent use.
type Runtime struct {
	cfg     Config
	now     func() time.Time
	missing map[string]struct{}

	mu         sync.Mutex
	rng        *rand.Rand // guarded by mu
	containers map[string]*container
	names      map[string]string // container name -> id
	seq        uint64            // creation order, for stable List output
	subs       map[chan agent.ContainerEvent]struct{}

	dropped atomic.Uint64
}

// container is the internal state of one simulated container. All fields
// are guarded by Runtime.mu.
type container struct {
	info agent.Container // Labels is shared with spec.Labels; never handed out
	spec agent.ContainerSpec
	seq  uint64

	// gen changes on every transition that invalidates an in-flight Start.
	gen      uint64
	starting bool
	removed  bool
	abort    chan struct{} // closed to wake a Start waiting for StartDelay
	exit     *exitTimer    // pending exit by itself (CrashAfter, EXIT_CODE) while running

	logs    []string
	logBase int           // number of lines discarded from the front of logs
	logWake chan struct{} // closed (and reset) when logs or state change
}

var _ agent.Runtime = (*Runtime)(nil)

// New returns a Runtime configured by cfg, or cfg's validation error.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.MissingImages = slices.Clone(cfg.MissingImages)
	r := &Runtime{
		cfg:        cfg,
		now:        cfg.Now,
		containers: make(map[string]*container),
		names:      make(map[string]string),
		subs:       make(map[chan agent.ContainerEvent]struct{}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if len(cfg.MissingImages) > 0 {
		r.missing = make(map[string]struct{}, len(cfg.MissingImages))
		for _, img := range cfg.MissingImages {
			r.missing[img] = struct{}{}
		}
	}
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	r.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return r, nil
}

// Name returns "fake".
func (r *Runtime) Name() string { return RuntimeName }

// Create makes a container in status created. Its name must be unused (an
// empty name is allowed and never conflicts); its image must not be listed in
// Config.MissingImages. The spec is deep-copied.
func (r *Runtime) Create(ctx context.Context, spec agent.ContainerSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, ok := r.missing[spec.Image]; ok {
		return "", fmt.Errorf("fakeruntime: pull %q: %w", spec.Image, agent.ErrImage)
	}
	spec = cloneSpec(spec)
	id := newID()

	r.mu.Lock()
	defer r.mu.Unlock()
	if spec.Name != "" {
		if other, ok := r.names[spec.Name]; ok {
			return "", fmt.Errorf("fakeruntime: create %q: %w by container %s", spec.Name, ErrNameInUse, other)
		}
		r.names[spec.Name] = id
	}
	r.seq++
	r.containers[id] = &container{
		info: agent.Container{
			ID:      id,
			Name:    spec.Name,
			Image:   spec.Image,
			Labels:  spec.Labels,
			Status:  agent.ContainerCreated,
			Created: r.now(),
		},
		spec: spec,
		seq:  r.seq,
	}
	return id, nil
}

// Start starts a created (or restarts an exited) container. With StartDelay
// > 0 it blocks until the container is running, ctx is done (the container
// is then left as it was and ctx.Err() returned), or the container is stopped
// (ErrStartAborted) or removed (agent.ErrNotFound) meanwhile. Starting a
// running container is a no-op. Per Config.FailureRate the start fails: the
// container ends exited with exit code 1, an event is emitted and the error
// wraps ErrStartFailed.
func (r *Runtime) Start(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	c, err := r.getLocked(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if c.starting {
		r.mu.Unlock()
		return fmt.Errorf("fakeruntime: start %s: %w", id, ErrStartInProgress)
	}
	if c.info.Status == agent.ContainerRunning {
		r.mu.Unlock()
		return nil
	}
	if r.cfg.StartDelay <= 0 {
		err := r.finishStartLocked(c)
		r.mu.Unlock()
		return err
	}
	c.starting = true
	c.gen++
	gen := c.gen
	abort := make(chan struct{})
	c.abort = abort
	r.mu.Unlock()

	t := time.NewTimer(r.cfg.StartDelay)
	defer t.Stop()
	var ctxErr error
	select {
	case <-t.C:
	case <-abort:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if c.removed {
		return notFound(id)
	}
	if c.gen != gen {
		return fmt.Errorf("fakeruntime: start %s: %w", id, ErrStartAborted)
	}
	c.starting = false
	c.abort = nil
	if ctxErr != nil {
		c.gen++
		c.wake()
		return ctxErr
	}
	return r.finishStartLocked(c)
}

// finishStartLocked moves c to running, or to exited if the start fails.
func (r *Runtime) finishStartLocked(c *container) error {
	now := r.now()
	c.gen++
	if r.cfg.FailureRate > 0 && r.rng.Float64() < r.cfg.FailureRate {
		c.info.Status = agent.ContainerExited
		c.info.ExitCode = ExitCodeStartFailed
		c.info.Error = ErrorStartFailed
		c.info.FinishedAt = now
		c.appendLog("failed to start " + c.info.Name + ": " + ErrorStartFailed)
		r.emitLocked(c, agent.ContainerExited, ExitCodeStartFailed)
		return fmt.Errorf("fakeruntime: start %s: %w", c.info.ID, ErrStartFailed)
	}
	c.info.Status = agent.ContainerRunning
	c.info.ExitCode = 0
	c.info.Error = ""
	c.info.StartedAt = now
	c.info.FinishedAt = time.Time{}
	c.appendLog("started " + c.info.Name)
	if et := r.plannedExit(c); et != nil {
		et.rt.Store(r)
		c.exit = et
		et.t = time.AfterFunc(et.after, et.fire)
	}
	return nil
}

// plannedExit is how a container that just started will end by itself, if
// it will: after SLEEP with EXIT_CODE (see selfExit), or crashed after
// CrashAfter, whichever comes first; nil when neither applies.
func (r *Runtime) plannedExit(c *container) *exitTimer {
	name := c.info.Name
	var et *exitTimer
	if after, code, ok := selfExit(c.spec.Env); ok {
		et = &exitTimer{id: c.info.ID, after: after, code: code,
			line: "exited " + name + " with code " + strconv.Itoa(code)}
	}
	if crash := r.cfg.CrashAfter; crash > 0 && (et == nil || crash < et.after) {
		et = &exitTimer{id: c.info.ID, after: crash, code: ExitCodeCrashed, errMsg: ErrorCrashed, line: "crashed " + name}
	}
	return et
}

// selfExit reads the EnvExitCode and EnvSleep variables of a container's
// environment as integration/testtask does: with EXIT_CODE set (and not
// empty) the container exits after SLEEP (default 0) with that code. An
// unparsable value makes it exit at once with ExitCodeBadEnv, as testtask
// does.
func selfExit(env map[string]string) (after time.Duration, code int, ok bool) {
	v := env[EnvExitCode]
	if v == "" {
		return 0, 0, false
	}
	code, err := strconv.Atoi(v)
	if err != nil {
		return 0, ExitCodeBadEnv, true
	}
	if s := env[EnvSleep]; s != "" {
		if after, err = time.ParseDuration(s); err != nil {
			return 0, ExitCodeBadEnv, true
		}
	}
	return max(after, 0), code, true
}

// exitTimer is a running container's pending exit by itself (a crash, or
// EXIT_CODE). Cancelling it clears rt, so a stopped timer that the Go
// runtime keeps around until it cleans its timer heap retains only this
// small struct, not the Runtime.
type exitTimer struct {
	t  *time.Timer // guarded by Runtime.mu
	rt atomic.Pointer[Runtime]
	id string

	after  time.Duration
	code   int
	errMsg string // agent.Container.Error after the exit
	line   string // log line of the exit
}

// fire is the timer callback: the container exits and an event is emitted.
func (et *exitTimer) fire() {
	r := et.rt.Load()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[et.id]
	if !ok || c.exit != et || c.info.Status != agent.ContainerRunning {
		return
	}
	c.exit = nil
	r.exitLocked(c, et.code, et.errMsg, et.line)
	r.emitLocked(c, agent.ContainerExited, et.code)
}

// Stop stops a running container: it ends exited with exit code 143 and
// FinishedAt set (grace is not simulated). A Start waiting for StartDelay is
// aborted and the container ends exited the same way. Stopping a created or
// exited container changes nothing and is not an error.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return err
	}
	switch {
	case c.starting:
		c.abortStart()
		r.exitLocked(c, ExitCodeStopped, "", "stopped "+c.info.Name+" before it started")
	case c.info.Status == agent.ContainerRunning:
		r.exitLocked(c, ExitCodeStopped, "", "stopped "+c.info.Name)
	}
	return nil
}

// Remove deletes a container, running or not; no event is emitted. A pending
// Start for it returns agent.ErrNotFound.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return err
	}
	r.deleteLocked(c)
	return nil
}

// Inspect returns a copy of the container's current state.
func (r *Runtime) Inspect(ctx context.Context, id string) (agent.Container, error) {
	if err := ctx.Err(); err != nil {
		return agent.Container{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return agent.Container{}, err
	}
	return c.snapshot(), nil
}

// List returns copies of the containers whose labels include every pair in
// labels (all containers when labels is empty), in creation order.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]agent.Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type entry struct {
		seq uint64
		c   agent.Container
	}
	r.mu.Lock()
	entries := make([]entry, 0, min(len(r.containers), 64))
	for _, c := range r.containers {
		if hasLabels(c.info.Labels, labels) {
			entries = append(entries, entry{c.seq, c.snapshot()})
		}
	}
	r.mu.Unlock()
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]agent.Container, len(entries))
	for i := range entries {
		out[i] = entries[i].c
	}
	return out, nil
}

// Logs returns the container's synthetic output: one line per lifecycle
// transition ("started <name>", "stopped <name>", "crashed <name>", ...).
// Without follow the reader holds the lines present at the call. With follow
// it then blocks for new lines and ends with io.EOF once the container has
// exited or been removed, or with ctx.Err() when ctx is done.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return nil, err
	}
	if !follow {
		var buf bytes.Buffer
		for _, l := range c.logs {
			buf.WriteString(l)
			buf.WriteByte('\n')
		}
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}
	return &logReader{r: r, c: c, ctx: ctx, pos: c.logBase, closed: make(chan struct{})}, nil
}

// Exec simulates running cmd in a running container: ["false", ...] exits
// with 1 and no output; anything else exits with 0 and outputs the command
// joined with spaces. It fails with ErrNotRunning unless the container is
// running.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	r.mu.Lock()
	c, err := r.getLocked(id)
	running := err == nil && c.info.Status == agent.ContainerRunning
	r.mu.Unlock()
	switch {
	case err != nil:
		return 0, nil, err
	case !running:
		return 0, nil, fmt.Errorf("fakeruntime: exec in %s: %w", id, ErrNotRunning)
	case len(cmd) == 0:
		return 0, nil, fmt.Errorf("fakeruntime: exec in %s: empty command", id)
	case cmd[0] == "false":
		return 1, nil, nil
	}
	return 0, []byte(strings.Join(cmd, " ")), nil
}

// Events returns a new subscription to status changes that happen outside
// explicit calls: crashes (CrashAfter), exits by themselves (EXIT_CODE),
// failed starts, Kill and
// RemoveExternally. The channel is buffered (EventBuffer); events that do not
// fit are dropped and counted. It is closed once ctx is done.
func (r *Runtime) Events(ctx context.Context) (<-chan agent.ContainerEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := make(chan agent.ContainerEvent, EventBuffer)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.subs, ch)
		close(ch)
	})
	return ch, nil
}

// Kill simulates a running container dying outside the agent (OOM kill,
// `docker kill`, ...): it ends exited with exitCode and Error "killed", and
// an event is emitted. It fails with agent.ErrNotFound or ErrNotRunning.
func (r *Runtime) Kill(id string, exitCode int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return err
	}
	if c.info.Status != agent.ContainerRunning {
		return fmt.Errorf("fakeruntime: kill %s: %w", id, ErrNotRunning)
	}
	r.exitLocked(c, exitCode, ErrorKilled, "killed "+c.info.Name+" (exit code "+strconv.Itoa(exitCode)+")")
	r.emitLocked(c, agent.ContainerExited, exitCode)
	return nil
}

// RemoveExternally simulates `docker rm -f` by someone else: the container
// disappears and an event with Status "" is emitted (ExitCode 137 if it was
// running, else its last exit code). It fails with agent.ErrNotFound.
func (r *Runtime) RemoveExternally(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return err
	}
	code := c.info.ExitCode
	if c.info.Status == agent.ContainerRunning {
		code = ExitCodeCrashed
	}
	r.deleteLocked(c)
	r.emitLocked(c, "", code)
	return nil
}

// Count returns the number of containers that exist.
func (r *Runtime) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.containers)
}

// Spec returns a deep copy of the spec the container was created with, so
// tests can check what the agent asked for. It fails with agent.ErrNotFound.
func (r *Runtime) Spec(id string) (agent.ContainerSpec, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getLocked(id)
	if err != nil {
		return agent.ContainerSpec{}, err
	}
	return cloneSpec(c.spec), nil
}

// DroppedEvents returns how many events were dropped because a subscriber's
// channel was full.
func (r *Runtime) DroppedEvents() uint64 { return r.dropped.Load() }

func notFound(id string) error {
	return fmt.Errorf("fakeruntime: %s: %w", id, agent.ErrNotFound)
}

func (r *Runtime) getLocked(id string) (*container, error) {
	c, ok := r.containers[id]
	if !ok {
		return nil, notFound(id)
	}
	return c, nil
}

// exitLocked moves c to exited and cancels its exit timer.
func (r *Runtime) exitLocked(c *container, code int, errMsg, logLine string) {
	c.gen++
	c.stopExitTimer()
	c.info.Status = agent.ContainerExited
	c.info.ExitCode = code
	c.info.Error = errMsg
	c.info.FinishedAt = r.now()
	c.appendLog(logLine) // wakes followers
}

// deleteLocked removes c from the runtime, aborting a pending Start and
// cancelling its exit timer.
func (r *Runtime) deleteLocked(c *container) {
	c.abortStart()
	c.stopExitTimer()
	c.gen++
	c.removed = true
	delete(r.containers, c.info.ID)
	if c.info.Name != "" && r.names[c.info.Name] == c.info.ID {
		delete(r.names, c.info.Name)
	}
	c.wake()
}

// emitLocked delivers an event about c to every subscriber without blocking.
func (r *Runtime) emitLocked(c *container, status agent.ContainerStatus, code int) {
	for ch := range r.subs {
		ev := agent.ContainerEvent{
			ContainerID: c.info.ID,
			Labels:      maps.Clone(c.info.Labels),
			Status:      status,
			ExitCode:    code,
		}
		select {
		case ch <- ev:
		default:
			r.dropped.Add(1)
		}
	}
}

func (c *container) snapshot() agent.Container {
	out := c.info
	out.Labels = maps.Clone(c.info.Labels)
	return out
}

func (c *container) abortStart() {
	if c.abort != nil {
		close(c.abort)
		c.abort = nil
	}
	c.starting = false
}

func (c *container) stopExitTimer() {
	if c.exit != nil {
		c.exit.t.Stop()
		c.exit.rt.Store(nil)
		c.exit = nil
	}
}

func (c *container) appendLog(line string) {
	c.logs = append(c.logs, line)
	if drop := len(c.logs) - MaxLogLines; drop > 0 {
		n := copy(c.logs, c.logs[drop:])
		clear(c.logs[n:])
		c.logs = c.logs[:n]
		c.logBase += drop
	}
	c.wake()
}

// wake releases followers blocked in logReader.Read.
func (c *container) wake() {
	if c.logWake != nil {
		close(c.logWake)
		c.logWake = nil
	}
}

// logReader streams a container's log lines for Logs with follow.
type logReader struct {
	r       *Runtime
	c       *container
	ctx     context.Context
	pos     int // absolute index of the next line to deliver
	pending []byte

	closeOnce sync.Once
	closed    chan struct{}
}

// Read implements io.Reader.
func (lr *logReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(lr.pending) > 0 {
			n := copy(p, lr.pending)
			lr.pending = lr.pending[n:]
			return n, nil
		}
		select {
		case <-lr.closed:
			return 0, os.ErrClosed
		default:
		}

		lr.r.mu.Lock()
		c := lr.c
		lr.pos = max(lr.pos, c.logBase)
		if end := c.logBase + len(c.logs); lr.pos < end {
			for _, l := range c.logs[lr.pos-c.logBase:] {
				lr.pending = append(lr.pending, l...)
				lr.pending = append(lr.pending, '\n')
			}
			lr.pos = end
			lr.r.mu.Unlock()
			continue
		}
		if c.removed || (c.info.Status == agent.ContainerExited && !c.starting) {
			lr.r.mu.Unlock()
			return 0, io.EOF
		}
		if c.logWake == nil {
			c.logWake = make(chan struct{})
		}
		wake := c.logWake
		lr.r.mu.Unlock()

		select {
		case <-wake:
		case <-lr.closed:
			return 0, os.ErrClosed
		case <-lr.ctx.Done():
			return 0, lr.ctx.Err()
		}
	}
}

// Close implements io.Closer; it unblocks a pending Read.
func (lr *logReader) Close() error {
	lr.closeOnce.Do(func() { close(lr.closed) })
	return nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func cloneSpec(s agent.ContainerSpec) agent.ContainerSpec {
	s.Env = maps.Clone(s.Env)
	s.Labels = maps.Clone(s.Labels)
	s.Args = slices.Clone(s.Args)
	s.CPUSet = slices.Clone(s.CPUSet)
	s.Ports = slices.Clone(s.Ports)
	s.Binds = slices.Clone(s.Binds)
	s.Devices = slices.Clone(s.Devices)
	if s.DeviceRequests != nil {
		reqs := make([]agent.DeviceRequest, len(s.DeviceRequests))
		for i, r := range s.DeviceRequests {
			r.DeviceIDs = slices.Clone(r.DeviceIDs)
			r.Options = maps.Clone(r.Options)
			if r.Capabilities != nil {
				caps := make([][]string, len(r.Capabilities))
				for j, c := range r.Capabilities {
					caps[j] = slices.Clone(c)
				}
				r.Capabilities = caps
			}
			reqs[i] = r
		}
		s.DeviceRequests = reqs
	}
	s.LogConfig.Options = maps.Clone(s.LogConfig.Options)
	if s.Files != nil {
		files := make([]agent.File, len(s.Files))
		for i, f := range s.Files {
			f.Data = slices.Clone(f.Data)
			files[i] = f
		}
		s.Files = files
	}
	return s
}

// Container ids are a process-wide counter, offset by a random key and put
// through the (bijective) splitmix64 finalizer: unique across every Runtime
// in the process, random-looking, and different from one process to the next.
var (
	idCounter atomic.Uint64
	idKey     = func() uint64 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		return binary.LittleEndian.Uint64(b[:])
	}()
)

func newID() string {
	x := idCounter.Add(1) ^ idKey
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], x)
	return hex.EncodeToString(b[:])
}
