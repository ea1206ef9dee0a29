package scheduler

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// benchCluster is 1,000 executors with 2 NUMA nodes of 16 cores and 64 GB;
// every 5th is tagged "gpu". 10,000 existing instances of other apps are
// spread over them (they count for nothing but must not slow placement).
func benchCluster() State {
	st := State{}
	for i := range 1000 {
		opts := []execOpt{layout(2, 16, 65536), meta("rack", fmt.Sprintf("r%d", i%10))}
		if i%5 == 0 {
			opts = append(opts, tags("gpu"))
		}
		st.Executors = append(st.Executors, fakeExec(fmt.Sprintf("exec-%04d", i), opts...))
	}
	for i := range 10000 {
		st.Instances = append(st.Instances, inst(fmt.Sprintf("other-%d", i%100), st.Executors[i%1000].ID, model.InstanceHealthy))
	}
	return st
}

// benchRequests is 10,000 placements: 8 ONE_PER_HOST apps × 750 instances
// (over the 800 untagged executors, implicit NO_TAG) and 2 apps × 2,000
// instances with MATCH_TAG(gpu) AND MAX_N_PER_HOST(10) (over the 200 gpu
// executors).
func benchRequests() []Request {
	var reqs []Request
	for a := range 8 {
		for range 750 {
			reqs = append(reqs, Request{GroupID: fmt.Sprintf("web-%d", a), Cores: 1, MemoryMB: 1024, Policy: onePer})
		}
	}
	for a := range 2 {
		for range 2000 {
			reqs = append(reqs, Request{GroupID: fmt.Sprintf("gpu-%d", a), Cores: 1, MemoryMB: 2048,
				Policy: and(matchTag("gpu"), maxN(10))})
		}
	}
	return reqs
}

// BenchmarkSession_Place10kOver1k places 10,000 instances over 1,000
// executors in one session (session construction included).
func BenchmarkSession_Place10kOver1k(b *testing.B) {
	st, reqs := benchCluster(), benchRequests()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s := NewSession(st, rand.New(rand.NewSource(int64(i))))
		for _, r := range reqs {
			if _, err := s.Place(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(reqs))/b.Elapsed().Seconds(), "placements/s")
}

// BenchmarkSession_PlaceRuleBased is the same cluster with a rule-based
// policy (rules are evaluated once per executor per session).
func BenchmarkSession_PlaceRuleBased(b *testing.B) {
	st := benchCluster()
	req := Request{GroupID: "rack-app", Cores: 1, MemoryMB: 512,
		Policy: and(rule("MVEL", "allocatedExecutorNodeMetadata.rack == 'r3'"), maxN(5))}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s := NewSession(st, rand.New(rand.NewSource(int64(i))))
		for range 500 {
			if _, err := s.Place(req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "placements/s")
}

// The benchmark's workload is also a test: every instance finds a place,
// per-host limits hold, and the gpu apps land only on gpu executors.
func TestSession_Place10kOver1k(t *testing.T) {
	st, reqs := benchCluster(), benchRequests()
	gpu := map[string]bool{}
	for _, e := range st.Executors {
		if len(e.Tags) > 1 {
			gpu[e.ID] = true
		}
	}
	s := NewSession(st, rand.New(rand.NewSource(1)))
	perHost := map[string]int{}
	for _, r := range reqs {
		p, err := s.Place(r)
		require.NoError(t, err)
		require.Equal(t, r.Policy.Type == model.PlacementComposite, gpu[p.ExecutorID], "%s on %s", r.GroupID, p.ExecutorID)
		perHost[r.GroupID+"/"+p.ExecutorID]++
	}
	for k, n := range perHost {
		if k[:3] == "web" {
			require.Equal(t, 1, n, k)
		} else {
			require.Equal(t, 10, n, k) // 2,000 over 200 hosts, max 10: exactly full
		}
	}
	_, err := s.Place(reqs[len(reqs)-1]) // gpu-1 is exactly full
	require.ErrorIs(t, err, ErrNoCapacity)
}
