package agent_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/drove-go/drove/fsm/model"
)

// fakeController implements the controller's internal executor endpoints
// in memory: registrations, reports (applied only when newer, like the
// leader) and the expected-instances view, which tests set.
type fakeController struct {
	secret string
	srv    *httptest.Server

	down           atomic.Bool  // answer 503 to everything
	reregisterNext atomic.Bool  // answer the next report with reregister=true
	unknown        atomic.Bool  // expected answers known=false
	shutdown       atomic.Bool  // expected answers known=false, shutdown=true
	refused        atomic.Int64 // requests answered 503 while down

	mu            sync.Mutex
	registrations []model.ExecutorRegistration
	reports       []model.ExecutorReport
	latest        map[string]model.InstanceReport   // newest applied report per instance
	history       map[string][]model.InstanceReport // every report received per instance, in order
	run           []model.ExpectedSpec
	stop          []string
	expectedCalls int
}

func newFakeController(t *testing.T, secret string) *fakeController {
	fc := &fakeController{secret: secret, latest: map[string]model.InstanceReport{},
		history: map[string][]model.InstanceReport{}}
	m := http.NewServeMux()
	m.HandleFunc("POST /apis/v1/internal/executors/register", fc.guard(fc.register))
	m.HandleFunc("POST /apis/v1/internal/executors/{id}/report", fc.guard(fc.report))
	m.HandleFunc("GET /apis/v1/internal/executors/{id}/instances/expected", fc.guard(fc.expected))
	fc.srv = httptest.NewServer(m)
	t.Cleanup(fc.srv.Close)
	return fc
}

func (fc *fakeController) URL() string { return fc.srv.URL }

func writeEnvelope(w http.ResponseWriter, code int, status string, data any, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "data": data, "message": msg})
}

func (fc *fakeController) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if fc.down.Load() {
			fc.refused.Add(1)
			writeEnvelope(w, http.StatusServiceUnavailable, "FAILED", nil, "no leader")
			return
		}
		if r.Header.Get("Cluster-Authorization") != fc.secret || r.Header.Get("NodeId") == "" {
			writeEnvelope(w, http.StatusUnauthorized, "FAILED", nil, "Credentials are required to access this resource.")
			return
		}
		h(w, r)
	}
}

func (fc *fakeController) register(w http.ResponseWriter, r *http.Request) {
	var reg model.ExecutorRegistration
	if err := json.NewDecoder(r.Body).Decode(&reg); err != nil {
		writeEnvelope(w, http.StatusBadRequest, "FAILED", nil, err.Error())
		return
	}
	fc.mu.Lock()
	fc.registrations = append(fc.registrations, reg)
	fc.mu.Unlock()
	writeEnvelope(w, http.StatusOK, "SUCCESS", model.ReportAck{}, "success")
}

func (fc *fakeController) report(w http.ResponseWriter, r *http.Request) {
	var rep model.ExecutorReport
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep.ExecutorID != r.PathValue("id") {
		writeEnvelope(w, http.StatusBadRequest, "FAILED", nil, "bad report")
		return
	}
	if fc.reregisterNext.CompareAndSwap(true, false) {
		writeEnvelope(w, http.StatusOK, "SUCCESS", model.ReportAck{Reregister: true}, "success")
		return
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.reports = append(fc.reports, rep)
	applied := 0
	for _, ir := range rep.Instances {
		id := ir.Info.InstanceID
		fc.history[id] = append(fc.history[id], ir)
		old, ok := fc.latest[id]
		if !ok || ir.Boot > old.Boot || (ir.Boot == old.Boot && ir.Seq > old.Seq) {
			fc.latest[id] = ir
			applied++
		}
	}
	writeEnvelope(w, http.StatusOK, "SUCCESS", model.ReportAck{Applied: applied}, "success")
}

func (fc *fakeController) expected(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.expectedCalls++
	known := !fc.unknown.Load() && !fc.shutdown.Load() && len(fc.registrations) > 0
	writeEnvelope(w, http.StatusOK, "SUCCESS", model.ExpectedInstances{ExecutorID: r.PathValue("id"),
		Known: known, Run: slices.Clone(fc.run), Stop: slices.Clone(fc.stop), Shutdown: fc.shutdown.Load()}, "success")
}

// setExpected replaces what the controller expects the executor to run and stop.
func (fc *fakeController) setExpected(run []model.ExpectedSpec, stop []string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.run, fc.stop = run, stop
}

func (fc *fakeController) registrationCount() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.registrations)
}

func (fc *fakeController) lastRegistration() model.ExecutorRegistration {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.registrations[len(fc.registrations)-1]
}

func (fc *fakeController) expectedCallCount() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.expectedCalls
}

// state returns the newest applied state of an instance ("" if none).
func (fc *fakeController) state(id string) model.InstanceState {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.latest[id].Info.State
}

func (fc *fakeController) latestReport(id string) (model.InstanceReport, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	r, ok := fc.latest[id]
	return r, ok
}

func (fc *fakeController) historyOf(id string) []model.InstanceReport {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.history[id])
}

// countInState counts instances whose newest applied state is st.
func (fc *fakeController) countInState(st model.InstanceState) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, r := range fc.latest {
		if r.Info.State == st {
			n++
		}
	}
	return n
}

func (fc *fakeController) allReports() []model.ExecutorReport {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.reports)
}
