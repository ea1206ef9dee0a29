package server

import (
	"sort"
	"time"

	"github.com/drove-go/drove/fsm/model"
)

// Instance metadata keys the operation engine sets on instances it places.
const (
	metaOperation = "drove.operation" // id of the operation that placed the instance
	metaReplaces  = "drove.replaces"  // instance a REPLACE placed this one for
)

// appInstances classifies an application's instance records for the
// operation engine. Everything here is derived from replicated state, so
// any leader computes the same view.
type appInstances struct {
	all      []model.InstanceRecord
	live     []model.InstanceRecord // not terminal, not asked to stop
	healthy  []model.InstanceRecord // live and HEALTHY
	starting []model.InstanceRecord // live, not yet HEALTHY
	stopping []model.InstanceRecord // asked to stop, not yet terminal
	byID     map[string]model.InstanceRecord
	// resumed is when the cluster last left maintenance: operations froze
	// during it, so a start's timeout counts from no earlier than this (the
	// executors' restarts re-ran the readiness checks of re-adopted
	// instances).
	resumed time.Time
}

func classify(recs []model.InstanceRecord) appInstances {
	v := appInstances{all: recs, byID: make(map[string]model.InstanceRecord, len(recs))}
	for _, r := range recs {
		v.byID[r.Info.InstanceID] = r
		switch {
		case r.Info.State.IsTerminal():
		case r.StopRequested:
			v.stopping = append(v.stopping, r)
		case r.Info.State == model.InstanceHealthy:
			v.live = append(v.live, r)
			v.healthy = append(v.healthy, r)
		default:
			v.live = append(v.live, r)
			v.starting = append(v.starting, r)
		}
	}
	return v
}

// failing returns starting instances of this operation that will not become
// healthy: UNHEALTHY ones and ones past the job timeout, with the reason.
// As Drove's, the job timeout is at least the instance's start budget (its
// image pull and all of its readiness and health check attempts).
func (v appInstances) failing(op *model.OperationRecord, now time.Time) map[string]string {
	out := map[string]string{}
	for _, r := range v.live {
		since := max(r.Info.Created, op.Started, v.resumed.UnixMilli())
		switch {
		case r.Info.State == model.InstanceUnhealthy:
			out[r.Info.InstanceID] = "instance became unhealthy"
		case r.Info.State != model.InstanceHealthy &&
			now.Sub(time.UnixMilli(since)) > max(time.Duration(op.TimeoutMs)*time.Millisecond, r.Spec.StartBudget()):
			// Whichever operation placed it (a superseded one too): it must
			// not hold this operation up forever.
			out[r.Info.InstanceID] = "instance did not become healthy within the operation timeout"
		}
	}
	return out
}

// jobCounts derives an operation's progress from its instances: placed
// instances that became healthy are done; ones that ended with an error
// (failed start, lost, stopped as failing) have failed.
func (v appInstances) jobCounts(opID string) (done, failed int) {
	for _, r := range v.all {
		if r.Info.Metadata[metaOperation] != opID {
			continue
		}
		switch {
		case r.Info.State == model.InstanceHealthy && !r.StopRequested:
			done++
		case r.FailReason != "" || (r.Info.State.IsTerminal() && r.Info.ErrorMessage != ""):
			failed++
		case r.Info.State.IsTerminal() && r.Info.Metadata[metaReplaces] != "":
			done++ // a replacement that was itself replaced or scaled down
		}
	}
	return done, failed
}

// oldestFirst sorts instances by creation time, oldest first (scale-down
// stops the oldest instances, as Drove documents).
func oldestFirst(recs []model.InstanceRecord) []model.InstanceRecord {
	out := append([]model.InstanceRecord(nil), recs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Info.Created != out[j].Info.Created {
			return out[i].Info.Created < out[j].Info.Created
		}
		return out[i].Info.InstanceID < out[j].Info.InstanceID
	})
	return out
}
