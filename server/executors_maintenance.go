package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

func (a *api) executorMaintenanceRoutes() []route {
	return []route{
		{method: "POST", path: "/apis/v1/cluster/executors/blacklist", roles: maintenanceRole, h: a.blacklist(true)},
		{method: "POST", path: "/apis/v1/cluster/executors/unblacklist", roles: maintenanceRole, h: a.blacklist(false)},
		{method: "POST", path: "/apis/v1/cluster/executors/{id}/blacklist", roles: maintenanceRole, h: a.blacklist(true)},
		{method: "POST", path: "/apis/v1/cluster/executors/{id}/unblacklist", roles: maintenanceRole, h: a.blacklist(false)},
		{method: "POST", path: "/apis/v1/cluster/executors/{id}/drain", roles: maintenanceRole, h: a.drainExecutor},
		{method: "POST", path: "/apis/v1/cluster/executors/{id}/deactivate", roles: maintenanceRole, h: a.activateExecutor(true)},
		{method: "POST", path: "/apis/v1/cluster/executors/{id}/reactivate", roles: maintenanceRole, h: a.activateExecutor(false)},
	}
}

// blacklistEstimatePerRound is the rough time one round of new-first
// replacements takes, for Drove's approxCompletionTimeMs.
const blacklistEstimatePerRound = 10 * time.Second

// blacklist is Drove's (un)blacklist, for ids in the path or in repeated
// ?id= parameters. Unknown ids land in failed; the state change is one
// Raft command for all ids, so the migrator sees them together and
// migrates each application once. In maintenance Drove answers 200 FAILED.
func (a *api) blacklist(on bool) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		ids := r.URL.Query()["id"]
		if id := mux.Vars(r)["id"]; id != "" {
			ids = []string{id}
		}
		if len(ids) == 0 {
			return nil, invalid("id - at least one executor id is required")
		}
		if a.c.inMaintenance() {
			return nil, &failedResult{message: "Cluster is in maintenance mode",
				data: model.BlacklistResult{Successful: []string{}, Failed: ids}}
		}
		t := fsm.ExecutorsUnblacklistType
		if on {
			t = fsm.ExecutorsBlacklistType
		}
		cmd, err := fsm.Encode(t, fsm.ExecutorsBlacklistRequest{ExecutorIDs: ids, Timestamp: time.Now().UnixMilli()})
		if err != nil {
			return nil, err
		}
		out, err := a.node.Apply(cmd)
		if err != nil {
			return nil, err
		}
		res := out.(model.BlacklistResult)
		if on {
			res.ApproxCompletionTimeMs = a.migrationEstimate(res.Successful).Milliseconds()
		}
		return res, nil
	}
}

// migrationEstimate is a rough duration for migrating the application
// instances off executors: rounds of parallelism replacements per app.
func (a *api) migrationEstimate(execs []string) time.Duration {
	on := map[string]bool{}
	for _, id := range execs {
		on[id] = true
	}
	perApp := map[string]int{}
	for _, r := range a.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.Kind() == model.KindApp && on[r.Info.ExecutorID] && !r.Info.State.IsTerminal()
	}) {
		perApp[r.Info.AppID]++
	}
	rounds := 0
	par := max(a.c.cfg.ClusterOpParallelism, 1)
	for _, n := range perApp {
		rounds = max(rounds, (n+par-1)/par)
	}
	return time.Duration(rounds) * blacklistEstimatePerRound
}

// drainBody is the body of POST /cluster/executors/{id}/drain (Mesos'
// DRAIN_AGENT options).
type drainBody struct {
	MaxGracePeriod *model.Duration `json:"maxGracePeriod"`
	MarkGone       bool            `json:"markGone"`
}

// drainExecutor starts draining an executor (a drain cannot be cancelled).
func (a *api) drainExecutor(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["id"]
	var body drainBody
	if err := decodeJSON(r, &body, true); err != nil {
		return nil, err
	}
	if a.c.inMaintenance() {
		return nil, invalid("Cluster is in maintenance mode")
	}
	req := fsm.ExecutorDrainRequest{ExecutorID: id, MarkGone: body.MarkGone, Timestamp: time.Now().UnixMilli()}
	if g := body.MaxGracePeriod; g != nil {
		if g.D() < 0 {
			return nil, invalid(fmt.Sprintf("maxGracePeriod - must not be negative, got %s", g))
		}
		req.MaxGracePeriodMs = max(g.D().Milliseconds(), 1)
	}
	if err := a.applyCmd(fsm.ExecutorDrainType, req); err != nil {
		return nil, executorNotFound(err, id)
	}
	e, _ := a.fsm.Executor(id)
	return a.executorSummaryNow(e), nil
}

// activateExecutor deactivates (no new placements, nothing stopped) or
// reactivates an executor; reactivation also ends a finished drain.
func (a *api) activateExecutor(deactivate bool) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		id := mux.Vars(r)["id"]
		err := a.applyCmd(fsm.ExecutorActivationType, fsm.ExecutorActivationRequest{ExecutorID: id, Deactivate: deactivate,
			Timestamp: time.Now().UnixMilli()})
		if err != nil {
			return nil, executorNotFound(err, id)
		}
		e, _ := a.fsm.Executor(id)
		return a.executorSummaryNow(e), nil
	}
}

// executorNotFound turns the FSM's not-found into Drove's 200 FAILED.
func executorNotFound(err error, id string) error {
	if errors.Is(err, fsm.ErrNotFound) {
		return &failedResult{message: "No executor found with id: " + id}
	}
	return err
}

// executorSummaryNow is the executor's summary with its shown state.
func (a *api) executorSummaryNow(e model.ExecutorInfo) model.ExecutorSummary {
	return a.executorSummary(e, a.fsm.UnreadyExecutors())
}
