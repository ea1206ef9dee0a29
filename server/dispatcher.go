package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/fsm/model/httpcall"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// dispatcher pushes start and stop commands for instances to executors, on
// the leader only. It derives what to send from the replicated state each
// time it changes (and every second), so a new leader simply carries on.
// Sends are idempotent by instance id on the executor, retried with
// exponential backoff; executors also pull their expected instances, which
// heals anything lost here.
type dispatcher struct {
	c        *Controller
	client   *http.Client
	logger   hclog.Logger
	parallel int

	mu       sync.Mutex
	attempts map[string]*dispatchAttempt // by instance id + kind
}

type dispatchAttempt struct {
	next     time.Time
	failures int
	inFlight bool
	done     bool // accepted: do not resend while the instance stays in the same state
	state    model.InstanceState
}

const (
	dispatchBackoffMin = 500 * time.Millisecond
	dispatchBackoffMax = 30 * time.Second
	// dispatchResend re-sends an accepted start whose instance still shows
	// PENDING this long after (the executor may have restarted).
	dispatchResend = 30 * time.Second
)

func newDispatcher(c *Controller) *dispatcher {
	return &dispatcher{c: c, logger: c.logger.Named("dispatch"), parallel: 64,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, MaxIdleConnsPerHost: 8}}}
}

func (d *dispatcher) run(ctx context.Context) {
	d.mu.Lock()
	d.attempts = map[string]*dispatchAttempt{}
	d.mu.Unlock()
	sem := make(chan struct{}, d.parallel)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		changed := d.c.fsm.Changed()
		d.scan(ctx, sem)
		select {
		case <-changed:
			// Coalesce bursts of changes (every report is one): at most one
			// pass per passInterval.
			select {
			case <-time.After(passInterval):
			case <-ctx.Done():
				return
			}
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// scan sends every command that is due.
func (d *dispatcher) scan(ctx context.Context, sem chan struct{}) {
	now := time.Now()
	live := map[string]bool{}
	for _, rec := range d.c.fsm.Instances(needsDispatch) {
		kind := model.MsgStartInstance
		if rec.StopRequested {
			kind = model.MsgStopInstance
			if rec.Info.State == model.InstanceStopping || rec.Info.State == model.InstanceDeprovisioning {
				continue // the executor is already stopping it
			}
		} else if rec.Info.State != model.InstancePending {
			continue // the executor has it; nothing to push
		}
		key := rec.Info.InstanceID + "/" + string(kind)
		live[key] = true
		if !d.due(key, rec.Info.State, now) {
			continue
		}
		exec, ok := d.c.fsm.Executor(rec.Info.ExecutorID)
		if !ok || exec.State == model.ExecutorRemoved {
			d.release(key) // its instances become LOST; nothing to send
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func(rec model.InstanceRecord) {
			defer func() { <-sem }()
			d.send(ctx, key, kind, exec, rec)
		}(rec)
	}
	d.forget(live)
}

func (d *dispatcher) due(key string, st model.InstanceState, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.attempts[key]
	if a == nil {
		a = &dispatchAttempt{}
		d.attempts[key] = a
	}
	if a.state != st { // progress was made: the next need is new
		a.state, a.done, a.failures = st, false, 0
	}
	if a.inFlight || now.Before(a.next) {
		return false
	}
	a.inFlight = true
	return true
}

func (d *dispatcher) forget(live map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := range d.attempts {
		if !live[k] {
			delete(d.attempts, k)
		}
	}
}

func (d *dispatcher) send(ctx context.Context, key string, kind model.MessageType, exec model.ExecutorInfo, rec model.InstanceRecord) {
	msg := model.ExecutorMessage{Type: kind,
		Header:  model.MessageHeader{ID: uuid.NewString(), SenderType: "CONTROLLER", Direction: "REQUEST", MessageTime: time.Now().UnixMilli()},
		Address: model.ExecutorAddress{ExecutorID: exec.ExecutorID, Hostname: exec.Hostname, Port: exec.Port, TransportType: exec.TransportType}}
	if kind == model.MsgStartInstance {
		spec, err := resolveControllerConfigs(ctx, rec.Spec)
		if err != nil {
			d.failed(key, rec, kind, exec, err)
			return
		}
		msg.Spec = &spec
	} else {
		msg.InstanceID = rec.Info.InstanceID
		if exec.Drain != nil && exec.Drain.MaxGracePeriodMs > 0 {
			msg.GracePeriodMs = exec.Drain.MaxGracePeriodMs // a drain bounds the kill grace period
		}
	}
	var err error
	if drop := d.c.cfg.DropDispatch; drop == nil || !drop(msg) {
		err = d.post(ctx, exec, msg)
	}
	if err != nil {
		d.failed(key, rec, kind, exec, err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.attempts[key]; a != nil {
		a.inFlight, a.done, a.failures = false, true, 0
		a.next = time.Now().Add(dispatchResend)
	}
}

// failed schedules the next attempt of a send with exponential backoff.
func (d *dispatcher) failed(key string, rec model.InstanceRecord, kind model.MessageType, exec model.ExecutorInfo, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.attempts[key]
	if a == nil {
		return
	}
	a.inFlight = false
	a.failures++
	backoff := min(dispatchBackoffMin<<min(a.failures-1, 10), dispatchBackoffMax)
	a.next = time.Now().Add(backoff)
	d.logger.Debug("dispatch failed; will retry", "instance", rec.Info.InstanceID, "type", kind,
		"executor", exec.ExecutorID, "retry_in", backoff, "error", err)
}

func (d *dispatcher) post(ctx context.Context, exec model.ExecutorInfo, msg model.ExecutorMessage) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", executorURL(exec)+"/apis/v1/messages", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerClusterAuth, d.c.cfg.ClusterSecret)
	req.Header.Set(headerNodeID, d.c.cfg.NodeID)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var mr model.MessageResponse
	if err := json.NewDecoder(resp.Body).Decode(&mr); err != nil {
		return fmt.Errorf("executor answered %d with an unreadable body: %w", resp.StatusCode, err)
	}
	if mr.Status != model.MessageAccepted && mr.Status != model.MessageHandled {
		return fmt.Errorf("executor answered %s: %s", mr.Status, mr.Message)
	}
	return nil
}

// needsDispatch selects instances the dispatcher may have to message: not
// yet accepted by their executor, or asked to stop and not stopping yet.
// Filtering inside the FSM keeps a scan cheap when most instances run.
func needsDispatch(r *model.InstanceRecord) bool {
	if r.Info.State.IsTerminal() {
		return false
	}
	if r.StopRequested {
		return r.Info.State != model.InstanceStopping && r.Info.State != model.InstanceDeprovisioning
	}
	return r.Info.State == model.InstancePending
}

// release clears an attempt marked in flight by due without sending.
func (d *dispatcher) release(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.attempts[key]; a != nil {
		a.inFlight = false
	}
}

// maxControllerConfigBytes bounds a config fetched by the controller.
const maxControllerConfigBytes = 16 << 20

// resolveControllerConfigs fetches CONTROLLER_HTTP_FETCH configs, as Drove's
// controller does at instance start, and sends them as INLINE data. Only
// the message carries the result: nothing fetched is stored in Raft.
func resolveControllerConfigs(ctx context.Context, spec model.InstanceSpec) (model.InstanceSpec, error) {
	if !slices.ContainsFunc(spec.Configs, func(c model.ConfigSpec) bool { return c.Type == model.ConfigControllerHTTPFetch }) {
		return spec, nil
	}
	cfgs := make([]model.ConfigSpec, len(spec.Configs))
	for i, c := range spec.Configs {
		cfgs[i] = c
		if c.Type != model.ConfigControllerHTTPFetch {
			continue
		}
		if c.HTTP == nil {
			return spec, fmt.Errorf("config %s: CONTROLLER_HTTP_FETCH without an http call", c.LocalFilename)
		}
		data, err := httpcall.Do(ctx, *c.HTTP, maxControllerConfigBytes)
		if err != nil {
			return spec, fmt.Errorf("fetch config %s: %w", c.LocalFilename, err)
		}
		cfgs[i] = model.ConfigSpec{Type: model.ConfigInline, LocalFilename: c.LocalFilename, Data: data}
	}
	spec.Configs = cfgs
	return spec, nil
}
