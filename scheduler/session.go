package scheduler

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"sort"
	"strings"

	"github.com/drove-go/drove/fsm/model"
	"github.com/expr-lang/expr/vm"
)

// Session places the instances of one operation. Its placements count
// against each other: cores and memory they take are no longer free, and
// they count for ONE_PER_HOST / MAX_N_PER_HOST like existing instances.
// A Session copies what it needs from the State and never modifies it.
// It is not safe for concurrent use.
type Session struct {
	execs []execState // in the session's shuffled order
	byID  map[string]int

	groupHosts map[string][]int   // group → positions of its active instances (one per instance)
	counts     map[string][]int32 // group → instances per executor position (lazy)
	limits     map[string]*policyLimits
	cands      map[candKey][]int32 // executors that may still take the group under a policy
	last       lastRequest
	rules      map[string]ruleEntry
	allMeta    map[string]map[string]string // lazy, for rules
	machine    vm.VM
}

// candKey identifies a candidate list: a group under a policy.
type candKey struct {
	group string
	pl    *policyLimits
}

// lastRequest memoizes the policy resolution of the previous Place, since
// an operation places many instances of the same request in a row.
type lastRequest struct {
	policy   model.PlacementPolicy // deep copy of Request.Policy
	explicit bool
	allowed  []model.ExecutorState
	env      map[string]string // only compared when the policy has rules
	rules    bool
	pl       *policyLimits
}

// execState is one executor's free resources within a session.
type execState struct {
	view      *ExecutorView
	nodes     []numaNode // by ascending id
	freeCores int
	allocs    []alloc // placements made by this session, for Release
}

// numaNode is the free part of one NUMA node.
type numaNode struct {
	id      int
	free    []int // ascending core ids
	freeMem int64
}

// alloc is one placement made by the session.
type alloc struct {
	group string
	node  int
	cores []int
	mem   int64
}

// policyLimits caches, for one policy key, each executor's limit (see
// limitOf; 0 for executors in a state that is not allowed).
type policyLimits struct {
	policy  model.PlacementPolicy // effective policy
	limits  []int32
	allowed []model.ExecutorState
	env     map[string]string
	err     error
}

type ruleEntry struct {
	prog *vm.Program
	err  error
}

// NewSession opens a scheduling session over st. rng shuffles the executor
// order used to break ties; nil keeps the order of st.Executors. Executors
// with a duplicate ID are ignored after the first.
func NewSession(st State, rng *rand.Rand) *Session {
	order := make([]int, len(st.Executors))
	for i := range order {
		order[i] = i
	}
	if rng != nil {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	s := &Session{
		execs:      make([]execState, 0, len(order)),
		byID:       make(map[string]int, len(order)),
		groupHosts: make(map[string][]int),
		counts:     make(map[string][]int32),
		limits:     make(map[string]*policyLimits),
		cands:      make(map[candKey][]int32),
		rules:      make(map[string]ruleEntry),
	}
	for _, idx := range order {
		v := &st.Executors[idx]
		if _, dup := s.byID[v.ID]; dup {
			continue
		}
		s.byID[v.ID] = len(s.execs)
		s.execs = append(s.execs, newExecState(v))
	}
	for _, in := range st.Instances {
		if pos, ok := s.byID[in.ExecutorID]; ok && in.State.IsActive() {
			s.groupHosts[in.GroupID] = append(s.groupHosts[in.GroupID], pos)
		}
	}
	return s
}

// newExecState computes an executor's free cores and memory per NUMA node.
func newExecState(v *ExecutorView) execState {
	ids := make([]int, 0, len(v.Layout.Cores)+len(v.Layout.Memory))
	for id := range v.Layout.Cores {
		ids = append(ids, id)
	}
	for id := range v.Layout.Memory {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	e := execState{view: v, nodes: make([]numaNode, len(ids))}
	for k, id := range ids {
		n := &e.nodes[k]
		n.id, n.freeMem = id, max(v.Layout.Memory[id]-v.UsedMemory[id], 0)
		n.free = freeCores(v.Layout.Cores[id], v.UsedCores[id])
		e.freeCores += len(n.free)
	}
	return e
}

// freeCores returns the cores of layout not in used, ascending.
func freeCores(layout, used []int) []int {
	free := make([]int, 0, len(layout))
	if len(used) == 0 {
		free = append(free, layout...)
	} else {
		u := slices.Clone(used)
		slices.Sort(u)
		for _, c := range layout {
			if _, found := slices.BinarySearch(u, c); !found {
				free = append(free, c)
			}
		}
	}
	if !slices.IsSorted(free) {
		slices.Sort(free)
	}
	return free
}

// bestNode returns the index of the NUMA node that fits cores and mem with
// the fewest free cores (lowest id on ties), or -1.
func (e *execState) bestNode(cores int, mem int64) int {
	best := -1
	for i := range e.nodes {
		n := &e.nodes[i]
		if len(n.free) >= cores && n.freeMem >= mem && (best < 0 || len(n.free) < len(e.nodes[best].free)) {
			best = i
		}
	}
	return best
}

// Place chooses an executor and NUMA node for one instance and reserves
// its cores and memory in the session. Among executors in an allowed state
// that pass the policy and fit, it prefers the fewest instances of
// req.GroupID, then the most free cores, then the session's shuffled order.
// The error wraps ErrNoCapacity (saying which constraint excluded how many
// executors), ErrInvalidPolicy or ErrInvalidRequest.
func (s *Session) Place(req Request) (Placement, error) {
	if req.Cores < 0 || req.MemoryMB < 0 {
		return Placement{}, fmt.Errorf("%w: cores %d and memory %d MB must not be negative",
			ErrInvalidRequest, req.Cores, req.MemoryMB)
	}
	pl := s.resolve(req)
	if pl.err != nil {
		return Placement{}, pl.err
	}
	counts := s.countsFor(req.GroupID)
	ck := candKey{req.GroupID, pl}
	cands, ok := s.cands[ck]
	if !ok {
		cands = s.candidates(pl)
	}
	// One pass over the candidates in shuffled order, dropping those the
	// group has filled up to the policy's limit: counts only grow until a
	// Release, which discards the group's lists.
	best, bestCount, bestFree := -1, int32(0), 0
	w := 0
	for _, i := range cands {
		c := counts[i]
		if c >= pl.limits[i] {
			continue
		}
		cands[w] = i
		w++
		e := &s.execs[i]
		if best >= 0 && (c > bestCount || (c == bestCount && e.freeCores <= bestFree)) {
			continue // cannot beat the current best: skip the fit check
		}
		if e.bestNode(req.Cores, req.MemoryMB) < 0 {
			continue
		}
		best, bestCount, bestFree = int(i), c, e.freeCores
	}
	s.cands[ck] = cands[:w]
	if best < 0 {
		return Placement{}, s.noCapacity(req, pl, counts)
	}
	return s.take(best, req, counts), nil
}

// candidates lists the executor positions a policy does not exclude
// outright, in session order.
func (s *Session) candidates(pl *policyLimits) []int32 {
	out := make([]int32, 0, len(s.execs))
	for i, l := range pl.limits {
		if l > 0 {
			out = append(out, int32(i))
		}
	}
	return out
}

// take reserves req on executor position i.
func (s *Session) take(i int, req Request, counts []int32) Placement {
	e := &s.execs[i]
	n := &e.nodes[e.bestNode(req.Cores, req.MemoryMB)]
	cores := slices.Clone(n.free[:req.Cores])
	n.free = n.free[req.Cores:]
	n.freeMem -= req.MemoryMB
	e.freeCores -= req.Cores
	counts[i]++
	e.allocs = append(e.allocs, alloc{group: req.GroupID, node: n.id, cores: cores, mem: req.MemoryMB})
	return Placement{
		ExecutorID: e.view.ID,
		Hostname:   e.view.Hostname,
		GroupID:    req.GroupID,
		Node:       n.id,
		Cores:      slices.Clone(cores),
		MemoryMB:   req.MemoryMB,
	}
}

// Release gives back a placement made by this session (a failed start):
// its cores and memory become free and it no longer counts for per-host
// policies. It returns ErrUnknownPlacement for a placement this session
// did not make or already released.
func (s *Session) Release(p Placement) error {
	i, ok := s.byID[p.ExecutorID]
	if !ok {
		return fmt.Errorf("%w: executor %s", ErrUnknownPlacement, p.ExecutorID)
	}
	e := &s.execs[i]
	k := slices.IndexFunc(e.allocs, func(a alloc) bool {
		return a.group == p.GroupID && a.node == p.Node && a.mem == p.MemoryMB && slices.Equal(a.cores, p.Cores)
	})
	if k < 0 {
		return fmt.Errorf("%w: %s on %s node %d cores %v", ErrUnknownPlacement, p.GroupID, p.ExecutorID, p.Node, p.Cores)
	}
	a := e.allocs[k]
	e.allocs = slices.Delete(e.allocs, k, k+1)
	for j := range e.nodes {
		n := &e.nodes[j]
		if n.id == a.node {
			n.free = append(slices.Clone(n.free), a.cores...)
			slices.Sort(n.free)
			n.freeMem += a.mem
		}
	}
	e.freeCores += len(a.cores)
	s.counts[a.group][i]--
	for k := range s.cands {
		if k.group == a.group {
			delete(s.cands, k)
		}
	}
	return nil
}

// PlaceN places n instances of req, all or nothing: on failure every
// placement made by this call is released and the error is returned.
func (s *Session) PlaceN(req Request, n int) ([]Placement, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: negative instance count %d", ErrInvalidRequest, n)
	}
	out := make([]Placement, 0, n)
	for k := range n {
		p, err := s.Place(req)
		if err != nil {
			for j := len(out) - 1; j >= 0; j-- {
				_ = s.Release(out[j]) // made by this session: cannot fail
			}
			return nil, fmt.Errorf("instance %d of %d: %w", k+1, n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// countsFor returns the per-executor instance counts of a group, building
// them on first use from the active instances in the State.
func (s *Session) countsFor(group string) []int32 {
	if c, ok := s.counts[group]; ok {
		return c
	}
	c := make([]int32, len(s.execs))
	for _, pos := range s.groupHosts[group] {
		c[pos]++
	}
	s.counts[group] = c
	return c
}

// resolve returns the effective policy of a request and its per-executor
// limits, validating the policy and evaluating its static parts once per
// session.
func (s *Session) resolve(req Request) *policyLimits {
	allowed := req.allowedStates()
	l := &s.last
	if l.pl != nil && l.explicit == req.ExplicitPolicy && policyEqual(l.policy, req.Policy) &&
		slices.Equal(l.allowed, allowed) && (!l.rules || maps.Equal(l.env, req.Env)) {
		return l.pl
	}
	policy := req.Policy
	if !req.ExplicitPolicy {
		policy = EffectivePolicy(policy)
	} else if policy.Type == "" {
		policy.Type = model.PlacementAny
	}
	key := policyKey(policy, allowed, req.Env)
	if req.ExplicitPolicy {
		key = "explicit|" + key
	}
	pl, ok := s.limits[key]
	if !ok {
		pl = s.computeLimits(policy, req.ExplicitPolicy, slices.Clone(allowed), maps.Clone(req.Env))
		s.limits[key] = pl
	}
	*l = lastRequest{policy: clonePolicy(req.Policy), explicit: req.ExplicitPolicy,
		allowed: slices.Clone(allowed), env: maps.Clone(req.Env), rules: hasRule(policy), pl: pl}
	return pl
}

// computeLimits validates policy and evaluates it for every executor.
func (s *Session) computeLimits(policy model.PlacementPolicy, explicit bool,
	allowed []model.ExecutorState, env map[string]string) *policyLimits {
	pl := &policyLimits{policy: policy, allowed: allowed, env: env}
	if pl.err = validatePolicy(policy, explicit, s.compile); pl.err != nil {
		return pl
	}
	pl.limits = make([]int32, len(s.execs))
	for i := range s.execs {
		if stateAllowed(allowed, s.execs[i].view.State) {
			pl.limits[i] = limitOf(policy, s.evaluator(i, env))
		}
	}
	return pl
}

// compile compiles a rule once per session.
func (s *Session) compile(p model.PlacementPolicy) error {
	k := ruleKey(p)
	r, ok := s.rules[k]
	if !ok {
		r.prog, r.err = compileRule(p.Rule, p.RuleType)
		s.rules[k] = r
	}
	return r.err
}

// noCapacity explains, executor by executor, why nothing fits.
func (s *Session) noCapacity(req Request, pl *policyLimits, counts []int32) error {
	states := map[string]int{}
	policies := map[string]int{}
	var nStates, nPolicy, nFit int
	for i := range s.execs {
		e := &s.execs[i]
		switch {
		case !stateAllowed(pl.allowed, e.view.State):
			states[string(e.view.State)]++
			nStates++
		case counts[i] >= pl.limits[i]:
			policies[explain(pl.policy, s.evaluator(i, pl.env), counts[i])]++
			nPolicy++
		default:
			nFit++
		}
	}
	var parts []string
	if nStates > 0 {
		parts = append(parts, fmt.Sprintf("%d not in an allowed state %v (%s)", nStates, pl.allowed, tally(states)))
	}
	if nPolicy > 0 {
		parts = append(parts, fmt.Sprintf("%d excluded by placement policy (%s)", nPolicy, tally(policies)))
	}
	if nFit > 0 {
		parts = append(parts, fmt.Sprintf("%d without a NUMA node with %d free cores and %d MB free memory",
			nFit, req.Cores, req.MemoryMB))
	}
	if len(s.execs) == 0 {
		parts = append(parts, "there are no executors")
	}
	return fmt.Errorf("%w: cannot place %s (%d cores, %d MB) on any of %d executors: %s",
		ErrNoCapacity, req.label(), req.Cores, req.MemoryMB, len(s.execs), strings.Join(parts, "; "))
}

// tally renders counts as "a: 1, b: 2", sorted by key.
func tally(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(keys, ", ")
}

// evaluator returns the static policy evaluator of executor position i.
func (s *Session) evaluator(i int, env map[string]string) staticEval {
	return execEval{s: s, e: s.execs[i].view, env: env}
}

// execEval evaluates tags and rules for one executor.
type execEval struct {
	s   *Session
	e   *ExecutorView
	env map[string]string
}

func (x execEval) hasTag(tag string) bool { return slices.Contains(x.e.Tags, tag) }

func (x execEval) noTag() bool {
	for _, t := range x.e.Tags {
		if t != x.e.Hostname {
			return false
		}
	}
	return true
}

// rule evaluates a (compiled, valid) rule; a run-time error or a non-bool
// result rejects the executor.
func (x execEval) rule(p model.PlacementPolicy) bool {
	r := x.s.rules[ruleKey(p)]
	if r.prog == nil {
		return false
	}
	ok, err := runRule(&x.s.machine, r.prog, SchedulingInfo{
		ExecutorNodeID:                x.e.ID,
		AllocatedExecutorNodeMetadata: x.e.Metadata,
		AllExecutorMetadata:           x.s.allMetadata(),
		ApplicationEnvironment:        x.env,
	})
	return err == nil && ok
}

// allMetadata is every executor's metadata by id, built once.
func (s *Session) allMetadata() map[string]map[string]string {
	if s.allMeta == nil {
		s.allMeta = make(map[string]map[string]string, len(s.execs))
		for i := range s.execs {
			s.allMeta[s.execs[i].view.ID] = s.execs[i].view.Metadata
		}
	}
	return s.allMeta
}
