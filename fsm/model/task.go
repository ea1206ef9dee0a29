package model

import "encoding/json"

// TaskSpec is a one-off container's specification (Drove's TaskSpec).
// Timeout is a drove extension: when set, a task still running after it is
// killed and its result is TIMED_OUT.
type TaskSpec struct {
	SourceAppName   string                `json:"sourceAppName"`
	TaskID          string                `json:"taskId"`
	Executable      Executable            `json:"executable,omitzero"`
	Volumes         []MountedVolume       `json:"volumes,omitzero"`
	Configs         []ConfigSpec          `json:"configs,omitzero"`
	Logging         *LoggingSpec          `json:"logging,omitempty"`
	Resources       []ResourceRequirement `json:"resources,omitzero"`
	PlacementPolicy *PlacementPolicy      `json:"placementPolicy,omitempty"`
	Tags            map[string]string     `json:"tags,omitzero"`
	Env             map[string]string     `json:"env,omitzero"`
	Args            []string              `json:"args,omitzero"`
	Devices         []DeviceSpec          `json:"devices,omitzero"`
	UserSpec        *UserSpec             `json:"userSpec,omitempty"`
	Timeout         Duration              `json:"timeout,omitzero"`
}

// UnmarshalJSON decodes like ApplicationSpec (enums upper-cased and
// checked, executable.type defaulting to DOCKER).
func (s *TaskSpec) UnmarshalJSON(b []byte) error {
	type plain TaskSpec
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	return normalizeSpec(&s.Executable, nil, s.Resources, s.PlacementPolicy)
}

// ID is the id Drove answers a task CREATE with: sourceAppName-taskId.
func (s TaskSpec) ID() string { return s.SourceAppName + "-" + s.TaskID }

// Cores is the number of CPU cores the task needs.
func (s TaskSpec) Cores() int { return ApplicationSpec{Resources: s.Resources}.Cores() }

// MemoryMB is the memory (MB) the task needs.
func (s TaskSpec) MemoryMB() int64 { return ApplicationSpec{Resources: s.Resources}.MemoryMB() }

// ViolationTaskLocalPlacement rejects LOCAL placement for a task.
const ViolationTaskLocalPlacement = "Local service placement is not allowed for tasks"

// Validate checks the spec against Drove's rules and the options and
// returns every violation (nil when valid), in the style of
// ApplicationSpec.Validate. placementPolicy is optional (ANY).
func (s TaskSpec) Validate(o SpecOptions) []string {
	v := &validator{}
	v.raw(ValidateName("spec.sourceAppName", s.SourceAppName))
	v.raw(ValidateName("spec.taskId", s.TaskID))
	v.executable("spec.executable", s.Executable)
	v.volumes("spec.volumes", s.Volumes, o)
	v.configs("spec.configs", s.Configs)
	if s.Logging != nil {
		v.logging("spec.logging", *s.Logging)
	}
	v.resources("spec.resources", s.Resources)
	if s.PlacementPolicy != nil {
		v.placement("spec.placementPolicy", *s.PlacementPolicy)
		if HasLocalPlacement(*s.PlacementPolicy) {
			v.raw(ViolationTaskLocalPlacement)
		}
	}
	v.env("spec.env", s.Env)
	v.args(s.Args, o)
	v.devices("spec.devices", s.Devices, o)
	if u := s.UserSpec; u != nil {
		v.required("spec.userSpec.user", u.User)
	}
	if !s.Timeout.IsZero() {
		v.positiveDuration("spec.timeout", s.Timeout)
	}
	return v.errs
}

// TaskInfo is a task as the API shows it (Drove's TaskInfo).
type TaskInfo struct {
	SourceAppName string               `json:"sourceAppName"`
	TaskID        string               `json:"taskId"`
	InstanceID    string               `json:"instanceId"`
	ExecutorID    string               `json:"executorId"`
	Hostname      string               `json:"hostname"`
	Executable    Executable           `json:"executable"`
	Resources     []ResourceAllocation `json:"resources"`
	Volumes       []MountedVolume      `json:"volumes"`
	LoggingSpec   *LoggingSpec         `json:"loggingSpec,omitempty"`
	Env           map[string]string    `json:"env,omitempty"`
	State         InstanceState        `json:"state"`
	Metadata      map[string]string    `json:"metadata"`
	TaskResult    *TaskResult          `json:"taskResult,omitempty"`
	ErrorMessage  string               `json:"errorMessage"`
	Created       int64                `json:"created"`
	Updated       int64                `json:"updated"`
}

// TaskView renders a task's instance record for the API.
func TaskView(r InstanceRecord) TaskInfo {
	vols := r.Spec.Volumes
	if vols == nil {
		vols = []MountedVolume{}
	}
	return TaskInfo{SourceAppName: r.Info.AppID, TaskID: r.Spec.TaskID, InstanceID: r.Info.InstanceID,
		ExecutorID: r.Info.ExecutorID, Hostname: r.Info.LocalInfo.Hostname, Executable: r.Spec.Executable,
		Resources: r.Info.Resources, Volumes: vols, LoggingSpec: r.Spec.LoggingSpec, Env: r.Spec.Env,
		State: r.Info.State, Metadata: r.Info.Metadata, TaskResult: r.TaskResult,
		ErrorMessage: r.Info.ErrorMessage, Created: r.Info.Created, Updated: r.Info.Updated}
}
