package model

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sampleTaskJSON is drove-cli/sample/test_task.json, verbatim from §3.2 of
// the reference.
const sampleTaskJSON = `
{
    "sourceAppName": "TEST_APP",
    "taskId": "T0012",
    "executable": { "url": "ghcr.io/appform-io/test-task", "dockerPullTimeout": "100 seconds", "type": "DOCKER" },
    "volumes": [],
    "resources": [ { "type": "CPU", "count": 1 }, { "type": "MEMORY", "sizeInMB": 512 } ],
    "env": { "ITERATIONS" : "10" },
    "placementPolicy": { "type": "ANY" }
}
`

func decodeTaskSpec(t *testing.T, js string) TaskSpec {
	t.Helper()
	var s TaskSpec
	require.NoError(t, json.Unmarshal([]byte(js), &s))
	return s
}

func TestTaskSpec_DecodesSample(t *testing.T) {
	s := decodeTaskSpec(t, sampleTaskJSON)
	require.Equal(t, "TEST_APP", s.SourceAppName)
	require.Equal(t, "T0012", s.TaskID)
	require.Equal(t, "TEST_APP-T0012", s.ID())
	require.Equal(t, Executable{Type: "DOCKER", URL: "ghcr.io/appform-io/test-task", DockerPullTimeout: "100 seconds"}, s.Executable)
	require.NotNil(t, s.Volumes)
	require.Empty(t, s.Volumes)
	require.Equal(t, 1, s.Cores())
	require.Equal(t, int64(512), s.MemoryMB())
	require.Equal(t, map[string]string{"ITERATIONS": "10"}, s.Env)
	require.Equal(t, &PlacementPolicy{Type: PlacementAny}, s.PlacementPolicy)
	require.True(t, s.Timeout.IsZero(), "no timeout unless given")
	require.Empty(t, s.Validate(SpecOptions{}))
}

func TestTaskSpec_DecodeNormalises(t *testing.T) {
	s := decodeTaskSpec(t, `{"sourceAppName": "A", "taskId": "T",
		"executable": {"url": "img", "dockerPullTimeout": "2m"},
		"resources": [{"type": "cpu", "count": 2}, {"type": "Memory", "sizeInMB": 64}],
		"placementPolicy": {"type": "match_tag", "tag": "ssd"}, "timeout": "90s"}`)
	require.Equal(t, Executable{Type: "DOCKER", URL: "img", DockerPullTimeout: "2 minutes"}, s.Executable)
	require.Equal(t, []ResourceRequirement{{Type: RequirementCPU, Count: 2}, {Type: RequirementMemory, SizeInMB: 64}}, s.Resources)
	require.Equal(t, &PlacementPolicy{Type: PlacementMatchTag, Tag: "ssd"}, s.PlacementPolicy)
	require.Equal(t, 90*time.Second, s.Timeout.D())
	require.Empty(t, s.Validate(SpecOptions{}))

	for name, js := range map[string]string{
		"unknown placement":  `{"placementPolicy": {"type": "NEARBY"}}`,
		"unknown resource":   `{"resources": [{"type": "GPU", "count": 1}]}`,
		"unknown executable": `{"executable": {"type": "RKT", "url": "img"}}`,
		"negative timeout":   `{"timeout": "-5 seconds"}`,
		"numeric timeout":    `{"timeout": 5}`,
		"bad timeout unit":   `{"timeout": "5 fortnights"}`,
	} {
		var s TaskSpec
		require.Error(t, json.Unmarshal([]byte(js), &s), name)
	}
}

func TestTaskSpec_Validate(t *testing.T) {
	const (
		cpuMandatory  = "Cpu requirements are mandatory"
		memMandatory  = "Memory requirements are mandatory"
		localRefused  = "Local service placement is not allowed for tasks"
		namePattern   = "Only characters, numbers, hyphen and underscore is allowed"
		argsTooLong   = "Maximum combined length of command line arguments can be 2048"
		argsDisabled  = "Passing command line to containers is disabled on this cluster"
		devsDisabled  = "Device access is disabled. To enable, set enableRawDeviceAccess: true in controller options."
		notWhitelisty = "Volume mount requested on non whitelisted host directory: /etc"
	)
	for _, tc := range []struct {
		name string
		opts SpecOptions
		mut  func(s *TaskSpec)
		want []string
	}{
		{"sample", SpecOptions{}, func(*TaskSpec) {}, nil},
		{"no placement defaults to ANY", SpecOptions{}, func(s *TaskSpec) { s.PlacementPolicy = nil }, nil},

		{"sourceAppName empty", SpecOptions{}, func(s *TaskSpec) { s.SourceAppName = "" },
			[]string{"spec.sourceAppName - must not be empty"}},
		{"sourceAppName pattern", SpecOptions{}, func(s *TaskSpec) { s.SourceAppName = "TEST APP" },
			[]string{"spec.sourceAppName - " + namePattern}},
		{"sourceAppName with hyphen and underscore", SpecOptions{}, func(s *TaskSpec) { s.SourceAppName = "a-B_9" }, nil},
		{"taskId empty", SpecOptions{}, func(s *TaskSpec) { s.TaskID = "" },
			[]string{"spec.taskId - must not be empty"}},
		{"taskId pattern", SpecOptions{}, func(s *TaskSpec) { s.TaskID = "T.12" },
			[]string{"spec.taskId - " + namePattern}},
		{"taskId slash", SpecOptions{}, func(s *TaskSpec) { s.TaskID = "a/b" },
			[]string{"spec.taskId - " + namePattern}},

		{"executable missing", SpecOptions{}, func(s *TaskSpec) { s.Executable = Executable{} },
			[]string{"spec.executable - Executable details is required"}},
		{"executable url", SpecOptions{}, func(s *TaskSpec) { s.Executable.URL = "" },
			[]string{"spec.executable.url - is required"}},
		{"executable pull timeout", SpecOptions{}, func(s *TaskSpec) { s.Executable.DockerPullTimeout = "" },
			[]string{"spec.executable.dockerPullTimeout - is required"}},

		{"resources missing", SpecOptions{}, func(s *TaskSpec) { s.Resources = nil },
			[]string{cpuMandatory, memMandatory}},
		{"cpu missing", SpecOptions{}, func(s *TaskSpec) { s.Resources = s.Resources[1:] },
			[]string{cpuMandatory}},
		{"memory missing", SpecOptions{}, func(s *TaskSpec) { s.Resources = s.Resources[:1] },
			[]string{memMandatory}},
		{"cpu zero", SpecOptions{}, func(s *TaskSpec) { s.Resources[0].Count = 0 },
			[]string{"spec.resources[0].count - must be greater than 0, got 0"}},
		{"memory negative", SpecOptions{}, func(s *TaskSpec) { s.Resources[1].SizeInMB = -1 },
			[]string{"spec.resources[1].sizeInMB - must be greater than 0, got -1"}},

		{"placement LOCAL", SpecOptions{}, func(s *TaskSpec) { s.PlacementPolicy = &PlacementPolicy{Type: PlacementLocal} },
			[]string{localRefused}},
		{"placement LOCAL host level", SpecOptions{}, func(s *TaskSpec) {
			s.PlacementPolicy = &PlacementPolicy{Type: PlacementLocal, HostLevel: true}
		}, []string{localRefused}},
		{"LOCAL inside COMPOSITE", SpecOptions{}, func(s *TaskSpec) {
			s.PlacementPolicy = &PlacementPolicy{Type: PlacementComposite, Policies: []PlacementPolicy{
				{Type: PlacementAny}, {Type: PlacementLocal}}}
		}, []string{localRefused}},
		{"placement rule", SpecOptions{}, func(s *TaskSpec) { s.PlacementPolicy = &PlacementPolicy{Type: PlacementMaxNPerHost} },
			[]string{"spec.placementPolicy.max - must be between 1 and 64, got 0"}},

		{"timeout zero", SpecOptions{}, func(s *TaskSpec) { s.Timeout = MustParseDuration("0 seconds") },
			[]string{"spec.timeout - must be greater than 0"}},
		{"timeout clamped negative", SpecOptions{}, func(s *TaskSpec) { s.Timeout = NewDuration(-time.Minute) },
			[]string{"spec.timeout - must be greater than 0"}},
		{"timeout positive", SpecOptions{}, func(s *TaskSpec) { s.Timeout = MustParseDuration("1 ms") }, nil},

		{"args at limit", SpecOptions{}, func(s *TaskSpec) {
			s.Args = []string{strings.Repeat("a", 1000), strings.Repeat("b", 1047)}
		}, nil},
		{"args too long", SpecOptions{}, func(s *TaskSpec) {
			s.Args = []string{strings.Repeat("a", 1000), strings.Repeat("b", 1048)}
		}, []string{argsTooLong}},
		{"args disabled", SpecOptions{DisableCmdlArgs: true}, func(s *TaskSpec) { s.Args = []string{"-x"} },
			[]string{argsDisabled}},
		{"empty args with args disabled", SpecOptions{DisableCmdlArgs: true}, func(s *TaskSpec) { s.Args = []string{} }, nil},

		{"devices disabled", SpecOptions{}, func(s *TaskSpec) {
			s.Devices = []DeviceSpec{{Type: DeviceDirect, PathOnHost: "/dev/fuse"}}
		}, []string{devsDisabled}},
		{"devices enabled", SpecOptions{EnableRawDeviceAccess: true}, func(s *TaskSpec) {
			s.Devices = []DeviceSpec{{Type: DeviceDirect, PathOnHost: "/dev/fuse"}}
		}, nil},

		{"volume not whitelisted", SpecOptions{AllowedMountDirs: []string{"/tmp"}}, func(s *TaskSpec) {
			s.Volumes = []MountedVolume{{PathInContainer: "/x", PathOnHost: "/etc", Mode: MountReadOnly}}
		}, []string{notWhitelisty}},
		{"user missing", SpecOptions{}, func(s *TaskSpec) { s.UserSpec = &UserSpec{Group: "g"} },
			[]string{"spec.userSpec.user - is required"}},
		{"env name", SpecOptions{}, func(s *TaskSpec) { s.Env = map[string]string{"A=B": "x"} },
			[]string{`spec.env - invalid variable name "A=B"`}},
		{"logging", SpecOptions{}, func(s *TaskSpec) { s.Logging = &LoggingSpec{Type: LoggingRsyslog} },
			[]string{"spec.logging.server - is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeTaskSpec(t, sampleTaskJSON)
			tc.mut(&s)
			require.Equal(t, tc.want, s.Validate(tc.opts))
		})
	}
}

func TestTaskSpec_ValidateEmptyReportsEverything(t *testing.T) {
	require.Equal(t, []string{
		"spec.sourceAppName - must not be empty",
		"spec.taskId - must not be empty",
		"spec.executable - Executable details is required",
		"Cpu requirements are mandatory",
		"Memory requirements are mandatory",
	}, TaskSpec{}.Validate(SpecOptions{}))
}

func TestTaskSpec_JSONRoundTrip(t *testing.T) {
	s := decodeTaskSpec(t, sampleTaskJSON)
	s.Timeout = MustParseDuration("5m")
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.Contains(t, string(b), `"timeout":"5 minutes"`)
	require.Equal(t, s, decodeTaskSpec(t, string(b)))
	s.Timeout = Duration{}
	b, err = json.Marshal(s)
	require.NoError(t, err)
	require.NotContains(t, string(b), "timeout", "an unset timeout is omitted")
}

func TestExitResult(t *testing.T) {
	require.Equal(t, TaskResult{Status: TaskSuccessful, ExitCode: 0}, ExitResult(0))
	require.Equal(t, TaskResult{Status: TaskFailed, ExitCode: 3}, ExitResult(3))
	require.Equal(t, TaskResult{Status: TaskFailed, ExitCode: -1}, ExitResult(-1))
	require.Equal(t, TaskResult{Status: TaskFailed, ExitCode: 137}, ExitResult(137))
	b, err := json.Marshal(ExitResult(0))
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"SUCCESSFUL","exitCode":0}`, string(b))
}

func TestInstanceState_IsTaskActive(t *testing.T) {
	// §5.3: ACTIVE_STATES = PENDING, PROVISIONING, STARTING, RUNNING, RUN_COMPLETED, DEPROVISIONING.
	active := map[InstanceState]bool{"PENDING": true, "PROVISIONING": true, "STARTING": true, "RUNNING": true,
		"RUN_COMPLETED": true, "DEPROVISIONING": true}
	for _, st := range []InstanceState{"PENDING", "PROVISIONING", "PROVISIONING_FAILED", "STARTING", "RUNNING",
		"RUN_COMPLETED", "RUN_FAILED", "DEPROVISIONING", "STOPPED", "LOST", "UNKNOWN", "HEALTHY"} {
		require.Equal(t, active[st], st.IsTaskActive(), st)
		got, ok := ParseInstanceState(strings.ToLower(string(st)))
		require.True(t, ok, st)
		require.Equal(t, st, got)
	}
	// Tasks' live states hold cores too (the core-conflict check relies on it).
	require.True(t, TaskRunning.IsActive())
	require.True(t, TaskRunCompleted.IsActive())
	require.False(t, TaskRunFailed.IsActive())
	require.False(t, TaskRunFailed.IsTerminal())
}

func taskRecord() InstanceRecord {
	return InstanceRecord{
		Spec: InstanceSpec{Kind: KindTask, AppID: "TEST_APP", AppName: "TEST_APP", InstanceID: "TI-1", TaskID: "T0012",
			Executable:  Executable{Type: "DOCKER", URL: "ghcr.io/appform-io/test-task", DockerPullTimeout: "100 seconds"},
			LoggingSpec: &LoggingSpec{Type: LoggingLocal, MaxSize: "10m", MaxFiles: 3},
			Env:         map[string]string{"ITERATIONS": "10"}},
		Info: InstanceInfo{AppID: "TEST_APP", AppName: "TEST_APP", InstanceID: "TI-1", ExecutorID: "e1",
			LocalInfo: LocalInstanceInfo{Hostname: "e1.host", Ports: map[string]InstancePort{}},
			Resources: []ResourceAllocation{{Type: ResourceCPU, Cores: map[int][]int{0: {2}}}},
			State:     TaskRunCompleted, Metadata: map[string]string{"k": "v"}, ErrorMessage: "", Created: 10, Updated: 20},
		TaskResult: &TaskResult{Status: TaskFailed, ExitCode: 3},
	}
}

func TestTaskView(t *testing.T) {
	r := taskRecord()
	v := TaskView(r)
	require.Equal(t, TaskInfo{SourceAppName: "TEST_APP", TaskID: "T0012", InstanceID: "TI-1", ExecutorID: "e1",
		Hostname: "e1.host", Executable: r.Spec.Executable, Resources: r.Info.Resources, Volumes: []MountedVolume{},
		LoggingSpec: r.Spec.LoggingSpec, Env: r.Spec.Env, State: TaskRunCompleted, Metadata: map[string]string{"k": "v"},
		TaskResult: &TaskResult{Status: TaskFailed, ExitCode: 3}, Created: 10, Updated: 20}, v)

	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	require.Equal(t, []string{"created", "env", "errorMessage", "executable", "executorId", "hostname", "instanceId",
		"loggingSpec", "metadata", "resources", "sourceAppName", "state", "taskId", "taskResult", "updated", "volumes"}, keys)
	require.Equal(t, `[]`, string(m["volumes"]), "volumes is [] not null")
	require.JSONEq(t, `{"status":"FAILED","exitCode":3}`, string(m["taskResult"]))

	// Without a result (still running) taskResult is left out, as Drove omits
	// nulls; given volumes are kept.
	r.TaskResult = nil
	r.Spec.Volumes = []MountedVolume{{PathInContainer: "/a", PathOnHost: "/b", Mode: MountReadOnly}}
	v = TaskView(r)
	require.Nil(t, v.TaskResult)
	require.Equal(t, r.Spec.Volumes, v.Volumes)
	b, err = json.Marshal(v)
	require.NoError(t, err)
	require.NotContains(t, string(b), `"taskResult"`)
}

func TestInstanceRecord_Kind(t *testing.T) {
	r := taskRecord()
	require.Equal(t, KindTask, r.Kind())
	require.True(t, r.BelongsTo(KindTask, "TEST_APP"))
	require.False(t, r.BelongsTo(KindApp, "TEST_APP"))
	require.False(t, r.BelongsTo(KindTask, "OTHER"))
	var app InstanceRecord
	app.Info.AppID = "TEST_APP"
	require.Equal(t, KindApp, app.Kind())
	require.True(t, app.BelongsTo(KindApp, "TEST_APP"))

	// Records written before kinds existed decode as applications.
	var old InstanceRecord
	require.NoError(t, json.Unmarshal([]byte(`{"info":{"appId":"a"},"spec":{"appId":"a"}}`), &old))
	require.Equal(t, KindApp, old.Kind())
	b, err := json.Marshal(old)
	require.NoError(t, err)
	require.NotContains(t, string(b), `"kind"`)
	require.NotContains(t, string(b), `"taskResult"`)
}
