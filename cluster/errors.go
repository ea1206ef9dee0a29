package cluster

import (
	"errors"

	"github.com/hashicorp/raft"
)

var (
	// ErrNotLeader means this node is not the leader, so the command was not applied.
	ErrNotLeader = errors.New("node is not the leader")
	// ErrLeadershipLost means leadership was lost while the command was being
	// committed: it may or may not have been applied.
	ErrLeadershipLost = errors.New("leadership lost while committing; outcome unknown")
	// ErrTimeout means the command could not be enqueued or committed in time.
	ErrTimeout = errors.New("timed out applying command")
	// ErrShutdown means the node is shutting down.
	ErrShutdown = errors.New("raft node is shut down")
	// ErrUnknownServer means no server with that id is in the Raft configuration.
	ErrUnknownServer = errors.New("no such controller in the raft configuration")
)

// mapRaftErr converts hashicorp/raft errors to this package's sentinels so
// callers never depend on raft directly.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}
