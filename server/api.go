package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

// handlerFunc is the shape of every enveloped handler: it returns the data to
// wrap in a SUCCESS envelope, or an error that writeError maps.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// routeMode says where a route is served.
type routeMode int

const (
	// onLeader routes are served by the leader; followers forward them.
	// Reads may be served locally with ?stale=true.
	onLeader routeMode = iota
	// onNode routes are about the node that receives them and never forwarded.
	onNode
)

// route is one line of the route table.
type route struct {
	method string
	path   string
	roles  []Role
	mode   routeMode
	h      handlerFunc      // enveloped handler, or
	raw    http.HandlerFunc // a streaming handler that writes its own response
}

// routes is the one route table of the controller API.
func (a *api) routes() []route {
	rs := []route{
		{method: "GET", path: "/apis/v1/ping", h: a.ping},
		{method: "GET", path: "/apis/v1/cluster", h: a.clusterSummary},
		{method: "POST", path: "/apis/v1/cluster/maintenance/set", roles: maintenanceRole, h: a.setMaintenance},
		{method: "POST", path: "/apis/v1/cluster/maintenance/unset", roles: maintenanceRole, h: a.unsetMaintenance},
		{method: "GET", path: "/apis/v1/cluster/events", h: a.eventsList},
		{method: "GET", path: "/apis/v1/cluster/events/latest", h: a.eventsLatest},
		{method: "GET", path: "/apis/v1/cluster/events/summary", h: a.eventsSummary},
		{method: "GET", path: "/apis/v1/cluster/events/watch", raw: a.eventsWatch},
		{method: "GET", path: "/apis/v1/cluster/controllers", h: a.controllers},
		{method: "GET", path: "/apis/v1/cluster/controllers/self", mode: onNode, h: a.controllerSelf},
		{method: "POST", path: "/apis/v1/cluster/controllers/self/leave", mode: onNode, roles: nodeOrMaintRole, h: a.leave},
		{method: "DELETE", path: "/apis/v1/cluster/controllers/{id}", roles: nodeOrMaintRole, h: a.removeController},
		{method: "GET", path: "/apis/v1/cluster/executors", h: a.executorsList},
		{method: "GET", path: "/apis/v1/cluster/executors/{id}", h: a.executorInfo},
		{method: "POST", path: "/apis/v1/applications/validate/spec", h: a.validateSpec},
		{method: "POST", path: "/apis/v1/applications/placementpolicy/rule/dryrun", h: a.ruleDryRun},
		{method: "POST", path: "/apis/v1/applications/operations", roles: rwRole, h: a.submitOperation},
		{method: "POST", path: "/apis/v1/operations", roles: rwRole, h: a.submitOperation},
		{method: "POST", path: "/apis/v1/applications/operations/{appId}/cancel", roles: rwRole, h: a.cancelOperation},
		{method: "POST", path: "/apis/v1/operations/{appId}/cancel", roles: rwRole, h: a.cancelOperation},
		{method: "GET", path: "/apis/v1/applications", h: a.listApps},
		{method: "GET", path: "/apis/v1/applications/{id}", h: a.getApp},
		{method: "GET", path: "/apis/v1/applications/{id}/spec", h: a.getAppSpec},
		{method: "GET", path: "/apis/v1/applications/{appId}/operation", h: a.getOperation},
		{method: "GET", path: "/apis/v1/applications/{id}/instances", h: a.getAppInstances},
		{method: "GET", path: "/apis/v1/applications/{id}/instances/old", h: a.getOldInstances},
		{method: "GET", path: "/apis/v1/applications/{appId}/instances/{instanceId}", h: a.getAppInstance},
		{method: "GET", path: "/apis/v1/endpoints", h: a.endpoints},
		{method: "GET", path: "/apis/v1/endpoints/app/{appName}", h: a.endpoints},
		{method: "POST", path: "/apis/v1/internal/executors/register", roles: nodeRole, h: a.registerExecutor},
		{method: "POST", path: "/apis/v1/internal/executors/{id}/report", roles: nodeRole, h: a.executorReport},
		{method: "GET", path: "/apis/v1/internal/executors/{id}/instances/expected", roles: nodeRole, h: a.expectedInstances},
	}
	rs = append(rs, a.serviceRoutes()...)
	rs = append(rs, a.executorMaintenanceRoutes()...)
	rs = append(rs, a.scheduleRoutes()...)
	rs = append(rs, a.taskRoutes()...)
	rs = append(rs, a.logFileRoutes("/apis/v1/logfiles/applications", model.KindApp)...)
	rs = append(rs, a.logFileRoutes("/apis/v1/logfiles/localservices", model.KindLocalService)...)
	return append(rs, a.logFileRoutes("/apis/v1/logfiles/tasks", model.KindTask)...)
}

// router builds the mux: the route table plus /healthz and enveloped 404/405s.
func (a *api) router() http.Handler {
	m := mux.NewRouter()
	for _, rt := range a.routes() {
		m.Handle(rt.path, a.wrap(rt)).Methods(rt.method)
	}
	m.HandleFunc("/healthz", a.healthz).Methods("GET", "HEAD")
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) })
	m.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errMethodNotAllowed)
	})
	return m
}

// wrap applies, in order: authentication, role check, forwarding to the
// leader, the handler, and the envelope. It is the only place these happen.
func (a *api) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { a.logRequest(r, sw.code, start) }()
		p, err := a.auth.authenticate(r)
		if err != nil {
			writeError(sw, err)
			return
		}
		if !p.allowed(rt.roles) {
			writeError(sw, &forbiddenError{user: p.name, role: string(p.role)})
			return
		}
		if r.Method != "GET" {
			a.logger.Info("ACCESS_AUDIT", "user", p.name, "method", r.Method, "path", r.URL.Path)
		}
		if rt.mode == onLeader && !a.servesLocally(r) {
			if r.Header.Get(headerForwarded) != "" {
				// Never forward twice: tell the forwarding node to retry.
				writeError(sw, cluster.ErrNotLeader)
				return
			}
			if a.fwd.forward(sw, r) {
				return
			}
		}
		if rt.raw != nil {
			rt.raw(sw, r)
			return
		}
		body, _, berr := bufferBody(r)
		if berr != nil {
			writeError(sw, &jsonError{berr})
			return
		}
		r.Body = body()
		data, err := rt.h(sw, r)
		if errors.Is(err, cluster.ErrNotLeader) && rt.mode == onLeader && r.Header.Get(headerForwarded) == "" {
			// Leadership moved between the check and the commit; nothing was applied.
			r.Body = body()
			if a.fwd.forward(sw, r) {
				return
			}
			data, err = rt.h(sw, r)
		}
		if err != nil {
			writeError(sw, err)
			return
		}
		writeSuccess(sw, data)
	})
}

// servesLocally reports whether this node answers r itself: it is the
// leader, or r is a read that accepts stale data.
func (a *api) servesLocally(r *http.Request) bool {
	if a.isReadyLeader() {
		return true
	}
	return r.Method == "GET" && r.URL.Query().Get("stale") == "true"
}

func (a *api) logRequest(r *http.Request, code int, start time.Time) {
	a.logger.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", code,
		"duration", time.Since(start), "forwarded_by", r.Header.Get(headerForwarded))
}

// statusWriter records the status code for the access log and passes
// flushes through so streaming responses work.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
