package agent

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// ContainerStatus is a container's lifecycle state as a runtime reports it.
type ContainerStatus string

// Container statuses.
const (
	ContainerCreated ContainerStatus = "created"
	ContainerRunning ContainerStatus = "running"
	ContainerExited  ContainerStatus = "exited"
)

// PortBinding maps a container port to a host port.
type PortBinding struct {
	ContainerPort int
	HostPort      int
	Protocol      string // "tcp" or "udp"
}

// ContainerSpec is what a runtime needs to create one container. It carries
// no drove semantics: the agent translates an instance spec into it.
type ContainerSpec struct {
	Name        string
	Image       string
	PullTimeout time.Duration
	Env         map[string]string
	Args        []string
	Labels      map[string]string
	CPUSet      []int // pinned core ids
	MemoryMB    int64
	Ports       []PortBinding

	// Binds are host paths mounted into the container, in order.
	Binds []Bind
	// Devices are host devices made available in the container (docker
	// --device).
	Devices []Device
	// DeviceRequests ask device drivers for devices (docker --gpus).
	DeviceRequests []DeviceRequest
	// LogConfig is the container's log driver; an empty Type leaves the
	// runtime's default driver.
	LogConfig LogConfig
	// User is who the container's process runs as: "user", "user:group",
	// "uid" or "uid:gid"; "" keeps the image's user.
	User string
	// Files are written into the container's filesystem after it is
	// created and before it first starts. Missing parent directories are
	// created (owned by root, mode 0755); existing ones are left alone.
	Files []File
	// MaxOpenFiles is the nofile ulimit, soft and hard; 0 keeps the
	// runtime's default.
	MaxOpenFiles int64
}

// Bind mounts a host path into the container.
type Bind struct {
	HostPath      string // absolute path on the host
	ContainerPath string // absolute path in the container
	ReadOnly      bool
}

// Device makes a host device available in the container.
type Device struct {
	PathOnHost      string
	PathInContainer string
	// CgroupPermissions is a combination of r (read), w (write) and m
	// (mknod), e.g. "rwm".
	CgroupPermissions string
}

// DeviceRequest asks a device driver (e.g. "nvidia") for devices, like
// Docker's DeviceRequest.
type DeviceRequest struct {
	Driver string
	// Count is how many devices; -1 means all of them.
	Count int
	// DeviceIDs names specific devices, as the driver knows them.
	DeviceIDs []string
	// Capabilities is an OR list of AND lists of capabilities (e.g.
	// [["gpu"]]).
	Capabilities [][]string
	// Options are passed to the driver.
	Options map[string]string
}

// LogConfig selects a log driver and its options, e.g. Type "json-file"
// with Options {"max-size": "10m"}.
type LogConfig struct {
	Type    string
	Options map[string]string
}

// File is a file written into the container before it starts.
type File struct {
	// Path is the absolute path in the container.
	Path string
	// Mode holds the permission bits; 0 means 0644.
	Mode os.FileMode
	Data []byte
}

// Container is a runtime's view of one container.
type Container struct {
	ID         string
	Name       string
	Image      string
	Labels     map[string]string
	Status     ContainerStatus
	ExitCode   int
	Error      string // why it exited or failed, if the runtime knows
	Created    time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// ContainerEvent tells that a container changed status outside an explicit
// call (it died, was killed or removed by someone else).
type ContainerEvent struct {
	ContainerID string
	Labels      map[string]string
	Status      ContainerStatus // exited when it died; "" when removed
	ExitCode    int
}

// Errors a runtime returns; match with errors.Is.
var (
	// ErrNotFound means no container with that id exists.
	ErrNotFound = errors.New("container not found")
	// ErrImage means the image could not be found or pulled.
	ErrImage = errors.New("image unavailable")
)

// Runtime runs containers. Implementations must be safe for concurrent use;
// calls for different containers must not block each other for long.
type Runtime interface {
	// Name identifies the runtime ("docker", "fake").
	Name() string
	// Create makes (but does not start) a container, pulling the image if needed.
	Create(ctx context.Context, spec ContainerSpec) (id string, err error)
	// Start starts a created container.
	Start(ctx context.Context, id string) error
	// Stop sends SIGTERM, then SIGKILL after grace. Stopping a stopped container is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes a container (stopped or not). Removing a missing one returns ErrNotFound.
	Remove(ctx context.Context, id string) error
	// Inspect returns the current view of a container.
	Inspect(ctx context.Context, id string) (Container, error)
	// List returns containers whose labels include every pair in labels.
	List(ctx context.Context, labels map[string]string) ([]Container, error)
	// Logs streams the container's combined output; follow keeps it open.
	Logs(ctx context.Context, id string, follow bool) (io.ReadCloser, error)
	// Exec runs cmd inside a running container and returns its exit code and output.
	Exec(ctx context.Context, id string, cmd []string) (exitCode int, output []byte, err error)
	// Events delivers status changes until ctx is done. Each call returns a new subscription.
	Events(ctx context.Context) (<-chan ContainerEvent, error)
}
