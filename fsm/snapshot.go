package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/drove-go/drove/fsm/model"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// snapshotVersion is written first; readers refuse versions they do not know.
const snapshotVersion = 1

// A snapshot is a stream of JSON records, one per entity, so its size is not
// bounded by one in-memory document as later issues add many entities.
// Record kinds an older reader does not know are skipped with a warning.
type snapshotRecord struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

type snapshotHeader struct {
	Version int `json:"version"`
}

const (
	recordCluster        = "cluster"
	recordEvent          = "event"
	recordNextEventIndex = "nextEventIndex"
	recordExecutor       = "executor"
	recordInstance       = "instance"
	recordApp            = "app"
	recordService        = "localService"
	recordSchedule       = "maintenanceSchedule"
	recordMachine        = "machine"
)

type snapshot struct {
	cluster        model.ClusterStateData
	events         []model.IndexedEvent
	nextEventIndex uint64
	executors      []*model.ExecutorInfo
	instances      []*model.InstanceRecord
	apps           []*model.ApplicationInfo
	services       []*model.LocalServiceInfo
	schedule       model.MaintenanceSchedule
	machines       []*model.MachineStatus
}

// sort orders every entity by id, so replicas that applied the same log
// write byte-identical snapshots (map iteration order is random).
func (s *snapshot) sort() {
	sort.Slice(s.executors, func(i, j int) bool { return s.executors[i].ExecutorID < s.executors[j].ExecutorID })
	sort.Slice(s.instances, func(i, j int) bool { return s.instances[i].Info.InstanceID < s.instances[j].Info.InstanceID })
	sort.Slice(s.apps, func(i, j int) bool { return s.apps[i].AppID < s.apps[j].AppID })
	sort.Slice(s.services, func(i, j int) bool { return s.services[i].ServiceID < s.services[j].ServiceID })
	sort.Slice(s.machines, func(i, j int) bool { return s.machines[i].ID.Key() < s.machines[j].ID.Key() })
}

// Persist encodes the snapshot into the sink, cancelling it on any error.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Version: snapshotVersion}); err != nil {
		return err
	}
	put := func(kind string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return enc.Encode(snapshotRecord{Kind: kind, Data: data})
	}
	if err := put(recordCluster, s.cluster); err != nil {
		return err
	}
	if err := put(recordNextEventIndex, s.nextEventIndex); err != nil {
		return err
	}
	for _, e := range s.events {
		if err := put(recordEvent, e); err != nil {
			return err
		}
	}
	for _, e := range s.executors {
		if err := put(recordExecutor, e); err != nil {
			return err
		}
	}
	for _, r := range s.instances {
		if err := put(recordInstance, r); err != nil {
			return err
		}
	}
	for _, a := range s.apps {
		if err := put(recordApp, a); err != nil {
			return err
		}
	}
	for _, ls := range s.services {
		if err := put(recordService, ls); err != nil {
			return err
		}
	}
	if len(s.schedule.Windows) > 0 {
		if err := put(recordSchedule, s.schedule); err != nil {
			return err
		}
	}
	for _, m := range s.machines {
		if err := put(recordMachine, m); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Release is a no-op: the snapshot holds only copies.
func (s *snapshot) Release() {}

func readSnapshot(r io.Reader, cfg Config, logger hclog.Logger) (*state, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var hdr snapshotHeader
	if err := dec.Decode(&hdr); err != nil {
		return nil, fmt.Errorf("fsm: read snapshot header: %w", err)
	}
	if hdr.Version != snapshotVersion {
		return nil, fmt.Errorf("fsm: unsupported snapshot version %d (want %d)", hdr.Version, snapshotVersion)
	}
	st := newState(cfg)
	var events []model.IndexedEvent
	var next uint64
	for {
		var rec snapshotRecord
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fsm: read snapshot record: %w", err)
		}
		switch rec.Kind {
		case recordCluster:
			err = json.Unmarshal(rec.Data, &st.cluster)
		case recordNextEventIndex:
			err = json.Unmarshal(rec.Data, &next)
		case recordEvent:
			var e model.IndexedEvent
			if err = json.Unmarshal(rec.Data, &e); err == nil {
				events = append(events, e)
			}
		case recordExecutor:
			var e model.ExecutorInfo
			if err = json.Unmarshal(rec.Data, &e); err == nil {
				st.executors[e.ExecutorID] = &e
			}
		case recordInstance:
			var r model.InstanceRecord
			if err = json.Unmarshal(rec.Data, &r); err == nil {
				st.instances[r.Info.InstanceID] = &r
			}
		case recordApp:
			var a model.ApplicationInfo
			if err = json.Unmarshal(rec.Data, &a); err == nil {
				st.apps[a.AppID] = &a
			}
		case recordService:
			var ls model.LocalServiceInfo
			if err = json.Unmarshal(rec.Data, &ls); err == nil {
				st.services[ls.ServiceID] = &ls
			}
		case recordSchedule:
			err = json.Unmarshal(rec.Data, &st.schedule)
		case recordMachine:
			var m model.MachineStatus
			if err = json.Unmarshal(rec.Data, &m); err == nil {
				st.machines[m.ID.Key()] = &m
			}
		default:
			logger.Warn("skipping unknown snapshot record", "kind", rec.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("fsm: decode snapshot record %q: %w", rec.Kind, err)
		}
	}
	st.events = restoreEventLog(cfg.EventCapacity, events, next)
	return st, nil
}
