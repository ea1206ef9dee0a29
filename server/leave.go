package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// errOnlyVoter refuses a leave that would leave the cluster without voters.
var errOnlyVoter = errors.New("cannot leave: this controller is the only voter")

// Leave removes this controller from the cluster gracefully: leadership is
// handed over if held, the leader removes it from the raft configuration, it
// leaves gossip, and Left() is closed. auth carries the caller's credentials,
// used when no cluster secret is configured.
func (c *Controller) Leave(auth http.Header) error {
	servers, err := c.node.Servers()
	if err != nil {
		return err
	}
	if len(servers) <= 1 {
		return invalid(errOnlyVoter.Error())
	}
	if c.node.IsLeader() {
		if err := c.node.TransferLeadership(); err != nil {
			return fmt.Errorf("transfer leadership: %w", err)
		}
	}
	if err := c.askLeaderToRemove(auth); err != nil {
		return err
	}
	if err := c.pool.Leave(2 * time.Second); err != nil {
		c.logger.Warn("gossip leave", "error", err)
	}
	c.logger.Info("left the cluster")
	c.leftOnce.Do(func() { close(c.left) })
	return nil
}

// askLeaderToRemove retries DELETE /cluster/controllers/{self} on the leader
// until it succeeds or 10 s pass.
func (c *Controller) askLeaderToRemove(auth http.Header) error {
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		addr, self, ok := c.api.leaderAPI()
		if ok && !self {
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			resp, err := c.api.peers.do(ctx, "DELETE", addr, "/apis/v1/cluster/controllers/"+c.cfg.NodeID, auth)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					cancel()
					return nil
				}
				err = fmt.Errorf("leader %s answered %d: %s", addr, resp.StatusCode, body)
			}
			cancel()
			last = err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	return fmt.Errorf("leave: leader did not remove this controller: %v", last)
}
