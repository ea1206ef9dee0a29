package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func decodeSpec(t *testing.T, js string) ApplicationSpec {
	t.Helper()
	var s ApplicationSpec
	require.NoError(t, json.Unmarshal([]byte(js), &s))
	return s
}

func kitchenSinkOptions() SpecOptions {
	return SpecOptions{AllowedMountDirs: []string{"/tmp"}, EnableRawDeviceAccess: true}
}

func TestSampleAppDecodes(t *testing.T) {
	s := decodeSpec(t, sampleAppJSON)
	require.Equal(t, "TEST_APP", s.Name)
	require.Equal(t, "TEST_APP-1", s.AppID())
	require.Equal(t, JobService, s.Type)
	require.Equal(t, Executable{Type: "DOCKER", URL: "ghcr.io/appform-io/perf-test-server-httplib",
		DockerPullTimeout: "100 seconds"}, s.Executable)
	require.Equal(t, []PortSpec{{Name: "main", Port: 8000, Type: PortHTTP}}, s.ExposedPorts)
	require.NotNil(t, s.Volumes)
	require.Empty(t, s.Volumes)
	require.Equal(t, []ConfigSpec{{Type: ConfigInline, LocalFilename: "/testfiles/drove.txt", Data: []byte("Drove test")}}, s.Configs)
	require.Equal(t, 1, s.Cores())
	require.Equal(t, int64(128), s.MemoryMB())
	require.Equal(t, &PlacementPolicy{Type: PlacementAny}, s.PlacementPolicy)
	require.Equal(t, CheckModeSpec{Type: CheckHTTP, Protocol: ProtocolHTTP, PortName: "main", Path: "/", Verb: VerbGet,
		SuccessCodes: []int{200}, ConnectionTimeout: MustParseDuration("1 second")}, s.Healthcheck.Mode)
	require.Equal(t, time.Second, s.Healthcheck.Timeout.D())
	require.Equal(t, 5*time.Second, s.Healthcheck.Interval.D())
	require.Equal(t, 3, s.Healthcheck.Attempts)
	require.Equal(t, "0 seconds", s.Healthcheck.InitialDelay.String())
	require.Equal(t, 3*time.Second, s.Readiness.Interval.D())
	require.Equal(t, "heisenberg", s.Tags["say_my_name"])
	require.Equal(t, map[string]string{"CORES": "8"}, s.Env)
	require.Equal(t, &ExposureSpec{Vhost: "testapp.local", PortName: "main", Mode: ExposureAll}, s.ExposureSpec)
	require.Len(t, s.PreShutdown.Hooks, 1)
	require.Equal(t, 3*time.Second, s.PreShutdown.WaitBeforeKill.D())
	require.Nil(t, s.Logging)
	require.Equal(t, DefaultLoggingSpec(), s.EffectiveLogging())
	require.Empty(t, s.Validate(SpecOptions{}))
}

func TestKitchenSinkDecodes(t *testing.T) {
	s := decodeSpec(t, kitchenSinkJSON)
	require.Equal(t, "ORDER_SVC-3", s.AppID())
	require.Equal(t, 5*time.Minute, DockerPullTimeout(s.Executable))
	require.Equal(t, []MountedVolume{{PathInContainer: "/data", PathOnHost: "/tmp/order-svc", Mode: MountReadWrite}}, s.Volumes)
	require.Len(t, s.Configs, 4)
	require.Equal(t, []byte("port: 8080\n"), s.Configs[0].Data)
	require.Equal(t, "/etc/hostname", s.Configs[1].FilePathOnHost)
	h := s.Configs[2].HTTP
	require.Equal(t, ConfigControllerHTTPFetch, s.Configs[2].Type)
	require.Equal(t, ProtocolHTTPS, h.Protocol)
	require.Equal(t, 443, h.EffectivePort())
	require.Equal(t, 5*time.Second, h.OperationTimeout.D())
	require.Equal(t, map[string]string{"X-Env": "prod"}, h.Headers)
	h4 := s.Configs[3].HTTP
	require.Equal(t, ConfigExecutorHTTPFetch, s.Configs[3].Type)
	require.Equal(t, []int{200}, h4.EffectiveSuccessCodes())
	require.Equal(t, time.Second, h4.EffectiveConnectionTimeout())
	require.Equal(t, &LoggingSpec{Type: LoggingRsyslog, Server: "udp://rsyslog.internal:514", TagPrefix: "order-",
		TagSuffix: "-prod"}, s.Logging)
	require.Equal(t, 2, s.Cores())
	require.Equal(t, int64(1024), s.MemoryMB())
	require.Equal(t, &PlacementPolicy{Type: PlacementComposite, Combiner: CombinerAnd, Policies: []PlacementPolicy{
		{Type: PlacementMaxNPerHost, Max: 2}, {Type: PlacementMatchTag, Tag: "ssd"}}}, s.PlacementPolicy)
	require.Equal(t, CheckModeSpec{Type: CheckCmd, Command: "curl -sf localhost:8080/ready"}, s.Readiness.Mode)
	require.Equal(t, 20, s.Readiness.Attempts)
	require.Equal(t, map[string]string{"JAVA_OPTS": "-Xmx768m", "DC": ""}, s.Env)
	require.Equal(t, []string{"--server.port=8080"}, s.Args)
	require.Equal(t, []DeviceSpec{{Type: DeviceDirect, PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse",
		Permissions: DeviceReadWrite}}, s.Devices)
	require.Equal(t, "rw", s.Devices[0].Permissions.CgroupPermissions())
	require.Len(t, s.PreShutdown.Hooks, 2)
	require.Equal(t, VerbPost, s.PreShutdown.Hooks[0].Verb)
	require.Equal(t, "{}", s.PreShutdown.Hooks[0].Payload)
	require.Equal(t, CheckCmd, s.PreShutdown.Hooks[1].Type)
	require.Equal(t, &UserSpec{User: "1000", Group: "1000"}, s.UserSpec)
	require.Equal(t, "1000:1000", s.UserSpec.DockerUser())
	require.Empty(t, s.Validate(kitchenSinkOptions()))
}

func TestSpecRoundTrip(t *testing.T) {
	for name, js := range map[string]string{"sample": sampleAppJSON, "kitchenSink": kitchenSinkJSON} {
		t.Run(name, func(t *testing.T) {
			s := decodeSpec(t, js)
			out, err := json.Marshal(s)
			require.NoError(t, err)
			back := decodeSpec(t, string(out))
			require.Equal(t, s, back)
			again, err := json.Marshal(back)
			require.NoError(t, err)
			require.JSONEq(t, string(out), string(again))

			// every field of the input that carries a value is in the output
			var in, got map[string]any
			require.NoError(t, json.Unmarshal([]byte(js), &in))
			require.NoError(t, json.Unmarshal(out, &got))
			for k := range in {
				require.Contains(t, got, k)
			}
		})
	}
}

func TestSpecOutputShape(t *testing.T) {
	s := decodeSpec(t, sampleAppJSON)
	out, err := json.Marshal(s)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, []any{}, got["volumes"], "an empty list is emitted")
	for _, k := range []string{"logging", "args", "devices", "userSpec"} {
		require.NotContains(t, got, k, "nil %s is omitted", k)
	}
	require.Equal(t, "100 seconds", got["executable"].(map[string]any)["dockerPullTimeout"])
	hc := got["healthcheck"].(map[string]any)
	require.Equal(t, "0 seconds", hc["initialDelay"], "an explicit zero duration is kept")
	require.Equal(t, "RHJvdmUgdGVzdA==", got["configs"].([]any)[0].(map[string]any)["data"])

	// nothing set: only name and version
	out, err = json.Marshal(ApplicationSpec{})
	require.NoError(t, err)
	require.JSONEq(t, `{"name":"","version":""}`, string(out))
}

func TestSpecCaseInsensitiveEnums(t *testing.T) {
	js := `{
	  "name": "a", "version": "1", "type": "service",
	  "executable": {"type": "docker", "url": "img", "dockerPullTimeout": "5m"},
	  "exposedPorts": [{"name": "main", "port": 80, "type": "http"}, {"name": "u", "port": 53, "type": "Udp"}],
	  "volumes": [{"pathInContainer": "/d", "pathOnHost": "/tmp/d", "mode": "read_only"}],
	  "configs": [{"type": "controller_http_fetch", "localFilename": "/f",
	               "http": {"protocol": "https", "hostname": "h", "verb": "post"}}],
	  "logging": {"type": "local", "maxSize": "10m", "maxFiles": 3},
	  "resources": [{"type": "cpu", "count": 1}, {"type": "Memory", "sizeInMB": 64}],
	  "placementPolicy": {"type": "composite", "combiner": "or", "policies": [
	      {"type": "rule_based", "rule": "x", "ruleType": "mvel"}, {"type": "match_tag", "tag": "t"}]},
	  "healthcheck": {"mode": {"type": "http", "protocol": "http", "portName": "main", "path": "/", "verb": "get",
	                           "successCodes": [200]}, "timeout": "1s", "interval": "1s", "attempts": 1},
	  "readiness": {"mode": {"type": "cmd", "command": "true"}, "timeout": "1S", "interval": "1 Second", "attempts": 1},
	  "devices": [{"type": "direct", "pathOnHost": "/dev/x", "permissions": "read_write"}, {"type": "Detailed", "count": -1}],
	  "exposureSpec": {"vhost": "v", "portName": "main", "mode": "one"}
	}`
	s := decodeSpec(t, js)
	require.Equal(t, JobService, s.Type)
	require.Equal(t, ExecutableDocker, s.Executable.Type)
	require.Equal(t, "5 minutes", s.Executable.DockerPullTimeout, "dockerPullTimeout is normalised")
	require.Equal(t, PortHTTP, s.ExposedPorts[0].Type)
	require.Equal(t, PortUDP, s.ExposedPorts[1].Type)
	require.Equal(t, MountReadOnly, s.Volumes[0].Mode)
	require.Equal(t, ConfigControllerHTTPFetch, s.Configs[0].Type)
	require.Equal(t, ProtocolHTTPS, s.Configs[0].HTTP.Protocol)
	require.Equal(t, VerbPost, s.Configs[0].HTTP.Verb)
	require.Equal(t, LoggingLocal, s.Logging.Type)
	require.Equal(t, RequirementCPU, s.Resources[0].Type)
	require.Equal(t, RequirementMemory, s.Resources[1].Type)
	require.Equal(t, PlacementComposite, s.PlacementPolicy.Type)
	require.Equal(t, CombinerOr, s.PlacementPolicy.Combiner)
	require.Equal(t, PlacementRuleBased, s.PlacementPolicy.Policies[0].Type)
	require.Equal(t, RuleTypeMVEL, s.PlacementPolicy.Policies[0].RuleType)
	require.Equal(t, CheckHTTP, s.Healthcheck.Mode.Type)
	require.Equal(t, VerbGet, s.Healthcheck.Mode.Verb)
	require.Equal(t, CheckCmd, s.Readiness.Mode.Type)
	require.Equal(t, DeviceDirect, s.Devices[0].Type)
	require.Equal(t, DeviceReadWrite, s.Devices[0].Permissions)
	require.Equal(t, DeviceDetailed, s.Devices[1].Type)
	require.Equal(t, -1, *s.Devices[1].Count)
	require.Equal(t, ExposureOne, s.ExposureSpec.Mode)
	require.Empty(t, s.Validate(SpecOptions{EnableRawDeviceAccess: true}))

	out, err := json.Marshal(s)
	require.NoError(t, err)
	for _, w := range []string{`"type":"SERVICE"`, `"type":"DOCKER"`, `"type":"UDP"`, `"mode":"READ_ONLY"`,
		`"type":"CONTROLLER_HTTP_FETCH"`, `"protocol":"HTTPS"`, `"verb":"POST"`, `"type":"LOCAL"`, `"type":"CPU"`,
		`"type":"MEMORY"`, `"type":"COMPOSITE"`, `"combiner":"OR"`, `"type":"CMD"`, `"permissions":"READ_WRITE"`,
		`"type":"DETAILED"`, `"mode":"ONE"`} {
		require.Contains(t, string(out), w, "enums are written upper-case")
	}
	require.Contains(t, string(out), `"type":"HTTP"`)
	require.Contains(t, string(out), `"ruleType":"MVEL"`)
}

func TestSpecExecutableTypeDefaultsToDocker(t *testing.T) {
	s := decodeSpec(t, `{"executable": {"url": "img", "dockerPullTimeout": "1m"}}`)
	require.Equal(t, Executable{Type: ExecutableDocker, URL: "img", DockerPullTimeout: "1 minute"}, s.Executable)
	s = decodeSpec(t, `{"executable": {"type": null, "url": "img"}}`)
	require.Equal(t, ExecutableDocker, s.Executable.Type)
	require.Equal(t, DefaultDockerPullTimeout.D(), DockerPullTimeout(s.Executable), "missing pull timeout: 15 minutes")

	// no executable at all stays empty (Validate reports it)
	s = decodeSpec(t, `{"name": "x"}`)
	require.Equal(t, Executable{}, s.Executable)
}

func TestSpecUnknownValues(t *testing.T) {
	for _, tc := range []struct {
		name, js string
		want     []string // all must appear in the error
	}{
		{"job type", `{"type": "BATCH"}`,
			[]string{`type`, `unknown value "BATCH"`, "allowed: SERVICE, COMPUTATION, LOCAL_SERVICE"}},
		{"executable type", `{"executable": {"type": "RKT", "url": "x"}}`,
			[]string{"executable.type", `"RKT"`, "allowed: DOCKER"}},
		{"pull timeout", `{"executable": {"url": "x", "dockerPullTimeout": "10 fortnights"}}`,
			[]string{"executable.dockerPullTimeout", `unknown time unit "fortnights"`}},
		{"port type", `{"exposedPorts": [{"name": "a", "port": 1, "type": "HTTP"}, {"name": "b", "port": 2, "type": "SCTP"}]}`,
			[]string{"exposedPorts[1].type", `"SCTP"`, "allowed: HTTP, HTTPS, TCP, UDP"}},
		{"volume mode", `{"volumes": [{"pathInContainer": "/a", "pathOnHost": "/b", "mode": "RW"}]}`,
			[]string{"volumes.mode", `"RW"`, "allowed: READ_WRITE, READ_ONLY"}},
		{"config type", `{"configs": [{"type": "S3", "localFilename": "/a"}]}`,
			[]string{"configs.type", `"S3"`, "allowed: INLINE, EXECUTOR_LOCAL_FILE, CONTROLLER_HTTP_FETCH, EXECUTOR_HTTP_FETCH"}},
		{"http protocol", `{"configs": [{"type": "EXECUTOR_HTTP_FETCH", "http": {"protocol": "FTP"}}]}`,
			[]string{"configs.http.protocol", `"FTP"`, "allowed: HTTP, HTTPS"}},
		{"http verb", `{"configs": [{"type": "EXECUTOR_HTTP_FETCH", "http": {"verb": "DELETE"}}]}`,
			[]string{"configs.http.verb", `"DELETE"`, "allowed: GET, POST, PUT"}},
		{"logging type", `{"logging": {"type": "FLUENTD"}}`,
			[]string{"logging.type", `"FLUENTD"`, "allowed: LOCAL, RSYSLOG"}},
		{"requirement type", `{"resources": [{"type": "GPU", "count": 1}]}`,
			[]string{"resources[0].type", `"GPU"`, "allowed: CPU, MEMORY"}},
		{"placement type", `{"placementPolicy": {"type": "SPREAD"}}`,
			[]string{"placementPolicy.type", `"SPREAD"`, "allowed: ANY, ONE_PER_HOST, MAX_N_PER_HOST"}},
		{"nested placement type", `{"placementPolicy": {"type": "COMPOSITE", "policies": [{"type": "ANY"}, {"type": "X"}]}}`,
			[]string{"placementPolicy.policies[1].type", `"X"`}},
		{"rule type", `{"placementPolicy": {"type": "RULE_BASED", "rule": "r", "ruleType": "JS"}}`,
			[]string{"placementPolicy.ruleType", `"JS"`, "allowed: HOPE, MVEL"}},
		{"combiner", `{"placementPolicy": {"type": "COMPOSITE", "combiner": "XOR", "policies": [{"type": "ANY"}]}}`,
			[]string{"placementPolicy.combiner", `"XOR"`, "allowed: AND, OR"}},
		{"check mode", `{"healthcheck": {"mode": {"type": "TCP"}}}`,
			[]string{"healthcheck.mode.type", `"TCP"`, "allowed: HTTP, CMD"}},
		{"check verb", `{"readiness": {"mode": {"type": "HTTP", "verb": "HEAD"}}}`,
			[]string{"readiness.mode.verb", `"HEAD"`}},
		{"check duration", `{"readiness": {"timeout": 5}}`,
			[]string{"readiness.timeout", `number 5 (durations are strings`}},
		{"hook mode", `{"preShutdown": {"hooks": [{"type": "SIGNAL"}]}}`,
			[]string{"preShutdown.hooks.type", `"SIGNAL"`, "allowed: HTTP, CMD"}},
		{"device type", `{"devices": [{"type": "GPU"}]}`,
			[]string{"devices.type", `"GPU"`, "allowed: DIRECT, DETAILED"}},
		{"device permissions", `{"devices": [{"type": "DIRECT", "permissions": "rwx"}]}`,
			[]string{"devices.permissions", `"rwx"`, "allowed: READ_ONLY, WRITE_ONLY, MKNOD_ONLY, ALL, READ_WRITE"}},
		{"exposure mode", `{"exposureSpec": {"mode": "SOME"}}`,
			[]string{"exposureSpec.mode", `"SOME"`, "allowed: ALL, ONE"}},
		{"enum not a string", `{"type": 1}`,
			[]string{"number 1", "allowed: SERVICE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s ApplicationSpec
			err := json.Unmarshal([]byte(tc.js), &s)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// The field path is kept when the spec is nested in another document, as in
// an operation's "spec".
func TestSpecUnknownValueNestedPath(t *testing.T) {
	var op struct {
		Spec ApplicationSpec `json:"spec"`
	}
	err := json.Unmarshal([]byte(`{"spec": {"healthcheck": {"mode": {"type": "TCP"}}}}`), &op)
	require.Error(t, err)
	require.Contains(t, err.Error(), "spec.healthcheck.mode.type")
	err = json.Unmarshal([]byte(`{"spec": {"exposedPorts": [{"name": "a", "port": 1, "type": "X"}]}}`), &op)
	require.Error(t, err)
	require.Contains(t, err.Error(), "spec.exposedPorts[0].type")
}

func TestSpecIgnoresUnknownFieldsAndEmptyEnums(t *testing.T) {
	s := decodeSpec(t, `{"name": "a", "stateChangeNotificationReceivers": {"x": 1}, "type": "",
		"healthcheck": {"mode": {"type": "HTTP", "protocol": null}, "futureField": true}}`)
	require.Equal(t, "a", s.Name)
	require.Equal(t, JobType(""), s.Type)
	require.Equal(t, Protocol(""), s.Healthcheck.Mode.Protocol)
}

func TestHTTPCallSpecDefaults(t *testing.T) {
	var h HTTPCallSpec
	require.Equal(t, ProtocolHTTP, h.EffectiveProtocol())
	require.Equal(t, 80, h.EffectivePort())
	require.Equal(t, "/", h.EffectivePath())
	require.Equal(t, VerbGet, h.EffectiveVerb())
	require.Equal(t, []int{200}, h.EffectiveSuccessCodes())
	require.Equal(t, time.Second, h.EffectiveConnectionTimeout())
	h = HTTPCallSpec{Protocol: ProtocolHTTPS, Port: 8443, Path: "/x", Verb: VerbPut, SuccessCodes: []int{204},
		ConnectionTimeout: MustParseDuration("3s")}
	require.Equal(t, 8443, h.EffectivePort())
	require.Equal(t, "/x", h.EffectivePath())
	require.Equal(t, VerbPut, h.EffectiveVerb())
	require.Equal(t, []int{204}, h.EffectiveSuccessCodes())
	require.Equal(t, 3*time.Second, h.EffectiveConnectionTimeout())
	require.Equal(t, time.Second, CheckModeSpec{}.EffectiveConnectionTimeout())

	out, err := json.Marshal(HTTPCallSpec{Hostname: "h"})
	require.NoError(t, err)
	require.JSONEq(t, `{"hostname":"h","port":0,"insecure":false}`, string(out))
}

func TestSpecHelpers(t *testing.T) {
	s := ApplicationSpec{Name: "A-1", Version: "2", Resources: []ResourceRequirement{
		{Type: RequirementCPU, Count: 2}, {Type: RequirementMemory, SizeInMB: 512},
		{Type: RequirementCPU, Count: 1}, {Type: RequirementMemory, SizeInMB: 256}}}
	require.Equal(t, "A-1-2", s.AppID())
	require.Equal(t, 3, s.Cores())
	require.Equal(t, int64(768), s.MemoryMB())
	require.Equal(t, 0, ApplicationSpec{}.Cores())
	require.Equal(t, int64(0), ApplicationSpec{}.MemoryMB())

	require.Equal(t, "/dev/a", DeviceSpec{PathOnHost: "/dev/a"}.EffectivePathInContainer())
	require.Equal(t, "/dev/b", DeviceSpec{PathOnHost: "/dev/a", PathInContainer: "/dev/b"}.EffectivePathInContainer())
	for p, want := range map[DevicePermissions]string{"": "rwm", DeviceAll: "rwm", DeviceReadOnly: "r",
		DeviceWriteOnly: "w", DeviceMknodOnly: "m", DeviceReadWrite: "rw"} {
		require.Equal(t, want, p.CgroupPermissions())
	}
	require.Equal(t, "u", UserSpec{User: "u"}.DockerUser())
	l := LoggingSpec{Type: LoggingRsyslog, Server: "udp://x:514"}
	require.Equal(t, l, ApplicationSpec{Logging: &l}.EffectiveLogging())
	require.Equal(t, time.Minute, DockerPullTimeout(Executable{DockerPullTimeout: "1m"}))
	require.Equal(t, 15*time.Minute, DockerPullTimeout(Executable{DockerPullTimeout: "bad"}))
	require.True(t, strings.HasPrefix(MustParseDuration("15 minutes").String(), "15"))
}
