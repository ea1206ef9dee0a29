package model

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleServiceJSON is drove-cli/sample/test_service.json as §3.1 of the
// reference describes it: the app sample with type LOCAL_SERVICE, a LOCAL
// placement, LOCAL logging and no exposureSpec.
const sampleServiceJSON = `
{
    "name": "TEST_APP",
    "version": "1",
    "type": "LOCAL_SERVICE",
    "executable": {
        "type": "DOCKER",
        "url": "ghcr.io/appform-io/perf-test-server-httplib",
        "dockerPullTimeout": "100 seconds"
    },
    "exposedPorts": [ { "name": "main", "port": 8000, "type": "HTTP" } ],
    "volumes": [],
    "configs" : [
        { "type" : "INLINE", "localFilename": "/testfiles/drove.txt", "data" : "RHJvdmUgdGVzdA==" }
    ],
    "resources": [ { "type": "CPU", "count": 1 }, { "type": "MEMORY", "sizeInMB": 128 } ],
    "placementPolicy": { "type": "LOCAL", "hostLevel": false },
    "logging": { "type": "LOCAL", "maxSize": "100m", "maxFiles": 3, "compress": true },
    "healthcheck": {
        "mode": {
            "type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
            "successCodes": [ 200 ], "payload": "", "connectionTimeout": "1 second"
        },
        "timeout": "1 second", "interval": "5 seconds", "attempts": 3, "initialDelay": "0 seconds"
    },
    "readiness": {
        "mode": {
            "type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
            "successCodes": [ 200 ], "payload": "", "connectionTimeout": "1 second"
        },
        "timeout": "1 second", "interval": "3 seconds", "attempts": 3, "initialDelay": "0 seconds"
    },
    "tags": { "superSpecialApp": "yes_i_am", "say_my_name": "heisenberg", "environment" : "dev", "region" : "dc1" },
    "env": { "CORES": "8" },
    "preShutdown": {
        "hooks": [
            {
                "type": "HTTP", "protocol": "HTTP", "portName": "main", "path": "/", "verb": "GET",
                "successCodes": [ 200 ], "payload": "", "connectionTimeout": "1 second"
            }
        ],
        "waitBeforeKill": "3 seconds"
    }
}
`

func decodeServiceSpec(t *testing.T, js string) LocalServiceSpec {
	t.Helper()
	var s LocalServiceSpec
	require.NoError(t, json.Unmarshal([]byte(js), &s))
	return s
}

// lsAllStates is every LocalServiceState of §5.4, written out here rather
// than taken from the production list.
var lsAllStates = []LocalServiceState{
	"INIT", "ACTIVATION_REQUESTED", "CONFIG_TESTING_REQUESTED", "DEACTIVATION_REQUESTED",
	"EMERGENCY_DEACTIVATION_REQUESTED", "INACTIVE", "ACTIVE", "CONFIG_TESTING", "ADJUSTING_INSTANCES",
	"DEPLOYING_TEST_INSTANCE", "REPLACING_INSTANCES", "STOPPING_INSTANCES", "UPDATING_INSTANCES_COUNT",
	"DESTROY_REQUESTED", "DESTROYED",
}

// lsAllOps is every local service operation type of §4.2 plus the STOP
// alias of DEACTIVATE.
var lsAllOps = []OperationType{
	"CREATE", "ACTIVATE", "DEACTIVATE", "DEPLOY_TEST_INSTANCE", "UPDATE_INSTANCE_COUNT", "ADJUST_INSTANCES",
	"REPLACE_INSTANCES", "RESTART", "STOP_INSTANCES", "DESTROY", "STOP",
}

func TestLocalServiceOperationAllowed_EveryCell(t *testing.T) {
	// §4.2 / §5.4 of the reference, by state; every state not listed
	// accepts nothing.
	allowed := map[LocalServiceState][]OperationType{
		"INACTIVE":                         {"ACTIVATE", "DEPLOY_TEST_INSTANCE", "UPDATE_INSTANCE_COUNT", "ADJUST_INSTANCES", "DESTROY"},
		"ACTIVE":                           {"DEACTIVATE", "STOP", "UPDATE_INSTANCE_COUNT", "ADJUST_INSTANCES", "REPLACE_INSTANCES", "RESTART", "STOP_INSTANCES"},
		"CONFIG_TESTING":                   {"ACTIVATE", "DEACTIVATE", "STOP", "ADJUST_INSTANCES", "REPLACE_INSTANCES", "RESTART", "STOP_INSTANCES"},
		"EMERGENCY_DEACTIVATION_REQUESTED": {"DEACTIVATE", "STOP"},
	}
	require.Equal(t, lsAllStates, LocalServiceStates, "every state, in Drove's declaration order")
	cells := 0
	for _, st := range lsAllStates {
		for _, op := range lsAllOps {
			want := false
			for _, a := range allowed[st] {
				want = want || a == op
			}
			require.Equal(t, want, LocalServiceOperationAllowed(st, op), "%s in state %s", op, st)
			cells++
		}
		// Application-only operations are never accepted.
		for _, op := range []OperationType{"SCALE", "START_INSTANCES", "SUSPEND", "RECOVER", "", "activate"} {
			require.False(t, LocalServiceOperationAllowed(st, op), "%q in state %s", op, st)
		}
	}
	require.Equal(t, 15*11, cells)
	require.False(t, LocalServiceOperationAllowed("BOGUS", "DEACTIVATE"))
}

func TestLocalServiceOperationAllowed_ListMatchesPredicate(t *testing.T) {
	for _, st := range lsAllStates {
		var want []OperationType
		for _, op := range lsAllOps {
			if op != "STOP" && LocalServiceOperationAllowed(st, op) {
				want = append(want, op)
			}
		}
		require.ElementsMatch(t, want, AllowedLocalServiceOperations(st), st)
		require.NotContains(t, AllowedLocalServiceOperations(st), OperationType("STOP"), "the alias is not listed")
	}
	require.Equal(t, []OperationType{"CREATE", "ACTIVATE", "DEACTIVATE", "DEPLOY_TEST_INSTANCE", "UPDATE_INSTANCE_COUNT",
		"ADJUST_INSTANCES", "REPLACE_INSTANCES", "RESTART", "STOP_INSTANCES", "DESTROY"}, LocalServiceOperations)
}

func TestActivationState_StateOf(t *testing.T) {
	require.Equal(t, LocalServiceState("ACTIVE"), ActivationActive.StateOf())
	require.Equal(t, LocalServiceState("CONFIG_TESTING"), ActivationConfigTesting.StateOf())
	require.Equal(t, LocalServiceState("INACTIVE"), ActivationInactive.StateOf())
}

func TestLocalServiceSpec_DecodesSample(t *testing.T) {
	s := decodeServiceSpec(t, sampleServiceJSON)
	require.Equal(t, "TEST_APP", s.Name)
	require.Equal(t, "1", s.Version)
	require.Equal(t, "TEST_APP-1", s.ServiceID())
	require.Equal(t, JobLocalService, s.Type)
	require.Equal(t, Executable{Type: "DOCKER", URL: "ghcr.io/appform-io/perf-test-server-httplib",
		DockerPullTimeout: "100 seconds"}, s.Executable)
	require.Equal(t, []PortSpec{{Name: "main", Port: 8000, Type: PortHTTP}}, s.ExposedPorts)
	require.Equal(t, &PlacementPolicy{Type: PlacementLocal}, s.PlacementPolicy)
	require.False(t, s.HostLevel())
	require.Equal(t, &LoggingSpec{Type: LoggingLocal, MaxSize: "100m", MaxFiles: 3, Compress: true}, s.Logging)
	require.Equal(t, 1, s.Cores())
	require.Equal(t, int64(128), s.MemoryMB())
	require.Nil(t, s.ExposureSpec)
	require.Len(t, s.PreShutdown.Hooks, 1)
	require.Empty(t, s.Validate(SpecOptions{}))

	// The promoted decoder normalises like the application one does.
	lower := strings.NewReplacer(`"type": "LOCAL", "hostLevel": false`, `"type": "local", "hostLevel": true`,
		`"type": "CPU"`, `"type": "cpu"`, `"100 seconds"`, `"100s"`).Replace(sampleServiceJSON)
	s = decodeServiceSpec(t, lower)
	require.Equal(t, &PlacementPolicy{Type: PlacementLocal, HostLevel: true}, s.PlacementPolicy)
	require.True(t, s.HostLevel())
	require.Equal(t, RequirementCPU, s.Resources[0].Type)
	require.Equal(t, "100 seconds", s.Executable.DockerPullTimeout)
	require.Empty(t, s.Validate(SpecOptions{}))

	var bad LocalServiceSpec
	require.Error(t, json.Unmarshal([]byte(`{"placementPolicy": {"type": "NEARBY"}}`), &bad))
}

func TestLocalServiceSpec_JSONRoundTrip(t *testing.T) {
	s := decodeServiceSpec(t, sampleServiceJSON)
	s.PlacementPolicy.HostLevel = true
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.Contains(t, string(b), `"placementPolicy":{"type":"LOCAL","hostLevel":true}`)
	require.NotContains(t, string(b), "exposureSpec")
	require.Equal(t, s, decodeServiceSpec(t, string(b)))

	info := LocalServiceInfo{ServiceID: s.ServiceID(), Spec: s, InstancesPerHost: 1, ActivationState: ActivationActive,
		State: LSActive, Operation: &OperationRecord{ID: "op", Type: OpAdjustInstances, Status: OpRunning},
		Created: 1, Updated: 2, Version: 3}
	b, err = json.Marshal(info)
	require.NoError(t, err)
	var back LocalServiceInfo
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, info, back)
	require.Equal(t, info.Operation, back.ActiveOperation())
	back.Operation.Status = OpCompleted
	require.Nil(t, back.ActiveOperation())
	back.Operation = nil
	require.Nil(t, back.ActiveOperation())
}

func TestLocalServiceSpec_Validate(t *testing.T) {
	// The sample's healthcheck, readiness and pre-shutdown hook all use
	// port "main", so dropping the ports reports them too.
	noPorts := []string{
		"spec.exposedPorts - Port specifications are needed",
		"Invalid port name for health check: main. Available ports: []",
		"Invalid port name for health check: main. Available ports: []",
		"spec.preShutdown.hooks[0].portName - Invalid port name: main. Available ports: []",
	}
	const onlyLocal = "Only local placement is allowed for local services"
	for _, tc := range []struct {
		name string
		mut  func(s *LocalServiceSpec)
		want []string
	}{
		{"sample", func(*LocalServiceSpec) {}, nil},
		{"host level", func(s *LocalServiceSpec) { s.PlacementPolicy.HostLevel = true }, nil},
		{"placement ANY", func(s *LocalServiceSpec) { s.PlacementPolicy = &PlacementPolicy{Type: PlacementAny} },
			[]string{onlyLocal}},
		{"placement ONE_PER_HOST", func(s *LocalServiceSpec) { s.PlacementPolicy = &PlacementPolicy{Type: PlacementOnePerHost} },
			[]string{onlyLocal}},
		{"placement MATCH_TAG", func(s *LocalServiceSpec) {
			s.PlacementPolicy = &PlacementPolicy{Type: PlacementMatchTag, Tag: "ssd"}
		}, []string{onlyLocal}},
		{"LOCAL inside COMPOSITE", func(s *LocalServiceSpec) {
			s.PlacementPolicy = &PlacementPolicy{Type: PlacementComposite, Policies: []PlacementPolicy{{Type: PlacementLocal}}}
		}, []string{onlyLocal}},
		{"placement missing", func(s *LocalServiceSpec) { s.PlacementPolicy = nil },
			[]string{`spec.placementPolicy - is required (use {"type":"ANY"} for no constraint)`}},
		{"no exposed ports", func(s *LocalServiceSpec) { s.ExposedPorts = nil }, noPorts},
		{"empty exposed ports", func(s *LocalServiceSpec) { s.ExposedPorts = []PortSpec{} }, noPorts},
		{"exposureSpec ignored", func(s *LocalServiceSpec) {
			s.ExposureSpec = &ExposureSpec{Vhost: "", PortName: "undefined", Mode: "WEIRD"}
		}, nil},
		{"type SERVICE accepted", func(s *LocalServiceSpec) { s.Type = JobService }, nil},
		{"type missing", func(s *LocalServiceSpec) { s.Type = "" },
			[]string{"spec.type - Specify if job is a computation or a service"}},
		{"name pattern", func(s *LocalServiceSpec) { s.Name = "my svc" },
			[]string{"spec.name - Only characters, numbers, hyphen and underscore is allowed"}},
		{"resources missing", func(s *LocalServiceSpec) { s.Resources = nil },
			[]string{"Cpu requirements are mandatory", "Memory requirements are mandatory"}},
		{"devices disabled", func(s *LocalServiceSpec) {
			s.Devices = []DeviceSpec{{Type: DeviceDirect, PathOnHost: "/dev/fuse"}}
		}, []string{"Device access is disabled. To enable, set enableRawDeviceAccess: true in controller options."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeServiceSpec(t, sampleServiceJSON)
			tc.mut(&s)
			require.Equal(t, tc.want, s.Validate(SpecOptions{}))
		})
	}

	// The same exposureSpec does fail an application.
	s := decodeServiceSpec(t, sampleServiceJSON)
	s.PlacementPolicy = &PlacementPolicy{Type: PlacementAny}
	s.ExposureSpec = &ExposureSpec{Vhost: "v", PortName: "undefined"}
	require.Equal(t, []string{"Exposed port name undefined is undefined. Defined port names: [main]"},
		s.ApplicationSpec.Validate(SpecOptions{}))
}

func TestLocalServiceSpec_Masked(t *testing.T) {
	s := decodeServiceSpec(t, sampleServiceJSON)
	m := s.Masked()
	require.Equal(t, s.ServiceID(), m.ServiceID())
	require.Equal(t, s.PlacementPolicy, m.PlacementPolicy)
	require.Equal(t, JobLocalService, m.Type)
}

func TestLocalServiceInstance_View(t *testing.T) {
	r := InstanceRecord{Spec: InstanceSpec{Kind: KindLocalService, AppID: "svc-1", AppName: "svc", InstanceID: "si-1"},
		Info: InstanceInfo{AppID: "svc-1", AppName: "svc", InstanceID: "si-1", ExecutorID: "e1",
			LocalInfo: LocalInstanceInfo{Hostname: "h", Ports: map[string]InstancePort{}}, State: InstanceHealthy,
			Metadata: map[string]string{"k": "v"}, ErrorMessage: "x", Created: 1, Updated: 2}}
	require.Equal(t, LocalServiceInstanceInfo{ServiceID: "svc-1", ServiceName: "svc", InstanceID: "si-1", ExecutorID: "e1",
		LocalInfo: r.Info.LocalInfo, State: InstanceHealthy, Metadata: map[string]string{"k": "v"}, ErrorMessage: "x",
		Created: 1, Updated: 2}, LocalServiceInstance(r))
	require.True(t, r.BelongsTo(KindLocalService, "svc-1"))
	require.False(t, r.BelongsTo(KindApp, "svc-1"))
	require.False(t, r.BelongsTo(KindTask, "svc-1"))
	require.False(t, r.BelongsTo(KindLocalService, "svc-2"))
}
