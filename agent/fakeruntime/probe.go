package fakeruntime

import (
	"context"
	"fmt"

	"github.com/drove-go/drove/agent"
	"github.com/drove-go/drove/fsm/model"
)

// ProbeHTTP answers an HTTP check or pre-shutdown hook of a simulated
// container (agent.HTTPProber: its containers listen on no port): a running
// container's application answers with the first of the mode's success
// codes (200 when none are listed), so HTTP checks pass as CMD checks other
// than "false" do. It fails with agent.ErrNotFound or ErrNotRunning like
// Exec.
func (r *Runtime) ProbeHTTP(ctx context.Context, id string, mode model.CheckModeSpec) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.mu.Lock()
	c, err := r.getLocked(id)
	running := err == nil && c.info.Status == agent.ContainerRunning
	r.mu.Unlock()
	switch {
	case err != nil:
		return 0, err
	case !running:
		return 0, fmt.Errorf("fakeruntime: probe %s: %w", id, ErrNotRunning)
	case len(mode.SuccessCodes) > 0:
		return mode.SuccessCodes[0], nil
	}
	return 200, nil
}

var _ agent.HTTPProber = (*Runtime)(nil)
