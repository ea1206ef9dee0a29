package model

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Enumerations of the application spec. Every one decodes case-insensitively
// (Drove's ACCEPT_CASE_INSENSITIVE_ENUMS), is stored and written upper-case,
// and rejects values outside its set with a *json.UnmarshalTypeError naming
// the allowed values (encoding/json adds the field path). An empty string or
// null decodes to "" (unset); Validate reports it where the value is required.

// JobType is ApplicationSpec.type (Drove's JobType).
type JobType string

// Job types.
const (
	JobService      JobType = "SERVICE"
	JobComputation  JobType = "COMPUTATION"
	JobLocalService JobType = "LOCAL_SERVICE"
)

// JobTypes lists the valid job types.
var JobTypes = []JobType{JobService, JobComputation, JobLocalService}

// UnmarshalJSON accepts a job type case-insensitively.
func (t *JobType) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, t, JobTypes) }

// ExecutableDocker is the only executable type (Executable.Type); it is the
// default when the type is missing.
const ExecutableDocker = "DOCKER"

// MountMode is MountedVolume.mode.
type MountMode string

// Mount modes.
const (
	MountReadWrite MountMode = "READ_WRITE"
	MountReadOnly  MountMode = "READ_ONLY"
)

// MountModes lists the valid mount modes.
var MountModes = []MountMode{MountReadWrite, MountReadOnly}

// UnmarshalJSON accepts a mount mode case-insensitively.
func (m *MountMode) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, m, MountModes) }

// ConfigType is the discriminator of ConfigSpec.
type ConfigType string

// Config spec types.
const (
	ConfigInline              ConfigType = "INLINE"
	ConfigExecutorLocalFile   ConfigType = "EXECUTOR_LOCAL_FILE"
	ConfigControllerHTTPFetch ConfigType = "CONTROLLER_HTTP_FETCH"
	ConfigExecutorHTTPFetch   ConfigType = "EXECUTOR_HTTP_FETCH"
)

// ConfigTypes lists the valid config spec types.
var ConfigTypes = []ConfigType{ConfigInline, ConfigExecutorLocalFile, ConfigControllerHTTPFetch, ConfigExecutorHTTPFetch}

// UnmarshalJSON accepts a config type case-insensitively.
func (t *ConfigType) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, t, ConfigTypes) }

// Protocol is HTTP or HTTPS (Drove's Protocol), for HTTP checks and calls.
type Protocol string

// Protocols.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
)

// Protocols lists the valid protocols.
var Protocols = []Protocol{ProtocolHTTP, ProtocolHTTPS}

// UnmarshalJSON accepts a protocol case-insensitively.
func (p *Protocol) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, p, Protocols) }

// HTTPVerb is the method of an HTTP check or call (Drove's HTTPVerb).
type HTTPVerb string

// HTTP verbs.
const (
	VerbGet  HTTPVerb = "GET"
	VerbPost HTTPVerb = "POST"
	VerbPut  HTTPVerb = "PUT"
)

// HTTPVerbs lists the valid verbs.
var HTTPVerbs = []HTTPVerb{VerbGet, VerbPost, VerbPut}

// UnmarshalJSON accepts a verb case-insensitively.
func (v *HTTPVerb) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, v, HTTPVerbs) }

// LoggingType is the discriminator of LoggingSpec.
type LoggingType string

// Logging types.
const (
	LoggingLocal   LoggingType = "LOCAL"
	LoggingRsyslog LoggingType = "RSYSLOG"
)

// LoggingTypes lists the valid logging types.
var LoggingTypes = []LoggingType{LoggingLocal, LoggingRsyslog}

// UnmarshalJSON accepts a logging type case-insensitively.
func (t *LoggingType) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, t, LoggingTypes) }

// CheckModeType is the discriminator of CheckModeSpec (Drove's CheckMode).
type CheckModeType string

// Check modes.
const (
	CheckHTTP CheckModeType = "HTTP"
	CheckCmd  CheckModeType = "CMD"
)

// CheckModeTypes lists the valid check modes.
var CheckModeTypes = []CheckModeType{CheckHTTP, CheckCmd}

// UnmarshalJSON accepts a check mode case-insensitively.
func (t *CheckModeType) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, t, CheckModeTypes) }

// DeviceType is the discriminator of DeviceSpec.
type DeviceType string

// Device spec types.
const (
	DeviceDirect   DeviceType = "DIRECT"
	DeviceDetailed DeviceType = "DETAILED"
)

// DeviceTypes lists the valid device spec types.
var DeviceTypes = []DeviceType{DeviceDirect, DeviceDetailed}

// UnmarshalJSON accepts a device type case-insensitively.
func (t *DeviceType) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, t, DeviceTypes) }

// DevicePermissions is DeviceSpec.permissions for DIRECT devices.
type DevicePermissions string

// Device permissions.
const (
	DeviceReadOnly  DevicePermissions = "READ_ONLY"
	DeviceWriteOnly DevicePermissions = "WRITE_ONLY"
	DeviceMknodOnly DevicePermissions = "MKNOD_ONLY"
	DeviceAll       DevicePermissions = "ALL"
	DeviceReadWrite DevicePermissions = "READ_WRITE"
)

// DevicePermissionValues lists the valid device permissions.
var DevicePermissionValues = []DevicePermissions{DeviceReadOnly, DeviceWriteOnly, DeviceMknodOnly, DeviceAll, DeviceReadWrite}

// UnmarshalJSON accepts device permissions case-insensitively.
func (p *DevicePermissions) UnmarshalJSON(b []byte) error {
	return unmarshalEnum(b, p, DevicePermissionValues)
}

// CgroupPermissions is the Docker cgroup permission string ("r", "w", "m",
// "rwm", "rw"); unset means ALL ("rwm"), as in Drove.
func (p DevicePermissions) CgroupPermissions() string {
	switch p {
	case DeviceReadOnly:
		return "r"
	case DeviceWriteOnly:
		return "w"
	case DeviceMknodOnly:
		return "m"
	case DeviceReadWrite:
		return "rw"
	}
	return "rwm"
}

// ExposureMode is ExposureSpec.mode (Drove ignores it).
type ExposureMode string

// Exposure modes.
const (
	ExposureAll ExposureMode = "ALL"
	ExposureOne ExposureMode = "ONE"
)

// ExposureModes lists the valid exposure modes.
var ExposureModes = []ExposureMode{ExposureAll, ExposureOne}

// UnmarshalJSON accepts an exposure mode case-insensitively.
func (m *ExposureMode) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, m, ExposureModes) }

// Rule types of a RULE_BASED placement policy (PlacementPolicy.RuleType).
const (
	RuleTypeHope = "HOPE"
	RuleTypeMVEL = "MVEL"
)

// Values allowed where the existing model types keep plain strings.
var (
	portTypes       = []PortType{PortHTTP, PortHTTPS, PortTCP, PortUDP}
	executableTypes = []string{ExecutableDocker}
	placementTypes  = []PlacementType{PlacementAny, PlacementOnePerHost, PlacementMaxNPerHost, PlacementMatchTag,
		PlacementNoTag, PlacementRuleBased, PlacementComposite, PlacementLocal}
	ruleTypes        = []string{RuleTypeHope, RuleTypeMVEL}
	combiners        = []string{CombinerAnd, CombinerOr}
	requirementTypes = []string{RequirementCPU, RequirementMemory}
)

// unmarshalEnum decodes a JSON string into dst, upper-cased, if it is one of
// allowed (or empty). null leaves dst unchanged.
func unmarshalEnum[T ~string](b []byte, dst *T, allowed []T) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{
			Value: jsonKind(b) + " (allowed: " + joinEnum(allowed) + ")",
			Type:  reflect.TypeFor[T](),
		}
	}
	v, err := parseEnum(s, allowed)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// parseEnum upper-cases s and checks it against allowed ("" passes).
func parseEnum[T ~string](s string, allowed []T) (T, error) {
	v := T(upper(s))
	if v == "" || enumIn(v, allowed) {
		return v, nil
	}
	return "", &json.UnmarshalTypeError{
		Value: "unknown value " + strconv.Quote(s) + " (allowed: " + joinEnum(allowed) + ")",
		Type:  reflect.TypeFor[T](),
	}
}

func enumIn[T ~string](v T, allowed []T) bool {
	for _, a := range allowed {
		if a == v {
			return true
		}
	}
	return false
}

func joinEnum[T ~string](allowed []T) string {
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
