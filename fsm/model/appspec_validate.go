package model

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SpecOptions are the controller options that affect spec validation
// (Drove's ControllerOptions allowedMountDirs, disableCmdlArgs and
// enableRawDeviceAccess).
type SpecOptions struct {
	// AllowedMountDirs, when non-empty, lists the host directories volumes
	// may be mounted from (a volume's pathOnHost must be one of them or
	// below one of them).
	AllowedMountDirs []string
	// DisableCmdlArgs rejects specs that pass command line arguments.
	DisableCmdlArgs bool
	// EnableRawDeviceAccess allows devices; without it specs with devices are rejected.
	EnableRawDeviceAccess bool
}

// MaxArgsLength is the maximum length of a spec's args joined with spaces.
const MaxArgsLength = 2048

// Messages Drove's controller produces, reproduced verbatim (without a field
// path, as Drove sends them).
const (
	ViolationCPURequired    = "Cpu requirements are mandatory"
	ViolationMemoryRequired = "Memory requirements are mandatory"
	ViolationLocalPlacement = "Local service placement is not allowed for apps"
	// ViolationOnlyLocalPlacement is Drove's message for a local service
	// whose placement policy is not LOCAL.
	ViolationOnlyLocalPlacement = "Only local placement is allowed for local services"
	ViolationCmdlArgsDisabled   = "Passing command line to containers is disabled on this cluster"
	ViolationArgsTooLong        = "Maximum combined length of command line arguments can be 2048"
	ViolationDevicesDisabled    = "Device access is disabled. To enable, set enableRawDeviceAccess: true in controller options."
	msgNamePattern              = "Only characters, numbers, hyphen and underscore is allowed"
)

// Validate checks the spec against Drove's rules and the options and returns
// every violation (nil when valid). Messages Drove's controller produces are
// reproduced verbatim (e.g. "Cpu requirements are mandatory", "Invalid port
// name for health check: X. Available ports: [main]"); every other message
// is "<field path> - <rule>" with paths rooted at "spec" and indexed lists,
// e.g. "spec.exposedPorts[1].name - duplicate port name main". Where Drove
// fails with a 500 (no placementPolicy, no HTTP check protocol, duplicate
// port names) Validate reports a violation instead.
func (s ApplicationSpec) Validate(o SpecOptions) []string {
	return s.validate(o, false)
}

// validate checks an application spec or, with localService, the same
// fields of a local-service spec (placement must then be LOCAL, and an
// exposureSpec is ignored as Drove's LocalServiceSpec has none).
func (s ApplicationSpec) validate(o SpecOptions, localService bool) []string {
	v := &validator{}
	if s.Name == "" {
		v.add("spec.name", "Application name is mandatory")
	} else {
		v.raw(ValidateName("spec.name", s.Name))
	}
	if s.Version == "" {
		v.add("spec.version", "App version is mandatory")
	} else {
		v.raw(ValidateName("spec.version", s.Version))
	}
	if s.Type == "" {
		v.add("spec.type", "Specify if job is a computation or a service")
	} else {
		checkEnum(v, "spec.type", s.Type, JobTypes, true)
	}
	v.executable("spec.executable", s.Executable)
	ports := v.ports("spec.exposedPorts", s.ExposedPorts)
	v.volumes("spec.volumes", s.Volumes, o)
	v.configs("spec.configs", s.Configs)
	if s.Logging != nil {
		v.logging("spec.logging", *s.Logging)
	}
	v.resources("spec.resources", s.Resources)
	if s.PlacementPolicy == nil {
		v.add("spec.placementPolicy", `is required (use {"type":"ANY"} for no constraint)`)
	} else {
		v.placement("spec.placementPolicy", *s.PlacementPolicy)
		switch local := HasLocalPlacement(*s.PlacementPolicy); {
		case localService && s.PlacementPolicy.Type != PlacementLocal:
			v.raw(ViolationOnlyLocalPlacement)
		case !localService && local:
			v.raw(ViolationLocalPlacement)
		}
	}
	v.check("spec.healthcheck", s.Healthcheck, ports)
	v.check("spec.readiness", s.Readiness, ports)
	v.env("spec.env", s.Env)
	v.args(s.Args, o)
	v.devices("spec.devices", s.Devices, o)
	if e := s.ExposureSpec; e != nil && !localService {
		v.required("spec.exposureSpec.vhost", e.Vhost)
		if e.PortName == "" {
			v.required("spec.exposureSpec.portName", e.PortName)
		} else if !ports.has(e.PortName) {
			v.raw("Exposed port name " + e.PortName + " is undefined. Defined port names: " + ports.String())
		}
		checkEnum(v, "spec.exposureSpec.mode", e.Mode, ExposureModes, false)
	}
	if p := s.PreShutdown; p != nil {
		for i, h := range p.Hooks {
			v.mode(fmt.Sprintf("spec.preShutdown.hooks[%d]", i), h, ports, false)
		}
	}
	if u := s.UserSpec; u != nil {
		v.required("spec.userSpec.user", u.User)
	}
	return v.errs
}

// ValidateName checks a name, version or task id: non-empty and made of
// [a-zA-Z0-9_-] only (Drove's [a-zA-Z\d\-_]*). It returns "" when valid, else
// the message "<field> - <rule>".
func ValidateName(field, v string) string {
	if v == "" {
		return field + " - must not be empty"
	}
	if !validName(v) {
		return field + " - " + msgNamePattern
	}
	return ""
}

func validName(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// HasLocalPlacement reports whether p is or contains (in a COMPOSITE) a
// LOCAL policy, which only local services may use.
func HasLocalPlacement(p PlacementPolicy) bool {
	if p.Type == PlacementLocal {
		return true
	}
	for _, c := range p.Policies {
		if HasLocalPlacement(c) {
			return true
		}
	}
	return false
}

// validator collects violations.
type validator struct{ errs []string }

func (v *validator) raw(msg string) {
	if msg != "" {
		v.errs = append(v.errs, msg)
	}
}

func (v *validator) add(field, rule string) { v.errs = append(v.errs, field+" - "+rule) }

func (v *validator) addf(field, format string, a ...any) { v.add(field, fmt.Sprintf(format, a...)) }

func (v *validator) required(field, val string) bool {
	if val == "" {
		v.add(field, "is required")
		return false
	}
	return true
}

func (v *validator) between(field string, val, lo, hi int) {
	if val < lo || val > hi {
		v.addf(field, "must be between %d and %d, got %d", lo, hi, val)
	}
}

func (v *validator) absPath(field, val string) {
	if v.required(field, val) && !strings.HasPrefix(val, "/") {
		v.addf(field, "must be an absolute path, got %s", val)
	}
}

// checkEnum reports an empty value (when required) or one outside allowed.
func checkEnum[T ~string](v *validator, field string, val T, allowed []T, required bool) {
	switch {
	case val == "":
		if required {
			v.addf(field, "is required (allowed: %s)", joinEnum(allowed))
		}
	case !enumIn(val, allowed):
		v.addf(field, "unknown value %s (allowed: %s)", string(val), joinEnum(allowed))
	}
}

func (v *validator) executable(field string, e Executable) {
	if e == (Executable{}) {
		v.add(field, "Executable details is required")
		return
	}
	checkEnum(v, field+".type", e.Type, executableTypes, true)
	v.required(field+".url", e.URL)
	if v.required(field+".dockerPullTimeout", e.DockerPullTimeout) {
		if _, err := ParseDuration(e.DockerPullTimeout); err != nil {
			v.add(field+".dockerPullTimeout", err.Error())
		}
	}
}

// portSet is the exposed port names in declaration order.
type portSet []string

func (p portSet) has(name string) bool {
	for _, n := range p {
		if n == name {
			return true
		}
	}
	return false
}

// String formats the names as Java prints a collection: [a, b].
func (p portSet) String() string { return "[" + strings.Join(p, ", ") + "]" }

func (v *validator) ports(field string, ports []PortSpec) portSet {
	if len(ports) == 0 {
		v.add(field, "Port specifications are needed")
		return nil
	}
	var names portSet
	for i, p := range ports {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case p.Name == "":
			v.add(f+".name", "must not be empty")
		case !validName(p.Name):
			v.add(f+".name", msgNamePattern)
		case names.has(p.Name):
			v.add(f+".name", "duplicate port name "+p.Name)
		default:
			names = append(names, p.Name)
		}
		v.between(f+".port", p.Port, 1, 65535)
		checkEnum(v, f+".type", p.Type, portTypes, true)
	}
	return names
}

func (v *validator) volumes(field string, vols []MountedVolume, o SpecOptions) {
	for i, m := range vols {
		f := fmt.Sprintf("%s[%d]", field, i)
		v.absPath(f+".pathInContainer", m.PathInContainer)
		v.absPath(f+".pathOnHost", m.PathOnHost)
		checkEnum(v, f+".mode", m.Mode, MountModes, true)
		if m.PathOnHost != "" && !mountAllowed(m.PathOnHost, o.AllowedMountDirs) {
			v.raw("Volume mount requested on non whitelisted host directory: " + m.PathOnHost)
		}
	}
}

// mountAllowed reports whether hostPath is one of dirs or below one of them
// (empty dirs: anything goes). Unlike Drove's plain prefix test, "/tmpx" is
// not below "/tmp" and "/tmp/../etc" is not below "/tmp".
func mountAllowed(hostPath string, dirs []string) bool {
	if len(dirs) == 0 {
		return true
	}
	p := path.Clean(hostPath)
	for _, d := range dirs {
		if d == "" {
			continue
		}
		d = path.Clean(d)
		if p == d || d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func (v *validator) configs(field string, cfgs []ConfigSpec) {
	for i, c := range cfgs {
		f := fmt.Sprintf("%s[%d]", field, i)
		checkEnum(v, f+".type", c.Type, ConfigTypes, true)
		v.required(f+".localFilename", c.LocalFilename)
		switch c.Type {
		case ConfigInline:
			if len(c.Data) == 0 {
				v.add(f+".data", "must not be empty")
			}
		case ConfigExecutorLocalFile:
			v.absPath(f+".filePathOnHost", c.FilePathOnHost)
		case ConfigControllerHTTPFetch, ConfigExecutorHTTPFetch:
			if c.HTTP == nil {
				v.add(f+".http", "is required")
			} else {
				v.httpCall(f+".http", *c.HTTP)
			}
		}
	}
}

func (v *validator) httpCall(field string, h HTTPCallSpec) {
	checkEnum(v, field+".protocol", h.Protocol, Protocols, false)
	v.required(field+".hostname", h.Hostname)
	v.between(field+".port", h.Port, 0, 65535)
	checkEnum(v, field+".verb", h.Verb, HTTPVerbs, false)
	v.statusCodes(field+".successCodes", h.SuccessCodes)
}

func (v *validator) statusCodes(field string, codes []int) {
	for i, c := range codes {
		if c < 100 || c > 599 {
			v.addf(fmt.Sprintf("%s[%d]", field, i), "must be an HTTP status code (100-599), got %d", c)
		}
	}
}

// dockerSize matches Docker's size strings (units.RAMInBytes): "10m", "1g", "512k", "100MiB", "1024".
var dockerSize = regexp.MustCompile(`^\d+(\.\d+)* ?[kKmMgGtTpP]?[iI]?[bB]?$`)

func (v *validator) logging(field string, l LoggingSpec) {
	checkEnum(v, field+".type", l.Type, LoggingTypes, true)
	switch l.Type {
	case LoggingLocal:
		if v.required(field+".maxSize", l.MaxSize) && !dockerSize.MatchString(l.MaxSize) {
			v.addf(field+".maxSize", "must be a size such as 10m or 1g, got %s", l.MaxSize)
		}
		v.between(field+".maxFiles", l.MaxFiles, 1, 100)
	case LoggingRsyslog:
		v.required(field+".server", l.Server)
	}
}

func (v *validator) resources(field string, rs []ResourceRequirement) {
	var cpu, mem bool
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		checkEnum(v, f+".type", r.Type, requirementTypes, true)
		switch r.Type {
		case RequirementCPU:
			cpu = true
			if r.Count <= 0 {
				v.addf(f+".count", "must be greater than 0, got %d", r.Count)
			}
		case RequirementMemory:
			mem = true
			if r.SizeInMB <= 0 {
				v.addf(f+".sizeInMB", "must be greater than 0, got %d", r.SizeInMB)
			}
		}
	}
	if !cpu {
		v.raw(ViolationCPURequired)
	}
	if !mem {
		v.raw(ViolationMemoryRequired)
	}
}

func (v *validator) placement(field string, p PlacementPolicy) {
	checkEnum(v, field+".type", p.Type, placementTypes, true)
	switch p.Type {
	case PlacementMaxNPerHost:
		v.between(field+".max", p.Max, 1, 64)
	case PlacementMatchTag:
		v.required(field+".tag", p.Tag)
	case PlacementRuleBased:
		v.required(field+".rule", p.Rule)
		checkEnum(v, field+".ruleType", p.RuleType, ruleTypes, true)
	case PlacementComposite:
		if len(p.Policies) == 0 {
			v.add(field+".policies", "must not be empty")
		}
		checkEnum(v, field+".combiner", p.Combiner, combiners, false)
		for i, c := range p.Policies {
			v.placement(fmt.Sprintf("%s.policies[%d]", field, i), c)
		}
	}
}

func (v *validator) check(field string, c *CheckSpec, ports portSet) {
	if c == nil {
		v.add(field, "is required")
		return
	}
	if c.Mode.Type == "" && isZeroMode(c.Mode) {
		v.add(field+".mode", "is required")
	} else {
		v.mode(field+".mode", c.Mode, ports, true)
	}
	v.positiveDuration(field+".timeout", c.Timeout)
	v.positiveDuration(field+".interval", c.Interval)
	v.between(field+".attempts", c.Attempts, 1, 100)
}

func isZeroMode(m CheckModeSpec) bool {
	return m.Protocol == "" && m.PortName == "" && m.Path == "" && m.Verb == "" && m.SuccessCodes == nil &&
		m.Payload == "" && m.ConnectionTimeout.IsZero() && !m.Insecure && m.Command == "" && !m.ShellDisabled
}

func (v *validator) positiveDuration(field string, d Duration) {
	switch {
	case d.IsZero():
		v.add(field, "is required")
	case d.D() <= 0:
		v.add(field, "must be greater than 0")
	}
}

// mode checks a check or hook mode; healthCheck selects Drove's message for
// an unknown port name.
func (v *validator) mode(field string, m CheckModeSpec, ports portSet, healthCheck bool) {
	checkEnum(v, field+".type", m.Type, CheckModeTypes, true)
	switch m.Type {
	case CheckHTTP:
		checkEnum(v, field+".protocol", m.Protocol, Protocols, true)
		switch {
		case m.PortName == "":
			v.required(field+".portName", m.PortName)
		case ports.has(m.PortName):
		case healthCheck:
			v.raw("Invalid port name for health check: " + m.PortName + ". Available ports: " + ports.String())
		default:
			v.add(field+".portName", "Invalid port name: "+m.PortName+". Available ports: "+ports.String())
		}
		v.required(field+".path", m.Path)
		checkEnum(v, field+".verb", m.Verb, HTTPVerbs, true)
		if len(m.SuccessCodes) == 0 {
			v.add(field+".successCodes", "must not be empty")
		}
		v.statusCodes(field+".successCodes", m.SuccessCodes)
	case CheckCmd:
		v.required(field+".command", m.Command)
	}
}

func (v *validator) env(field string, env map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.add(field, "invalid variable name "+strconv.Quote(k))
		}
	}
}

func (v *validator) args(args []string, o SpecOptions) {
	if len(args) == 0 {
		return
	}
	if o.DisableCmdlArgs {
		v.raw(ViolationCmdlArgsDisabled)
		return
	}
	if len(strings.Join(args, " ")) > MaxArgsLength {
		v.raw(ViolationArgsTooLong)
	}
}

func (v *validator) devices(field string, devs []DeviceSpec, o SpecOptions) {
	if len(devs) > 0 && !o.EnableRawDeviceAccess {
		v.raw(ViolationDevicesDisabled)
	}
	for i, d := range devs {
		f := fmt.Sprintf("%s[%d]", field, i)
		checkEnum(v, f+".type", d.Type, DeviceTypes, true)
		if d.Type == DeviceDirect {
			v.absPath(f+".pathOnHost", d.PathOnHost)
			if d.PathInContainer != "" {
				v.absPath(f+".pathInContainer", d.PathInContainer)
			}
			checkEnum(v, f+".permissions", d.Permissions, DevicePermissionValues, false)
		}
	}
}
