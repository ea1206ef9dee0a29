package scheduler

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
)

// unlimited is the per-executor limit of a policy that never caps the
// number of instances of a group on an executor.
const unlimited = math.MaxInt32

// EffectivePolicy is the policy Drove actually applies to an application or
// task (ControllerUtils.computeEffectivePlacementPolicy): the zero policy is
// ANY, and unless the policy contains MATCH_TAG or RULE_BASED anywhere, it
// is AND-ed with NO_TAG, so tagged executors only receive workloads that
// explicitly ask for them.
func EffectivePolicy(p model.PlacementPolicy) model.PlacementPolicy {
	if p.Type == "" {
		p = model.PlacementPolicy{Type: model.PlacementAny}
	}
	if selectsTags(p) {
		return p
	}
	return model.PlacementPolicy{
		Type:     model.PlacementComposite,
		Combiner: model.CombinerAnd,
		Policies: []model.PlacementPolicy{p, {Type: model.PlacementNoTag}},
	}
}

// selectsTags reports whether p contains MATCH_TAG or RULE_BASED.
func selectsTags(p model.PlacementPolicy) bool {
	switch p.Type {
	case model.PlacementMatchTag, model.PlacementRuleBased:
		return true
	case model.PlacementComposite:
		for _, c := range p.Policies {
			if selectsTags(c) {
				return true
			}
		}
	}
	return false
}

// hasRule reports whether p contains RULE_BASED.
func hasRule(p model.PlacementPolicy) bool {
	if p.Type == model.PlacementRuleBased {
		return true
	}
	for _, c := range p.Policies {
		if hasRule(c) {
			return true
		}
	}
	return false
}

// policyEqual reports whether two policies are the same.
func policyEqual(a, b model.PlacementPolicy) bool {
	if a.Type != b.Type || a.Max != b.Max || a.Tag != b.Tag || a.Rule != b.Rule || a.RuleType != b.RuleType ||
		a.Combiner != b.Combiner || a.HostLevel != b.HostLevel || len(a.Policies) != len(b.Policies) {
		return false
	}
	for i := range a.Policies {
		if !policyEqual(a.Policies[i], b.Policies[i]) {
			return false
		}
	}
	return true
}

// clonePolicy deep-copies a policy.
func clonePolicy(p model.PlacementPolicy) model.PlacementPolicy {
	if p.Policies != nil {
		ps := make([]model.PlacementPolicy, len(p.Policies))
		for i, c := range p.Policies {
			ps[i] = clonePolicy(c)
		}
		p.Policies = ps
	}
	return p
}

// combiner returns a composite's combiner, defaulted to AND.
func combiner(p model.PlacementPolicy) string {
	if p.Combiner == "" {
		return model.CombinerAnd
	}
	return strings.ToUpper(p.Combiner)
}

// ruleKey identifies a compiled rule.
func ruleKey(p model.PlacementPolicy) string {
	return strings.ToUpper(p.RuleType) + "\x00" + p.Rule
}

// writeKey appends a canonical encoding of p to b, for caching per-policy
// limits within a session.
func writeKey(b *strings.Builder, p model.PlacementPolicy) {
	b.WriteString(string(p.Type))
	switch p.Type {
	case model.PlacementMaxNPerHost:
		b.WriteString(strconv.Itoa(p.Max))
	case model.PlacementMatchTag:
		b.WriteString(strconv.Quote(p.Tag))
	case model.PlacementRuleBased:
		b.WriteString(strconv.Quote(ruleKey(p)))
	case model.PlacementComposite:
		b.WriteString(combiner(p))
		b.WriteByte('(')
		for _, c := range p.Policies {
			writeKey(b, c)
			b.WriteByte(',')
		}
		b.WriteByte(')')
	}
}

// policyKey identifies what a session's per-executor limits depend on: the
// policy, the allowed executor states and, for rules, the environment.
func policyKey(p model.PlacementPolicy, allowed []model.ExecutorState, env map[string]string) string {
	var b strings.Builder
	writeKey(&b, p)
	b.WriteByte('|')
	for _, s := range allowed {
		b.WriteString(string(s))
		b.WriteByte(',')
	}
	if hasRule(p) {
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte('|')
			b.WriteString(strconv.Quote(k))
			b.WriteString(strconv.Quote(env[k]))
		}
	}
	return b.String()
}

// validatePolicy checks that p can be evaluated, compiling rules through
// compile. allowLocal accepts LOCAL (local services only).
func validatePolicy(p model.PlacementPolicy, allowLocal bool, compile func(model.PlacementPolicy) error) error {
	switch p.Type {
	case model.PlacementAny, model.PlacementOnePerHost, model.PlacementNoTag:
		return nil
	case model.PlacementMaxNPerHost:
		if p.Max < 1 {
			return fmt.Errorf("%w: MAX_N_PER_HOST needs max >= 1, got %d", ErrInvalidPolicy, p.Max)
		}
	case model.PlacementMatchTag:
		if p.Tag == "" {
			return fmt.Errorf("%w: MATCH_TAG needs a tag", ErrInvalidPolicy)
		}
	case model.PlacementRuleBased:
		if err := compile(p); err != nil {
			return fmt.Errorf("%w: RULE_BASED: %w", ErrInvalidPolicy, err)
		}
	case model.PlacementComposite:
		if c := combiner(p); c != model.CombinerAnd && c != model.CombinerOr {
			return fmt.Errorf("%w: COMPOSITE combiner must be AND or OR, got %q", ErrInvalidPolicy, p.Combiner)
		}
		if len(p.Policies) == 0 {
			return fmt.Errorf("%w: COMPOSITE needs at least one policy", ErrInvalidPolicy)
		}
		for _, c := range p.Policies {
			if err := validatePolicy(c, allowLocal, compile); err != nil {
				return err
			}
		}
	case model.PlacementLocal:
		if !allowLocal {
			return fmt.Errorf("%w: LOCAL placement is only valid for local services", ErrInvalidPolicy)
		}
	case "":
		return fmt.Errorf("%w: policy type missing", ErrInvalidPolicy)
	default:
		return fmt.Errorf("%w: unknown policy type %q", ErrInvalidPolicy, p.Type)
	}
	return nil
}

// staticEval evaluates the parts of a policy that do not depend on instance
// counts (tags, rules) for one executor.
type staticEval interface {
	hasTag(tag string) bool
	noTag() bool
	rule(p model.PlacementPolicy) bool
}

// limitOf reduces p, for one executor, to the exclusive bound on the
// number of instances of the group that executor may already hold: the
// instance may go there iff count < limitOf. ONE_PER_HOST is 1,
// MAX_N_PER_HOST is max, a static predicate is unlimited or 0, AND is the
// minimum and OR the maximum of its children. p must be valid.
func limitOf(p model.PlacementPolicy, ev staticEval) int32 {
	switch p.Type {
	case model.PlacementOnePerHost:
		return 1
	case model.PlacementMaxNPerHost:
		return int32(min(p.Max, unlimited))
	case model.PlacementMatchTag:
		return boolLimit(ev.hasTag(p.Tag))
	case model.PlacementNoTag:
		return boolLimit(ev.noTag())
	case model.PlacementRuleBased:
		return boolLimit(ev.rule(p))
	case model.PlacementComposite:
		and := combiner(p) == model.CombinerAnd
		var lim int32
		if and {
			lim = unlimited
		}
		for _, c := range p.Policies {
			l := limitOf(c, ev)
			if and {
				lim = min(lim, l)
			} else {
				lim = max(lim, l)
			}
		}
		return lim
	}
	return unlimited // ANY, LOCAL
}

func boolLimit(ok bool) int32 {
	if ok {
		return unlimited
	}
	return 0
}

// explain names the part of p that rejects an executor holding count
// instances of the group (only called when it does).
func explain(p model.PlacementPolicy, ev staticEval, count int32) string {
	switch p.Type {
	case model.PlacementOnePerHost:
		return "ONE_PER_HOST"
	case model.PlacementMaxNPerHost:
		return fmt.Sprintf("MAX_N_PER_HOST(%d)", p.Max)
	case model.PlacementMatchTag:
		return fmt.Sprintf("MATCH_TAG(%s)", p.Tag)
	case model.PlacementNoTag:
		return "NO_TAG"
	case model.PlacementRuleBased:
		return fmt.Sprintf("RULE_BASED(%s)", p.Rule)
	case model.PlacementComposite:
		if combiner(p) == model.CombinerAnd {
			for _, c := range p.Policies {
				if limitOf(c, ev) <= count {
					return explain(c, ev, count)
				}
			}
		}
		parts := make([]string, len(p.Policies))
		for i, c := range p.Policies {
			parts[i] = explain(c, ev, count)
		}
		return "OR(" + strings.Join(parts, ", ") + ")"
	}
	return string(p.Type)
}
