package scheduler

import (
	"fmt"

	"github.com/drove-go/drove/fsm/model"
)

// execOpt tweaks a fake executor.
type execOpt func(*ExecutorView)

// fakeExec is an ACTIVE executor "id" on host "id.host", tagged with its
// hostname, with 2 NUMA nodes of 4 cores (node 0: 0-3, node 1: 4-7) and
// 4096 MB each, unless opts say otherwise.
func fakeExec(id string, opts ...execOpt) ExecutorView {
	v := ExecutorView{ID: id, Hostname: id + ".host", State: model.ExecutorActive, Tags: []string{id + ".host"}}
	layout(2, 4, 4096)(&v)
	for _, o := range opts {
		o(&v)
	}
	return v
}

// layout gives the executor nodes NUMA nodes of cores cores and mem MB;
// core ids are numbered across nodes.
func layout(nodes, cores int, mem int64) execOpt {
	return func(v *ExecutorView) {
		v.Layout = model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{}}
		for n := range nodes {
			for c := range cores {
				v.Layout.Cores[n] = append(v.Layout.Cores[n], n*cores+c)
			}
			v.Layout.Memory[n] = mem
		}
	}
}

func tags(t ...string) execOpt {
	return func(v *ExecutorView) { v.Tags = append(v.Tags, t...) }
}

func state(s model.ExecutorState) execOpt {
	return func(v *ExecutorView) { v.State = s }
}

func meta(kv ...string) execOpt {
	return func(v *ExecutorView) {
		v.Metadata = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Metadata[kv[i]] = kv[i+1]
		}
	}
}

// used marks cores and memory of a NUMA node as held by instances.
func used(node int, mem int64, cores ...int) execOpt {
	return func(v *ExecutorView) {
		if v.UsedCores == nil {
			v.UsedCores, v.UsedMemory = map[int][]int{}, map[int]int64{}
		}
		v.UsedCores[node] = append(v.UsedCores[node], cores...)
		v.UsedMemory[node] += mem
	}
}

func execs(n int, opts ...execOpt) []ExecutorView {
	out := make([]ExecutorView, n)
	for i := range out {
		out[i] = fakeExec(fmt.Sprintf("e%d", i+1), opts...)
	}
	return out
}

func inst(group, executor string, s model.InstanceState) InstanceView {
	return InstanceView{GroupID: group, GroupName: group, ExecutorID: executor, State: s}
}

// Policy shorthands.
var (
	anyP     = model.PlacementPolicy{Type: model.PlacementAny}
	onePer   = model.PlacementPolicy{Type: model.PlacementOnePerHost}
	noTagP   = model.PlacementPolicy{Type: model.PlacementNoTag}
	localP   = model.PlacementPolicy{Type: model.PlacementLocal}
	emptyPol = model.PlacementPolicy{}
)

func maxN(n int) model.PlacementPolicy {
	return model.PlacementPolicy{Type: model.PlacementMaxNPerHost, Max: n}
}

func matchTag(t string) model.PlacementPolicy {
	return model.PlacementPolicy{Type: model.PlacementMatchTag, Tag: t}
}

func rule(typ, r string) model.PlacementPolicy {
	return model.PlacementPolicy{Type: model.PlacementRuleBased, RuleType: typ, Rule: r}
}

func and(ps ...model.PlacementPolicy) model.PlacementPolicy {
	return model.PlacementPolicy{Type: model.PlacementComposite, Combiner: model.CombinerAnd, Policies: ps}
}

func or(ps ...model.PlacementPolicy) model.PlacementPolicy {
	return model.PlacementPolicy{Type: model.PlacementComposite, Combiner: model.CombinerOr, Policies: ps}
}

// app is a 1-core, 512 MB request of group "app-1".
func app(p model.PlacementPolicy) Request {
	return Request{GroupID: "app-1", GroupName: "app", Cores: 1, MemoryMB: 512, Policy: p}
}
