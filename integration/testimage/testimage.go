// Package testimage builds the Docker image that container tests run: the
// static integration/testapp binary in a FROM scratch image, so tests need no
// registry access.
//
// The image has no shell: commands (exec, CMD health checks) must run the
// binary directly, e.g. ["/testapp", "check", "http://127.0.0.1:8000/health"],
// and Drove checks using it must set shellDisabled: true.
//
// Building is done once per tag and process. The binary is built with
// -trimpath and without VCS stamping so it is byte-identical across runs and
// the daemon's build cache makes rebuilding the image nearly free.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// DefaultTag is the tag Require builds.
const DefaultTag = "drove-testapp:test"

// Package is the import path of the test application.
const Package = "github.com/drove-go/drove/integration/testapp"

// Dockerfile is the image recipe; the build context holds it and the
// testapp binary.
const Dockerfile = `FROM scratch
COPY testapp /testapp
EXPOSE 8000
ENTRYPOINT ["/testapp"]
`

// TaskTag is the tag RequireTask builds.
const TaskTag = "drove-testtask:test"

// TaskPackage is the import path of the test task.
const TaskPackage = "github.com/drove-go/drove/integration/testtask"

// TaskDockerfile is the task image recipe; the build context holds it and
// the testtask binary.
const TaskDockerfile = `FROM scratch
COPY testtask /testtask
ENTRYPOINT ["/testtask"]
`

var (
	mu     sync.Mutex
	builds = map[string]func() error{} // tag -> sync.OnceValue of the build
)

// Build builds the test image as tag through the Docker API (DOCKER_HOST and
// friends are honoured). It compiles the testapp package with `go build`
// (CGO_ENABLED=0, GOOS=linux, -trimpath), so the go tool must be on PATH and
// the working directory inside the drove module (true for any test of the
// module). Each tag is built at most once per process; later calls return
// the first call's result.
func Build(ctx context.Context, tag string) error {
	mu.Lock()
	b, ok := builds[tag]
	if !ok {
		// The build outlives the first caller's ctx only through WithoutCancel
		// so that a cancelled first caller cannot poison the cached result.
		b = sync.OnceValue(func() error { return build(context.WithoutCancel(ctx), tag) })
		builds[tag] = b
	}
	mu.Unlock()
	return b()
}

func build(ctx context.Context, tag string) error {
	return buildImage(ctx, tag, Package, "testapp", Dockerfile)
}

// buildImage compiles pkg into the binary name and builds tag from the
// build context {Dockerfile: dockerfile, name: binary}.
func buildImage(ctx context.Context, tag, pkg, name, dockerfile string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	bin, err := compilePkg(ctx, pkg, name)
	if err != nil {
		return err
	}
	buildCtx, err := contextTarFor(dockerfile, name, bin)
	if err != nil {
		return err
	}
	defer lockBuilds()()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("testimage: docker client: %w", err)
	}
	defer cli.Close()
	res, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), client.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("testimage: build %s: %w", tag, err)
	}
	defer res.Body.Close()
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("testimage: build %s: read output: %w", tag, err)
		}
		if m.Error != nil {
			return fmt.Errorf("testimage: build %s: %s\n%s", tag, m.Error.Message, out.String())
		}
		out.WriteString(m.Stream)
	}
	if _, err := cli.ImageInspect(ctx, tag); err != nil {
		return fmt.Errorf("testimage: build %s: image missing after build: %w\n%s", tag, err, out.String())
	}
	return nil
}

// compilePkg builds the static binary of pkg as name and returns its
// contents.
func compilePkg(ctx context.Context, pkg, name string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "drove-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("testimage: %w", err)
	}
	defer os.RemoveAll(dir)
	out := dir + "/" + name
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testimage: go build %s: %w\n%s", pkg, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("testimage: %w", err)
	}
	return bin, nil
}

// contextTar returns the build context: the Dockerfile and the binary. File
// times are fixed so that identical inputs hit the build cache.
func contextTar(bin []byte) ([]byte, error) {
	return contextTarFor(Dockerfile, "testapp", bin)
}

// contextTarFor is contextTar for any Dockerfile and binary name.
func contextTarFor(dockerfile, name string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{name, 0o755, bin},
	}
	for _, f := range files {
		hdr := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Size:    int64(len(f.data)),
			ModTime: time.Unix(0, 0),
			Format:  tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("testimage: tar: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("testimage: tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("testimage: tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Available reports whether a Docker daemon answers, and why not.
func Available(ctx context.Context) error {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("docker daemon at %s: %w", cli.DaemonHost(), err)
	}
	return nil
}

// Require returns the tag of the test image (DefaultTag), building it on the
// first call. When Docker is unreachable the test is skipped, or fails when
// the CI environment variable is "true" (so CI cannot silently skip the
// container tests). A failed build always fails the test.
func Require(t testing.TB) string {
	t.Helper()
	if err := Available(context.Background()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker is required when CI=true but is not available: %v", err)
		}
		t.Skipf("docker not available: %v", err)
	}
	if err := Build(context.Background(), DefaultTag); err != nil {
		t.Fatalf("build test image: %v", err)
	}
	return DefaultTag
}

// BuildTask builds the test task image (the static integration/testtask
// binary FROM scratch) as tag, like Build. Each tag is built at most once
// per process; a tag must not be used with both Build and BuildTask.
func BuildTask(ctx context.Context, tag string) error {
	mu.Lock()
	b, ok := builds[tag]
	if !ok {
		b = sync.OnceValue(func() error {
			return buildImage(context.WithoutCancel(ctx), tag, TaskPackage, "testtask", TaskDockerfile)
		})
		builds[tag] = b
	}
	mu.Unlock()
	return b()
}

// RequireTask returns the tag of the test task image (TaskTag), building it
// on the first call; Docker being unavailable is handled as in Require.
func RequireTask(t testing.TB) string {
	t.Helper()
	if err := Available(context.Background()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker is required when CI=true but is not available: %v", err)
		}
		t.Skipf("docker not available: %v", err)
	}
	if err := BuildTask(context.Background(), TaskTag); err != nil {
		t.Fatalf("build test task image: %v", err)
	}
	return TaskTag
}
