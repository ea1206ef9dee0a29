package server

import (
	"testing"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// availabilityFixture is a controller around a real FSM fed hand-made log
// entries: availability reads nothing else.
type availabilityFixture struct {
	t   *testing.T
	c   *Controller
	now time.Time
}

func newAvailabilityFixture(t *testing.T) *availabilityFixture {
	t.Helper()
	f, err := fsm.New(fsm.DefaultConfig())
	require.NoError(t, err)
	cfg := DefaultControllerConfig()
	cfg.MaintenanceLeadTime = 15 * time.Minute
	return &availabilityFixture{t: t, c: &Controller{cfg: cfg, fsm: f}, now: time.UnixMilli(1_700_000_000_000)}
}

func (x *availabilityFixture) apply(mt fsm.MessageType, p any) {
	x.t.Helper()
	cmd, err := fsm.Encode(mt, p)
	require.NoError(x.t, err)
	if err, ok := x.c.fsm.Apply(&raft.Log{Data: cmd}).(error); ok {
		require.NoError(x.t, err, "command %d", mt)
	}
}

func (x *availabilityFixture) register(id, host string) {
	x.apply(fsm.ExecutorRegisterType, fsm.ExecutorRegisterRequest{Registration: model.ExecutorRegistration{
		ExecutorID: id, Hostname: host, Port: 1, State: model.ExecutorActive,
		Layout: model.ResourceLayout{Cores: map[int][]int{0: {0, 1}}, Memory: map[int]int64{0: 1024}}},
		Timestamp: x.now.UnixMilli()})
}

// executorAvailability is what availability says about one executor.
type executorAvailability struct {
	noNew                      string // the reason, "" when it may take instances
	evictApps, evictLS, drains bool
}

func (a availability) of(id string) executorAvailability {
	return executorAvailability{noNew: a.noNew[id], evictApps: a.evictApps[id], evictLS: a.evictLS[id], drains: a.drain[id]}
}

func TestAvailability_ClassifiesExecutorsByMaintenanceState(t *testing.T) {
	x := newAvailabilityFixture(t)
	ts := x.now.UnixMilli()
	for _, id := range []string{"active", "blacklisted", "draining", "drained", "deactivated", "blacklisted-draining",
		"in-lead", "beyond-lead", "removed"} {
		x.register(id, id+".host")
	}
	x.apply(fsm.ExecutorsBlacklistType, fsm.ExecutorsBlacklistRequest{ExecutorIDs: []string{"blacklisted", "blacklisted-draining"}, Timestamp: ts})
	for _, id := range []string{"draining", "drained", "blacklisted-draining"} {
		x.apply(fsm.ExecutorDrainType, fsm.ExecutorDrainRequest{ExecutorID: id, MaxGracePeriodMs: 1000, Timestamp: ts})
	}
	x.apply(fsm.ExecutorDrainedType, fsm.ExecutorIDRequest{ExecutorID: "drained", Timestamp: ts})
	x.apply(fsm.ExecutorActivationType, fsm.ExecutorActivationRequest{ExecutorID: "deactivated", Deactivate: true, Timestamp: ts})
	x.apply(fsm.ExecutorLostType, fsm.ExecutorLostRequest{ExecutorID: "removed", Reason: "test", Timestamp: ts})
	at := func(d time.Duration) *model.Unavailability {
		return &model.Unavailability{Start: &model.Nanos{Nanoseconds: x.now.Add(d).UnixNano()}}
	}
	x.apply(fsm.MaintenanceScheduleType, fsm.MaintenanceScheduleRequest{Schedule: model.MaintenanceSchedule{Windows: []model.MaintenanceWindow{
		{MachineIDs: []model.MachineID{{Hostname: "IN-LEAD.host"}}, Unavailability: at(10 * time.Minute)},
		{MachineIDs: []model.MachineID{{Hostname: "beyond-lead.host"}, {Hostname: "removed.host"}}, Unavailability: at(time.Hour)},
	}}, Timestamp: ts})

	av := x.c.availability(x.now)
	for id, want := range map[string]executorAvailability{
		"active":      {},
		"blacklisted": {noNew: "blacklisted", evictApps: true, evictLS: true},
		"draining":    {noNew: "draining", evictApps: true, evictLS: true, drains: true},
		"drained":     {noNew: "drained"},
		"deactivated": {noNew: "deactivated"},
		"in-lead":     {noNew: "machine IN-LEAD.host is scheduled for maintenance", evictApps: true},
		"beyond-lead": {},
		"removed":     {},
	} {
		require.Equal(t, want, av.of(id), id)
	}
	// Past start-lead the other machine's executors are evicted too.
	later := x.c.availability(x.now.Add(45 * time.Minute))
	require.Equal(t, executorAvailability{noNew: "machine beyond-lead.host is scheduled for maintenance", evictApps: true},
		later.of("beyond-lead"))

	// A drain stops everything, tasks included, and ends DRAINED, whether
	// or not the executor is also blacklisted.
	got := av.of("blacklisted-draining")
	require.True(t, got.evictApps && got.evictLS && got.drains && got.noNew != "",
		"a blacklisted executor that is draining must be drained (got %+v)", got)
}
