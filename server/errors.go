package server

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// errUnauthorized means no valid credentials were presented. Its text is
	// Dropwizard's, the message Drove clients know.
	errUnauthorized = errors.New("credentials are required to access this resource")
	// errNoLeader means no leader was elected within the forwarding wait.
	errNoLeader = errors.New("no leader elected; cluster unavailable")
	// errNotFound is an unknown route.
	errNotFound = errors.New("HTTP 404 Not Found")
	// errMethodNotAllowed is a known route with the wrong method.
	errMethodNotAllowed = errors.New("HTTP 405 Method Not Allowed")
)

// forbiddenError means the caller is authenticated but its role may not call the route.
type forbiddenError struct {
	user, role string
}

func (e *forbiddenError) Error() string {
	return fmt.Sprintf("User %s with role %s is not allowed to access this resource", e.user, e.role)
}

// ValidationError is a request that breaks a rule; each entry names the field and the rule.
// It maps to HTTP 400 with data.validationErrors, as Drove does.
type ValidationError struct {
	Errors []string
}

func (e *ValidationError) Error() string {
	return "Command validation failure: " + strings.Join(e.Errors, "; ")
}

// invalid builds a ValidationError from messages.
func invalid(msgs ...string) *ValidationError { return &ValidationError{Errors: msgs} }

// jsonError is a body that is not valid JSON for the expected type (HTTP 400,
// "JSON validation failure").
type jsonError struct {
	err error
}

func (e *jsonError) Error() string { return e.err.Error() }

// failedResult is Drove's "200 with status FAILED" answer, used where Drove
// answers a lookup of something unknown that way.
type failedResult struct {
	message string
	data    any
}

func (e *failedResult) Error() string { return e.message }

// statusError is an answer with a specific status and message and no data
// (e.g. Drove's 400 "Current operation could not be cancelled").
type statusError struct {
	code    int
	message string
}

func (e *statusError) Error() string { return e.message }
