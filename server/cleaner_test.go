package server

import (
	"testing"
	"time"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

func TestStaleCleaner_KeepsNewestPerAppAndDropsOld(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	var recs []model.InstanceRecord
	add := func(app, id string, st model.InstanceState, updated time.Time) {
		recs = append(recs, model.InstanceRecord{Info: model.InstanceInfo{AppID: app, InstanceID: id, State: st, Updated: updated.UnixMilli()}})
	}
	for i := 0; i < 5; i++ {
		add("a", "a-old-"+string(rune('0'+i)), model.InstanceStopped, now.Add(-time.Duration(i)*time.Minute))
	}
	add("a", "a-ancient", model.InstanceLost, now.Add(-30*24*time.Hour))
	add("a", "a-live", model.InstanceHealthy, now.Add(-30*24*time.Hour))
	add("b", "b-1", model.InstanceStopped, now)
	got := staleIDs(recs, 3, 7*24*time.Hour, now)
	require.ElementsMatch(t, []string{"a-old-3", "a-old-4", "a-ancient"}, got)
}
