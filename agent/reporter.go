package agent

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
)

// errReregister means the leader did not know the executor: the report is
// kept and sent again after registering.
var errReregister = errors.New("controller asked the executor to register again")

// reporter sends instance state to the controllers: changes batched for a
// short window (Full=false), and every interval a report of all instances
// (Full=true). Changes that could not be sent stay queued; only the newest
// report of each instance is kept.
type reporter struct {
	client     *controllerClient
	reg        *registrar
	mgr        *instanceManager // set after construction (the manager notifies us)
	executorID string
	batch      time.Duration
	every      time.Duration
	logger     hclog.Logger

	mu      sync.Mutex
	pending map[string]model.InstanceReport
	kick    chan struct{}
	sent    atomic.Uint64 // reports acknowledged
}

func newReporter(client *controllerClient, reg *registrar, executorID string, batch, every time.Duration, logger hclog.Logger) *reporter {
	return &reporter{client: client, reg: reg, executorID: executorID, batch: batch, every: every,
		logger: logger, pending: map[string]model.InstanceReport{}, kick: make(chan struct{}, 1)}
}

// newer reports whether a orders after b (Boot, then Seq).
func newer(a, b model.InstanceReport) bool {
	return a.Boot > b.Boot || (a.Boot == b.Boot && a.Seq > b.Seq)
}

// enqueue queues rep, replacing an older report of the same instance. It
// never blocks and never calls back into the instance manager.
func (r *reporter) enqueue(rep model.InstanceReport) {
	r.mu.Lock()
	r.mergeLocked(rep)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *reporter) mergeLocked(rep model.InstanceReport) {
	id := rep.Info.InstanceID
	if old, ok := r.pending[id]; !ok || newer(rep, old) {
		r.pending[id] = rep
	}
}

// restore puts back reports that could not be sent, unless newer ones
// arrived meanwhile.
func (r *reporter) restore(batch map[string]model.InstanceReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range batch {
		r.mergeLocked(rep)
	}
}

func (r *reporter) run(ctx context.Context) {
	if !r.reg.waitRegistered(ctx) {
		return
	}
	full := time.NewTicker(r.every)
	defer full.Stop()
	bo := newBackoff(100*time.Millisecond, 5*time.Second)
	var retry <-chan time.Time
	fullDue := true // tell the leader everything once registered
	for {
		if !fullDue || retry != nil {
			select {
			case <-ctx.Done():
				return
			case <-r.kick:
				if retry != nil {
					continue // the scheduled retry carries this change too
				}
				if !sleep(ctx, r.batch) {
					return
				}
			case <-full.C:
				fullDue = true
				if retry != nil {
					continue
				}
			case <-retry:
			}
		}
		retry = nil
		if err := r.flush(ctx, fullDue); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := bo.next()
			r.logger.Warn("report failed, retrying", "full", fullDue, "retry_in", wait, "error", err)
			retry = time.After(wait)
			continue
		}
		bo.reset()
		fullDue = false
	}
}

// flush sends the queued changes, or (full) every instance plus the queued
// reports of instances the manager no longer tracks.
func (r *reporter) flush(ctx context.Context, full bool) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = make(map[string]model.InstanceReport, len(batch))
	r.mu.Unlock()
	var list []model.InstanceReport
	if full {
		list = r.mgr.reports() // taken after the swap: at least as new as batch
		have := make(map[string]bool, len(list))
		for _, rep := range list {
			have[rep.Info.InstanceID] = true
		}
		for id, rep := range batch {
			if !have[id] {
				list = append(list, rep)
			}
		}
	} else {
		if len(batch) == 0 {
			return nil
		}
		list = make([]model.InstanceReport, 0, len(batch))
		for _, rep := range batch {
			list = append(list, rep)
		}
	}
	slices.SortFunc(list, func(a, b model.InstanceReport) int {
		return cmp.Or(cmp.Compare(a.Info.Created, b.Info.Created), cmp.Compare(a.Info.InstanceID, b.Info.InstanceID))
	})
	cores, mem := r.mgr.usage()
	ack, err := r.client.report(ctx, model.ExecutorReport{ExecutorID: r.executorID, Instances: list,
		UsedCores: cores, UsedMemory: mem, Full: full})
	if err == nil && ack.Reregister {
		r.reg.trigger()
		err = errReregister
	}
	if err != nil {
		r.restore(batch)
		return err
	}
	r.sent.Add(1)
	r.logger.Trace("report sent", "instances", len(list), "full", full, "applied", ack.Applied)
	return nil
}
