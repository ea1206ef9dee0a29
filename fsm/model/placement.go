package model

import "encoding/json"

// PlacementType names a placement policy (Drove's PlacementPolicyType).
type PlacementType string

// Placement policy types.
const (
	PlacementAny         PlacementType = "ANY"
	PlacementOnePerHost  PlacementType = "ONE_PER_HOST"
	PlacementMaxNPerHost PlacementType = "MAX_N_PER_HOST"
	PlacementMatchTag    PlacementType = "MATCH_TAG"
	PlacementNoTag       PlacementType = "NO_TAG"
	PlacementRuleBased   PlacementType = "RULE_BASED"
	PlacementComposite   PlacementType = "COMPOSITE"
	PlacementLocal       PlacementType = "LOCAL"
)

// Combiners of a COMPOSITE policy.
const (
	CombinerAnd = "AND"
	CombinerOr  = "OR"
)

// PlacementPolicy is Drove's polymorphic placement policy, flattened: Type
// says which of the other fields apply (Max for MAX_N_PER_HOST, Tag for
// MATCH_TAG, Rule/RuleType for RULE_BASED, Policies/Combiner for COMPOSITE,
// HostLevel for LOCAL).
type PlacementPolicy struct {
	Type      PlacementType     `json:"type"`
	Max       int               `json:"max,omitempty"`
	Tag       string            `json:"tag,omitempty"`
	Rule      string            `json:"rule,omitempty"`
	RuleType  string            `json:"ruleType,omitempty"`
	Policies  []PlacementPolicy `json:"policies,omitempty"`
	Combiner  string            `json:"combiner,omitempty"`
	HostLevel bool              `json:"hostLevel,omitempty"`
}

// UnmarshalJSON accepts enum values case-insensitively, as Drove does.
func (p *PlacementPolicy) UnmarshalJSON(b []byte) error {
	type plain PlacementPolicy
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	v.Type = PlacementType(upper(string(v.Type)))
	v.RuleType, v.Combiner = upper(v.RuleType), upper(v.Combiner)
	*p = PlacementPolicy(v)
	return nil
}

// Resource requirement types.
const (
	RequirementCPU    = "CPU"
	RequirementMemory = "MEMORY"
)

// ResourceRequirement is Drove's polymorphic resource requirement:
// {"type":"CPU","count":n} or {"type":"MEMORY","sizeInMB":n}.
type ResourceRequirement struct {
	Type     string `json:"type"`
	Count    int    `json:"count,omitempty"`
	SizeInMB int64  `json:"sizeInMB,omitempty"`
}

// UnmarshalJSON accepts the type case-insensitively.
func (r *ResourceRequirement) UnmarshalJSON(b []byte) error {
	type plain ResourceRequirement
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	v.Type = upper(v.Type)
	*r = ResourceRequirement(v)
	return nil
}

// MarshalJSON writes hostLevel for a LOCAL policy even when false, as
// Drove's LocalPlacementPolicy (a primitive boolean) does; other policies
// leave it out.
func (p PlacementPolicy) MarshalJSON() ([]byte, error) {
	type plain PlacementPolicy
	if p.Type != PlacementLocal {
		return json.Marshal(plain(p))
	}
	return json.Marshal(struct {
		plain
		HostLevel bool `json:"hostLevel"`
	}{plain(p), p.HostLevel})
}
