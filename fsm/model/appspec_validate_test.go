package model

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateRules(t *testing.T) {
	const (
		sample = iota
		sink
	)
	httpMode := func(port string) CheckModeSpec {
		return CheckModeSpec{Type: CheckHTTP, Protocol: ProtocolHTTP, PortName: port, Path: "/", Verb: VerbGet,
			SuccessCodes: []int{200}}
	}
	for _, tc := range []struct {
		name string
		base int
		opts *SpecOptions // nil: none for the sample, kitchenSinkOptions for the kitchen sink
		mut  func(s *ApplicationSpec)
		want []string
	}{
		// name, version, type
		{"name empty", sample, nil, func(s *ApplicationSpec) { s.Name = "" },
			[]string{"spec.name - Application name is mandatory"}},
		{"name pattern", sample, nil, func(s *ApplicationSpec) { s.Name = "my app" },
			[]string{"spec.name - Only characters, numbers, hyphen and underscore is allowed"}},
		{"version empty", sample, nil, func(s *ApplicationSpec) { s.Version = "" },
			[]string{"spec.version - App version is mandatory"}},
		{"version pattern", sample, nil, func(s *ApplicationSpec) { s.Version = "1.0" },
			[]string{"spec.version - Only characters, numbers, hyphen and underscore is allowed"}},
		{"type empty", sample, nil, func(s *ApplicationSpec) { s.Type = "" },
			[]string{"spec.type - Specify if job is a computation or a service"}},
		{"type unknown", sample, nil, func(s *ApplicationSpec) { s.Type = "BATCH" },
			[]string{"spec.type - unknown value BATCH (allowed: SERVICE, COMPUTATION, LOCAL_SERVICE)"}},

		// executable
		{"executable missing", sample, nil, func(s *ApplicationSpec) { s.Executable = Executable{} },
			[]string{"spec.executable - Executable details is required"}},
		{"executable type", sample, nil, func(s *ApplicationSpec) { s.Executable.Type = "RKT" },
			[]string{"spec.executable.type - unknown value RKT (allowed: DOCKER)"}},
		{"executable url", sample, nil, func(s *ApplicationSpec) { s.Executable.URL = "" },
			[]string{"spec.executable.url - is required"}},
		{"pull timeout missing", sample, nil, func(s *ApplicationSpec) { s.Executable.DockerPullTimeout = "" },
			[]string{"spec.executable.dockerPullTimeout - is required"}},
		{"pull timeout invalid", sample, nil, func(s *ApplicationSpec) { s.Executable.DockerPullTimeout = "soon" },
			[]string{`spec.executable.dockerPullTimeout - invalid duration "soon": want a number followed by a unit, e.g. "5 seconds"`}},

		// exposed ports
		{"no ports", sample, nil, func(s *ApplicationSpec) { s.ExposedPorts = nil }, []string{
			"spec.exposedPorts - Port specifications are needed",
			"Invalid port name for health check: main. Available ports: []",
			"Invalid port name for health check: main. Available ports: []",
			"Exposed port name main is undefined. Defined port names: []",
			"spec.preShutdown.hooks[0].portName - Invalid port name: main. Available ports: []",
		}},
		{"port name empty", sample, nil, func(s *ApplicationSpec) {
			s.ExposedPorts = append(s.ExposedPorts, PortSpec{Name: "", Port: 81, Type: PortHTTP})
		}, []string{"spec.exposedPorts[1].name - must not be empty"}},
		{"port name pattern", sample, nil, func(s *ApplicationSpec) {
			s.ExposedPorts = append(s.ExposedPorts, PortSpec{Name: "a.b", Port: 81, Type: PortHTTP})
		}, []string{"spec.exposedPorts[1].name - Only characters, numbers, hyphen and underscore is allowed"}},
		{"port name duplicate", sample, nil, func(s *ApplicationSpec) {
			s.ExposedPorts = append(s.ExposedPorts, PortSpec{Name: "main", Port: 81, Type: PortHTTP})
		}, []string{"spec.exposedPorts[1].name - duplicate port name main"}},
		{"port zero", sample, nil, func(s *ApplicationSpec) { s.ExposedPorts[0].Port = 0 },
			[]string{"spec.exposedPorts[0].port - must be between 1 and 65535, got 0"}},
		{"port too large", sample, nil, func(s *ApplicationSpec) { s.ExposedPorts[0].Port = 65536 },
			[]string{"spec.exposedPorts[0].port - must be between 1 and 65535, got 65536"}},
		{"port type missing", sample, nil, func(s *ApplicationSpec) { s.ExposedPorts[0].Type = "" },
			[]string{"spec.exposedPorts[0].type - is required (allowed: HTTP, HTTPS, TCP, UDP)"}},
		{"port type unknown", sample, nil, func(s *ApplicationSpec) { s.ExposedPorts[0].Type = "SCTP" },
			[]string{"spec.exposedPorts[0].type - unknown value SCTP (allowed: HTTP, HTTPS, TCP, UDP)"}},

		// volumes
		{"volume paths missing", sink, nil, func(s *ApplicationSpec) {
			s.Volumes[0].PathInContainer, s.Volumes[0].PathOnHost = "", ""
		}, []string{"spec.volumes[0].pathInContainer - is required", "spec.volumes[0].pathOnHost - is required"}},
		{"volume paths relative", sink, nil, func(s *ApplicationSpec) {
			s.Volumes[0].PathInContainer, s.Volumes[0].PathOnHost = "data", "tmp/x"
		}, []string{"spec.volumes[0].pathInContainer - must be an absolute path, got data",
			"spec.volumes[0].pathOnHost - must be an absolute path, got tmp/x",
			"Volume mount requested on non whitelisted host directory: tmp/x"}},
		{"volume mode missing", sink, nil, func(s *ApplicationSpec) { s.Volumes[0].Mode = "" },
			[]string{"spec.volumes[0].mode - is required (allowed: READ_WRITE, READ_ONLY)"}},
		{"volume mode unknown", sink, nil, func(s *ApplicationSpec) { s.Volumes[0].Mode = "RW" },
			[]string{"spec.volumes[0].mode - unknown value RW (allowed: READ_WRITE, READ_ONLY)"}},
		{"volume not whitelisted", sink, &SpecOptions{AllowedMountDirs: []string{"/var", "/data/"}, EnableRawDeviceAccess: true},
			nil, []string{"Volume mount requested on non whitelisted host directory: /tmp/order-svc"}},
		{"volume escapes whitelist", sink, nil, func(s *ApplicationSpec) { s.Volumes[0].PathOnHost = "/tmp/../etc" },
			[]string{"Volume mount requested on non whitelisted host directory: /tmp/../etc"}},

		// configs
		{"config type missing", sink, nil, func(s *ApplicationSpec) { s.Configs[1].Type = "" }, []string{
			"spec.configs[1].type - is required (allowed: INLINE, EXECUTOR_LOCAL_FILE, CONTROLLER_HTTP_FETCH, EXECUTOR_HTTP_FETCH)"}},
		{"config type unknown", sink, nil, func(s *ApplicationSpec) { s.Configs[1].Type = "S3" }, []string{
			"spec.configs[1].type - unknown value S3 (allowed: INLINE, EXECUTOR_LOCAL_FILE, CONTROLLER_HTTP_FETCH, EXECUTOR_HTTP_FETCH)"}},
		{"config filename", sink, nil, func(s *ApplicationSpec) { s.Configs[0].LocalFilename = "" },
			[]string{"spec.configs[0].localFilename - is required"}},
		{"inline data empty", sink, nil, func(s *ApplicationSpec) { s.Configs[0].Data = []byte{} },
			[]string{"spec.configs[0].data - must not be empty"}},
		{"local file path", sink, nil, func(s *ApplicationSpec) { s.Configs[1].FilePathOnHost = "" },
			[]string{"spec.configs[1].filePathOnHost - is required"}},
		{"http fetch spec missing", sink, nil, func(s *ApplicationSpec) { s.Configs[2].HTTP = nil },
			[]string{"spec.configs[2].http - is required"}},
		{"http fetch fields", sink, nil, func(s *ApplicationSpec) {
			h := s.Configs[3].HTTP
			h.Hostname, h.Port, h.Protocol, h.Verb, h.SuccessCodes = "", 70000, "FTP", "DELETE", []int{200, 99}
		}, []string{
			"spec.configs[3].http.protocol - unknown value FTP (allowed: HTTP, HTTPS)",
			"spec.configs[3].http.hostname - is required",
			"spec.configs[3].http.port - must be between 0 and 65535, got 70000",
			"spec.configs[3].http.verb - unknown value DELETE (allowed: GET, POST, PUT)",
			"spec.configs[3].http.successCodes[1] - must be an HTTP status code (100-599), got 99",
		}},

		// logging
		{"logging type missing", sink, nil, func(s *ApplicationSpec) { s.Logging.Type = "" },
			[]string{"spec.logging.type - is required (allowed: LOCAL, RSYSLOG)"}},
		{"rsyslog server", sink, nil, func(s *ApplicationSpec) { s.Logging.Server = "" },
			[]string{"spec.logging.server - is required"}},
		{"local logging missing fields", sample, nil, func(s *ApplicationSpec) { s.Logging = &LoggingSpec{Type: LoggingLocal} },
			[]string{"spec.logging.maxSize - is required", "spec.logging.maxFiles - must be between 1 and 100, got 0"}},
		{"local logging bad values", sample, nil, func(s *ApplicationSpec) {
			s.Logging = &LoggingSpec{Type: LoggingLocal, MaxSize: "ten megs", MaxFiles: 101}
		}, []string{"spec.logging.maxSize - must be a size such as 10m or 1g, got ten megs",
			"spec.logging.maxFiles - must be between 1 and 100, got 101"}},

		// resources
		{"no resources", sample, nil, func(s *ApplicationSpec) { s.Resources = nil },
			[]string{"Cpu requirements are mandatory", "Memory requirements are mandatory"}},
		{"no cpu", sample, nil, func(s *ApplicationSpec) { s.Resources = s.Resources[1:] },
			[]string{"Cpu requirements are mandatory"}},
		{"no memory", sample, nil, func(s *ApplicationSpec) { s.Resources = s.Resources[:1] },
			[]string{"Memory requirements are mandatory"}},
		{"resource counts", sample, nil, func(s *ApplicationSpec) { s.Resources[0].Count, s.Resources[1].SizeInMB = 0, -1 },
			[]string{"spec.resources[0].count - must be greater than 0, got 0",
				"spec.resources[1].sizeInMB - must be greater than 0, got -1"}},
		{"resource type", sample, nil, func(s *ApplicationSpec) { s.Resources[0].Type = "GPU" },
			[]string{"spec.resources[0].type - unknown value GPU (allowed: CPU, MEMORY)", "Cpu requirements are mandatory"}},

		// placement
		{"placement missing", sample, nil, func(s *ApplicationSpec) { s.PlacementPolicy = nil },
			[]string{`spec.placementPolicy - is required (use {"type":"ANY"} for no constraint)`}},
		{"placement type missing", sample, nil, func(s *ApplicationSpec) { s.PlacementPolicy.Type = "" },
			[]string{"spec.placementPolicy.type - is required (allowed: ANY, ONE_PER_HOST, MAX_N_PER_HOST, MATCH_TAG, NO_TAG, RULE_BASED, COMPOSITE, LOCAL)"}},
		{"max n per host low", sample, nil, func(s *ApplicationSpec) { *s.PlacementPolicy = PlacementPolicy{Type: PlacementMaxNPerHost} },
			[]string{"spec.placementPolicy.max - must be between 1 and 64, got 0"}},
		{"max n per host high", sample, nil, func(s *ApplicationSpec) {
			*s.PlacementPolicy = PlacementPolicy{Type: PlacementMaxNPerHost, Max: 65}
		}, []string{"spec.placementPolicy.max - must be between 1 and 64, got 65"}},
		{"match tag", sample, nil, func(s *ApplicationSpec) { *s.PlacementPolicy = PlacementPolicy{Type: PlacementMatchTag} },
			[]string{"spec.placementPolicy.tag - is required"}},
		{"rule based", sample, nil, func(s *ApplicationSpec) { *s.PlacementPolicy = PlacementPolicy{Type: PlacementRuleBased} },
			[]string{"spec.placementPolicy.rule - is required", "spec.placementPolicy.ruleType - is required (allowed: HOPE, MVEL)"}},
		{"rule type unknown", sample, nil, func(s *ApplicationSpec) {
			*s.PlacementPolicy = PlacementPolicy{Type: PlacementRuleBased, Rule: "x", RuleType: "JS"}
		}, []string{"spec.placementPolicy.ruleType - unknown value JS (allowed: HOPE, MVEL)"}},
		{"composite empty", sample, nil, func(s *ApplicationSpec) { *s.PlacementPolicy = PlacementPolicy{Type: PlacementComposite} },
			[]string{"spec.placementPolicy.policies - must not be empty"}},
		{"composite nested", sink, nil, func(s *ApplicationSpec) {
			p := s.PlacementPolicy
			p.Combiner = "XOR"
			p.Policies[0].Max = 0
			p.Policies = append(p.Policies, PlacementPolicy{Type: PlacementComposite, Policies: []PlacementPolicy{
				{Type: PlacementAny}, {Type: PlacementMatchTag}}})
		}, []string{
			"spec.placementPolicy.combiner - unknown value XOR (allowed: AND, OR)",
			"spec.placementPolicy.policies[0].max - must be between 1 and 64, got 0",
			"spec.placementPolicy.policies[2].policies[1].tag - is required",
		}},
		{"local placement", sample, nil, func(s *ApplicationSpec) { *s.PlacementPolicy = PlacementPolicy{Type: PlacementLocal} },
			[]string{"Local service placement is not allowed for apps"}},
		{"local placement nested", sink, nil, func(s *ApplicationSpec) {
			s.PlacementPolicy.Policies[1] = PlacementPolicy{Type: PlacementLocal, HostLevel: true}
		}, []string{"Local service placement is not allowed for apps"}},

		// checks
		{"healthcheck missing", sample, nil, func(s *ApplicationSpec) { s.Healthcheck = nil },
			[]string{"spec.healthcheck - is required"}},
		{"readiness missing", sample, nil, func(s *ApplicationSpec) { s.Readiness = nil },
			[]string{"spec.readiness - is required"}},
		{"check mode missing", sample, nil, func(s *ApplicationSpec) { s.Healthcheck.Mode = CheckModeSpec{} },
			[]string{"spec.healthcheck.mode - is required"}},
		{"check mode type missing", sample, nil, func(s *ApplicationSpec) { s.Healthcheck.Mode.Type = "" },
			[]string{"spec.healthcheck.mode.type - is required (allowed: HTTP, CMD)"}},
		{"check protocol missing", sample, nil, func(s *ApplicationSpec) { s.Healthcheck.Mode.Protocol = "" },
			[]string{"spec.healthcheck.mode.protocol - is required (allowed: HTTP, HTTPS)"}},
		{"check http fields missing", sample, nil, func(s *ApplicationSpec) {
			s.Readiness.Mode = CheckModeSpec{Type: CheckHTTP, Protocol: ProtocolHTTPS}
		}, []string{
			"spec.readiness.mode.portName - is required",
			"spec.readiness.mode.path - is required",
			"spec.readiness.mode.verb - is required (allowed: GET, POST, PUT)",
			"spec.readiness.mode.successCodes - must not be empty",
		}},
		{"check port unknown", sink, nil, func(s *ApplicationSpec) { s.Healthcheck.Mode.PortName = "debug" },
			[]string{"Invalid port name for health check: debug. Available ports: [main, admin]"}},
		{"check success code", sample, nil, func(s *ApplicationSpec) { s.Healthcheck.Mode.SuccessCodes = []int{600} },
			[]string{"spec.healthcheck.mode.successCodes[0] - must be an HTTP status code (100-599), got 600"}},
		{"cmd check command", sink, nil, func(s *ApplicationSpec) { s.Readiness.Mode.Command = "" },
			[]string{"spec.readiness.mode.command - is required"}},
		{"check durations missing", sample, nil, func(s *ApplicationSpec) {
			s.Healthcheck.Timeout, s.Healthcheck.Interval = Duration{}, Duration{}
		}, []string{"spec.healthcheck.timeout - is required", "spec.healthcheck.interval - is required"}},
		{"check durations zero", sample, nil, func(s *ApplicationSpec) {
			s.Readiness.Timeout, s.Readiness.Interval = MustParseDuration("0s"), MustParseDuration("0 ms")
		}, []string{"spec.readiness.timeout - must be greater than 0", "spec.readiness.interval - must be greater than 0"}},
		{"check attempts low", sample, nil, func(s *ApplicationSpec) { s.Healthcheck.Attempts = 0 },
			[]string{"spec.healthcheck.attempts - must be between 1 and 100, got 0"}},
		{"check attempts high", sample, nil, func(s *ApplicationSpec) { s.Readiness.Attempts = 101 },
			[]string{"spec.readiness.attempts - must be between 1 and 100, got 101"}},

		// env, args, devices
		{"env names", sample, nil, func(s *ApplicationSpec) { s.Env[""] = "x"; s.Env["A=B"] = "y" },
			[]string{`spec.env - invalid variable name ""`, `spec.env - invalid variable name "A=B"`}},
		{"args disabled", sink, &SpecOptions{AllowedMountDirs: []string{"/tmp"}, EnableRawDeviceAccess: true, DisableCmdlArgs: true},
			nil, []string{"Passing command line to containers is disabled on this cluster"}},
		{"args too long", sample, nil, func(s *ApplicationSpec) { s.Args = []string{strings.Repeat("a", 2000), strings.Repeat("b", 48)} },
			[]string{"Maximum combined length of command line arguments can be 2048"}},
		{"devices disabled", sink, &SpecOptions{AllowedMountDirs: []string{"/tmp"}}, nil,
			[]string{"Device access is disabled. To enable, set enableRawDeviceAccess: true in controller options."}},
		{"device type", sink, nil, func(s *ApplicationSpec) { s.Devices[0].Type = "" },
			[]string{"spec.devices[0].type - is required (allowed: DIRECT, DETAILED)"}},
		{"direct device fields", sink, nil, func(s *ApplicationSpec) {
			s.Devices[0] = DeviceSpec{Type: DeviceDirect, PathInContainer: "dev/x", Permissions: "rwx"}
		}, []string{
			"spec.devices[0].pathOnHost - is required",
			"spec.devices[0].pathInContainer - must be an absolute path, got dev/x",
			"spec.devices[0].permissions - unknown value rwx (allowed: READ_ONLY, WRITE_ONLY, MKNOD_ONLY, ALL, READ_WRITE)",
		}},

		// exposure, pre-shutdown, user
		{"exposure fields", sample, nil, func(s *ApplicationSpec) { *s.ExposureSpec = ExposureSpec{Mode: "SOME"} },
			[]string{"spec.exposureSpec.vhost - is required", "spec.exposureSpec.portName - is required",
				"spec.exposureSpec.mode - unknown value SOME (allowed: ALL, ONE)"}},
		{"exposure port unknown", sink, nil, func(s *ApplicationSpec) { s.ExposureSpec.PortName = "web" },
			[]string{"Exposed port name web is undefined. Defined port names: [main, admin]"}},
		{"hook port unknown", sample, nil, func(s *ApplicationSpec) { s.PreShutdown.Hooks[0] = httpMode("x") },
			[]string{"spec.preShutdown.hooks[0].portName - Invalid port name: x. Available ports: [main]"}},
		{"hook type and command", sink, nil, func(s *ApplicationSpec) {
			s.PreShutdown.Hooks[0].Type = ""
			s.PreShutdown.Hooks[1].Command = ""
		}, []string{"spec.preShutdown.hooks[0].type - is required (allowed: HTTP, CMD)",
			"spec.preShutdown.hooks[1].command - is required"}},
		{"user missing", sink, nil, func(s *ApplicationSpec) { s.UserSpec.User = "" },
			[]string{"spec.userSpec.user - is required"}},

		// several at once: all are reported
		{"all violations reported", sample, &SpecOptions{DisableCmdlArgs: true}, func(s *ApplicationSpec) {
			s.Name, s.PlacementPolicy, s.Resources, s.Args = "", nil, nil, []string{"x"}
			s.ExposedPorts = append(s.ExposedPorts, PortSpec{Name: "main", Port: 0, Type: PortTCP})
		}, []string{
			"spec.name - Application name is mandatory",
			"spec.exposedPorts[1].name - duplicate port name main",
			"spec.exposedPorts[1].port - must be between 1 and 65535, got 0",
			"Cpu requirements are mandatory",
			"Memory requirements are mandatory",
			`spec.placementPolicy - is required (use {"type":"ANY"} for no constraint)`,
			"Passing command line to containers is disabled on this cluster",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s ApplicationSpec
			opts := SpecOptions{}
			if tc.base == sink {
				s = decodeSpec(t, kitchenSinkJSON)
				opts = kitchenSinkOptions()
			} else {
				s = decodeSpec(t, sampleAppJSON)
			}
			require.Empty(t, s.Validate(opts), "the base spec is valid")
			if tc.opts != nil {
				opts = *tc.opts
			}
			if tc.mut != nil {
				tc.mut(&s)
			}
			require.Equal(t, tc.want, s.Validate(opts))
		})
	}
}

func TestValidateAcceptsBoundaries(t *testing.T) {
	s := decodeSpec(t, sampleAppJSON)
	s.Args = []string{strings.Repeat("a", 1000), strings.Repeat("b", 1047)} // 2048 with the space
	s.ExposedPorts = append(s.ExposedPorts, PortSpec{Name: "x-_9", Port: 65535, Type: PortUDP})
	s.Healthcheck.Attempts = 100
	s.Readiness.Attempts = 1
	s.PlacementPolicy = &PlacementPolicy{Type: PlacementMaxNPerHost, Max: 64}
	s.Logging = &LoggingSpec{Type: LoggingLocal, MaxSize: "100MiB", MaxFiles: 100}
	s.Type = JobComputation
	s.Volumes = []MountedVolume{{PathInContainer: "/a", PathOnHost: "/tmp", Mode: MountReadOnly}}
	require.Empty(t, s.Validate(SpecOptions{AllowedMountDirs: []string{"/tmp/"}}))
	require.Empty(t, s.Validate(SpecOptions{AllowedMountDirs: []string{"/"}}))
	require.Empty(t, s.Validate(SpecOptions{}))
	s.Args = nil
	require.Empty(t, s.Validate(SpecOptions{DisableCmdlArgs: true}))
	s.Args = []string{}
	require.Empty(t, s.Validate(SpecOptions{DisableCmdlArgs: true}), "empty args are not args")
}

func TestMountAllowed(t *testing.T) {
	for _, tc := range []struct {
		path string
		dirs []string
		ok   bool
	}{
		{"/anything", nil, true},
		{"/tmp", []string{"/tmp"}, true},
		{"/tmp/a/b", []string{"/tmp"}, true},
		{"/tmp/a", []string{"/tmp/"}, true},
		{"/tmpx", []string{"/tmp"}, false},
		{"/tmp/../etc", []string{"/tmp"}, false},
		{"/var/lib/x", []string{"/tmp", "/var/lib"}, true},
		{"/etc", []string{"", "/tmp"}, false},
		{"/etc", []string{"/"}, true},
	} {
		require.Equal(t, tc.ok, mountAllowed(tc.path, tc.dirs), "%s in %v", tc.path, tc.dirs)
	}
}

func TestValidateName(t *testing.T) {
	require.Equal(t, "", ValidateName("spec.taskId", "T-0012_a"))
	require.Equal(t, "spec.taskId - must not be empty", ValidateName("spec.taskId", ""))
	for _, bad := range []string{"a b", "a.b", "a/b", "é", "a:b"} {
		require.Equal(t, "spec.taskId - Only characters, numbers, hyphen and underscore is allowed",
			ValidateName("spec.taskId", bad), bad)
	}
}

func TestHasLocalPlacement(t *testing.T) {
	require.False(t, HasLocalPlacement(PlacementPolicy{Type: PlacementAny}))
	require.True(t, HasLocalPlacement(PlacementPolicy{Type: PlacementLocal}))
	require.True(t, HasLocalPlacement(PlacementPolicy{Type: PlacementComposite, Policies: []PlacementPolicy{
		{Type: PlacementAny}, {Type: PlacementComposite, Policies: []PlacementPolicy{{Type: PlacementLocal}}}}}))
	require.False(t, HasLocalPlacement(PlacementPolicy{Type: PlacementComposite, Policies: []PlacementPolicy{
		{Type: PlacementAny}, {Type: PlacementNoTag}}}))
}
