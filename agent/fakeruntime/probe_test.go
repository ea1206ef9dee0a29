package fakeruntime

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/fsm/model"
)

func TestRuntime_ProbeHTTP(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, Config{})
	id := mustStart(t, r, "c", nil)

	status, err := r.ProbeHTTP(ctx, id, model.CheckModeSpec{Type: model.CheckHTTP, PortName: "main"})
	require.NoError(t, err)
	require.Equal(t, 200, status)
	status, err = r.ProbeHTTP(ctx, id, model.CheckModeSpec{Type: model.CheckHTTP, SuccessCodes: []int{204, 200}})
	require.NoError(t, err)
	require.Equal(t, 204, status, "the simulated application answers what the check wants")

	created := mustCreate(t, r, "created", nil)
	_, err = r.ProbeHTTP(ctx, created, model.CheckModeSpec{})
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = r.ProbeHTTP(ctx, "missing", model.CheckModeSpec{})
	require.ErrorIs(t, err, agent.ErrNotFound)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = r.ProbeHTTP(cancelled, id, model.CheckModeSpec{})
	require.ErrorIs(t, err, context.Canceled)
}
