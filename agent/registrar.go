package agent

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// registrar registers the executor: at start (retrying with backoff until
// it succeeds), whenever the registration changes or a controller asks for
// it, and every interval to heal.
type registrar struct {
	client   *controllerClient
	logger   hclog.Logger
	interval time.Duration

	mu  sync.Mutex
	reg model.ExecutorRegistration

	kick         chan struct{}
	registered   chan struct{} // closed after the first successful registration
	once         sync.Once
	answered     chan struct{} // closed once a controller accepted or refused a registration
	answeredOnce sync.Once
	count        atomic.Uint64 // successful registrations
}

func newRegistrar(client *controllerClient, reg model.ExecutorRegistration, interval time.Duration, logger hclog.Logger) *registrar {
	return &registrar{client: client, reg: reg, interval: interval, logger: logger,
		kick: make(chan struct{}, 1), registered: make(chan struct{}), answered: make(chan struct{})}
}

// trigger asks for a registration as soon as possible.
func (r *registrar) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// current returns a copy of the registration to send.
func (r *registrar) current() model.ExecutorRegistration {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg := r.reg
	reg.Tags = slices.Clone(reg.Tags)
	reg.Metadata = maps.Clone(reg.Metadata)
	reg.Layout = cloneLayout(reg.Layout)
	return reg
}

// update applies f to the registration and registers again if it changed.
func (r *registrar) update(f func(*model.ExecutorRegistration)) bool {
	next := r.current()
	f(&next)
	r.mu.Lock()
	changed := !reflect.DeepEqual(next, r.reg)
	if changed {
		r.reg = next
	}
	r.mu.Unlock()
	if changed {
		r.trigger()
	}
	return changed
}

func (r *registrar) run(ctx context.Context) {
	bo := newBackoff(200*time.Millisecond, 10*time.Second)
	for {
		reg := r.current()
		wait := jitter(r.interval)
		if _, err := r.client.register(ctx, reg); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait = bo.next()
			if refused(err) {
				r.answeredOnce.Do(func() { close(r.answered) })
			}
			r.logger.Warn("registration failed, retrying", "retry_in", wait, "error", err)
		} else {
			bo.reset()
			if r.count.Add(1) == 1 {
				r.logger.Info("registered with controllers", "executor", reg.ExecutorID)
			} else {
				r.logger.Debug("registered again", "executor", reg.ExecutorID)
			}
			r.once.Do(func() { close(r.registered) })
			r.answeredOnce.Do(func() { close(r.answered) })
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// waitRegistered blocks until the first registration succeeded; false if ctx ended first.
func (r *registrar) waitRegistered(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-r.registered:
		return true
	}
}

// waitAnswered blocks until a controller accepted or refused a
// registration; false if ctx ended first. A refused executor (drained and
// marked gone, or on a machine DOWN for maintenance) still reconciles: the
// leader's answer tells it to stop what it re-adopted.
func (r *registrar) waitAnswered(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-r.answered:
		return true
	}
}

// refused reports whether err is a controller's deliberate 4xx answer
// rather than a transport failure or a 5xx (no leader, shutting down).
func refused(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.code/100 == 4
}

func cloneLayout(l model.ResourceLayout) model.ResourceLayout {
	out := model.ResourceLayout{Cores: make(map[int][]int, len(l.Cores)), Memory: maps.Clone(l.Memory)}
	for n, c := range l.Cores {
		out.Cores[n] = slices.Clone(c)
	}
	if out.Memory == nil {
		out.Memory = map[int]int64{}
	}
	return out
}
