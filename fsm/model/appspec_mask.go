package model

import (
	"maps"
	"slices"
)

// MaskedValue replaces masked strings (HTTP credentials), as Drove's
// MaskingResponseFilter does.
const MaskedValue = "***"

// Masked returns a deep copy of s with secrets hidden, for read APIs: INLINE
// config data becomes empty (written as "data": "") and the username,
// password and authHeader of HTTP fetch configs become "***" whether or not
// they were set, as Drove's masking does. s itself is never modified (Drove
// masks the object it caches, §10.15 of the reference; drove masks a copy).
func (s ApplicationSpec) Masked() ApplicationSpec {
	c := s.Clone()
	for i := range c.Configs {
		cfg := &c.Configs[i]
		if cfg.Type == ConfigInline || cfg.Data != nil {
			cfg.Data = []byte{}
		}
		if cfg.HTTP != nil {
			cfg.HTTP.Username, cfg.HTTP.Password, cfg.HTTP.AuthHeader = MaskedValue, MaskedValue, MaskedValue
		}
	}
	return c
}

// Clone returns a deep copy of s: no slice, map or pointer is shared with s,
// so the copy may be modified freely.
func (s ApplicationSpec) Clone() ApplicationSpec {
	c := s
	c.ExposedPorts = slices.Clone(s.ExposedPorts)
	c.Volumes = slices.Clone(s.Volumes)
	if s.Configs != nil {
		c.Configs = make([]ConfigSpec, len(s.Configs))
		for i, cfg := range s.Configs {
			c.Configs[i] = cfg.clone()
		}
	}
	if s.Logging != nil {
		l := *s.Logging
		c.Logging = &l
	}
	c.Resources = slices.Clone(s.Resources)
	if s.PlacementPolicy != nil {
		p := clonePlacement(*s.PlacementPolicy)
		c.PlacementPolicy = &p
	}
	c.Healthcheck = s.Healthcheck.clone()
	c.Readiness = s.Readiness.clone()
	c.Tags = maps.Clone(s.Tags)
	c.Env = maps.Clone(s.Env)
	c.Args = slices.Clone(s.Args)
	if s.Devices != nil {
		c.Devices = make([]DeviceSpec, len(s.Devices))
		for i, d := range s.Devices {
			c.Devices[i] = d.clone()
		}
	}
	if s.ExposureSpec != nil {
		e := *s.ExposureSpec
		c.ExposureSpec = &e
	}
	if s.PreShutdown != nil {
		p := *s.PreShutdown
		if p.Hooks != nil {
			p.Hooks = make([]CheckModeSpec, len(s.PreShutdown.Hooks))
			for i, h := range s.PreShutdown.Hooks {
				p.Hooks[i] = h.clone()
			}
		}
		c.PreShutdown = &p
	}
	if s.UserSpec != nil {
		u := *s.UserSpec
		c.UserSpec = &u
	}
	return c
}

func (c ConfigSpec) clone() ConfigSpec {
	c.Data = slices.Clone(c.Data)
	if c.HTTP != nil {
		h := *c.HTTP
		h.SuccessCodes = slices.Clone(h.SuccessCodes)
		h.Headers = maps.Clone(h.Headers)
		c.HTTP = &h
	}
	return c
}

func (c *CheckSpec) clone() *CheckSpec {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Mode = c.Mode.clone()
	return &cp
}

func (m CheckModeSpec) clone() CheckModeSpec {
	m.SuccessCodes = slices.Clone(m.SuccessCodes)
	return m
}

func (d DeviceSpec) clone() DeviceSpec {
	if d.Count != nil {
		n := *d.Count
		d.Count = &n
	}
	d.DeviceIDs = slices.Clone(d.DeviceIDs)
	if d.Capabilities != nil {
		caps := make([][]string, len(d.Capabilities))
		for i, c := range d.Capabilities {
			caps[i] = slices.Clone(c)
		}
		d.Capabilities = caps
	}
	d.Options = maps.Clone(d.Options)
	return d
}

func clonePlacement(p PlacementPolicy) PlacementPolicy {
	if p.Policies != nil {
		ps := make([]PlacementPolicy, len(p.Policies))
		for i, c := range p.Policies {
			ps[i] = clonePlacement(c)
		}
		p.Policies = ps
	}
	return p
}
