package scheduler

import (
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

func TestEffectivePolicy_ImplicitNoTag(t *testing.T) {
	tests := []struct {
		name string
		in   model.PlacementPolicy
		want model.PlacementPolicy
	}{
		{"zero policy is ANY AND NO_TAG", emptyPol, and(anyP, noTagP)},
		{"ANY", anyP, and(anyP, noTagP)},
		{"ONE_PER_HOST", onePer, and(onePer, noTagP)},
		{"NO_TAG is still wrapped", noTagP, and(noTagP, noTagP)},
		{"MATCH_TAG is kept", matchTag("gpu"), matchTag("gpu")},
		{"RULE_BASED is kept", rule("MVEL", "true"), rule("MVEL", "true")},
		{"nested MATCH_TAG is kept", or(onePer, and(maxN(2), matchTag("a"))), or(onePer, and(maxN(2), matchTag("a")))},
		{"nested RULE_BASED is kept", and(onePer, rule("HOPE", "2 < 4")), and(onePer, rule("HOPE", "2 < 4"))},
		{"composite without tags", or(onePer, maxN(3)), and(or(onePer, maxN(3)), noTagP)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, EffectivePolicy(tt.in))
		})
	}
}

// fakeEval is a staticEval with fixed answers.
type fakeEval struct {
	tagSet   map[string]bool
	untagged bool
	ruleSet  map[string]bool
}

func (f fakeEval) hasTag(t string) bool              { return f.tagSet[t] }
func (f fakeEval) noTag() bool                       { return f.untagged }
func (f fakeEval) rule(p model.PlacementPolicy) bool { return f.ruleSet[p.Rule] }

func TestLimitOf_ReducesPolicyToThreshold(t *testing.T) {
	ev := fakeEval{tagSet: map[string]bool{"gpu": true}, ruleSet: map[string]bool{"yes": true}}
	tests := []struct {
		name string
		p    model.PlacementPolicy
		want int32
	}{
		{"ANY", anyP, unlimited},
		{"ONE_PER_HOST", onePer, 1},
		{"MAX_N", maxN(5), 5},
		{"MATCH_TAG hit", matchTag("gpu"), unlimited},
		{"MATCH_TAG miss", matchTag("ssd"), 0},
		{"NO_TAG miss", noTagP, 0},
		{"rule true", rule("MVEL", "yes"), unlimited},
		{"rule false", rule("MVEL", "no"), 0},
		{"AND is min", and(maxN(5), onePer, matchTag("gpu")), 1},
		{"OR is max", or(maxN(5), onePer, matchTag("ssd")), 5},
		{"OR with a static hit", or(onePer, matchTag("gpu")), unlimited},
		{"nested", and(or(maxN(3), matchTag("ssd")), or(onePer, maxN(2))), 2},
		{"LOCAL", localP, unlimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, limitOf(tt.p, ev))
		})
	}
}

func TestPolicyKey_DistinguishesWhatMatters(t *testing.T) {
	act := []model.ExecutorState{model.ExecutorActive}
	both := []model.ExecutorState{model.ExecutorActive, model.ExecutorUnready}
	require.Equal(t, policyKey(onePer, act, map[string]string{"A": "1"}), policyKey(onePer, act, nil),
		"env only matters for rules")
	require.NotEqual(t, policyKey(onePer, act, nil), policyKey(onePer, both, nil))
	require.NotEqual(t, policyKey(maxN(2), act, nil), policyKey(maxN(3), act, nil))
	require.NotEqual(t, policyKey(matchTag("a,b"), act, nil), policyKey(or(matchTag("a"), matchTag("b")), act, nil))
	r := rule("EXPR", "applicationEnvironment.A == '1'")
	require.NotEqual(t, policyKey(r, act, map[string]string{"A": "1"}), policyKey(r, act, map[string]string{"A": "2"}))
	require.Equal(t, policyKey(r, act, map[string]string{"A": "1", "B": "2"}), policyKey(r, act, map[string]string{"B": "2", "A": "1"}))
	require.NotEqual(t, policyKey(rule("MVEL", "true"), act, nil), policyKey(rule("HOPE", "true"), act, nil))
}
