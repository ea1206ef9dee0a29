package checks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// HookPolicy paces pre-shutdown hooks. DefaultHookPolicy is Drove's.
type HookPolicy struct {
	// RetryInterval separates the attempts of an HTTP hook.
	RetryInterval time.Duration
	// Attempts is how many times an HTTP hook is tried at most.
	Attempts int
	// MaxElapsed bounds all attempts of one HTTP hook together.
	MaxElapsed time.Duration
	// RequestTimeout bounds each HTTP attempt (the connection timeout of
	// the hook's spec bounds connecting).
	RequestTimeout time.Duration
	// CmdTimeout bounds a CMD hook (run once).
	CmdTimeout time.Duration
	// Probe, when set, answers HTTP hooks in place of calls to the host
	// port (see HTTPProbe); the port must still be known.
	Probe HTTPProbe
}

// DefaultHookPolicy is Drove's: HTTP hooks are tried every 3 seconds, at
// most 5 times and for 30 seconds in all, each call answering within 1
// second; CMD hooks run once. Drove does not bound CMD hooks; here they get
// 30 seconds, as long as an HTTP hook may take.
var DefaultHookPolicy = HookPolicy{
	RetryInterval:  3 * time.Second,
	Attempts:       5,
	MaxElapsed:     30 * time.Second,
	RequestTimeout: time.Second,
	CmdTimeout:     30 * time.Second,
}

// RunPreShutdown runs spec's hooks with DefaultHookPolicy; see HookPolicy.Run.
func RunPreShutdown(ctx context.Context, spec model.PreShutdownSpec, hostPortOf func(portName string) (int, bool),
	exec func(ctx context.Context, cmd []string) (int, []byte, error)) error {
	return DefaultHookPolicy.Run(ctx, spec, hostPortOf, exec)
}

// Run runs the hooks of spec in order, then waits spec.waitBeforeKill.
// HTTP hooks call the host port of their portName (hostPortOf) and are
// retried until one call gets a success code (see HookPolicy); CMD hooks
// run once through exec and succeed with exit code 0. A failed hook does
// not stop the others nor the wait: as in Drove, the container is stopped
// anyway. The error joins what failed (nil if everything passed); when ctx
// ends, Run returns at once with ctx's error among them.
func (p HookPolicy) Run(ctx context.Context, spec model.PreShutdownSpec, hostPortOf func(portName string) (int, bool),
	exec func(ctx context.Context, cmd []string) (int, []byte, error)) error {
	var errs []error
	for i, hook := range spec.Hooks {
		if ctx.Err() != nil {
			break
		}
		if err := p.runHook(ctx, hook, hostPortOf, exec); err != nil {
			errs = append(errs, fmt.Errorf("pre-shutdown hook %d (%s): %w", i+1, hook.Type, err))
		}
	}
	if ctx.Err() == nil {
		sleep(ctx, spec.WaitBeforeKill.D())
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("pre-shutdown cut short: %w", err))
	}
	return errors.Join(errs...)
}

func (p HookPolicy) runHook(ctx context.Context, hook model.CheckModeSpec, hostPortOf func(string) (int, bool), exec ExecFunc) error {
	switch hook.Type {
	case model.CheckHTTP:
		port, ok := hostPortOf(hook.PortName)
		if !ok {
			return fmt.Errorf("no port named %q", hook.PortName)
		}
		if p.Probe != nil {
			return p.runHTTP(ctx, newProbe(hook, p.Probe, 0))
		}
		return p.runHTTP(ctx, newHTTP(hook, port, 0))
	case model.CheckCmd:
		if exec == nil {
			return errors.New("commands cannot be run in this container")
		}
		if ok, detail := runCmd(ctx, exec, Command(hook), p.CmdTimeout); !ok {
			return errors.New(detail)
		}
		return nil
	}
	return fmt.Errorf("unknown hook type %q", hook.Type)
}

// runHTTP calls h until a call succeeds, at most p.Attempts times,
// p.RetryInterval apart, within p.MaxElapsed.
func (p HookPolicy) runHTTP(ctx context.Context, h *httpChecker) error {
	if p.MaxElapsed > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.MaxElapsed)
		defer cancel()
	}
	n := max(p.Attempts, 1)
	var detail string
	for i := range n {
		if i > 0 && !sleep(ctx, p.RetryInterval) {
			return fmt.Errorf("gave up after %d attempts (%s); last: %s", i, context.Cause(ctx), detail)
		}
		var ok bool
		if ok, detail = h.call(ctx, p.RequestTimeout); ok {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("gave up after %d attempts (%s); last: %s", i+1, context.Cause(ctx), detail)
		}
	}
	return fmt.Errorf("failed %d attempts; last: %s", n, detail)
}
