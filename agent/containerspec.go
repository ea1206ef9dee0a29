package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
	"github.com/drove-go/drove/fsm/model/httpcall"
)

// Log driver options the agent sets on every container besides the
// driver's own (Drove's executor defaults): logging never blocks the
// application (mode non-blocking, with a 10 MB buffer), and the daemon keeps
// a local copy of the output (the dual-logging cache) so that container
// logs stay readable with the syslog driver too.
var commonLogOptions = map[string]string{
	"mode":            "non-blocking",
	"max-buffer-size": "10m",
	"cache-disabled":  "false",
	"cache-max-size":  "20m",
	"cache-max-file":  "3",
	"cache-compress":  "true",
}

// Docker log drivers and the syslog facility used for RSYSLOG logging.
const (
	logDriverJSONFile = "json-file"
	logDriverSyslog   = "syslog"
	syslogFacility    = "daemon"
)

// MaxConfigFileSize bounds a config file read from the executor's disk or
// fetched over HTTP; bigger ones fail the instance.
const MaxConfigFileSize = 16 << 20

// configFileMode is the mode of config files in the container (Drove's tar
// entry default): readable by any user the container runs as.
const configFileMode os.FileMode = 0o644

// specOptions are the executor settings that shape containers.
type specOptions struct {
	allowedMountDirs []string
	rawDevices       bool
	maxOpenFiles     int64
	getenv           func(string) string // the executor's environment
}

func newSpecOptions(cfg Config) specOptions {
	return specOptions{allowedMountDirs: slices.Clone(cfg.AllowedMountDirs), rawDevices: cfg.EnableRawDeviceAccess,
		maxOpenFiles: cfg.MaxOpenFiles, getenv: os.Getenv}
}

// containerSpec translates an instance spec into what the runtime needs;
// hostPorts are the allocated host ports in spec.Ports order. It fails,
// with a message fit for the instance's error, when the executor does not
// allow the spec (a volume outside Config.AllowedMountDirs, devices without
// Config.EnableRawDeviceAccess) or a config file cannot be had. It may do
// I/O (config files from disk or HTTP) bounded by ctx.
//
//   - Env: the spec's env, where an empty value takes the executor's own
//     variable of that name, and a variable empty on both sides is left out
//     (Drove); then the variables drove injects (DROVE_*, HOST,
//     PORT_<containerPort>=<hostPort>; for tasks DROVE_TASK_ID and
//     DROVE_SOURCE_APP_NAME too), which win over the spec's.
//   - Volumes become Binds of the cleaned paths (pathInContainer defaults to
//     pathOnHost); both must be absolute.
//   - Devices: DIRECT ones become Devices (pathInContainer defaults to
//     pathOnHost, permissions to "rwm"), DETAILED ones DeviceRequests (no
//     count: 0).
//   - Logging (DefaultLoggingSpec when unset): LOCAL is the json-file
//     driver with max-size, max-file and compress (missing values from
//     DefaultLoggingSpec); RSYSLOG the syslog driver with syslog-address,
//     tag = tagPrefix + instanceId + tagSuffix and syslog-facility daemon.
//     Both also get commonLogOptions.
//   - userSpec becomes User (user or user:group).
//   - Configs become Files (mode 0644) at the cleaned absolute
//     localFilename: INLINE data as is, EXECUTOR_LOCAL_FILE read from the
//     executor's disk, EXECUTOR_HTTP_FETCH fetched by the executor (see
//     fetchConfig). CONTROLLER_HTTP_FETCH is not resolved by the
//     controllers yet and fails the instance.
//   - MaxOpenFiles is Config.MaxOpenFiles.
func (m *instanceManager) containerSpec(ctx context.Context, spec model.InstanceSpec, hostPorts []int) (ContainerSpec, error) {
	o := m.specOpts
	env := make(map[string]string, len(spec.Env)+7+len(spec.Ports))
	for k, v := range spec.Env {
		if v == "" && o.getenv != nil {
			v = o.getenv(k)
		}
		if v == "" {
			m.logger.Warn("env variable is empty and not set on the executor; leaving it out",
				"instance", spec.InstanceID, "variable", k)
			continue
		}
		env[k] = v
	}
	env["DROVE_APP_ID"], env["DROVE_INSTANCE_ID"] = spec.AppID, spec.InstanceID
	env["DROVE_APP_NAME"], env["HOST"], env["DROVE_EXECUTOR_HOST"] = spec.AppName, m.hostname, m.hostname
	env["DROVE_CONTAINER_ID"] = spec.Executable.URL // sic: Drove sets the image here
	if spec.InstanceAuthToken != "" {
		env["DROVE_APP_INSTANCE_AUTH_TOKEN"] = spec.InstanceAuthToken
	}
	if spec.Kind == model.KindTask { // as Drove's task runner sets them
		env["DROVE_TASK_ID"], env["DROVE_SOURCE_APP_NAME"] = spec.TaskID, spec.AppName
	}
	cs := ContainerSpec{
		Name: spec.AppID + "-" + spec.InstanceID, Image: spec.Executable.URL, Env: env,
		PullTimeout:  parsePullTimeout(spec.Executable.DockerPullTimeout),
		Args:         slices.Clone(spec.Args),
		Labels:       recoveryLabels(spec, m.executorID, hostPorts),
		MaxOpenFiles: o.maxOpenFiles,
	}
	for _, r := range spec.Resources {
		switch r.Type {
		case model.ResourceCPU:
			for _, cores := range r.Cores {
				cs.CPUSet = append(cs.CPUSet, cores...)
			}
		case model.ResourceMemory:
			for _, mb := range r.MemoryInMB {
				cs.MemoryMB += mb
			}
		}
	}
	slices.Sort(cs.CPUSet)
	for i, p := range spec.Ports {
		proto := "tcp"
		if p.Type == model.PortUDP {
			proto = "udp"
		}
		cs.Ports = append(cs.Ports, PortBinding{ContainerPort: p.Port, HostPort: hostPorts[i], Protocol: proto})
		// Drove tells the container where each port is reachable from outside.
		env["PORT_"+strconv.Itoa(p.Port)] = strconv.Itoa(hostPorts[i])
	}
	var err error
	if cs.Binds, err = o.binds(spec.Volumes); err != nil {
		return ContainerSpec{}, err
	}
	if cs.Devices, cs.DeviceRequests, err = o.devices(spec.Devices); err != nil {
		return ContainerSpec{}, err
	}
	cs.LogConfig = logConfig(spec)
	if spec.UserSpec != nil {
		cs.User = spec.UserSpec.DockerUser()
	}
	if cs.Files, err = configFiles(ctx, spec.Configs); err != nil {
		return ContainerSpec{}, err
	}
	return cs, nil
}

// binds translates volumes, checking them against the allowed mount dirs.
func (o specOptions) binds(vols []model.MountedVolume) ([]Bind, error) {
	var out []Bind
	for _, v := range vols {
		host, ctr := v.PathOnHost, v.PathInContainer
		if ctr == "" {
			ctr = host
		}
		if !path.IsAbs(host) || !path.IsAbs(ctr) {
			return nil, fmt.Errorf("volume %q (mounted at %q): paths must be absolute", host, ctr)
		}
		host, ctr = path.Clean(host), path.Clean(ctr)
		if !mountAllowed(host, o.allowedMountDirs) {
			return nil, fmt.Errorf("volume %s (mounted at %s) is not allowed on this executor: host paths must be in %s",
				host, ctr, strings.Join(o.allowedMountDirs, ", "))
		}
		out = append(out, Bind{HostPath: host, ContainerPath: ctr, ReadOnly: v.Mode == model.MountReadOnly})
	}
	return out, nil
}

// mountAllowed reports whether the clean absolute hostPath is one of dirs or
// below one of them (empty dirs: anything goes). As in the spec validator,
// "/tmpx" is not below "/tmp".
func mountAllowed(hostPath string, dirs []string) bool {
	if len(dirs) == 0 {
		return true
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		d = path.Clean(d)
		if hostPath == d || d == "/" || strings.HasPrefix(hostPath, d+"/") {
			return true
		}
	}
	return false
}

// devices translates device specs; any device needs raw device access.
func (o specOptions) devices(devs []model.DeviceSpec) ([]Device, []DeviceRequest, error) {
	if len(devs) == 0 {
		return nil, nil, nil
	}
	if !o.rawDevices {
		return nil, nil, errors.New("devices are not allowed on this executor: raw device access is disabled (--enable-raw-device-access)")
	}
	var direct []Device
	var requests []DeviceRequest
	for i, d := range devs {
		switch d.Type {
		case model.DeviceDirect:
			if !path.IsAbs(d.PathOnHost) || !path.IsAbs(d.EffectivePathInContainer()) {
				return nil, nil, fmt.Errorf("device %d (%q): paths must be absolute", i, d.PathOnHost)
			}
			direct = append(direct, Device{PathOnHost: d.PathOnHost, PathInContainer: d.EffectivePathInContainer(),
				CgroupPermissions: d.Permissions.CgroupPermissions()})
		case model.DeviceDetailed:
			r := DeviceRequest{Driver: d.Driver, DeviceIDs: slices.Clone(d.DeviceIDs), Options: maps.Clone(d.Options)}
			if d.Count != nil {
				r.Count = *d.Count
			}
			for _, c := range d.Capabilities {
				r.Capabilities = append(r.Capabilities, slices.Clone(c))
			}
			requests = append(requests, r)
		default:
			return nil, nil, fmt.Errorf("device %d: unknown type %q", i, d.Type)
		}
	}
	return direct, requests, nil
}

// logConfig translates the spec's logging (DefaultLoggingSpec when unset).
func logConfig(spec model.InstanceSpec) LogConfig {
	ls := model.DefaultLoggingSpec()
	if spec.LoggingSpec != nil {
		ls = *spec.LoggingSpec
	}
	opts := maps.Clone(commonLogOptions)
	if ls.Type == model.LoggingRsyslog {
		opts["syslog-address"] = ls.Server
		opts["tag"] = ls.TagPrefix + spec.InstanceID + ls.TagSuffix
		opts["syslog-facility"] = syslogFacility
		return LogConfig{Type: logDriverSyslog, Options: opts}
	}
	def := model.DefaultLoggingSpec()
	if ls.MaxSize == "" {
		ls.MaxSize = def.MaxSize
	}
	if ls.MaxFiles <= 0 {
		ls.MaxFiles = def.MaxFiles
	}
	opts["max-size"] = ls.MaxSize
	opts["max-file"] = strconv.Itoa(ls.MaxFiles)
	opts["compress"] = strconv.FormatBool(ls.Compress)
	return LogConfig{Type: logDriverJSONFile, Options: opts}
}

// configFiles resolves the spec's configs into files.
func configFiles(ctx context.Context, cfgs []model.ConfigSpec) ([]File, error) {
	var out []File
	for _, c := range cfgs {
		p := path.Clean("/" + c.LocalFilename)
		if strings.TrimSpace(c.LocalFilename) == "" || p == "/" {
			return nil, fmt.Errorf("config (%s): localFilename %q is not a file path", c.Type, c.LocalFilename)
		}
		var data []byte
		var err error
		switch c.Type {
		case model.ConfigInline:
			data = slices.Clone(c.Data)
		case model.ConfigExecutorLocalFile:
			data, err = readConfigFile(c.FilePathOnHost)
		case model.ConfigExecutorHTTPFetch:
			if c.HTTP == nil {
				err = errors.New("no http call given")
			} else {
				data, err = httpcall.Do(ctx, *c.HTTP, MaxConfigFileSize)
			}
		case model.ConfigControllerHTTPFetch:
			err = errors.New("CONTROLLER_HTTP_FETCH configs must be resolved by the controller before dispatch")
		default:
			err = fmt.Errorf("unknown config type %q", c.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("config %s (%s): %w", p, c.Type, err)
		}
		out = append(out, File{Path: p, Mode: configFileMode, Data: data})
	}
	return out, nil
}

// readConfigFile reads a regular file of at most MaxConfigFileSize bytes
// from the executor's disk.
func readConfigFile(name string) ([]byte, error) {
	if !path.IsAbs(name) {
		return nil, fmt.Errorf("filePathOnHost %q must be an absolute path", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read executor file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read executor file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read executor file %s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read executor file: %w", err)
	}
	if len(data) > MaxConfigFileSize {
		return nil, fmt.Errorf("read executor file %s: larger than %d bytes", name, MaxConfigFileSize)
	}
	return data, nil
}
