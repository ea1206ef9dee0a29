package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/drove-go/drove/cluster"
	"github.com/drove-go/drove/fsm"
	"github.com/drove-go/drove/fsm/model"
	"github.com/gorilla/mux"
)

func (a *api) ping(http.ResponseWriter, *http.Request) (any, error) { return "pong", nil }

func (a *api) clusterSummary(http.ResponseWriter, *http.Request) (any, error) {
	leader := model.LeaderElectionUnderway
	if addr, _, ok := a.leaderAPI(); ok {
		leader = addr
	}
	sum := model.ClusterSummary{Leader: leader, State: a.fsm.ClusterState().State}
	unready := a.fsm.UnreadyExecutors()
	for _, e := range a.fsm.Executors() {
		if e.State == model.ExecutorRemoved {
			continue
		}
		s := a.executorSummary(e, unready)
		sum.NumExecutors++
		sum.FreeCores += s.FreeCores
		sum.UsedCores += s.UsedCores
		sum.FreeMemory += s.FreeMemory
		sum.UsedMemory += s.UsedMemory
	}
	sum.TotalCores = sum.FreeCores + sum.UsedCores
	sum.TotalMemory = sum.FreeMemory + sum.UsedMemory
	for _, app := range a.fsm.Applications() {
		sum.NumApplications++
		if app.State.IsActive() {
			sum.NumActiveApplications++
		}
	}
	for _, ls := range a.fsm.LocalServices() {
		sum.NumLocalServices++
		if ls.ActivationState == model.ActivationActive {
			sum.NumActiveLocalServices++
		}
	}
	sum.NumActiveTasks = len(a.fsm.Instances(func(r *model.InstanceRecord) bool {
		return r.Kind() == model.KindTask && r.Info.State.IsTaskActive()
	}))
	return sum, nil
}

func (a *api) setMaintenance(_ http.ResponseWriter, r *http.Request) (any, error) {
	return a.setClusterState(r, model.ClusterMaintenance)
}

func (a *api) unsetMaintenance(_ http.ResponseWriter, r *http.Request) (any, error) {
	return a.setClusterState(r, model.ClusterNormal)
}

// maxReasonLen bounds the optional maintenance reason kept in the event log.
const maxReasonLen = 1024

// clusterStateBody is the optional body of maintenance set/unset. Drove
// ignores the body; an empty one is still fine, and a reason is recorded.
type clusterStateBody struct {
	Reason string `json:"reason"`
}

func (a *api) setClusterState(r *http.Request, st model.ClusterState) (any, error) {
	var body clusterStateBody
	if err := decodeJSON(r, &body, true); err != nil {
		return nil, err
	}
	if len(body.Reason) > maxReasonLen {
		return nil, invalid(fmt.Sprintf("reason must be at most %d characters, got %d", maxReasonLen, len(body.Reason)))
	}
	cmd, err := fsm.Encode(fsm.SetClusterStateType, fsm.SetClusterStateRequest{
		State: st, Hostname: a.hostname, Timestamp: time.Now().UnixMilli(), Reason: body.Reason})
	if err != nil {
		return nil, err
	}
	return a.node.Apply(cmd)
}

// healthz is for load balancers: 200 while this node knows a leader (it can
// serve or forward any request), 503 otherwise. Never forwarded, no auth.
func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	leaderID, _ := a.node.Leader()
	body := map[string]any{"node": a.nodeID, "raftState": a.node.State(), "leader": leaderID}
	code := http.StatusOK
	if leaderID == "" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// ControllerInfo describes one controller in GET /cluster/controllers.
type ControllerInfo struct {
	ID            string `json:"id"`
	RaftAddress   string `json:"raftAddress"`
	HTTPAddress   string `json:"httpAddress,omitempty"`
	GossipAddress string `json:"gossipAddress,omitempty"`
	GossipState   string `json:"gossipState,omitempty"`
	Voter         bool   `json:"voter"`
	Leader        bool   `json:"leader"`
	Reachable     bool   `json:"reachable"`
	State         string `json:"state,omitempty"`         // raft role as that node reports it
	LastContact   int64  `json:"lastContact,omitempty"`   // epoch ms the node last heard from the leader
	LastContactMs *int64 `json:"lastContactMs,omitempty"` // ms since then (0 for the leader)
	AppliedIndex  uint64 `json:"appliedIndex,omitempty"`
	CommitIndex   uint64 `json:"commitIndex,omitempty"`
	LastLogIndex  uint64 `json:"lastLogIndex,omitempty"`
	Term          string `json:"term,omitempty"`
	Version       string `json:"version,omitempty"`
}

// controllerSelf reports this node's own raft progress (never forwarded).
func (a *api) controllerSelf(http.ResponseWriter, *http.Request) (any, error) {
	st := a.node.Status()
	leaderID, _ := a.node.Leader()
	info := ControllerInfo{ID: a.nodeID, RaftAddress: a.node.RaftAddr(), HTTPAddress: a.apiAddr,
		GossipAddress: a.pool.LocalAddr(), Reachable: true, Leader: leaderID == a.nodeID,
		State: st.State, AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex,
		LastLogIndex: st.LastIndex, Term: st.Term, Version: a.version}
	if info.Leader {
		zero := int64(0)
		info.LastContactMs = &zero
	} else if !st.LastContact.IsZero() {
		ms := time.Since(st.LastContact).Milliseconds()
		info.LastContact, info.LastContactMs = st.LastContact.UnixMilli(), &ms
	}
	return info, nil
}

// controllers lists the raft configuration, enriched with gossip addresses
// and each reachable node's own report of its progress.
func (a *api) controllers(_ http.ResponseWriter, r *http.Request) (any, error) {
	servers, err := a.node.Servers()
	if err != nil {
		return nil, err
	}
	leaderID, _ := a.node.Leader()
	out := make([]ControllerInfo, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		info := ControllerInfo{ID: s.ID, RaftAddress: s.Address, Voter: s.Voter, Leader: s.ID == leaderID}
		if m, ok := a.pool.Member(s.ID); ok {
			info.HTTPAddress, info.GossipAddress, info.GossipState = m.Meta.API, m.Addr, m.State.String()
		}
		out[i] = info
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a.fillStatus(r, &out[i])
		}(i)
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// fillStatus asks one controller for its own status, with a short timeout.
func (a *api) fillStatus(r *http.Request, info *ControllerInfo) {
	if info.ID == a.nodeID {
		self, _ := a.controllerSelf(nil, r)
		s := self.(ControllerInfo)
		s.Voter, s.GossipState = info.Voter, info.GossipState
		*info = s
		return
	}
	if info.HTTPAddress == "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 750*time.Millisecond)
	defer cancel()
	resp, err := a.peers.do(ctx, "GET", info.HTTPAddress, "/apis/v1/cluster/controllers/self", r.Header)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var env struct {
		Status string         `json:"status"`
		Data   ControllerInfo `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&env) != nil || env.Status != statusSuccess {
		return
	}
	d := env.Data
	info.Reachable, info.State, info.Term, info.Version = true, d.State, d.Term, d.Version
	info.LastContact, info.LastContactMs = d.LastContact, d.LastContactMs
	info.AppliedIndex, info.CommitIndex, info.LastLogIndex = d.AppliedIndex, d.CommitIndex, d.LastLogIndex
}

// removeController removes a controller (typically a dead one) from the raft
// configuration. Removing the leader itself first hands leadership over, then
// the request is forwarded to the new leader.
func (a *api) removeController(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := mux.Vars(r)["id"]
	if id == a.nodeID && a.node.IsLeader() {
		if err := a.node.TransferLeadership(); err != nil {
			return nil, fmt.Errorf("transfer leadership before removing %s: %w", id, err)
		}
		return nil, cluster.ErrNotLeader
	}
	if err := a.node.RemoveServer(id); err != nil {
		return nil, err
	}
	a.logger.Info("removed controller from raft configuration", "id", id)
	return map[string]string{"removed": id}, nil
}

// leave makes this controller leave the cluster gracefully: it is removed
// from the raft configuration, leaves gossip, and the process stops.
func (a *api) leave(_ http.ResponseWriter, r *http.Request) (any, error) {
	if err := a.leaveCluster(r.Header); err != nil {
		return nil, err
	}
	return map[string]string{"left": a.nodeID}, nil
}
