package scheduler

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// placeAll places n instances, each of which must succeed, and returns the
// executor ids used, sorted.
func placeAll(t *testing.T, s *Session, req Request, n int) []string {
	t.Helper()
	var ids []string
	for k := range n {
		p, err := s.Place(req)
		require.NoError(t, err, "placement %d of %d", k+1, n)
		ids = append(ids, p.ExecutorID)
	}
	sort.Strings(ids)
	return ids
}

func TestSession_PlacementPolicies(t *testing.T) {
	tagged := []ExecutorView{
		fakeExec("e1", tags("gpu")), fakeExec("e2", tags("gpu")), fakeExec("e3", tags("gpu")),
		fakeExec("e4"), fakeExec("e5"),
	}
	racks := []ExecutorView{
		fakeExec("e1", meta("rack", "r1")), fakeExec("e2", meta("rack", "r2")), fakeExec("e3", meta("rack", "r1")),
	}
	tests := []struct {
		name      string
		execs     []ExecutorView
		instances []InstanceView
		req       Request
		n         int      // placements that must succeed
		want      []string // executors they land on, sorted
		wantErr   error    // error of placement n+1, if any
		wantMsg   string   // substring of that error
	}{
		{name: "ANY spreads over untagged executors only (implicit NO_TAG)", execs: tagged,
			req: app(anyP), n: 4, want: []string{"e4", "e4", "e5", "e5"}},
		{name: "zero policy is ANY", execs: tagged,
			req: app(emptyPol), n: 2, want: []string{"e4", "e5"}},
		{name: "implicit NO_TAG excludes tagged executors", execs: execs(2, tags("gpu")),
			req: app(anyP), wantErr: ErrNoCapacity, wantMsg: "2 excluded by placement policy (NO_TAG: 2)"},
		{name: "NO_TAG ignores the hostname tag", execs: []ExecutorView{fakeExec("e1"), fakeExec("e2", tags("x"))},
			req: app(noTagP), n: 2, want: []string{"e1", "e1"}},
		{name: "MATCH_TAG selects tagged executors", execs: tagged,
			req: app(matchTag("gpu")), n: 3, want: []string{"e1", "e2", "e3"}},
		{name: "MATCH_TAG on the hostname pins an executor", execs: tagged,
			req: app(matchTag("e4.host")), n: 2, want: []string{"e4", "e4"}},
		{name: "MATCH_TAG with no match", execs: tagged,
			req: app(matchTag("ssd")), wantErr: ErrNoCapacity, wantMsg: "5 excluded by placement policy (MATCH_TAG(ssd): 5)"},
		{name: "ONE_PER_HOST: the 4th placement on 3 executors fails", execs: execs(3),
			req: app(onePer), n: 3, want: []string{"e1", "e2", "e3"},
			wantErr: ErrNoCapacity, wantMsg: "3 excluded by placement policy (ONE_PER_HOST: 3)"},
		{name: "ONE_PER_HOST counts existing active instances, not stopped ones or other apps", execs: execs(3),
			instances: []InstanceView{
				inst("app-1", "e1", model.InstanceHealthy), inst("app-1", "e2", model.InstanceStopped),
				inst("app-2", "e3", model.InstanceHealthy), inst("app-1", "gone", model.InstanceHealthy),
			},
			req: app(onePer), n: 2, want: []string{"e2", "e3"}, wantErr: ErrNoCapacity},
		{name: "MAX_N_PER_HOST(2) on 2 executors", execs: execs(2),
			instances: []InstanceView{inst("app-1", "e1", model.InstanceStarting)},
			req:       app(maxN(2)), n: 3, want: []string{"e1", "e2", "e2"},
			wantErr: ErrNoCapacity, wantMsg: "MAX_N_PER_HOST(2): 2"},
		{name: "COMPOSITE AND of MATCH_TAG and MAX_N_PER_HOST", execs: tagged,
			req: app(and(matchTag("gpu"), maxN(2))), n: 6, want: []string{"e1", "e1", "e2", "e2", "e3", "e3"},
			wantErr: ErrNoCapacity, wantMsg: "5 excluded by placement policy (MATCH_TAG(gpu): 2, MAX_N_PER_HOST(2): 3)"},
		{name: "COMPOSITE OR of MATCH_TAGs",
			execs: []ExecutorView{fakeExec("e1", tags("a")), fakeExec("e2", tags("b")), fakeExec("e3")},
			req:   app(and(or(matchTag("a"), matchTag("b")), onePer)), n: 2, want: []string{"e1", "e2"},
			wantErr: ErrNoCapacity, wantMsg: "OR(MATCH_TAG(a), MATCH_TAG(b)): 1"},
		{name: "nested OR of AND: gpu hosts once each, plain hosts freely",
			execs: []ExecutorView{fakeExec("e1", tags("gpu")), fakeExec("e2", tags("gpu")), fakeExec("e3", tags("ssd"))},
			req:   app(or(and(matchTag("gpu"), onePer), matchTag("ssd"))), n: 5,
			want: []string{"e1", "e2", "e3", "e3", "e3"}},
		{name: "COMPOSITE without combiner is AND", execs: tagged,
			req: app(model.PlacementPolicy{Type: model.PlacementComposite, Policies: []model.PlacementPolicy{matchTag("gpu"), onePer}}),
			n:   3, want: []string{"e1", "e2", "e3"}, wantErr: ErrNoCapacity},
		{name: "RULE_BASED MVEL on metadata", execs: racks,
			req: app(rule("MVEL", "allocatedExecutorNodeMetadata.rack == 'r1'")), n: 2, want: []string{"e1", "e3"}},
		{name: "RULE_BASED MVEL containsKey", execs: []ExecutorView{fakeExec("e1", meta("special", "yes")), fakeExec("e2")},
			req: app(rule("MVEL", `allocatedExecutorNodeMetadata.containsKey("special")`)), n: 2, want: []string{"e1", "e1"}},
		{name: "RULE_BASED MVEL on executor id, tags ignored", execs: tagged,
			req: app(rule("mvel", "executorNodeId=='e2'")), n: 1, want: []string{"e2"}},
		{name: "RULE_BASED HOPE JSON pointer", execs: racks,
			req: app(and(rule("HOPE", `'/allocatedExecutorNodeMetadata/rack' == "r2"`), onePer)), n: 1, want: []string{"e2"},
			wantErr: ErrNoCapacity, wantMsg: `RULE_BASED('/allocatedExecutorNodeMetadata/rack' == "r2"): 2`},
		{name: "RULE_BASED EXPR with application environment and all metadata", execs: racks,
			req: Request{GroupID: "app-1", Cores: 1, Env: map[string]string{"RACK": "r2"},
				Policy: rule("EXPR", `allocatedExecutorNodeMetadata.rack == applicationEnvironment.RACK && len(allExecutorMetadata) == 3`)},
			n: 1, want: []string{"e2"}},
		{name: "RULE_BASED run-time error rejects the executor",
			execs: []ExecutorView{fakeExec("e1", meta("n", "abc")), fakeExec("e2", meta("n", "5"))},
			req:   app(rule("EXPR", `int(allocatedExecutorNodeMetadata.n) > 1`)), n: 2, want: []string{"e2", "e2"}},
		{name: "LOCAL is invalid for applications", execs: execs(1),
			req: app(localP), wantErr: ErrInvalidPolicy, wantMsg: "LOCAL placement is only valid for local services"},
		{name: "ExplicitPolicy: LOCAL matches, no implicit NO_TAG", execs: execs(1, tags("x")),
			req: Request{GroupID: "svc", Cores: 1, Policy: and(localP, matchTag("e1.host")), ExplicitPolicy: true},
			n:   1, want: []string{"e1"}},
		{name: "ExplicitPolicy with the zero policy is ANY", execs: execs(1, tags("x")),
			req: Request{GroupID: "svc", Cores: 1, ExplicitPolicy: true}, n: 1, want: []string{"e1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSession(State{Executors: tt.execs, Instances: tt.instances}, rand.New(rand.NewSource(1)))
			require.Equal(t, tt.want, placeAll(t, s, tt.req, tt.n))
			if tt.wantErr == nil {
				return
			}
			_, err := s.Place(tt.req)
			require.ErrorIs(t, err, tt.wantErr)
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestSession_InvalidPolicies(t *testing.T) {
	tests := []struct {
		name   string
		policy model.PlacementPolicy
		msg    string
	}{
		{"MAX_N_PER_HOST without max", maxN(0), "MAX_N_PER_HOST needs max >= 1, got 0"},
		{"MATCH_TAG without tag", matchTag(""), "MATCH_TAG needs a tag"},
		{"unknown type", model.PlacementPolicy{Type: "SOMEWHERE"}, `unknown policy type "SOMEWHERE"`},
		{"nested missing type", and(anyP, emptyPol), "policy type missing"},
		{"bad combiner", model.PlacementPolicy{Type: model.PlacementComposite, Combiner: "XOR", Policies: []model.PlacementPolicy{anyP}}, "combiner must be AND or OR"},
		{"empty composite", and(), "COMPOSITE needs at least one policy"},
		{"rule does not compile", rule("MVEL", "aksjgdkadj"), "unknown name aksjgdkadj"},
		{"rule is not boolean", rule("EXPR", "executorNodeId"), "expected bool"},
		{"unknown rule type", rule("JS", "true"), `unsupported rule type "JS"`},
		{"nested LOCAL", or(anyP, localP), "LOCAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSession(State{Executors: execs(2)}, nil)
			_, err := s.Place(app(tt.policy))
			require.ErrorIs(t, err, ErrInvalidPolicy)
			require.Contains(t, err.Error(), tt.msg)
			// The cached verdict is returned again.
			_, err2 := s.Place(app(tt.policy))
			require.Equal(t, err, err2)
		})
	}
}

func TestSession_ResourceFit(t *testing.T) {
	tests := []struct {
		name      string
		exec      ExecutorView
		req       Request
		want      []Placement // successive placements
		wantErrIs error
		wantMsg   string // error of the placement after want
	}{
		{name: "cores are never split across NUMA nodes",
			exec:      fakeExec("e1", used(0, 0, 0, 1), used(1, 0, 4, 5)), // 2 free cores on each node
			req:       Request{GroupID: "g", Cores: 3},
			wantErrIs: ErrNoCapacity,
			wantMsg:   "cannot place g (3 cores, 0 MB) on any of 1 executors: 1 without a NUMA node with 3 free cores and 0 MB free memory"},
		{name: "lowest free core ids of the node",
			exec: fakeExec("e1", layout(1, 8, 4096), used(0, 0, 0, 2, 5)),
			req:  Request{GroupID: "g", Cores: 2, MemoryMB: 100},
			want: []Placement{
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 0, Cores: []int{1, 3}, MemoryMB: 100},
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 0, Cores: []int{4, 6}, MemoryMB: 100},
			},
			wantErrIs: ErrNoCapacity},
		{name: "best-fit node: the fullest node that fits",
			exec: fakeExec("e1", used(0, 0, 0, 1)), // node 0: 2 free, node 1: 4 free
			req:  Request{GroupID: "g", Cores: 2},
			want: []Placement{
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 0, Cores: []int{2, 3}},
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 1, Cores: []int{4, 5}},
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 1, Cores: []int{6, 7}},
			},
			wantErrIs: ErrNoCapacity},
		{name: "memory must fit on the same node as the cores",
			exec: fakeExec("e1", used(1, 3000)), // node 0: 4096 MB, node 1: 1096 MB
			req:  Request{GroupID: "g", Cores: 1, MemoryMB: 2048},
			want: []Placement{
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 0, Cores: []int{0}, MemoryMB: 2048},
				{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 0, Cores: []int{1}, MemoryMB: 2048},
			},
			wantErrIs: ErrNoCapacity, wantMsg: "without a NUMA node with 1 free cores and 2048 MB free memory"},
		{name: "memory-only request",
			exec:      fakeExec("e1", layout(1, 1, 1000), used(0, 0, 0)),
			req:       Request{GroupID: "g", MemoryMB: 600},
			want:      []Placement{{ExecutorID: "e1", Hostname: "e1.host", GroupID: "g", Node: 0, Cores: []int{}, MemoryMB: 600}},
			wantErrIs: ErrNoCapacity},
		{name: "negative request", exec: fakeExec("e1"), req: Request{Cores: -1}, wantErrIs: ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.ExplicitPolicy = true
			s := NewSession(State{Executors: []ExecutorView{tt.exec}}, nil)
			for k, want := range tt.want {
				p, err := s.Place(tt.req)
				require.NoError(t, err, "placement %d", k+1)
				if len(want.Cores) == 0 {
					require.Empty(t, p.Cores)
					p.Cores, want.Cores = nil, nil
				}
				require.Equal(t, want, p, "placement %d", k+1)
			}
			_, err := s.Place(tt.req)
			require.ErrorIs(t, err, tt.wantErrIs)
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestSession_ExecutorStates(t *testing.T) {
	st := State{Executors: []ExecutorView{
		fakeExec("unready", state(model.ExecutorUnready)),
		fakeExec("blacklisted", state(model.ExecutorBlacklisted)),
		fakeExec("requested", state(model.ExecutorBlacklistRequested)),
		fakeExec("removed", state(model.ExecutorRemoved)),
		fakeExec("active"),
	}}
	tests := []struct {
		name    string
		allowed []model.ExecutorState
		n       int
		want    []string
		wantMsg string
	}{
		{name: "default: ACTIVE only", n: 1, want: []string{"active"},
			wantMsg: "cannot place app-1 (1 cores, 512 MB) on any of 5 executors: " +
				"4 not in an allowed state [ACTIVE] (BLACKLISTED: 1, BLACKLIST_REQUESTED: 1, REMOVED: 1, UNREADY: 1); " +
				"1 excluded by placement policy (ONE_PER_HOST: 1)"},
		{name: "ACTIVE and UNREADY (local services)", allowed: []model.ExecutorState{model.ExecutorActive, model.ExecutorUnready},
			n: 2, want: []string{"active", "unready"}, wantMsg: "3 not in an allowed state [ACTIVE UNREADY]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := app(onePer)
			req.AllowedStates = tt.allowed
			s := NewSession(st, rand.New(rand.NewSource(7)))
			require.Equal(t, tt.want, placeAll(t, s, req, tt.n))
			_, err := s.Place(req)
			require.ErrorIs(t, err, ErrNoCapacity)
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestSession_PlacementsCountAgainstEachOther(t *testing.T) {
	// Two apps share one 2x4-core executor: cores taken by one are gone for
	// the other, but per-host counts are per group.
	s := NewSession(State{Executors: execs(1)}, nil)
	a := Request{GroupID: "a", Cores: 3, MemoryMB: 1000, Policy: onePer}
	b := Request{GroupID: "b", Cores: 3, MemoryMB: 1000, Policy: onePer}
	pa, err := s.Place(a)
	require.NoError(t, err)
	pb, err := s.Place(b)
	require.NoError(t, err)
	require.NotEqual(t, pa.Node, pb.Node)
	_, err = s.Place(Request{GroupID: "c", Cores: 2})
	require.ErrorIs(t, err, ErrNoCapacity)
	p, err := s.Place(Request{GroupID: "c", Cores: 1, MemoryMB: 3096})
	require.NoError(t, err)
	require.Len(t, p.Cores, 1)
	_, err = s.Place(Request{GroupID: "d", Cores: 1, MemoryMB: 3097})
	require.ErrorIs(t, err, ErrNoCapacity)
}

func TestSession_Release(t *testing.T) {
	s := NewSession(State{Executors: execs(1)}, nil)
	req := app(onePer)
	p, err := s.Place(req)
	require.NoError(t, err)
	_, err = s.Place(req)
	require.ErrorIs(t, err, ErrNoCapacity)

	require.NoError(t, s.Release(p))
	require.ErrorIs(t, s.Release(p), ErrUnknownPlacement, "double release")
	require.ErrorIs(t, s.Release(Placement{ExecutorID: "nope"}), ErrUnknownPlacement)

	again, err := s.Place(req)
	require.NoError(t, err)
	require.Equal(t, p, again, "the same cores come back")

	// Released cores rejoin the free list in order.
	s = NewSession(State{Executors: execs(1, layout(1, 4, 4096))}, nil)
	big := Request{GroupID: "g", Cores: 1, ExplicitPolicy: true}
	ps, err := s.PlaceN(big, 4)
	require.NoError(t, err)
	require.NoError(t, s.Release(ps[2]))
	require.NoError(t, s.Release(ps[0]))
	p, err = s.Place(Request{GroupID: "g", Cores: 2, ExplicitPolicy: true})
	require.NoError(t, err)
	require.Equal(t, []int{0, 2}, p.Cores)
}

func TestSession_PlaceN(t *testing.T) {
	s := NewSession(State{Executors: execs(3)}, rand.New(rand.NewSource(3)))
	req := app(onePer)
	_, err := s.PlaceN(req, 4)
	require.ErrorIs(t, err, ErrNoCapacity)
	require.Contains(t, err.Error(), "instance 4 of 4")

	ps, err := s.PlaceN(req, 3) // nothing left over from the failed call
	require.NoError(t, err)
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ExecutorID)
	}
	sort.Strings(ids)
	require.Equal(t, []string{"e1", "e2", "e3"}, ids)

	_, err = s.PlaceN(req, -1)
	require.ErrorIs(t, err, ErrInvalidRequest)
	ps, err = s.PlaceN(req, 0)
	require.NoError(t, err)
	require.Empty(t, ps)
}

func TestSession_Spreads(t *testing.T) {
	// Fewest instances of the group first, then most free cores.
	st := State{
		Executors: []ExecutorView{fakeExec("e1"), fakeExec("e2", used(0, 0, 0, 1, 2)), fakeExec("e3")},
		Instances: []InstanceView{inst("app-1", "e3", model.InstanceHealthy), inst("app-1", "e3", model.InstanceHealthy)},
	}
	s := NewSession(st, rand.New(rand.NewSource(1)))
	var got []string
	for range 6 {
		p, err := s.Place(app(anyP))
		require.NoError(t, err)
		got = append(got, p.ExecutorID)
	}
	// e1 (8 free) before e2 (5 free); e3 already holds 2 instances, so it
	// comes in once the others hold 2 too, and wins that round on free cores.
	require.Equal(t, []string{"e1", "e2", "e1", "e2", "e3", "e1"}, got)
}

func TestSession_Deterministic(t *testing.T) {
	st := State{Executors: execs(50)}
	run := func(seed int64) []string {
		s := NewSession(st, rand.New(rand.NewSource(seed)))
		var out []string
		for range 120 {
			p, err := s.Place(Request{GroupID: "g", Cores: 1, Policy: maxN(3)})
			require.NoError(t, err)
			out = append(out, fmt.Sprintf("%s/%d/%v", p.ExecutorID, p.Node, p.Cores))
		}
		return out
	}
	require.Equal(t, run(42), run(42))
	differs := false
	for seed := int64(1); seed < 5 && !differs; seed++ {
		differs = !slices.Equal(run(42), run(seed))
	}
	require.True(t, differs, "the seed drives tie-breaking")
}

func TestSession_DoesNotModifyState(t *testing.T) {
	st := State{
		Executors: []ExecutorView{fakeExec("e1", used(0, 100, 1), meta("rack", "r1")), fakeExec("e2", tags("gpu"))},
		Instances: []InstanceView{inst("app-1", "e1", model.InstanceHealthy)},
	}
	before := State{
		Executors: []ExecutorView{fakeExec("e1", used(0, 100, 1), meta("rack", "r1")), fakeExec("e2", tags("gpu"))},
		Instances: []InstanceView{inst("app-1", "e1", model.InstanceHealthy)},
	}
	s := NewSession(st, rand.New(rand.NewSource(1)))
	ps, err := s.PlaceN(Request{GroupID: "g", Cores: 1, Policy: rule("MVEL", "true")}, 10)
	require.NoError(t, err)
	for _, p := range ps {
		require.NoError(t, s.Release(p))
	}
	require.True(t, reflect.DeepEqual(before, st))
}

func TestSession_DuplicateAndEmpty(t *testing.T) {
	s := NewSession(State{}, rand.New(rand.NewSource(1)))
	_, err := s.Place(app(anyP))
	require.ErrorIs(t, err, ErrNoCapacity)
	require.Contains(t, err.Error(), "on any of 0 executors: there are no executors")
	_, err = s.Place(Request{GroupName: "web"})
	require.Contains(t, err.Error(), "cannot place web (0 cores, 0 MB)")
	_, err = s.Place(Request{})
	require.Contains(t, err.Error(), "cannot place instance (0 cores, 0 MB)")

	dup := fakeExec("e1", layout(1, 1, 100))
	s = NewSession(State{Executors: []ExecutorView{fakeExec("e1", layout(1, 1, 100)), dup}}, nil)
	_, err = s.PlaceN(Request{GroupID: "g", Cores: 1}, 2)
	require.ErrorIs(t, err, ErrNoCapacity, "a duplicate executor id is ignored")
}

func TestPlacement_Resources(t *testing.T) {
	p := Placement{ExecutorID: "e1", Node: 1, Cores: []int{4, 5}, MemoryMB: 512}
	res := p.Resources()
	require.Equal(t, []model.ResourceAllocation{
		{Type: model.ResourceCPU, Cores: map[int][]int{1: {4, 5}}},
		{Type: model.ResourceMemory, MemoryInMB: map[int]int64{1: 512}},
	}, res)
	res[0].Cores[1][0] = 99
	require.Equal(t, 4, p.Cores[0], "Resources copies the cores")
}

// The session memoizes the last request's policy; a caller reusing and
// modifying its policy or environment between calls must not get a stale
// answer.
func TestSession_RequestChangesBetweenCalls(t *testing.T) {
	st := State{Executors: []ExecutorView{
		fakeExec("e1", tags("a"), meta("rack", "r1")),
		fakeExec("e2", tags("b"), meta("rack", "r2")),
	}}
	s := NewSession(st, nil)
	req := app(and(matchTag("a"), maxN(5)))
	p, err := s.Place(req)
	require.NoError(t, err)
	require.Equal(t, "e1", p.ExecutorID)
	req.Policy.Policies[0].Tag = "b" // same backing array
	p, err = s.Place(req)
	require.NoError(t, err)
	require.Equal(t, "e2", p.ExecutorID)

	req = app(rule("EXPR", "allocatedExecutorNodeMetadata.rack == applicationEnvironment.RACK"))
	req.Env = map[string]string{"RACK": "r1"}
	p, err = s.Place(req)
	require.NoError(t, err)
	require.Equal(t, "e1", p.ExecutorID)
	req.Env["RACK"] = "r2" // same map
	p, err = s.Place(req)
	require.NoError(t, err)
	require.Equal(t, "e2", p.ExecutorID)

	// Alternating requests of two groups keep their own counts.
	s = NewSession(State{Executors: execs(2)}, nil)
	for range 2 {
		for _, g := range []string{"x", "y"} {
			_, err := s.Place(Request{GroupID: g, Cores: 1, Policy: onePer})
			require.NoError(t, err)
		}
	}
	_, err = s.Place(Request{GroupID: "x", Cores: 1, Policy: onePer})
	require.ErrorIs(t, err, ErrNoCapacity)
	_, err = s.Place(Request{GroupID: "x", Cores: 1, Policy: onePer, AllowedStates: []model.ExecutorState{model.ExecutorActive, model.ExecutorUnready}})
	require.ErrorIs(t, err, ErrNoCapacity)
}
