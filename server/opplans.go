package server

import (
	"fmt"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
)

// jobRetryCount is how many times each job may fail before the operation
// fails (Drove's jobRetryCount default).
const jobRetryCount = 2

// tooManyFailures: more failed jobs than jobRetryCount per job of the operation.
func tooManyFailures(op *model.OperationRecord, failed int) bool {
	return failed > jobRetryCount*max(op.JobsTotal, 1)
}

func finished(st model.OperationStatus, msg string, desired *int) *fsm.AppOperationFinishRequest {
	return &fsm.AppOperationFinishRequest{Status: st, Message: msg, Desired: desired}
}

// planScale converges the number of live instances to op.RequiredInstances:
// it places new instances or stops the oldest, at most Parallelism jobs in
// flight, and stops failing ones (to be replaced).
func planScale(app model.ApplicationInfo, op *model.OperationRecord, v appInstances, now time.Time) stepPlan {
	plan := stepPlan{fail: v.failing(op, now)}
	if op.Type == model.OpRecover && app.State == model.AppOutageDetected {
		plan.state = model.AppScalingRequested
	}
	starting := len(v.starting) - countIn(v.starting, plan.fail)
	stopping := len(v.stopping) + len(plan.fail) // failing ones are about to stop
	live := len(v.live) - len(plan.fail)
	n := op.RequiredInstances
	if op.CancelRequested {
		if starting == 0 && len(v.stopping) == 0 {
			healthy := len(v.healthy)
			plan.finish = finished(model.OpCancelled, "cancelled; desired count set to the healthy count", &healthy)
		}
		return plan
	}
	if _, failed := v.jobCounts(op.ID); tooManyFailures(op, failed) {
		plan.finish = finished(model.OpFailed, fmt.Sprintf("%d instance starts failed", failed), nil)
		return plan
	}
	switch {
	case live > n:
		limit := min(live-n, max(op.Parallelism-stopping, 0))
		for _, r := range oldestFirst(v.live) {
			if len(plan.stop) >= limit {
				break
			}
			if _, failing := plan.fail[r.Info.InstanceID]; !failing {
				plan.stop = append(plan.stop, r.Info.InstanceID)
			}
		}
	case live < n:
		if budget := op.Parallelism - starting - stopping; budget > 0 {
			plan.replaces = make([]string, min(n-live, budget))
		}
	case starting == 0 && stopping == 0:
		plan.finish = finished(model.OpCompleted, "", nil)
	}
	return plan
}

func countIn(recs []model.InstanceRecord, set map[string]string) int {
	n := 0
	for _, r := range recs {
		if _, ok := set[r.Info.InstanceID]; ok {
			n++
		}
	}
	return n
}

// pairStatus is where one REPLACE target stands.
type pairStatus int

const (
	pairDone       pairStatus = iota
	pairInProgress            // waiting for a stop or a replacement to settle
	pairStopOld               // replacement healthy: stop the old one now
	pairPlaceOwed             // old one already gone: its replacement is owed, even when cancelling
	pairNeedsStop             // stop-first: not started yet
	pairNeedsPlace            // new-first: not started yet
)

// planReplace replaces each target instance: new first (start a
// replacement, wait until it is healthy, then stop the old one) or, with
// StopFirst, old first. At most Parallelism pairs are in progress; cancel
// lets started pairs finish and starts no new ones.
func planReplace(op *model.OperationRecord, v appInstances, now time.Time) stepPlan {
	plan := stepPlan{fail: map[string]string{}}
	for id, why := range v.failing(op, now) {
		if v.byID[id].Info.Metadata[metaOperation] == op.ID {
			plan.fail[id] = why // only this operation's replacements; others are the outage monitor's
		}
	}
	replacement := map[string]model.InstanceRecord{} // old id → live replacement
	for _, r := range v.live {
		if old := r.Info.Metadata[metaReplaces]; old != "" && r.Info.Metadata[metaOperation] == op.ID {
			if _, failing := plan.fail[r.Info.InstanceID]; !failing {
				replacement[old] = r
			}
		}
	}
	status := make([]pairStatus, len(op.InstanceIDs))
	busy, pending := 0, 0
	for i, old := range op.InstanceIDs {
		o, known := v.byID[old]
		oldDone := !known || o.Info.State.IsTerminal()
		repl, hasRepl := replacement[old]
		replHealthy := hasRepl && repl.Info.State == model.InstanceHealthy
		switch {
		case oldDone && replHealthy:
			status[i] = pairDone
		case op.StopFirst && !oldDone && o.StopRequested, hasRepl && !replHealthy, replHealthy && o.StopRequested:
			status[i] = pairInProgress
		case replHealthy:
			status[i] = pairStopOld
		case op.StopFirst && !oldDone:
			status[i] = pairNeedsStop
		case oldDone:
			status[i] = pairPlaceOwed
		default:
			status[i] = pairNeedsPlace
		}
		switch status[i] {
		case pairInProgress, pairStopOld:
			busy++
		case pairPlaceOwed, pairNeedsStop, pairNeedsPlace:
			pending++
		}
	}
	// Owed replacements first (even when cancelling: their old instance is
	// gone), then new pairs unless cancelling, all within parallelism.
	started := 0
	for i, old := range op.InstanceIDs {
		switch status[i] {
		case pairStopOld:
			plan.stop = append(plan.stop, old)
		case pairPlaceOwed:
			if busy+started < op.Parallelism {
				started++
				plan.replaces = append(plan.replaces, old)
			}
		}
	}
	for i, old := range op.InstanceIDs {
		st := status[i]
		if (st == pairNeedsStop || st == pairNeedsPlace) && !op.CancelRequested && busy+started < op.Parallelism {
			started++
			if st == pairNeedsStop {
				plan.stop = append(plan.stop, old)
			} else {
				plan.replaces = append(plan.replaces, old)
			}
		}
	}
	owed := 0
	for _, st := range status {
		if st == pairPlaceOwed {
			owed++
		}
	}
	if _, failed := v.jobCounts(op.ID); tooManyFailures(op, failed) {
		plan.replaces = nil
		plan.finish = finished(model.OpFailed, fmt.Sprintf("%d replacement starts failed", failed), nil)
		return plan
	}
	switch {
	case op.CancelRequested && busy == 0 && owed == 0 && len(plan.fail) == 0:
		plan.finish = finished(model.OpCancelled, fmt.Sprintf("cancelled with %d instances not replaced", pending), nil)
	case busy == 0 && pending == 0 && len(plan.fail) == 0:
		plan.finish = finished(model.OpCompleted, "", nil)
	}
	return plan
}

// planStop stops the target instances (STOP_INSTANCES with skipRespawn; the
// desired count was lowered when the operation was accepted). A cancelled
// stop gives the targets it did not stop back to the desired count.
func planStop(app model.ApplicationInfo, op *model.OperationRecord, v appInstances) stepPlan {
	var plan stepPlan
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
		plan.finish = finished(model.OpCompleted, "", nil)
	case op.CancelRequested && running == untouched:
		desired := app.Instances + untouched
		plan.finish = finished(model.OpCancelled, fmt.Sprintf("cancelled with %d instances not stopped", untouched), &desired)
	}
	return plan
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
