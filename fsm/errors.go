package fsm

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidClusterState is returned for a cluster state other than NORMAL or MAINTENANCE.
	ErrInvalidClusterState = errors.New("invalid cluster state")
)

// ErrInvalidCommand is a command that breaks a rule of the state (an
// instance that exists already, an unknown executor); the message says which.
var ErrInvalidCommand = errors.New("invalid command")

func errInvalid(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidCommand, msg) }
