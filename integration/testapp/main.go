// Command testapp is the tiny, static HTTP server that drove's container
// tests run (see package integration/testimage, which builds it into a
// FROM scratch image).
//
// Server mode (no arguments, the image's default):
//
//   - listens on $PORT (default 8000); Drove's injected PORT_<n> variables
//     name host ports and are ignored;
//   - GET  /               200 "ok"
//   - GET  /health         200, or 500 once the file /tmp/unhealthy exists or
//     $UNHEALTHY_AFTER (a Go duration) has elapsed since start
//   - GET  /ready          503 until $READY_DELAY (a Go duration, default 0)
//     has elapsed since start, then 200
//   - GET  /env            the environment as a JSON object
//   - GET  /file?path=P    the contents of the file at the absolute path P
//     (404 when it does not exist, 400 for a missing or relative path or a
//     directory, 500 when it cannot be read)
//   - POST /hook           records a pre-shutdown hook call: prints "hook called"
//   - GET  /exit?code=N    answers, then exits with code N (simulates a crash)
//
// It prints a startup line ("testapp listening on :PORT") and one line per
// request ("request METHOD PATH") to stdout. On SIGTERM or SIGINT it prints
// "got SIGTERM" (or "got SIGINT"), waits $SHUTDOWN_DELAY (default 0), shuts
// the server down gracefully and exits 0.
//
// Command modes, for exec'd commands and CMD health checks in an image that
// has no shell (a FROM scratch image cannot run `sh -c`, so checks using this
// image must be configured with shellDisabled: true):
//
//	testapp check URL   GET URL; exit 0 on a 2xx answer, else 1
//	testapp touch PATH  create PATH (and its parent directories); exit 0
//	testapp rm PATH     remove PATH if it exists; exit 0
//	testapp echo ARGS   print ARGS to stdout and ARGS' count to stderr; exit 0
//	testapp fail [N]    print "failing" to stderr and exit N (default 1)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// UnhealthyFile makes /health fail while it exists.
const UnhealthyFile = "/tmp/unhealthy"

func main() {
	if len(os.Args) > 1 {
		os.Exit(command(os.Args[1], os.Args[2:]))
	}
	os.Exit(serve())
}

// command runs one of the non-server modes and returns the exit code.
func command(name string, args []string) int {
	switch name {
	case "check":
		if len(args) != 1 {
			fmt.Fprintln(os.Stderr, "usage: testapp check URL")
			return 2
		}
		return check(args[0])
	case "touch":
		if len(args) != 1 {
			fmt.Fprintln(os.Stderr, "usage: testapp touch PATH")
			return 2
		}
		if err := os.MkdirAll(filepath.Dir(args[0]), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(args[0], nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "rm":
		if len(args) != 1 {
			fmt.Fprintln(os.Stderr, "usage: testapp rm PATH")
			return 2
		}
		if err := os.Remove(args[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "echo":
		fmt.Println(strings.Join(args, " "))
		fmt.Fprintln(os.Stderr, len(args))
		return 0
	case "fail":
		code := 1
		if len(args) > 0 {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				fmt.Fprintln(os.Stderr, "usage: testapp fail [CODE]")
				return 2
			}
			code = n
		}
		fmt.Fprintln(os.Stderr, "failing")
		return code
	default:
		fmt.Fprintf(os.Stderr, "testapp: unknown command %q\n", name)
		return 2
	}
}

// check GETs url and reports success as exit code 0.
func check(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check failed:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	fmt.Println("check", url, resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 1
	}
	return 0
}

func durationEnv(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// serve runs the HTTP server until a termination signal; it returns the exit
// code.
func serve() int {
	start := time.Now()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	readyDelay, err1 := durationEnv("READY_DELAY")
	unhealthyAfter, err2 := durationEnv("UNHEALTHY_AFTER")
	shutdownDelay, err3 := durationEnv("SHUTDOWN_DELAY")
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		return 2
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(UnhealthyFile); err == nil {
			http.Error(w, "unhealthy: "+UnhealthyFile+" exists", http.StatusInternalServerError)
			return
		}
		if unhealthyAfter > 0 && time.Since(start) >= unhealthyAfter {
			http.Error(w, "unhealthy: UNHEALTHY_AFTER elapsed", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "healthy")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if time.Since(start) < readyDelay {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready")
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		env := make(map[string]string)
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(env)
	})
	mux.HandleFunc("GET /file", serveFile)
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Println("hook called")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			http.Error(w, "code must be an integer", http.StatusBadRequest)
			return
		}
		msg := fmt.Sprintf("exiting with code %d\n", code)
		// A complete, length-delimited answer reaches the client before the
		// process (and the connection) ends.
		w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, msg)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		fmt.Println("exiting with code", code)
		os.Exit(code)
	})

	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		return 1
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("request", r.Method, r.URL.Path)
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Println("testapp listening on :" + port)

	select {
	case err := <-served:
		fmt.Fprintln(os.Stderr, "testapp:", err)
		return 1
	case sig := <-sigs:
		name := "SIGTERM"
		if sig == syscall.SIGINT {
			name = "SIGINT"
		}
		fmt.Println("got " + name)
	}
	if shutdownDelay > 0 {
		time.Sleep(shutdownDelay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	fmt.Println("testapp stopped")
	return 0
}

// serveFile answers GET /file?path=P with the contents of the file P.
func serveFile(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("path")
	if !filepath.IsAbs(p) {
		http.Error(w, "path must be an absolute file path", http.StatusBadRequest)
		return
	}
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	case st.IsDir():
		http.Error(w, p+" is a directory", http.StatusBadRequest)
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}
