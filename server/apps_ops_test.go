package server

import (
	"fmt"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// TestCheckAllowed_EveryStateAndOperation walks the whole state × operation
// table: exactly Drove's code (SCALE is accepted while scaling; STOP and
// REPLACE only in RUNNING; DESTROY only in MONITORING; nothing in the
// transitional states).
func TestCheckAllowed_EveryStateAndOperation(t *testing.T) {
	allowed := map[model.ApplicationState][]model.OperationType{
		model.AppMonitoring:       {model.OpStartInstances, model.OpScale, model.OpDestroy, model.OpRecover},
		model.AppRunning:          {model.OpStartInstances, model.OpScale, model.OpSuspend, model.OpStopInstances, model.OpReplaceInstances, model.OpRecover},
		model.AppScalingRequested: {model.OpScale},
	}
	states := []model.ApplicationState{model.AppInit, model.AppMonitoring, model.AppRunning, model.AppOutageDetected,
		model.AppScalingRequested, model.AppStopInstancesRequested, model.AppReplaceInstancesRequested,
		model.AppDestroyRequested, model.AppDestroyed, model.AppFailed}
	ops := []model.OperationType{model.OpStartInstances, model.OpScale, model.OpSuspend, model.OpStopInstances,
		model.OpReplaceInstances, model.OpDestroy, model.OpRecover}
	for _, st := range states {
		for _, op := range ops {
			t.Run(fmt.Sprintf("%s/%s", st, op), func(t *testing.T) {
				want := false
				for _, o := range allowed[st] {
					want = want || o == op
				}
				err := checkAllowed(model.ApplicationInfo{AppID: "A-1", State: st}, op)
				if want {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				var verr *ValidationError
				require.ErrorAs(t, err, &verr)
				if len(allowed[st]) == 0 {
					require.Equal(t, fmt.Sprintf("No operations allowed for A-1 as it is in %s state", st), verr.Errors[0])
				} else {
					require.Contains(t, verr.Errors[0], "Only [")
				}
			})
		}
	}
	err := checkAllowed(model.ApplicationInfo{AppID: "A-1", State: model.AppRunning}, "EXPLODE")
	require.ErrorContains(t, err, "unknown operation")
}
