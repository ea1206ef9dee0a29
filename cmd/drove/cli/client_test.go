package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClient_Behaviour(t *testing.T) {
	t.Run("success decodes data and sends auth, query and body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, pass, hasAuth := r.BasicAuth()
			if !hasAuth || user != "admin" || pass != "secret" {
				writeEnvelope(w, http.StatusUnauthorized, "FAILED", nil, "bad credentials")
				return
			}
			raw, _ := io.ReadAll(r.Body)
			ok(w, map[string]any{
				"method": r.Method, "path": r.URL.Path, "size": r.URL.Query().Get("size"),
				"body": string(raw), "contentType": r.Header.Get("Content-Type"),
			})
		}))
		defer srv.Close()
		c := NewClient(Config{Endpoint: srv.URL + "/", Username: "admin", Password: "secret", AuthHeader: "ignored"})
		var out map[string]string
		require.NoError(t, c.Do(http.MethodPost, "/apis/v1/x", url.Values{"size": {"5"}}, map[string]int{"a": 1}, &out))
		require.Equal(t, map[string]string{
			"method": "POST", "path": "/apis/v1/x", "size": "5",
			"body": `{"a":1}`, "contentType": "application/json",
		}, out)
		require.NoError(t, c.Do(http.MethodGet, "/apis/v1/x", nil, nil, nil), "nil out is allowed")
	})

	t.Run("auth header sent verbatim without username", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ok(w, r.Header.Get("Authorization"))
		}))
		defer srv.Close()
		var got string
		require.NoError(t, NewClient(Config{Endpoint: srv.URL, AuthHeader: "Bearer xyz"}).Do(http.MethodGet, "/", nil, nil, &got))
		require.Equal(t, "Bearer xyz", got)
	})

	t.Run("FAILED lists validation errors on separate lines", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			code := http.StatusBadRequest
			if r.URL.Path == "/ok-code" {
				code = http.StatusOK
			}
			writeEnvelope(w, code, "FAILED", map[string]any{
				"validationErrors": []any{"name: must not be blank", "resources: cpu must be > 0", map[string]int{"x": 1}},
			}, "Validation failed")
		}))
		defer srv.Close()
		c := NewClient(Config{Endpoint: srv.URL})
		err := c.Do(http.MethodPost, "/apis/v1/applications", nil, map[string]string{}, nil)
		require.EqualError(t, err, "Validation failed (HTTP 400)\n"+
			"  - name: must not be blank\n"+
			"  - resources: cpu must be > 0\n"+
			`  - {"x":1}`)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		require.Len(t, apiErr.ValidationErrors, 3)

		err = c.Do(http.MethodGet, "/ok-code", nil, nil, nil)
		require.ErrorContains(t, err, "Validation failed (HTTP 200)", "FAILED is an error whatever the HTTP code")
	})

	t.Run("401 is an authentication error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("Credentials are required to access this resource."))
		}))
		defer srv.Close()
		err := NewClient(Config{Endpoint: srv.URL}).Do(http.MethodGet, "/apis/v1/cluster", nil, nil, nil)
		require.ErrorContains(t, err, "authentication failed (HTTP 401)")
	})

	t.Run("non-JSON body reports status and text", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream down\n"))
		}))
		defer srv.Close()
		err := NewClient(Config{Endpoint: srv.URL}).Do(http.MethodGet, "/", nil, nil, nil)
		require.EqualError(t, err, "unexpected response (HTTP 502 Bad Gateway): upstream down")
	})

	t.Run("JSON that is not an envelope", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 404, "message": "HTTP 404 Not Found"})
		}))
		defer srv.Close()
		err := NewClient(Config{Endpoint: srv.URL}).Do(http.MethodGet, "/", nil, nil, nil)
		require.ErrorContains(t, err, "HTTP 404 Not Found")
		require.ErrorContains(t, err, "unexpected response (HTTP 404 Not Found)")
	})

	t.Run("debug prints request line and status", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { ok(w, "pong") }))
		defer srv.Close()
		var dbg bytes.Buffer
		c := NewClient(Config{Endpoint: srv.URL, Username: "u", Password: "p"})
		c.DebugOut = &dbg
		require.NoError(t, c.Do(http.MethodGet, "/apis/v1/ping", nil, nil, nil))
		require.Contains(t, dbg.String(), "> GET "+srv.URL+"/apis/v1/ping\n")
		require.Contains(t, dbg.String(), "< HTTP 200 OK")
		require.NotContains(t, dbg.String(), "p@", "credentials are not printed")
	})

	t.Run("connection error names the endpoint", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		err := NewClient(Config{Endpoint: srv.URL}).Do(http.MethodGet, "/apis/v1/ping", nil, nil, nil)
		require.ErrorContains(t, err, "calling "+srv.URL)
	})

	t.Run("bad data shape is a decoding error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { ok(w, "text") }))
		defer srv.Close()
		var n []int
		require.ErrorContains(t, NewClient(Config{Endpoint: srv.URL}).Do(http.MethodGet, "/x", nil, nil, &n), "decoding response data")
	})
}
