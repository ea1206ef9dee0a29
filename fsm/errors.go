package fsm

import "errors"

var (
	// ErrInvalidClusterState is returned for a cluster state other than NORMAL or MAINTENANCE.
	ErrInvalidClusterState = errors.New("invalid cluster state")
)
