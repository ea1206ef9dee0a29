package scheduler

import (
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

func TestCheckCapacity_DroveMessages(t *testing.T) {
	// Three executors with 2 NUMA nodes of 4 cores and 4096 MB: 24 cores,
	// 24576 MB; e1 has 3 cores and 1000 MB in use.
	three := []ExecutorView{fakeExec("e1", used(0, 1000, 0, 1, 2)), fakeExec("e2"), fakeExec("e3")}
	tests := []struct {
		name  string
		execs []ExecutorView
		req   Request
		count int
		want  []string // nil: OK
	}{
		{name: "fits", execs: three, req: Request{Cores: 3, MemoryMB: 1024}, count: 7},
		{name: "no executors", req: Request{Cores: 1}, count: 1,
			want: []string{"No executors on cluster"}},
		{name: "no ACTIVE executors",
			execs: []ExecutorView{fakeExec("e1", state(model.ExecutorUnready)), fakeExec("e2", state(model.ExecutorBlacklisted))},
			req:   Request{Cores: 1}, count: 1, want: []string{"No executors on cluster"}},
		{name: "not enough CPU", execs: three, req: Request{Cores: 2, MemoryMB: 10}, count: 11,
			want: []string{"Cluster does not have enough CPU. Required: 22 Available: 21"}},
		{name: "not enough memory", execs: three, req: Request{Cores: 1, MemoryMB: 2000}, count: 12,
			want: []string{"Cluster does not have enough Memory. Required: 24000 Available: 23576"}},
		{name: "both", execs: three, req: Request{Cores: 4, MemoryMB: 4096}, count: 6,
			want: []string{
				"Cluster does not have enough CPU. Required: 24 Available: 21",
				"Cluster does not have enough Memory. Required: 24576 Available: 23576",
			}},
		{name: "cores exceed a NUMA node (Drove prints the total as Required)", execs: three,
			req: Request{Cores: 5, MemoryMB: 100}, count: 2,
			want: []string{"Required cores exceeds the maximum core available on a single NUMA node in the cluster. Required: 10 Max: 4"}},
		{name: "NUMA size counts used cores too", execs: []ExecutorView{fakeExec("e1", used(0, 0, 0, 1, 2, 3))},
			req: Request{Cores: 4}, count: 1},
		{name: "all three", execs: three[:1], req: Request{Cores: 6, MemoryMB: 8000}, count: 1,
			want: []string{
				"Cluster does not have enough CPU. Required: 6 Available: 5",
				"Cluster does not have enough Memory. Required: 8000 Available: 7192",
				"Required cores exceeds the maximum core available on a single NUMA node in the cluster. Required: 6 Max: 4",
			}},
		{name: "only allowed states count", execs: append([]ExecutorView{fakeExec("big", layout(1, 64, 1<<20), state(model.ExecutorUnready))}, three...),
			req: Request{Cores: 8}, count: 1,
			want: []string{"Required cores exceeds the maximum core available on a single NUMA node in the cluster. Required: 8 Max: 4"}},
		{name: "UNREADY allowed for local services", execs: append([]ExecutorView{fakeExec("big", layout(1, 64, 1<<20), state(model.ExecutorUnready))}, three...),
			req: Request{Cores: 8, AllowedStates: []model.ExecutorState{model.ExecutorActive, model.ExecutorUnready}}, count: 1},
		{name: "no layout: NUMA check skipped as in Drove", execs: []ExecutorView{{ID: "e1", State: model.ExecutorActive}},
			req: Request{Cores: 1}, count: 1,
			want: []string{"Cluster does not have enough CPU. Required: 1 Available: 0"}},
		{name: "zero instances", execs: three, req: Request{Cores: 1}, count: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCapacity(State{Executors: tt.execs}, tt.req, tt.count)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			var ce *CapacityError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.want, ce.Messages)
		})
	}
}

func TestCheckCapacity_NUMAFragmentationPassesButPlacementFails(t *testing.T) {
	// 2 nodes with 2 free cores each: 4 free in total, 3 needed on one node.
	st := State{Executors: []ExecutorView{fakeExec("e1", used(0, 0, 0, 1), used(1, 0, 4, 5))}}
	req := Request{GroupID: "g", Cores: 3}
	require.NoError(t, CheckCapacity(st, req, 1))
	_, err := NewSession(st, nil).Place(req)
	require.ErrorIs(t, err, ErrNoCapacity)
	require.Contains(t, err.Error(), "1 without a NUMA node with 3 free cores and 0 MB free memory")

	// With 2-core nodes, the submit-time check already says so.
	st = State{Executors: []ExecutorView{fakeExec("e1", layout(2, 2, 1024))}}
	err = CheckCapacity(st, req, 1)
	var ce *CapacityError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, []string{"Required cores exceeds the maximum core available on a single NUMA node in the cluster. Required: 3 Max: 2"}, ce.Messages)
	require.Equal(t, ce.Messages[0], err.Error())
}

func TestCheckCapacity_InvalidRequest(t *testing.T) {
	require.ErrorIs(t, CheckCapacity(State{}, Request{Cores: 1}, -1), ErrInvalidRequest)
	require.ErrorIs(t, CheckCapacity(State{}, Request{MemoryMB: -1}, 1), ErrInvalidRequest)
}
