package gossip_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drove-go/drove/cluster/gossip"
)

func TestConfig_ValidateNamesTheField(t *testing.T) {
	valid := func() gossip.Config {
		c := gossip.DefaultConfig()
		c.NodeName = "n1"
		c.Meta = gossip.Meta{Role: gossip.RoleExecutor, ID: "n1"}
		return c
	}
	require.NoError(t, valid().Validate())

	cases := []struct {
		field string
		mut   func(*gossip.Config)
	}{
		{"NodeName", func(c *gossip.Config) { c.NodeName = "" }},
		{"BindAddr", func(c *gossip.Config) { c.BindAddr = "not-an-ip" }},
		{"BindPort", func(c *gossip.Config) { c.BindPort = 70000 }},
		{"AdvertisePort", func(c *gossip.Config) { c.AdvertisePort = -1 }},
		{"AdvertiseAddr", func(c *gossip.Config) { c.AdvertiseAddr = "host:7946" }},
		{"ProbeInterval", func(c *gossip.Config) { c.ProbeInterval = -time.Second }},
		{"ProbeTimeout", func(c *gossip.Config) { c.ProbeTimeout = 2 * c.ProbeInterval }},
		{"SuspicionMult", func(c *gossip.Config) { c.SuspicionMult = -1 }},
		{"GossipInterval", func(c *gossip.Config) { c.GossipInterval = -1 }},
		{"PushPullInterval", func(c *gossip.Config) { c.PushPullInterval = -1 }},
		{"TCPTimeout", func(c *gossip.Config) { c.TCPTimeout = -1 }},
		{"Meta.Role", func(c *gossip.Config) { c.Meta.Role = "janitor" }},
		{"Meta.ID", func(c *gossip.Config) { c.Meta.ID = "" }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			c := valid()
			tc.mut(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.field)
			_, newErr := gossip.New(c)
			require.EqualError(t, newErr, err.Error(), "New must report the Validate error")
		})
	}
}

func TestConfig_ZeroTimingsMeanDefaults(t *testing.T) {
	c := gossip.Config{NodeName: "n1", Meta: gossip.Meta{Role: gossip.RoleController, ID: "n1"}}
	require.NoError(t, c.Validate())
	d := gossip.DefaultConfig()
	require.Equal(t, time.Second, d.ProbeInterval)
	require.Equal(t, 2, d.SuspicionMult)
	require.GreaterOrEqual(t, d.GossipInterval, 100*time.Millisecond)
	require.LessOrEqual(t, d.GossipInterval, 200*time.Millisecond)
}

func TestMeta_EncodeRejectsOversizeAndRoundTrips(t *testing.T) {
	m := gossip.Meta{Role: gossip.RoleController, ID: "c1", Raft: "10.0.0.1:7000", HasState: true,
		Tags: map[string]string{"res": "abc"}}
	b, err := m.Encode()
	require.NoError(t, err)
	require.Contains(t, string(b), `"r":"controller"`)
	got, err := gossip.DecodeMeta(b)
	require.NoError(t, err)
	require.Equal(t, m, got)

	m.Tags["big"] = strings.Repeat("x", 600)
	_, err = m.Encode()
	require.ErrorContains(t, err, "512")
	_, err = gossip.DecodeMeta([]byte("{not json"))
	require.Error(t, err)
}

func TestStrings(t *testing.T) {
	require.Equal(t, []string{"alive", "suspect", "dead", "left"}, []string{
		gossip.MemberAlive.String(), gossip.MemberSuspect.String(),
		gossip.MemberDead.String(), gossip.MemberLeft.String()})
	require.Equal(t, []string{"join", "leave", "update"}, []string{
		gossip.EventJoin.String(), gossip.EventLeave.String(), gossip.EventUpdate.String()})
}
