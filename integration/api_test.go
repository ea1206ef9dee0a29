package integration

import (
	"net/http"
	"strings"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// TestAPI_ErrorsAndAuth checks status codes and envelopes for bad requests,
// through the leader and through a follower (forwarded), since both must
// answer the same.
func TestAPI_ErrorsAndAuth(t *testing.T) {
	tc := newCluster(t, 3)
	nodes := map[string]int{"leader": tc.leaderIndex(), "follower": tc.follower()}
	for name, i := range nodes {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				name       string
				user       [2]string
				method     string
				path       string
				body       any
				wantCode   int
				wantMsg    string
				wantDetail string // substring of data.validationErrors[0]
			}{
				{"malformed JSON", rootUser, "POST", "/apis/v1/cluster/maintenance/set", `{"reason": `, 400, "JSON validation failure", "malformed JSON"},
				{"wrong JSON type", rootUser, "POST", "/apis/v1/cluster/maintenance/set", `{"reason": 42}`, 400, "JSON validation failure", "field reason"},
				{"reason too long", rootUser, "POST", "/apis/v1/cluster/maintenance/set", map[string]string{"reason": strings.Repeat("x", 1025)}, 400, "Command validation failure", "reason must be at most 1024"},
				{"bad query parameter", rootUser, "GET", "/apis/v1/cluster/events?size=lots", nil, 400, "Command validation failure", "size must be"},
				{"unknown route", rootUser, "GET", "/apis/v1/nope", nil, 404, "HTTP 404 Not Found", ""},
				{"wrong method", rootUser, "GET", "/apis/v1/cluster/maintenance/set", nil, 405, "HTTP 405 Method Not Allowed", ""},
				{"missing credentials", noUser, "GET", "/apis/v1/cluster", nil, 401, "", ""},
				{"wrong password", [2]string{"admin", "nope"}, "GET", "/apis/v1/cluster", nil, 401, "", ""},
				{"unknown user", [2]string{"mallory", "x"}, "GET", "/apis/v1/cluster", nil, 401, "", ""},
				{"read-only user may not set maintenance", readOnly, "POST", "/apis/v1/cluster/maintenance/set", nil, 403, "", ""},
				{"read-write user may not set maintenance", readWrite, "POST", "/apis/v1/cluster/maintenance/set", nil, 403, "", ""},
				{"read-only user may not remove controllers", readOnly, "DELETE", "/apis/v1/cluster/controllers/c9", nil, 403, "", ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := tc.call(i, tt.user, tt.method, tt.path, tt.body)
					require.Equal(t, tt.wantCode, r.Code, "body: %s", r.Body)
					require.Equal(t, "FAILED", r.Env.Status, "body: %s", r.Body)
					if tt.wantMsg != "" {
						require.Equal(t, tt.wantMsg, r.Env.Message)
					}
					if tt.wantCode == 401 {
						require.Contains(t, r.Header.Get("WWW-Authenticate"), "Basic")
					}
					if tt.wantDetail != "" {
						var d struct {
							ValidationErrors []string `json:"validationErrors"`
						}
						r.data(t, &d)
						require.Len(t, d.ValidationErrors, 1)
						require.Contains(t, d.ValidationErrors[0], tt.wantDetail)
					}
				})
			}
		})
	}
	// None of the rejected writes changed anything.
	require.Equal(t, model.ClusterNormal, tc.nodes[0].c.FSM().ClusterState().State)
}

func TestAPI_RolesThatMaySetMaintenanceAndRead(t *testing.T) {
	tc := newCluster(t, 1)
	requireSuccess(t, tc.call(0, maintUser, "POST", "/apis/v1/cluster/maintenance/set", ""))
	requireSuccess(t, tc.call(0, rootUser, "POST", "/apis/v1/cluster/maintenance/unset", nil))
	for _, u := range [][2]string{readOnly, readWrite, maintUser, rootUser} {
		r := tc.call(0, u, "GET", "/apis/v1/ping", nil)
		requireSuccess(t, r)
		require.JSONEq(t, `{"status":"SUCCESS","data":"pong","message":"success"}`, string(r.Body))
	}
}

func TestAPI_ClusterSecretAuthenticatesNodes(t *testing.T) {
	tc := newCluster(t, 1)
	req, err := http.NewRequest("GET", "http://"+tc.nodes[0].cfg.HTTPAddr+"/apis/v1/cluster/controllers/self", nil)
	require.NoError(t, err)
	req.Header.Set("Cluster-Authorization", testSecret)
	req.Header.Set("NodeId", "some-executor")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	req.Header.Set("Cluster-Authorization", "wrong")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestAPI_EmptyAndFormBodiesAreAcceptedLikeDrove(t *testing.T) {
	tc := newCluster(t, 1)
	// curl --data '' sends an empty form body; Drove ignores the body.
	req, err := http.NewRequest("POST", "http://"+tc.nodes[0].cfg.HTTPAddr+"/apis/v1/cluster/maintenance/set", strings.NewReader(""))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rootUser[0], rootUser[1])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, model.ClusterMaintenance, tc.nodes[0].c.FSM().ClusterState().State)
}

func TestAPI_HealthzNeedsNoAuthAndIsNotForwarded(t *testing.T) {
	tc := newCluster(t, 3)
	f := tc.follower()
	r := tc.call(f, noUser, "GET", "/healthz", nil)
	require.Equal(t, http.StatusOK, r.Code)
	require.Contains(t, string(r.Body), `"node":"`+tc.nodes[f].cfg.NodeID+`"`)
}
