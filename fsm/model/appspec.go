package model

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// ApplicationSpec is an application's specification (Drove's
// ApplicationSpec), with Drove's JSON field names and field order. Decoding
// follows Drove's mapper: enums and type discriminators are case-insensitive
// (stored upper-case), unknown fields are ignored, durations are Dropwizard
// strings, executable.type defaults to DOCKER. Unknown enum or type values
// fail decoding with an error naming the field path and the allowed values.
//
// On output nil values are omitted and non-nil ones emitted: a nil slice or
// map is left out, an empty one is written as [] or {} (Drove omits nulls and
// keeps empties).
//
// Polymorphic members (ConfigSpec, LoggingSpec, CheckModeSpec, DeviceSpec,
// and the existing PlacementPolicy and ResourceRequirement) are flattened
// structs: Type selects which of the other fields apply.
//
// A decoded spec is not necessarily valid: call Validate.
type ApplicationSpec struct {
	Name            string                `json:"name"`
	Version         string                `json:"version"`
	Executable      Executable            `json:"executable,omitzero"`
	ExposedPorts    []PortSpec            `json:"exposedPorts,omitzero"`
	Volumes         []MountedVolume       `json:"volumes,omitzero"`
	Configs         []ConfigSpec          `json:"configs,omitzero"`
	Type            JobType               `json:"type,omitempty"`
	Logging         *LoggingSpec          `json:"logging,omitempty"`
	Resources       []ResourceRequirement `json:"resources,omitzero"`
	PlacementPolicy *PlacementPolicy      `json:"placementPolicy,omitempty"`
	Healthcheck     *CheckSpec            `json:"healthcheck,omitempty"`
	Readiness       *CheckSpec            `json:"readiness,omitempty"`
	Tags            map[string]string     `json:"tags,omitzero"`
	Env             map[string]string     `json:"env,omitzero"`
	Args            []string              `json:"args,omitzero"`
	Devices         []DeviceSpec          `json:"devices,omitzero"`
	ExposureSpec    *ExposureSpec         `json:"exposureSpec,omitempty"`
	PreShutdown     *PreShutdownSpec      `json:"preShutdown,omitempty"`
	UserSpec        *UserSpec             `json:"userSpec,omitempty"`
}

// MountedVolume is a host directory mounted into the container.
type MountedVolume struct {
	PathInContainer string    `json:"pathInContainer"`
	PathOnHost      string    `json:"pathOnHost"`
	Mode            MountMode `json:"mode"`
}

// ConfigSpec is a file injected into the container before it starts
// (Drove's polymorphic ConfigSpec), flattened: LocalFilename always applies;
// Data for INLINE (base64 in JSON), FilePathOnHost for EXECUTOR_LOCAL_FILE,
// HTTP for CONTROLLER_HTTP_FETCH and EXECUTOR_HTTP_FETCH.
type ConfigSpec struct {
	Type           ConfigType    `json:"type"`
	LocalFilename  string        `json:"localFilename"`
	Data           []byte        `json:"data,omitzero"`
	FilePathOnHost string        `json:"filePathOnHost,omitempty"`
	HTTP           *HTTPCallSpec `json:"http,omitempty"`
}

// HTTPCallSpec describes an HTTP call (Drove's HTTPCallSpec). Unset fields
// take Drove's defaults at call time: see the Effective… methods.
type HTTPCallSpec struct {
	Protocol          Protocol          `json:"protocol,omitempty"`
	Hostname          string            `json:"hostname"`
	Port              int               `json:"port"` // 0: the protocol's default port
	Path              string            `json:"path,omitempty"`
	Verb              HTTPVerb          `json:"verb,omitempty"`
	SuccessCodes      []int             `json:"successCodes,omitzero"`
	Payload           string            `json:"payload,omitempty"`
	ConnectionTimeout Duration          `json:"connectionTimeout,omitzero"`
	OperationTimeout  Duration          `json:"operationTimeout,omitzero"`
	Username          string            `json:"username,omitempty"`   // masked on read APIs
	Password          string            `json:"password,omitempty"`   // masked on read APIs
	AuthHeader        string            `json:"authHeader,omitempty"` // masked on read APIs
	Headers           map[string]string `json:"headers,omitzero"`
	Insecure          bool              `json:"insecure"`
}

// Drove's HTTPCallSpec defaults.
const (
	DefaultHTTPPath = "/"
	DefaultHTTPVerb = VerbGet
)

// DefaultHTTPConnectionTimeout is the connection timeout of HTTP calls and
// HTTP checks that set none (Drove: 1 second).
var DefaultHTTPConnectionTimeout = Duration{count: 1, unit: unitSeconds}

// EffectiveProtocol is Protocol, or HTTP when unset.
func (h HTTPCallSpec) EffectiveProtocol() Protocol {
	if h.Protocol == "" {
		return ProtocolHTTP
	}
	return h.Protocol
}

// EffectivePort is Port, or 80/443 by protocol when 0.
func (h HTTPCallSpec) EffectivePort() int {
	if h.Port != 0 {
		return h.Port
	}
	if h.EffectiveProtocol() == ProtocolHTTPS {
		return 443
	}
	return 80
}

// EffectivePath is Path, or "/" when empty.
func (h HTTPCallSpec) EffectivePath() string {
	if h.Path == "" {
		return DefaultHTTPPath
	}
	return h.Path
}

// EffectiveVerb is Verb, or GET when unset.
func (h HTTPCallSpec) EffectiveVerb() HTTPVerb {
	if h.Verb == "" {
		return DefaultHTTPVerb
	}
	return h.Verb
}

// EffectiveSuccessCodes is SuccessCodes, or [200] when empty.
func (h HTTPCallSpec) EffectiveSuccessCodes() []int {
	if len(h.SuccessCodes) == 0 {
		return []int{200}
	}
	return h.SuccessCodes
}

// EffectiveConnectionTimeout is ConnectionTimeout, or 1 second when unset.
func (h HTTPCallSpec) EffectiveConnectionTimeout() time.Duration {
	return h.ConnectionTimeout.Or(DefaultHTTPConnectionTimeout).D()
}

// LoggingSpec is the container's Docker log driver (Drove's polymorphic
// LoggingSpec), flattened: MaxSize, MaxFiles and Compress for LOCAL
// (json-file driver); Server, TagPrefix and TagSuffix for RSYSLOG (syslog
// driver).
type LoggingSpec struct {
	Type      LoggingType `json:"type"`
	MaxSize   string      `json:"maxSize,omitempty"` // Docker size, e.g. "10m"
	MaxFiles  int         `json:"maxFiles,omitempty"`
	Compress  bool        `json:"compress,omitempty"`
	Server    string      `json:"server,omitempty"` // e.g. udp://host:514
	TagPrefix string      `json:"tagPrefix,omitempty"`
	TagSuffix string      `json:"tagSuffix,omitempty"`
}

// DefaultLoggingSpec is what an app without logging gets (Drove: LOCAL, 10m, 3 files, compressed).
func DefaultLoggingSpec() LoggingSpec {
	return LoggingSpec{Type: LoggingLocal, MaxSize: "10m", MaxFiles: 3, Compress: true}
}

// CheckSpec is a health or readiness check (Drove's CheckSpec).
type CheckSpec struct {
	Mode         CheckModeSpec `json:"mode,omitzero"`
	Timeout      Duration      `json:"timeout,omitzero"`
	Interval     Duration      `json:"interval,omitzero"`
	Attempts     int           `json:"attempts"`
	InitialDelay Duration      `json:"initialDelay,omitzero"`
}

// CheckModeSpec is how a check (or pre-shutdown hook) is run (Drove's
// polymorphic CheckModeSpec), flattened: Protocol, PortName, Path, Verb,
// SuccessCodes, Payload, ConnectionTimeout and Insecure for HTTP; Command
// and ShellDisabled for CMD.
type CheckModeSpec struct {
	Type              CheckModeType `json:"type"`
	Protocol          Protocol      `json:"protocol,omitempty"`
	PortName          string        `json:"portName,omitempty"`
	Path              string        `json:"path,omitempty"`
	Verb              HTTPVerb      `json:"verb,omitempty"`
	SuccessCodes      []int         `json:"successCodes,omitzero"`
	Payload           string        `json:"payload,omitempty"`
	ConnectionTimeout Duration      `json:"connectionTimeout,omitzero"`
	Insecure          bool          `json:"insecure,omitempty"`
	Command           string        `json:"command,omitempty"`
	ShellDisabled     bool          `json:"shellDisabled,omitempty"`
}

// EffectiveConnectionTimeout is ConnectionTimeout, or 1 second when unset.
func (c CheckModeSpec) EffectiveConnectionTimeout() time.Duration {
	return c.ConnectionTimeout.Or(DefaultHTTPConnectionTimeout).D()
}

// DeviceSpec is a host device given to the container (Drove's polymorphic
// DeviceSpec), flattened: PathOnHost, PathInContainer and Permissions for
// DIRECT (docker --device); Driver, Count, DeviceIDs, Capabilities and
// Options for DETAILED (a Docker DeviceRequest).
type DeviceSpec struct {
	Type            DeviceType        `json:"type"`
	PathOnHost      string            `json:"pathOnHost,omitempty"`
	PathInContainer string            `json:"pathInContainer,omitempty"` // default: PathOnHost
	Permissions     DevicePermissions `json:"permissions,omitempty"`     // default: ALL
	Driver          string            `json:"driver,omitempty"`
	Count           *int              `json:"count,omitempty"`
	DeviceIDs       []string          `json:"deviceIds,omitzero"`
	Capabilities    [][]string        `json:"capabilities,omitzero"`
	Options         map[string]string `json:"options,omitzero"`
}

// EffectivePathInContainer is PathInContainer, or PathOnHost when empty.
func (d DeviceSpec) EffectivePathInContainer() string {
	if d.PathInContainer == "" {
		return d.PathOnHost
	}
	return d.PathInContainer
}

// ExposureSpec publishes the app under a virtual host (Drove's ExposureSpec).
type ExposureSpec struct {
	Vhost    string       `json:"vhost"`
	PortName string       `json:"portName"`
	Mode     ExposureMode `json:"mode,omitempty"`
}

// PreShutdownSpec is what runs before an instance is stopped: the hooks in
// order, then a wait of WaitBeforeKill.
type PreShutdownSpec struct {
	Hooks          []CheckModeSpec `json:"hooks,omitzero"`
	WaitBeforeKill Duration        `json:"waitBeforeKill,omitzero"`
}

// UserSpec is the user (and group) the container runs as: Docker User = user[:group].
type UserSpec struct {
	User  string `json:"user"`
	Group string `json:"group,omitempty"`
}

// DockerUser is the Docker User value: user, or user:group.
func (u UserSpec) DockerUser() string {
	if u.Group == "" {
		return u.User
	}
	return u.User + ":" + u.Group
}

// DefaultDockerPullTimeout applies when an executable has no (valid)
// dockerPullTimeout (Drove: 15 minutes).
var DefaultDockerPullTimeout = Duration{count: 15, unit: unitMinutes}

// DockerPullTimeout is e's dockerPullTimeout, or 15 minutes when it is
// missing or not a valid duration.
func DockerPullTimeout(e Executable) time.Duration {
	if d, err := ParseDuration(e.DockerPullTimeout); err == nil {
		return d.D()
	}
	return DefaultDockerPullTimeout.D()
}

// AppID is Drove's application id: name + "-" + version.
func (s ApplicationSpec) AppID() string { return s.Name + "-" + s.Version }

// Cores is the number of CPU cores one instance needs (the sum of CPU requirements).
func (s ApplicationSpec) Cores() int {
	n := 0
	for _, r := range s.Resources {
		if r.Type == RequirementCPU {
			n += r.Count
		}
	}
	return n
}

// MemoryMB is the memory (MB) one instance needs (the sum of MEMORY requirements).
func (s ApplicationSpec) MemoryMB() int64 {
	var n int64
	for _, r := range s.Resources {
		if r.Type == RequirementMemory {
			n += r.SizeInMB
		}
	}
	return n
}

// EffectiveLogging is the logging spec, or DefaultLoggingSpec when unset.
func (s ApplicationSpec) EffectiveLogging() LoggingSpec {
	if s.Logging == nil {
		return DefaultLoggingSpec()
	}
	return *s.Logging
}

// UnmarshalJSON decodes with encoding/json, then applies what the existing
// model types (Executable, PortSpec, PlacementPolicy, ResourceRequirement)
// do not do themselves: executable.type defaults to DOCKER (unless the
// executable is missing or empty, which Validate reports); executable.type,
// port types, placement types, rule types, combiners and requirement types
// are upper-cased and checked; dockerPullTimeout is parsed and normalised.
func (s *ApplicationSpec) UnmarshalJSON(b []byte) error {
	type plain ApplicationSpec
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	return normalizeSpec(&s.Executable, s.ExposedPorts, s.Resources, s.PlacementPolicy)
}

// normalizeSpec applies the decoding rules ApplicationSpec.UnmarshalJSON
// documents to the parts every spec kind shares.
func normalizeSpec(exe *Executable, ports []PortSpec, res []ResourceRequirement, pp *PlacementPolicy) error {
	if e := exe; *e != (Executable{}) {
		if e.Type == "" {
			e.Type = ExecutableDocker
		}
		t, err := parseEnum(e.Type, executableTypes)
		if err != nil {
			return fieldTypeError(err, "executable.type")
		}
		e.Type = t
		if e.DockerPullTimeout != "" {
			d, err := ParseDuration(e.DockerPullTimeout)
			if err != nil {
				return &json.UnmarshalTypeError{Value: err.Error(), Type: reflect.TypeFor[Duration](),
					Struct: "ApplicationSpec", Field: "executable.dockerPullTimeout"}
			}
			e.DockerPullTimeout = d.String()
		}
	}
	for i := range ports {
		t, err := parseEnum(string(ports[i].Type), portTypes)
		if err != nil {
			return fieldTypeError(err, "exposedPorts["+strconv.Itoa(i)+"].type")
		}
		ports[i].Type = t
	}
	for i := range res {
		t, err := parseEnum(res[i].Type, requirementTypes)
		if err != nil {
			return fieldTypeError(err, "resources["+strconv.Itoa(i)+"].type")
		}
		res[i].Type = t
	}
	if pp != nil {
		if err := checkPlacementEnums(*pp, "placementPolicy"); err != nil {
			return err
		}
	}
	return nil
}

// checkPlacementEnums rejects unknown placement types, rule types and
// combiners (PlacementPolicy.UnmarshalJSON only upper-cases them).
func checkPlacementEnums(p PlacementPolicy, field string) error {
	if _, err := parseEnum(string(p.Type), placementTypes); err != nil {
		return fieldTypeError(err, field+".type")
	}
	if _, err := parseEnum(p.RuleType, ruleTypes); err != nil {
		return fieldTypeError(err, field+".ruleType")
	}
	if _, err := parseEnum(p.Combiner, combiners); err != nil {
		return fieldTypeError(err, field+".combiner")
	}
	for i, c := range p.Policies {
		if err := checkPlacementEnums(c, field+".policies["+strconv.Itoa(i)+"]"); err != nil {
			return err
		}
	}
	return nil
}

// fieldTypeError places an enum error from parseEnum at field (relative to
// the spec); encoding/json prefixes the path of an enclosing document.
func fieldTypeError(err error, field string) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		te.Struct, te.Field = "ApplicationSpec", field
		return te
	}
	return err
}
