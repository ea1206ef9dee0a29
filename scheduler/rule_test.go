package scheduler

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEvalRule_Dialects(t *testing.T) {
	info := SchedulingInfo{
		ExecutorNodeID:                "e1",
		AllocatedExecutorNodeMetadata: map[string]string{"rack": "r1", "hostname": "h1", "a/b": "slash"},
		AllExecutorMetadata: map[string]map[string]string{
			"e1": {"rack": "r1"}, "e2": {"rack": "r2"},
		},
		ApplicationEnvironment: map[string]string{"ZONE": "z1", "N": "abc"},
	}
	tests := []struct {
		name, ruleType, rule string
		want                 bool
		wantErr              string // substring; "" means no error
	}{
		// MVEL: the forms Drove's docs and tests use.
		{"MVEL executor id", "MVEL", "executorNodeId=='e1'", true, ""},
		{"MVEL executor id, double quotes", "MVEL", `executorNodeId=="e2"`, false, ""},
		{"MVEL metadata member", "MVEL", "allocatedExecutorNodeMetadata.hostname=='h1'", true, ""},
		{"MVEL conjunction", "MVEL", "allocatedExecutorNodeMetadata.rack == 'r1' && executorNodeId != 'x'", true, ""},
		{"MVEL missing key is empty", "MVEL", "allocatedExecutorNodeMetadata.zone == 'z1'", false, ""},
		{"MVEL containsKey", "MVEL", `allocatedExecutorNodeMetadata.containsKey("rack")`, true, ""},
		{"MVEL get + startsWith", "MVEL", "allocatedExecutorNodeMetadata.get('rack').startsWith('r')", true, ""},
		{"MVEL equals, endsWith, contains", "MVEL",
			"executorNodeId.equals('e1') && executorNodeId.endsWith('1') && !executorNodeId.contains('x')", true, ""},
		{"MVEL isEmpty and size", "MVEL", "!applicationEnvironment.isEmpty() && allExecutorMetadata.size() == 2", true, ""},
		{"MVEL nested maps", "MVEL", "allExecutorMetadata['e2'].rack == 'r2'", true, ""},
		{"MVEL lower-case type", "mvel", "true", true, ""},
		{"MVEL unknown name", "MVEL", "aksjgdkadj", false, "unknown name aksjgdkadj"},
		{"MVEL other method calls are not available", "MVEL", "executorNodeId.toUpperCase() == 'E1'", false, "has no method"},
		// HOPE: JSON pointers.
		{"HOPE pointer", "HOPE", `'/allocatedExecutorNodeMetadata/rack' == "r1"`, true, ""},
		{"HOPE nested pointer", "HOPE", `'/allExecutorMetadata/e2/rack' == "r2" && '/executorNodeId' == "e1"`, true, ""},
		{"HOPE escaped pointer", "HOPE", `'/allocatedExecutorNodeMetadata/a~1b' == "slash"`, true, ""},
		{"HOPE quote inside a literal", "HOPE", `'/applicationEnvironment/ZONE' != "it's"`, true, ""},
		{"HOPE escaped quotes", "HOPE", `'/applicationEnvironment/ZONE' != "say \"hi\"" && '/executorNodeId' != 'x'`, false, "not a JSON pointer"},
		{"HOPE escaped quote in a literal", "HOPE", `"it\"s" != '/executorNodeId'`, true, ""},
		{"HOPE missing key", "HOPE", `'/allocatedExecutorNodeMetadata/zone' == "z1"`, false, ""},
		{"HOPE arithmetic", "HOPE", "2 < 4", true, ""},
		{"HOPE garbage", "HOPE", "2 asdj 4ada", false, "unexpected token"},
		{"HOPE pointer outside SchedulingInfo", "HOPE", `'/foo/bar' == "x"`, false, "does not start with one of"},
		{"HOPE single-quoted non-pointer", "HOPE", `'abc' == "abc"`, false, "is not a JSON pointer"},
		{"HOPE unterminated pointer", "HOPE", `'/executorNodeId == "e1"`, false, "unterminated JSON pointer"},
		{"HOPE unterminated string", "HOPE", `'/executorNodeId' == "e1`, false, "unterminated string"},
		// EXPR: expr-lang itself.
		{"EXPR in list", "EXPR", `allocatedExecutorNodeMetadata.rack in ["r1", "r3"]`, true, ""},
		{"EXPR env", "EXPR", `applicationEnvironment.ZONE == "z1"`, true, ""},
		{"EXPR builtins", "EXPR", `len(filter(keys(allExecutorMetadata), # startsWith "e")) == 2`, true, ""},
		// Failures.
		{"non-bool result", "EXPR", "executorNodeId", false, "expected bool, but got string"},
		{"run-time error", "EXPR", "int(applicationEnvironment.N) > 0", false, "invalid operation"},
		{"now() is disabled", "EXPR", "now() != nil", false, "unknown name now"},
		{"memory budget", "EXPR", "len(repeat('a', 100000000)) > 0", false, "memory budget exceeded"},
		{"empty rule", "MVEL", "  ", false, "empty rule"},
		{"unknown type", "JS", "true", false, `unsupported rule type "JS"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvalRule(tt.rule, tt.ruleType, info)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidRule)
				require.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCheckRule_CompileOnly(t *testing.T) {
	tests := []struct {
		rule, ruleType string
		ok             bool
	}{
		{"executorNodeId == 'x'", "MVEL", true},
		{`'/allocatedExecutorNodeMetadata/rack' == "r1"`, "HOPE", true},
		{`int(applicationEnvironment.N) > 0`, "EXPR", true}, // fails only at run time
		{"executorNodeId ==", "MVEL", false},
		{"1 + 1", "EXPR", false},
		{"true", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.ruleType+" "+tt.rule, func(t *testing.T) {
			err := CheckRule(tt.rule, tt.ruleType)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalidRule)
			}
		})
	}
}

func TestEvalRule_ZeroSchedulingInfo(t *testing.T) {
	ok, err := EvalRule("allocatedExecutorNodeMetadata.rack == '' && len(allExecutorMetadata) == 0", "MVEL", SchedulingInfo{})
	require.NoError(t, err)
	require.True(t, ok)
}

// SchedulingInfo is the rule environment: a method on it would be callable
// from rules.
func TestSchedulingInfo_HasNoMethods(t *testing.T) {
	require.Zero(t, reflect.TypeOf(SchedulingInfo{}).NumMethod())
	require.Zero(t, reflect.TypeOf(&SchedulingInfo{}).NumMethod())
}
