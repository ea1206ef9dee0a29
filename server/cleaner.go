package server

import (
	"context"
	"sort"
	"time"

	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
)

// staleCleaner bounds the terminal instance records kept per application
// (Drove's maxStaleInstancesCount and staleInstanceAge), on the leader: the
// newest maxOld per app are kept for GET …/instances/old, older ones and
// ones older than maxAge are deleted. Unlike Drove it never destroys
// applications on its own.
type staleCleaner struct {
	c        *Controller
	interval time.Duration
	maxOld   int
	maxAge   time.Duration
	now      func() time.Time
}

func (s *staleCleaner) run(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.clean()
		case <-ctx.Done():
			return
		}
	}
}

func (s *staleCleaner) clean() {
	del := staleIDs(s.c.fsm.Instances(func(r *model.InstanceRecord) bool { return r.Info.State.IsTerminal() }),
		s.maxOld, s.maxAge, s.now())
	if len(del) == 0 {
		return
	}
	cmd, _ := fsm.Encode(fsm.InstancesDeleteType, fsm.InstancesDeleteRequest{InstanceIDs: del})
	if _, err := s.c.node.Apply(cmd); err != nil {
		s.c.logger.Warn("deleting stale instance records failed", "count", len(del), "error", err)
	}
}

// staleIDs picks the terminal records to delete: beyond the newest maxOld
// of each app, or last updated before maxAge ago.
func staleIDs(recs []model.InstanceRecord, maxOld int, maxAge time.Duration, now time.Time) []string {
	byApp := map[string][]model.InstanceRecord{}
	for _, r := range recs {
		if r.Info.State.IsTerminal() {
			key := string(r.Kind()) + "/" + r.Info.AppID
			byApp[key] = append(byApp[key], r)
		}
	}
	cutoff := now.Add(-maxAge).UnixMilli()
	var del []string
	for _, list := range byApp {
		sort.Slice(list, func(i, j int) bool { return list[i].Info.Updated > list[j].Info.Updated })
		for i, r := range list {
			// Each task is its own record, kept (and its id reserved) until it ages out.
			if (i >= maxOld && r.Kind() != model.KindTask) || r.Info.Updated < cutoff {
				del = append(del, r.Info.InstanceID)
			}
		}
	}
	return del
}
