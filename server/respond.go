package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/fsm"
)

// envelope is Drove's ApiResponse. Data is omitted when nil.
type envelope struct {
	Status  string `json:"status"`
	Data    any    `json:"data,omitempty"`
	Message string `json:"message"`
}

const (
	statusSuccess = "SUCCESS"
	statusFailed  = "FAILED"
)

// headerNotLeader marks a 503 from a node that is not the leader, so the
// forwarding node retries against the new leader instead of giving up.
const headerNotLeader = "X-Drove-Not-Leader"

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeSuccess(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Status: statusSuccess, Data: data, Message: "success"})
}

// writeError is the one place errors become HTTP statuses and envelopes.
func writeError(w http.ResponseWriter, err error) {
	var (
		verr *ValidationError
		jerr *jsonError
		ferr *forbiddenError
		fres *failedResult
		serr *statusError
	)
	switch {
	case errors.As(err, &verr):
		writeJSON(w, http.StatusBadRequest, envelope{Status: statusFailed,
			Data: map[string]any{"validationErrors": verr.Errors}, Message: "Command validation failure"})
	case errors.As(err, &jerr):
		writeJSON(w, http.StatusBadRequest, envelope{Status: statusFailed,
			Data: map[string]any{"validationErrors": []string{jerr.Error()}}, Message: "JSON validation failure"})
	case errors.As(err, &serr):
		writeJSON(w, serr.code, envelope{Status: statusFailed, Message: serr.message})
	case errors.Is(err, fsm.ErrConflict), errors.Is(err, fsm.ErrNotFound), errors.Is(err, fsm.ErrInvalidCommand):
		// The FSM refused a command the API had checked: the state changed
		// in between. Same answer as the API's own check.
		writeJSON(w, http.StatusBadRequest, envelope{Status: statusFailed,
			Data: map[string]any{"validationErrors": []string{err.Error()}}, Message: "Command validation failure"})
	case errors.As(err, &fres):
		writeJSON(w, http.StatusOK, envelope{Status: statusFailed, Data: fres.data, Message: fres.message})
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Basic realm="drove"`)
		writeJSON(w, http.StatusUnauthorized, envelope{Status: statusFailed, Message: "Credentials are required to access this resource."})
	case errors.As(err, &ferr):
		writeJSON(w, http.StatusForbidden, envelope{Status: statusFailed, Message: err.Error()})
	case errors.Is(err, errNotFound), errors.Is(err, cluster.ErrUnknownServer):
		writeJSON(w, http.StatusNotFound, envelope{Status: statusFailed, Message: err.Error()})
	case errors.Is(err, errMethodNotAllowed):
		writeJSON(w, http.StatusMethodNotAllowed, envelope{Status: statusFailed, Message: err.Error()})
	case errors.Is(err, cluster.ErrNotLeader):
		w.Header().Set(headerNotLeader, "true")
		writeJSON(w, http.StatusServiceUnavailable, envelope{Status: statusFailed, Message: "This node is not the leader controller"})
	case errors.Is(err, errNoLeader), errors.Is(err, cluster.ErrLeadershipLost),
		errors.Is(err, cluster.ErrTimeout), errors.Is(err, cluster.ErrShutdown):
		writeJSON(w, http.StatusServiceUnavailable, envelope{Status: statusFailed, Message: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, envelope{Status: statusFailed,
			Data: map[string]any{"failure": err.Error()}, Message: "Unexpected Server error"})
	}
}
