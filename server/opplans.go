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

func maxFailures(jobs int) int { return jobRetryCount*max(jobs, 1) + 1 }

func finished(st model.OperationStatus, msg string, desired *int) *fsm.AppOperationFinishRequest {
	return &fsm.AppOperationFinishRequest{Status: st, Message: msg, Desired: desired}
}

// planScale converges the number of live instances to op.RequiredInstances:
// it places new instances or stops the oldest, at most Parallelism jobs in
// flight, replacing failing ones.
func planScale(app model.ApplicationInfo, op *model.OperationRecord, v appInstances, now time.Time) stepPlan {
	plan := stepPlan{fail: v.failing(op, now)}
	if op.Type == model.OpRecover && app.State == model.AppOutageDetected {
		plan.state = model.AppScalingRequested
	}
	inFlight := len(v.starting) - len(plan.fail) + len(v.stopping)
	live := len(v.live) - len(plan.fail)
	n := op.RequiredInstances
	if op.CancelRequested {
		if inFlight == 0 {
			healthy := len(v.healthy)
			plan.finish = finished(model.OpCancelled, "cancelled; desired count set to the healthy count", &healthy)
		}
		return plan
	}
	if _, failed := v.jobCounts(op.ID); failed > maxFailures(abs(n-len(v.healthy))+failed/(jobRetryCount+1)) {
		plan.finish = finished(model.OpFailed, fmt.Sprintf("%d instance starts failed", failed), nil)
		return plan
	}
	budget := op.Parallelism - inFlight
	switch {
	case live > n:
		for _, r := range oldestFirst(v.live) {
			if len(plan.stop) >= min(live-n, max(op.Parallelism-len(v.stopping), 0)) {
				break
			}
			if _, failing := plan.fail[r.Info.InstanceID]; !failing {
				plan.stop = append(plan.stop, r.Info.InstanceID)
			}
		}
	case live < n && budget > 0:
		plan.replaces = make([]string, min(n-live, budget))
	case live == n && inFlight == 0 && len(plan.fail) == 0:
		plan.finish = finished(model.OpCompleted, "", nil)
	}
	return plan
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// planReplace replaces each target instance: new first (start a
// replacement, wait until it is healthy, then stop the old one) or, with
// StopFirst, old first. At most Parallelism pairs are in progress.
func planReplace(op *model.OperationRecord, v appInstances, now time.Time) stepPlan {
	plan := stepPlan{fail: v.failing(op, now)}
	replacement := map[string]model.InstanceRecord{} // old id → live replacement
	for _, r := range v.live {
		if old := r.Info.Metadata[metaReplaces]; old != "" && r.Info.Metadata[metaOperation] == op.ID {
			if _, failing := plan.fail[r.Info.InstanceID]; !failing {
				replacement[old] = r
			}
		}
	}
	inProgress, pending := 0, 0
	for _, old := range op.InstanceIDs {
		o, known := v.byID[old]
		oldDone := !known || o.Info.State.IsTerminal()
		repl, hasRepl := replacement[old]
		replHealthy := hasRepl && repl.Info.State == model.InstanceHealthy
		switch {
		case oldDone && replHealthy:
			continue // this pair is done
		case op.StopFirst && !oldDone:
			if o.StopRequested {
				inProgress++
			} else {
				pending++
				if !op.CancelRequested && inProgress < op.Parallelism {
					plan.stop = append(plan.stop, old)
					inProgress++
				}
			}
		case hasRepl && !replHealthy:
			inProgress++ // replacement still starting
		case replHealthy && !oldDone:
			inProgress++
			if !o.StopRequested {
				plan.stop = append(plan.stop, old)
			}
		default: // no replacement yet (for stop-first: the old one is gone), or it failed
			pending++
			if !op.CancelRequested && inProgress < op.Parallelism {
				plan.replaces = append(plan.replaces, old)
				inProgress++
			}
		}
	}
	if _, failed := v.jobCounts(op.ID); failed > maxFailures(len(op.InstanceIDs)) {
		plan.replaces = nil
		plan.finish = finished(model.OpFailed, fmt.Sprintf("%d replacement starts failed", failed), nil)
		return plan
	}
	switch {
	case op.CancelRequested && inProgress == 0 && len(plan.replaces) == 0 && len(plan.stop) == 0:
		plan.finish = finished(model.OpCancelled, fmt.Sprintf("cancelled with %d instances not replaced", pending), nil)
	case inProgress == 0 && pending == 0 && len(plan.fail) == 0:
		plan.finish = finished(model.OpCompleted, "", nil)
	}
	return plan
}

// planStop stops the target instances (STOP_INSTANCES with skipRespawn; the
// desired count was lowered when the operation was accepted).
func planStop(op *model.OperationRecord, v appInstances) stepPlan {
	var plan stepPlan
	running := 0
	for _, id := range op.InstanceIDs {
		r, ok := v.byID[id]
		if !ok || r.Info.State.IsTerminal() {
			continue
		}
		running++
		if !r.StopRequested && !op.CancelRequested && len(plan.stop)+len(v.stopping) < op.Parallelism {
			plan.stop = append(plan.stop, id)
		}
	}
	if running == 0 || (op.CancelRequested && len(v.stopping) == 0) {
		st := model.OpCompleted
		if running > 0 {
			st = model.OpCancelled
		}
		live := len(v.live)
		plan.finish = finished(st, "", &live)
	}
	return plan
}
