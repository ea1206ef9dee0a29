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

var (
	// ErrConflict is a command the current state does not allow (an app that
	// exists, an operation already running); the message says which.
	ErrConflict = errors.New("conflict")
	// ErrNotFound is a command about something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrResourcesTaken is a placement whose cores another placement took
	// meanwhile (it is also an ErrConflict): place again and retry.
	ErrResourcesTaken = errors.New("resources taken")
)
