package model

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// secretSpec is the kitchen sink with credentials on both HTTP fetch configs.
func secretSpec(t *testing.T) ApplicationSpec {
	s := decodeSpec(t, kitchenSinkJSON)
	s.Configs[2].HTTP.Username, s.Configs[2].HTTP.Password = "alice", "s3cret"
	s.Configs[3].HTTP.AuthHeader = "Bearer tok"
	n := 1
	s.Devices = append(s.Devices, DeviceSpec{Type: DeviceDetailed, Driver: "nvidia", Count: &n,
		DeviceIDs: []string{"GPU-1"}, Capabilities: [][]string{{"gpu"}}, Options: map[string]string{"a": "b"}})
	s.Healthcheck.Mode.SuccessCodes = []int{200, 204}
	return s
}

func TestMaskedHidesSecrets(t *testing.T) {
	s := secretSpec(t)
	m := s.Masked()

	require.Equal(t, []byte{}, m.Configs[0].Data, "INLINE data emptied")
	for _, i := range []int{2, 3} {
		h := m.Configs[i].HTTP
		require.Equal(t, MaskedValue, h.Username, "config %d", i)
		require.Equal(t, MaskedValue, h.Password, "config %d", i)
		require.Equal(t, MaskedValue, h.AuthHeader, "config %d", i)
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	for _, secret := range []string{"cG9ydDogODA4MAo=", "alice", "s3cret", "Bearer tok"} {
		require.NotContains(t, string(out), secret)
	}
	var cfgs struct {
		Configs []map[string]any `json:"configs"`
	}
	require.NoError(t, json.Unmarshal(out, &cfgs))
	require.Equal(t, "", cfgs.Configs[0]["data"], `masked data is written as "data": ""`)
	require.Equal(t, "***", cfgs.Configs[3]["http"].(map[string]any)["username"], "masked even when unset, as Drove")

	// everything else is unchanged
	unmasked := m
	unmasked.Configs = s.Configs
	require.Equal(t, s, unmasked)
}

func TestMaskedDoesNotTouchOriginal(t *testing.T) {
	s := secretSpec(t)
	before, err := json.Marshal(s)
	require.NoError(t, err)
	keep := s.Clone()

	m := s.Masked()
	// scribble over everything reachable from the copy
	m.Configs[2].HTTP.Headers["X-Env"] = "changed"
	m.Configs[2].HTTP.SuccessCodes[0] = 500
	m.ExposedPorts[0].Name = "changed"
	m.Volumes[0].PathOnHost = "/changed"
	m.Logging.Server = "changed"
	m.Resources[0].Count = 99
	m.PlacementPolicy.Policies[0].Max = 9
	m.Healthcheck.Mode.SuccessCodes[0] = 500
	m.Readiness.Attempts = 9
	m.Tags["team"] = "changed"
	m.Env["DC"] = "changed"
	m.Args[0] = "changed"
	*m.Devices[1].Count = 9
	m.Devices[1].DeviceIDs[0] = "changed"
	m.Devices[1].Capabilities[0][0] = "changed"
	m.Devices[1].Options["a"] = "changed"
	m.ExposureSpec.Vhost = "changed"
	m.PreShutdown.Hooks[0].SuccessCodes[0] = 500
	m.UserSpec.User = "changed"

	after, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, string(before), string(after))
	require.Equal(t, keep, s)
	require.Equal(t, []byte("port: 8080\n"), s.Configs[0].Data)
	require.Equal(t, "s3cret", s.Configs[2].HTTP.Password)
}

func TestCloneSharesNothing(t *testing.T) {
	s := secretSpec(t)
	for name, c := range map[string]ApplicationSpec{"Clone": s.Clone(), "Masked": s.Masked()} {
		t.Run(name, func(t *testing.T) {
			assertNoSharedMemory(t, "spec", reflect.ValueOf(s), reflect.ValueOf(c))
		})
	}
	require.Equal(t, s, s.Clone())
	require.Equal(t, ApplicationSpec{}, ApplicationSpec{}.Clone(), "nil stays nil")
	require.Equal(t, ApplicationSpec{}, ApplicationSpec{}.Masked())
	empty := ApplicationSpec{Volumes: []MountedVolume{}, Tags: map[string]string{}}
	require.Equal(t, empty, empty.Clone(), "empty stays empty, not nil")
}

// assertNoSharedMemory walks a and b in parallel and fails if any non-nil
// pointer, map or slice backing array is shared.
func assertNoSharedMemory(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return
		}
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s: pointer shared", path)
		assertNoSharedMemory(t, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() || b.IsNil() {
			return
		}
		if a.Cap() > 0 && b.Cap() > 0 {
			require.NotEqual(t, a.Pointer(), b.Pointer(), "%s: slice backing array shared", path)
		}
		for i := 0; i < min(a.Len(), b.Len()); i++ {
			assertNoSharedMemory(t, path+"["+strconv.Itoa(i)+"]", a.Index(i), b.Index(i))
		}
	case reflect.Map:
		if a.IsNil() || b.IsNil() {
			return
		}
		require.NotEqual(t, a.Pointer(), b.Pointer(), "%s: map shared", path)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			assertNoSharedMemory(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	}
}
