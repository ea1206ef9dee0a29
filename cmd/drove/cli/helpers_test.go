package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// isolate points HOME at an empty temp dir and clears the DROVE_* variables.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(EnvEndpoint, "")
	t.Setenv(EnvUsername, "")
	t.Setenv(EnvPassword, "")
	return home
}

// newRoot builds a root command the way main.go wires this package.
func newRoot() *cobra.Command {
	o := &Options{}
	root := &cobra.Command{Use: "drove", SilenceErrors: true, TraverseChildren: true}
	o.AddFlags(root.PersistentFlags())
	root.AddCommand(Commands(o)...)
	return root
}

// run executes drove with args, returning stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// writeEnvelope writes Drove's response envelope.
func writeEnvelope(w http.ResponseWriter, code int, status string, data any, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]any{"status": status, "data": data}
	if message != "" {
		body["message"] = message
	}
	_ = json.NewEncoder(w).Encode(body)
}

func ok(w http.ResponseWriter, data any) {
	writeEnvelope(w, http.StatusOK, "SUCCESS", data, "success")
}

// syncBuffer is a goroutine-safe writer that signals every write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor blocks until the buffer contains s, failing after waitTimeout.
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.changed:
		case <-deadline.C:
			require.FailNowf(t, "timed out", "waiting for %q in output:\n%s", s, b.String())
		}
	}
}
