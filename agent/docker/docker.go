// Package docker is the agent.Runtime that runs containers on a Docker
// Engine through its HTTP API (github.com/moby/moby/client). It is the only
// package of drove that talks to Docker.
//
// Mapping of agent.ContainerSpec to the Engine API:
//
//   - Image: used as is when present locally (ImageInspect); otherwise pulled,
//     bounded by spec.PullTimeout (Config.PullTimeout when 0). Pull failures
//     and a missing image wrap agent.ErrImage; a caller's cancellation and
//     an unreachable daemon do not.
//   - Name, Labels (the daemon adds the image's labels, so Inspect and List
//     report both); Args become the container's Cmd (the image's ENTRYPOINT
//     is kept; no Args keeps the image's CMD); Env becomes KEY=VALUE entries
//     sorted by key.
//   - Ports: each becomes an exposed port and a binding of HostPort on every
//     host address (the daemon's default bind address); HostPort 0 lets the
//     daemon pick one. Protocol is "tcp" (default) or "udp".
//   - CPUSet becomes HostConfig.CpusetCpus ("0,1,5"); MemoryMB becomes
//     HostConfig.Memory and MemorySwap (same value: no swap on top of the
//     limit).
//   - Config.StopSignal, if set, becomes the container's StopSignal; Stop
//     then sends it instead of the image's STOPSIGNAL (SIGTERM by default).
//   - Binds become HostConfig.Binds "host:container" (":ro" when ReadOnly);
//     both paths must be absolute and free of ':' (so a bind can never turn
//     into a named volume). As with `docker run -v`, a missing host
//     directory is created by the daemon.
//   - Devices become HostConfig.Devices (CgroupPermissions "" means "rwm"),
//     DeviceRequests HostConfig.DeviceRequests, LogConfig HostConfig.LogConfig
//     (the daemon validates the driver and its options at create), User the
//     container's User, MaxOpenFiles a nofile ulimit (soft = hard).
//   - Files are copied in by Create, after the container is created and
//     before anything can start it, as one tar archive extracted at "/"
//     (PUT /containers/{id}/archive, like `docker cp`). Entries are regular
//     files owned by root (uid and gid 0) with the File's permission bits
//     (0644 when 0); there are no directory entries, so the daemon creates
//     missing parent directories (root, 0755) and leaves existing ones (and
//     their modes) alone. A path that is an existing directory in the image
//     fails. When the copy fails Create removes the container. Copying in
//     Create rather than Start keeps Start a plain start: restarting an
//     exited container does not rewrite the files.
//
// Events subscribes to the daemon's container events die, destroy and oom:
// die becomes an event with Status exited and the exit code, destroy one
// with Status "" (ExitCode 0: the daemon does not report it), oom is only
// logged (the die that follows carries the outcome). Event labels are the
// event's actor attributes minus the keys the daemon adds itself (image,
// name, exitCode, signal, execDuration), so container labels with those
// names are not reported in events. Unlike the fake runtime, Docker also
// reports containers that exit because of Stop or Remove; consumers must be
// idempotent. The subscription reconnects with backoff after a stream
// error, asking the daemon to replay what it missed since the last event
// (the daemon keeps a bounded history), until ctx is done.
//
// All methods are safe for concurrent use; there is no lock in this
// package, every call is an independent API request.
package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/drove-go/drove/agent"
)

// RuntimeName is what Runtime.Name returns.
const RuntimeName = "docker"

// Defaults for Config.
const (
	DefaultPullTimeout = 15 * time.Minute
	DefaultPingTimeout = 10 * time.Second
)

// MaxExecOutput bounds the output Exec keeps; the rest is discarded.
const MaxExecOutput = 1 << 20

// EventBuffer is the capacity of each channel returned by Events. A full
// channel holds the subscription back (the daemon buffers meanwhile); no
// event is dropped.
const EventBuffer = 256

// Errors specific to this runtime; match with errors.Is. Missing containers
// and images use agent.ErrNotFound and agent.ErrImage.
var (
	// ErrNameInUse means another container already has the requested name.
	ErrNameInUse = errors.New("name already in use")
	// ErrNotRunning means the operation needs a running container.
	ErrNotRunning = errors.New("container is not running")
)

// Config configures a Runtime. The zero value talks to the daemon named by
// the environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,
// DOCKER_API_VERSION) or the default socket, unix:///var/run/docker.sock.
type Config struct {
	// Host is the daemon address ("unix:///var/run/docker.sock",
	// "tcp://10.0.0.1:2376"); "" means DOCKER_HOST or the default socket.
	Host string
	// PullTimeout bounds an image pull when the spec sets none; 0 means
	// DefaultPullTimeout.
	PullTimeout time.Duration
	// StopSignal, if set (e.g. "SIGTERM"), is the signal Stop sends first
	// to containers created by this Runtime; "" keeps the image's STOPSIGNAL,
	// which is SIGTERM unless the image says otherwise.
	StopSignal string
	// PingTimeout bounds the connectivity check of New and Events; 0 means
	// DefaultPingTimeout.
	PingTimeout time.Duration
	// Logger receives warnings (event stream reconnects, OOM kills, create
	// warnings); nil means no logging.
	Logger hclog.Logger
}

// Runtime is an agent.Runtime backed by a Docker Engine. Create one with New
// and release it with Close.
type Runtime struct {
	cli *client.Client
	cfg Config
	log hclog.Logger
}

var _ agent.Runtime = (*Runtime)(nil)

// New connects to the daemon, negotiating the API version, and returns a
// Runtime. It fails, naming the daemon address, when the daemon does not
// answer within PingTimeout.
func New(cfg Config) (*Runtime, error) {
	if cfg.PullTimeout < 0 || cfg.PingTimeout < 0 {
		return nil, errors.New("docker: timeouts must not be negative")
	}
	if cfg.PullTimeout == 0 {
		cfg.PullTimeout = DefaultPullTimeout
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	opts := []client.Opt{client.FromEnv}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: client for %q: %w", cfg.Host, err)
	}
	r := &Runtime{cli: cli, cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = hclog.NewNullLogger()
	}
	if err := r.ping(context.Background()); err != nil {
		_ = cli.Close()
		return nil, err
	}
	return r, nil
}

func (r *Runtime) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PingTimeout)
	defer cancel()
	if _, err := r.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("docker: daemon at %s not reachable: %w", r.cli.DaemonHost(), err)
	}
	return nil
}

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Name returns "docker".
func (r *Runtime) Name() string { return RuntimeName }

// DaemonHost returns the address of the daemon in use.
func (r *Runtime) DaemonHost() string { return r.cli.DaemonHost() }

// APIVersion returns the negotiated Engine API version.
func (r *Runtime) APIVersion() string { return r.cli.ClientVersion() }

// wrap turns a client error into a runtime error: a missing object wraps
// agent.ErrNotFound and a conflict on a stopped container ErrNotRunning.
func wrap(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("docker: %s %s: %w: %w", op, id, agent.ErrNotFound, err)
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "not running"):
		return fmt.Errorf("docker: %s %s: %w: %w", op, id, ErrNotRunning, err)
	}
	return fmt.Errorf("docker: %s %s: %w", op, id, err)
}

// Create pulls the image if it is not present, then creates the container.
func (r *Runtime) Create(ctx context.Context, spec agent.ContainerSpec) (string, error) {
	if spec.Image == "" {
		return "", fmt.Errorf("docker: create %q: no image: %w", spec.Name, agent.ErrImage)
	}
	cfg, hc, err := r.containerConfig(spec)
	if err != nil {
		return "", err
	}
	if err := r.ensureImage(ctx, spec.Image, spec.PullTimeout); err != nil {
		return "", err
	}
	res, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       spec.Name,
		Config:     cfg,
		HostConfig: hc,
	})
	switch {
	case err == nil:
	case cerrdefs.IsConflict(err):
		return "", fmt.Errorf("docker: create %q: %w: %w", spec.Name, ErrNameInUse, err)
	case cerrdefs.IsNotFound(err): // the image vanished after ensureImage
		return "", fmt.Errorf("docker: create %q: %w: %w", spec.Name, agent.ErrImage, err)
	default:
		return "", fmt.Errorf("docker: create %q: %w", spec.Name, err)
	}
	for _, w := range res.Warnings {
		r.log.Warn("docker create warning", "container", spec.Name, "id", res.ID, "warning", w)
	}
	if len(spec.Files) > 0 {
		if err := r.copyFiles(ctx, res.ID, spec.Files); err != nil {
			// Do not leave a container without its files behind; the removal
			// must happen even when ctx is what made the copy fail.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
			defer cancel()
			if rerr := r.Remove(rctx, res.ID); rerr != nil && !errors.Is(rerr, agent.ErrNotFound) {
				r.log.Warn("remove container after failed file copy", "container", spec.Name, "id", res.ID, "error", rerr)
			}
			return "", fmt.Errorf("docker: create %q: copy files: %w", spec.Name, err)
		}
	}
	return res.ID, nil
}

// removeTimeout bounds the removal of a container whose Create failed late.
const removeTimeout = 30 * time.Second

// copyFiles writes files into the container (see the package documentation).
func (r *Runtime) copyFiles(ctx context.Context, id string, files []agent.File) error {
	archive, err := filesTar(files, time.Now())
	if err != nil {
		return err
	}
	_, err = r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{
		DestinationPath: "/",
		Content:         bytes.NewReader(archive),
	})
	return err
}

// filesTar builds the archive of files: regular files relative to "/",
// owned by root, stamped with now.
func filesTar(files []agent.File, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = defaultFileMode
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     strings.TrimPrefix(path.Clean(f.Path), "/"),
			Mode:     int64(mode),
			Size:     int64(len(f.Data)),
			ModTime:  now.Truncate(time.Second),
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// defaultFileMode is the mode of a File whose Mode is 0.
const defaultFileMode = 0o644

// containerConfig translates spec into the Engine's create request.
func (r *Runtime) containerConfig(spec agent.ContainerSpec) (*container.Config, *container.HostConfig, error) {
	env := make([]string, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}
	cfg := &container.Config{
		Image:      spec.Image,
		Env:        env,
		Labels:     maps.Clone(spec.Labels),
		StopSignal: r.cfg.StopSignal,
	}
	if len(spec.Args) > 0 {
		cfg.Cmd = slices.Clone(spec.Args)
	}
	hc := &container.HostConfig{}
	if len(spec.Ports) > 0 {
		cfg.ExposedPorts = make(network.PortSet, len(spec.Ports))
		hc.PortBindings = make(network.PortMap, len(spec.Ports))
	}
	for _, p := range spec.Ports {
		proto := network.IPProtocol(strings.ToLower(p.Protocol))
		if proto == "" {
			proto = network.TCP
		}
		if proto != network.TCP && proto != network.UDP {
			return nil, nil, fmt.Errorf("docker: create %q: port %d: protocol %q is not tcp or udp", spec.Name, p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort < 1 || p.ContainerPort > math.MaxUint16 || p.HostPort < 0 || p.HostPort > math.MaxUint16 {
			return nil, nil, fmt.Errorf("docker: create %q: invalid port binding %d -> %d", spec.Name, p.HostPort, p.ContainerPort)
		}
		port, _ := network.PortFrom(uint16(p.ContainerPort), proto)
		cfg.ExposedPorts[port] = struct{}{}
		b := network.PortBinding{}
		if p.HostPort != 0 {
			b.HostPort = strconv.Itoa(p.HostPort)
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], b)
	}
	if len(spec.CPUSet) > 0 {
		cpus := make([]string, len(spec.CPUSet))
		for i, c := range spec.CPUSet {
			if c < 0 {
				return nil, nil, fmt.Errorf("docker: create %q: invalid cpu id %d", spec.Name, c)
			}
			cpus[i] = strconv.Itoa(c)
		}
		hc.CpusetCpus = strings.Join(cpus, ",")
	}
	if spec.MemoryMB < 0 {
		return nil, nil, fmt.Errorf("docker: create %q: invalid memory %d MB", spec.Name, spec.MemoryMB)
	}
	if spec.MemoryMB > 0 {
		hc.Memory = spec.MemoryMB << 20
		hc.MemorySwap = hc.Memory
	}
	if err := hostExtras(spec, cfg, hc); err != nil {
		return nil, nil, fmt.Errorf("docker: create %q: %w", spec.Name, err)
	}
	return cfg, hc, nil
}

// hostExtras applies binds, devices, the log driver, the user, the nofile
// ulimit and checks the files' paths.
func hostExtras(spec agent.ContainerSpec, cfg *container.Config, hc *container.HostConfig) error {
	for _, b := range spec.Binds {
		if !path.IsAbs(b.HostPath) || !path.IsAbs(b.ContainerPath) {
			return fmt.Errorf("bind %q -> %q: paths must be absolute", b.HostPath, b.ContainerPath)
		}
		if strings.Contains(b.HostPath, ":") || strings.Contains(b.ContainerPath, ":") {
			return fmt.Errorf("bind %q -> %q: paths must not contain ':'", b.HostPath, b.ContainerPath)
		}
		bind := b.HostPath + ":" + b.ContainerPath
		if b.ReadOnly {
			bind += ":ro"
		}
		hc.Binds = append(hc.Binds, bind)
	}
	for _, d := range spec.Devices {
		if d.PathOnHost == "" {
			return errors.New("device without a host path")
		}
		perms := d.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return fmt.Errorf("device %s: cgroup permissions %q are not a combination of r, w and m", d.PathOnHost, perms)
		}
		ctr := d.PathInContainer
		if ctr == "" {
			ctr = d.PathOnHost
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.PathOnHost, PathInContainer: ctr,
			CgroupPermissions: perms})
	}
	for _, d := range spec.DeviceRequests {
		caps := make([][]string, len(d.Capabilities))
		for i, c := range d.Capabilities {
			caps[i] = slices.Clone(c)
		}
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{Driver: d.Driver, Count: d.Count,
			DeviceIDs: slices.Clone(d.DeviceIDs), Capabilities: caps, Options: maps.Clone(d.Options)})
	}
	if spec.LogConfig.Type != "" {
		hc.LogConfig = container.LogConfig{Type: spec.LogConfig.Type, Config: maps.Clone(spec.LogConfig.Options)}
	} else if len(spec.LogConfig.Options) > 0 {
		return errors.New("log options without a log driver")
	}
	cfg.User = spec.User
	switch {
	case spec.MaxOpenFiles < 0:
		return fmt.Errorf("invalid max open files %d", spec.MaxOpenFiles)
	case spec.MaxOpenFiles > 0:
		hc.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: spec.MaxOpenFiles, Hard: spec.MaxOpenFiles}}
	}
	for _, f := range spec.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) == "/" {
			return fmt.Errorf("file %q: path must be an absolute file path", f.Path)
		}
	}
	return nil
}

// ensureImage makes sure image is present, pulling it within timeout (the
// runtime's PullTimeout when 0).
func (r *Runtime) ensureImage(ctx context.Context, image string, timeout time.Duration) error {
	_, err := r.cli.ImageInspect(ctx, image)
	if err == nil {
		return nil
	}
	switch {
	case cerrdefs.IsInvalidArgument(err): // malformed reference
		return fmt.Errorf("docker: image %q: %w: %w", image, agent.ErrImage, err)
	case !cerrdefs.IsNotFound(err):
		return fmt.Errorf("docker: inspect image %q: %w", image, err)
	}
	if timeout <= 0 {
		timeout = r.cfg.PullTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pull, err := r.cli.ImagePull(pctx, image, client.ImagePullOptions{})
	if err == nil {
		err = pull.Wait(pctx)
		_ = pull.Close()
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("docker: pull %q: %w", image, ctx.Err())
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("docker: pull %q: %w", image, err)
	case pctx.Err() != nil:
		return fmt.Errorf("docker: pull %q: %w: timed out after %v", image, agent.ErrImage, timeout)
	}
	return fmt.Errorf("docker: pull %q: %w: %w", image, agent.ErrImage, err)
}

// Start starts a created or exited container; starting a running one is a
// no-op.
func (r *Runtime) Start(ctx context.Context, id string) error {
	_, err := r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return wrap("start", id, err)
}

// Stop sends the stop signal, then SIGKILL once grace (rounded up to whole
// seconds, the daemon's resolution) has passed. It returns once the
// container has exited; stopping a container that is not running is not an
// error.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := 0
	if grace > 0 {
		secs = int(min((grace+time.Second-1)/time.Second, math.MaxInt32))
	}
	_, err := r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	return wrap("stop", id, err)
}

// Remove deletes a container, killing it if running, with its anonymous
// volumes.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	_, err := r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return wrap("remove", id, err)
}

// Inspect returns the container's current state. Paused and restarting
// containers are reported running; removing and dead ones exited.
func (r *Runtime) Inspect(ctx context.Context, id string) (agent.Container, error) {
	res, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return agent.Container{}, wrap("inspect", id, err)
	}
	c := res.Container
	out := agent.Container{
		ID:      c.ID,
		Name:    strings.TrimPrefix(c.Name, "/"),
		Image:   c.Image,
		Created: parseTime(c.Created),
	}
	if c.Config != nil {
		out.Image = c.Config.Image
		out.Labels = maps.Clone(c.Config.Labels)
	}
	if s := c.State; s != nil {
		out.Status = status(s.Status)
		out.ExitCode = s.ExitCode
		out.StartedAt = parseTime(s.StartedAt)
		out.FinishedAt = parseTime(s.FinishedAt)
		out.Error = s.Error
		if s.OOMKilled {
			out.Error = strings.TrimPrefix(out.Error+"; OOMKilled", "; ")
		}
	}
	return out, nil
}

// status maps a daemon container state to an agent status.
func status(s container.ContainerState) agent.ContainerStatus {
	switch s {
	case container.StateCreated:
		return agent.ContainerCreated
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return agent.ContainerRunning
	}
	return agent.ContainerExited // exited, dead, removing
}

// parseTime parses a daemon timestamp; the daemon's "never" (year 1) and
// garbage give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// exitedRe extracts the exit code from a list entry's status text.
var exitedRe = regexp.MustCompile(`^Exited \((-?\d+)\)`)

// List returns the containers (running or not) whose labels include every
// pair in labels, oldest first. The daemon's list carries no start and
// finish times and no error: StartedAt, FinishedAt and Error are zero (use
// Inspect); ExitCode is taken from the status text.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]agent.Container, error) {
	f := make(client.Filters)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		f.Add("label", k+"="+labels[k])
	}
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list: %w", err)
	}
	out := make([]agent.Container, 0, len(res.Items))
	for _, s := range res.Items {
		c := agent.Container{
			ID:      s.ID,
			Image:   s.Image,
			Labels:  s.Labels,
			Status:  status(s.State),
			Created: time.Unix(s.Created, 0),
		}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		if m := exitedRe.FindStringSubmatch(s.Status); m != nil {
			c.ExitCode, _ = strconv.Atoi(m[1])
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b agent.Container) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Logs streams the container's stdout and stderr, interleaved as written.
// Without follow the stream ends with io.EOF after the output so far; with
// follow it ends once the container stops, ctx is done or it is closed.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool) (io.ReadCloser, error) {
	insp, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, wrap("logs", id, err)
	}
	body, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     follow,
	})
	if err != nil {
		return nil, wrap("logs", id, err)
	}
	if insp.Container.Config != nil && insp.Container.Config.Tty {
		return body, nil // a TTY's output is not multiplexed
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, body)
		_ = body.Close()
		_ = pw.CloseWithError(err) // nil: readers get io.EOF
	}()
	return &logStream{PipeReader: pr, body: body}, nil
}

// logStream is the demultiplexed output of Logs.
type logStream struct {
	*io.PipeReader
	body io.Closer
}

// Close ends the stream and its request.
func (l *logStream) Close() error {
	_ = l.body.Close()
	return l.PipeReader.Close()
}

// Exec runs cmd in the running container, waits for it and returns its exit
// code and combined output (the first MaxExecOutput bytes). It fails with
// ErrNotRunning when the container is not running and agent.ErrNotFound
// when it does not exist. A command that cannot be run gives the runtime's
// exit code (126 or 127) and its message as output, not an error.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	if len(cmd) == 0 {
		return 0, nil, fmt.Errorf("docker: exec in %s: empty command", id)
	}
	ex, err := r.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd:          cmd,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return 0, nil, wrap("exec in", id, err)
	}
	att, err := r.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return 0, nil, wrap("exec in", id, err)
	}
	stop := context.AfterFunc(ctx, att.Close)
	out := &capBuffer{max: MaxExecOutput}
	_, err = stdcopy.StdCopy(out, out, att.Reader)
	stop()
	att.Close()
	if ctx.Err() != nil {
		return 0, out.buf, fmt.Errorf("docker: exec in %s: %w", id, ctx.Err())
	}
	if err != nil {
		return 0, out.buf, fmt.Errorf("docker: exec in %s: read output: %w", id, err)
	}
	// The output ends when the process does, but the daemon records the exit
	// code a moment later.
	delay := time.Millisecond
	for {
		insp, err := r.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return 0, out.buf, wrap("exec in", id, err)
		}
		if !insp.Running {
			return insp.ExitCode, out.buf, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, out.buf, fmt.Errorf("docker: exec in %s: %w", id, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// capBuffer keeps the first max bytes written and discards the rest.
type capBuffer struct {
	buf []byte
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Events subscribes to container die and destroy events (see the package
// documentation). The subscription is in place when Events returns, so no
// event after the call is missed. It fails if the daemon does not answer;
// later stream errors are retried with backoff. The channel is closed once
// ctx is done.
func (r *Runtime) Events(ctx context.Context) (<-chan agent.ContainerEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.ping(ctx); err != nil {
		return nil, err
	}
	w := &eventWatcher{r: r, ch: make(chan agent.ContainerEvent, EventBuffer), since: time.Now()}
	first := w.subscribe(ctx, false)
	go w.run(ctx, first)
	return w.ch, nil
}

// Bounds of the backoff between event stream reconnections.
const (
	minEventDelay = 100 * time.Millisecond
	maxEventDelay = 5 * time.Second
)

// eventWatcher runs one Events subscription.
type eventWatcher struct {
	r  *Runtime
	ch chan agent.ContainerEvent

	// since is where a resubscription resumes: the time of the last event
	// seen (or of the first subscription); seen holds the events at exactly
	// that time already handled, so a replay does not deliver them twice.
	since time.Time
	seen  map[string]struct{}
}

// subscribe opens an event stream; with resume the daemon first replays
// the events since w.since.
func (w *eventWatcher) subscribe(ctx context.Context, resume bool) client.EventsResult {
	f := make(client.Filters).
		Add("type", string(events.ContainerEventType)).
		Add("event", string(events.ActionDie), string(events.ActionDestroy), string(events.ActionOOM))
	opts := client.EventsListOptions{Filters: f}
	if resume {
		opts.Since = fmt.Sprintf("%d.%09d", w.since.Unix(), w.since.Nanosecond())
	}
	return w.r.cli.Events(ctx, opts)
}

func (w *eventWatcher) run(ctx context.Context, sub client.EventsResult) {
	defer close(w.ch)
	delay := minEventDelay
	for {
		err := w.consume(ctx, sub, &delay)
		if ctx.Err() != nil {
			return
		}
		w.r.log.Warn("docker event stream failed; reconnecting", "error", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, maxEventDelay)
		sub = w.subscribe(ctx, true)
	}
}

// consume delivers the subscription's events until it fails; it resets
// *delay whenever the stream works.
func (w *eventWatcher) consume(ctx context.Context, sub client.EventsResult, delay *time.Duration) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err, ok := <-sub.Err:
			if !ok || err == nil {
				err = io.ErrUnexpectedEOF
			}
			return err
		case m := <-sub.Messages:
			*delay = minEventDelay
			if !w.fresh(m) {
				continue
			}
			ev, ok := w.convert(m)
			if !ok {
				continue
			}
			select {
			case w.ch <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// fresh records m and reports whether it was not seen before.
func (w *eventWatcher) fresh(m events.Message) bool {
	at := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		at = time.Unix(m.Time, 0)
	}
	key := string(m.Action) + "/" + m.Actor.ID
	switch c := at.Compare(w.since); {
	case c < 0 && w.seen != nil:
		return false // replayed from before the last event seen
	case c > 0 || w.seen == nil:
		w.since = at
		w.seen = map[string]struct{}{key: {}}
		return true
	}
	if _, dup := w.seen[key]; dup {
		return false
	}
	w.seen[key] = struct{}{}
	return true
}

// daemonAttributes are the event attributes the daemon adds to a
// container's labels.
var daemonAttributes = []string{"image", "name", "exitCode", "signal", "execDuration"}

// convert turns a daemon event into an agent event; ok is false for events
// that are not reported.
func (w *eventWatcher) convert(m events.Message) (ev agent.ContainerEvent, ok bool) {
	if m.Type != events.ContainerEventType || m.Actor.ID == "" {
		return ev, false
	}
	labels := maps.Clone(m.Actor.Attributes)
	for _, k := range daemonAttributes {
		delete(labels, k)
	}
	ev = agent.ContainerEvent{ContainerID: m.Actor.ID, Labels: labels}
	switch m.Action {
	case events.ActionDie:
		ev.Status = agent.ContainerExited
		code, err := strconv.Atoi(m.Actor.Attributes["exitCode"])
		if err != nil {
			w.r.log.Warn("docker die event without exit code", "container", m.Actor.ID, "exitCode", m.Actor.Attributes["exitCode"])
		}
		ev.ExitCode = code
	case events.ActionDestroy:
		ev.Status = ""
	case events.ActionOOM:
		w.r.log.Warn("container hit its memory limit (OOM)", "container", m.Actor.ID, "name", m.Actor.Attributes["name"])
		return ev, false
	default:
		return ev, false
	}
	return ev, true
}
