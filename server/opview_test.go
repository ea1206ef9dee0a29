package server

import (
	"slices"
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// quickPull keeps synthetic instances' start budget (see
// InstanceSpec.StartBudget) below the operation timeouts the plan tests use.
var quickPull = model.Executable{Type: "DOCKER", URL: "test", DockerPullTimeout: "1 seconds"}

func startingRec(id string, created time.Time, spec model.InstanceSpec) model.InstanceRecord {
	spec.InstanceID = id
	return model.InstanceRecord{Spec: spec,
		Info: model.InstanceInfo{InstanceID: id, State: model.InstanceStarting, Created: created.UnixMilli()}}
}

// A start fails after the operation timeout or, when longer, the instance's
// start budget (image pull plus every check attempt), as Drove computes it;
// time spent in cluster maintenance (operations frozen) does not count.
func TestFailing_StartBudgetAndMaintenance(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	op := &model.OperationRecord{ID: "OP-1", TimeoutMs: 60_000, Started: t0.UnixMilli()}
	slowSpec := model.InstanceSpec{
		Executable: model.Executable{Type: "DOCKER", URL: "test", DockerPullTimeout: "100 seconds"},
		Readiness: &model.CheckSpec{InitialDelay: model.NewDuration(5 * time.Second), Attempts: 3,
			Timeout: model.NewDuration(time.Second), Interval: model.NewDuration(5 * time.Second)}}
	require.Equal(t, 123*time.Second, slowSpec.StartBudget())
	require.Equal(t, 15*time.Minute, model.InstanceSpec{}.StartBudget(), "Drove's default pull timeout")

	v := classify([]model.InstanceRecord{startingRec("slow", t0, slowSpec), startingRec("quick", t0, model.InstanceSpec{Executable: quickPull})})
	require.Equal(t, []string{"quick"}, keysOf(v.failing(op, t0.Add(61*time.Second))), "only the op timeout applies to quick")
	require.Equal(t, []string{"quick", "slow"}, keysOf(v.failing(op, t0.Add(124*time.Second))), "slow past its start budget")

	v.resumed = t0.Add(100 * time.Second) // maintenance ended then
	require.Empty(t, v.failing(op, t0.Add(150*time.Second)), "50 s since the operations resumed")
	require.Equal(t, []string{"quick"}, keysOf(v.failing(op, t0.Add(161*time.Second))))
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
