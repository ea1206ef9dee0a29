package gossip

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/hashicorp/memberlist"
)

// Role is the kind of drove node a pool member is.
type Role string

const (
	// RoleController marks a controller (raft voter, API server, scheduler).
	RoleController Role = "controller"
	// RoleExecutor marks an executor (runs containers).
	RoleExecutor Role = "executor"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	return r == RoleController || r == RoleExecutor
}

// Meta is the metadata each member gossips about itself. It is JSON-encoded
// with short keys and must fit memberlist.MetaMaxSize (512 bytes) once
// encoded, minus 10 bytes the Pool reserves for its leave marker (so at most
// 502 bytes); Encode returns an error naming the size if it does not.
type Meta struct {
	// Role is the member's role; must be RoleController or RoleExecutor.
	Role Role `json:"r"`
	// ID is the drove node id; required.
	ID string `json:"id"`
	// API is the host:port of the member's HTTP API.
	API string `json:"api,omitempty"`
	// Raft is the host:port of the member's raft transport (controllers).
	Raft string `json:"raft,omitempty"`
	// HasState reports that a controller already has raft state
	// (it bootstrapped or joined a raft cluster before).
	HasState bool `json:"hs,omitempty"`
	// Version is the drove version the member runs.
	Version string `json:"v,omitempty"`
	// Tags carries small extra values (e.g. a resources digest). Keep it
	// small: it counts against the 512-byte limit.
	Tags map[string]string `json:"t,omitempty"`
}

// TagBoot is the Meta tag in which an executor gossips its start time
// (epoch ms), so that the leader can tell a dead entry of an earlier
// incarnation from the executor registered now.
const TagBoot = "boot"

// wireMeta is what a Pool gossips: Meta plus a marker set by Pool.Leave.
// memberlist v0.6.0 does not tell event delegates whether a node left or
// failed (hashicorp/memberlist#293: Node.State is always StateAlive there),
// so a leaving node first re-advertises its meta with "lv":true, and
// members that see it go away with that marker report MemberLeft rather
// than MemberDead (the same idea as serf's leave intents).
type wireMeta struct {
	Meta
	Leaving bool `json:"lv,omitempty"`
}

// leaveMarkerSize is what the leave marker adds to an encoded Meta.
const leaveMarkerSize = len(`,"lv":true`)

// Encode returns the wire form of m. It fails, naming the encoded size, if m
// does not fit memberlist.MetaMaxSize minus the 10 bytes reserved for the
// leave marker.
func (m Meta) Encode() ([]byte, error) { return encodeWire(m, false) }

func encodeWire(m Meta, leaving bool) ([]byte, error) {
	b, err := json.Marshal(wireMeta{Meta: m, Leaving: leaving})
	if err != nil {
		return nil, fmt.Errorf("gossip: encode meta: %w", err)
	}
	limit := memberlist.MetaMaxSize
	if !leaving {
		limit -= leaveMarkerSize
	}
	if len(b) > limit {
		return nil, fmt.Errorf("gossip: encoded meta is %d bytes, over the limit of %d bytes "+
			"(memberlist.MetaMaxSize %d minus %d reserved); shrink Tags or addresses",
			len(b), limit, memberlist.MetaMaxSize, memberlist.MetaMaxSize-limit)
	}
	return b, nil
}

// DecodeMeta parses metadata produced by Meta.Encode (or gossiped by a Pool).
func DecodeMeta(b []byte) (Meta, error) {
	m, _, err := decodeWire(b)
	return m, err
}

func decodeWire(b []byte) (Meta, bool, error) {
	if len(b) == 0 {
		return Meta{}, false, fmt.Errorf("gossip: decode meta: empty metadata")
	}
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, false, fmt.Errorf("gossip: decode meta: %w", err)
	}
	return w.Meta, w.Leaving, nil
}

// Clone returns a deep copy of m (Tags is copied).
func (m Meta) Clone() Meta {
	m.Tags = maps.Clone(m.Tags)
	return m
}

// validate checks the fields a local member must set and the size limit,
// returning the encoded form on success.
func (m Meta) validate() ([]byte, error) {
	if !m.Role.Valid() {
		return nil, fmt.Errorf("gossip: Meta.Role %q is invalid (want %q or %q)", m.Role, RoleController, RoleExecutor)
	}
	if m.ID == "" {
		return nil, fmt.Errorf("gossip: Meta.ID %q is empty; it is required", m.ID)
	}
	return m.Encode()
}
