package server

import (
	"fmt"
	"sort"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// serviceTarget is how many instances of a local service each executor
// should run. Eligible executors are those that may run local-service
// instances (registered, not REMOVED, not blacklisted); instances anywhere
// else are excess.
type serviceTarget struct {
	want     map[string]int // executor id → instances wanted
	eligible map[string]bool
}

// serviceHosts says where local-service instances may run: eligible
// executors get their instances; keep executors (deactivated, drained, on
// a machine about to go into maintenance) keep what runs there but get
// nothing new; on any other executor (blacklisted, draining) instances stop.
type serviceHosts struct {
	eligible map[string]bool
	keep     map[string]bool
}

// hostsFor classifies executors for local services: ACTIVE or UNREADY
// ones (Drove starts local services on UNREADY executors too) that
// maintenance does not block are eligible.
func hostsFor(execs []model.ExecutorInfo, av availability) serviceHosts {
	h := serviceHosts{eligible: map[string]bool{}, keep: map[string]bool{}}
	for _, e := range execs {
		if e.State != model.ExecutorActive && e.State != model.ExecutorUnready {
			continue
		}
		_, blocked := av.noNew[e.ExecutorID]
		switch {
		case !blocked:
			h.eligible[e.ExecutorID] = true
		case !av.evictLS[e.ExecutorID]:
			h.keep[e.ExecutorID] = true
		}
	}
	return h
}

// targetOf computes the wanted instances: instancesPerHost on every eligible
// executor when ACTIVE (and what runs, up to that, on keep executors);
// exactly one in the cluster when CONFIG_TESTING (where one already runs,
// else on pick); none otherwise.
func targetOf(ls model.LocalServiceInfo, h serviceHosts, v appInstances, pick func([]string) string) serviceTarget {
	eligible := h.eligible
	t := serviceTarget{want: map[string]int{}, eligible: eligible}
	switch ls.ActivationState {
	case model.ActivationActive:
		for id := range eligible {
			t.want[id] = ls.InstancesPerHost
		}
		for _, r := range v.live {
			if id := r.Info.ExecutorID; h.keep[id] && t.want[id] < ls.InstancesPerHost {
				t.want[id]++
			}
		}
	case model.ActivationConfigTesting:
		for _, r := range oldestFirst(v.live) {
			if eligible[r.Info.ExecutorID] || h.keep[r.Info.ExecutorID] {
				t.want[r.Info.ExecutorID] = 1
				return t
			}
		}
		ids := make([]string, 0, len(eligible))
		for id := range eligible {
			ids = append(ids, id)
		}
		if len(ids) > 0 {
			sort.Strings(ids)
			t.want[pick(ids)] = 1
		}
	}
	return t
}

// liveByExecutor groups live instances (not failing) by executor.
func liveByExecutor(v appInstances, fail map[string]string) map[string][]model.InstanceRecord {
	out := map[string][]model.InstanceRecord{}
	for _, r := range v.live {
		if _, failing := fail[r.Info.InstanceID]; !failing {
			out[r.Info.ExecutorID] = append(out[r.Info.ExecutorID], r)
		}
	}
	return out
}

// serviceConverged reports whether the instances match the target: the
// wanted count of live instances per eligible executor, all healthy, and
// nothing live elsewhere. The monitor starts ADJUST_INSTANCES when not.
func serviceConverged(t serviceTarget, v appInstances) bool {
	byExec := liveByExecutor(v, nil)
	for exec, recs := range byExec {
		if len(recs) != t.want[exec] {
			return false
		}
		for _, r := range recs {
			if r.Info.State != model.InstanceHealthy {
				return false
			}
		}
	}
	for exec, n := range t.want {
		if n > 0 && len(byExec[exec]) != n {
			return false
		}
	}
	return true
}

// servicePlan is what one step of a local-service operation wants committed.
type servicePlan struct {
	placeOn  []string          // one executor id per instance to place
	replaces map[int]string    // index in placeOn → instance it replaces
	stop     []string          // instances to stop
	fail     map[string]string // instances to stop as failed jobs
	finish   *serviceFinish
}

// serviceFinish ends the operation.
type serviceFinish struct {
	status    model.OperationStatus
	message   string
	emergency bool
}

func (p servicePlan) empty() bool {
	return len(p.placeOn) == 0 && len(p.stop) == 0 && len(p.fail) == 0 && p.finish == nil
}

// planAdjust converges every executor to its wanted count: it stops
// instances on ineligible executors and excess ones (not-yet-healthy
// first, then the newest), places missing ones, and stops failing ones to
// be replaced, with at most Parallelism jobs in flight. A cancelled adjust
// ends once nothing is in flight, with emergency deactivation.
//
// For a host-level service nothing is placed on an executor while an
// instance of the service is stopping there: the new one needs its ports.
func planAdjust(op *model.OperationRecord, t serviceTarget, v appInstances, hostLevel bool, now time.Time) servicePlan {
	plan := servicePlan{fail: v.failing(op, now)}
	starting := len(v.starting) - countIn(v.starting, plan.fail)
	stopping := len(v.stopping) + len(plan.fail)
	if op.CancelRequested {
		if starting == 0 && len(v.stopping) == 0 && len(plan.fail) == 0 {
			plan.finish = &serviceFinish{status: model.OpCancelled, message: "cancelled", emergency: true}
		}
		return plan
	}
	if _, failed := v.jobCounts(op.ID); tooManyFailures(op, failed) {
		plan.finish = &serviceFinish{status: model.OpFailed, message: fmt.Sprintf("%d instance starts failed", failed)}
		return plan
	}
	budget := max(op.Parallelism-starting-stopping, 0)
	byExec := liveByExecutor(v, plan.fail)
	execs := make([]string, 0, len(byExec)+len(t.want))
	for id := range byExec {
		execs = append(execs, id)
	}
	for id := range t.want {
		if _, seen := byExec[id]; !seen {
			execs = append(execs, id)
		}
	}
	sort.Strings(execs)
	portsBusy := map[string]bool{}
	if hostLevel {
		for _, r := range v.stopping {
			portsBusy[r.Info.ExecutorID] = true
		}
		for id := range plan.fail {
			portsBusy[v.byID[id].Info.ExecutorID] = true
		}
	}
	pending := 0
	for _, exec := range execs {
		recs, want := byExec[exec], t.want[exec]
		switch {
		case len(recs) > want:
			excess := stopOrder(recs)[:len(recs)-want]
			for _, r := range excess {
				pending++
				if budget > 0 {
					budget--
					plan.stop = append(plan.stop, r.Info.InstanceID)
				}
			}
		case len(recs) < want:
			for range want - len(recs) {
				pending++
				if budget > 0 && !portsBusy[exec] {
					budget--
					plan.placeOn = append(plan.placeOn, exec)
				}
			}
		}
	}
	if pending == 0 && starting == 0 && stopping == 0 {
		plan.finish = &serviceFinish{status: model.OpCompleted}
	}
	return plan
}

// stopOrder sorts instances in the order excess ones are stopped: those not
// yet healthy first, then the newest.
func stopOrder(recs []model.InstanceRecord) []model.InstanceRecord {
	out := append([]model.InstanceRecord(nil), recs...)
	sort.SliceStable(out, func(i, j int) bool {
		hi, hj := out[i].Info.State == model.InstanceHealthy, out[j].Info.State == model.InstanceHealthy
		if hi != hj {
			return !hi
		}
		if out[i].Info.Created != out[j].Info.Created {
			return out[i].Info.Created > out[j].Info.Created
		}
		return out[i].Info.InstanceID > out[j].Info.InstanceID
	})
	return out
}

// planServiceReplace is planReplace with each replacement pinned to the
// executor of the instance it replaces. A cancelled replace ends with
// emergency deactivation.
func planServiceReplace(op *model.OperationRecord, v appInstances, now time.Time) servicePlan {
	p := planReplace(op, v, now)
	plan := servicePlan{stop: p.stop, fail: p.fail, replaces: map[int]string{}}
	for _, old := range p.replaces {
		plan.replaces[len(plan.placeOn)] = old
		plan.placeOn = append(plan.placeOn, v.byID[old].Info.ExecutorID)
	}
	if p.finish != nil {
		plan.finish = &serviceFinish{status: p.finish.Status, message: p.finish.Message,
			emergency: p.finish.Status == model.OpCancelled}
	}
	return plan
}

// planServiceStop stops the target instances, Parallelism at a time; the
// monitor may start new ones afterwards if the service wants them.
func planServiceStop(op *model.OperationRecord, v appInstances) servicePlan {
	var plan servicePlan
	running, untouched := 0, 0
	for _, id := range op.InstanceIDs {
		r, ok := v.byID[id]
		if !ok || r.Info.State.IsTerminal() {
			continue
		}
		running++
		if r.StopRequested {
			continue
		}
		untouched++
		if !op.CancelRequested && len(plan.stop)+len(v.stopping) < op.Parallelism {
			plan.stop = append(plan.stop, id)
		}
	}
	switch {
	case running == 0:
		plan.finish = &serviceFinish{status: model.OpCompleted}
	case op.CancelRequested && running == untouched:
		plan.finish = &serviceFinish{status: model.OpCancelled, message: fmt.Sprintf("cancelled with %d instances not stopped", untouched)}
	}
	return plan
}
