package model

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// DrainState is where a drained executor stands (Mesos' DrainState).
type DrainState string

// Drain states.
const (
	DrainDraining DrainState = "DRAINING"
	DrainDrained  DrainState = "DRAINED"
)

// DrainInfo is an executor's drain: every instance on it is stopped
// (application instances after replacements run elsewhere), each with its
// kill grace period bounded by MaxGracePeriodMs (0: unbounded). MarkGone
// removes the executor for good once DRAINED.
type DrainInfo struct {
	State            DrainState `json:"state"`
	MaxGracePeriodMs int64      `json:"maxGracePeriodMs,omitempty"`
	MarkGone         bool       `json:"markGone,omitempty"`
	Started          int64      `json:"started"`
	Finished         int64      `json:"finished,omitempty"`
	// WasRemoved: the executor was lost before or while draining, so
	// containers the controllers no longer track may have run there (shown
	// for diagnosis; the leader asks the executor before DRAINED anyway).
	WasRemoved bool `json:"wasRemoved,omitempty"`
}

// BlacklistResult is Drove's BlacklistOperationResponse.
type BlacklistResult struct {
	Successful             []string `json:"successful"`
	Failed                 []string `json:"failed"`
	ApproxCompletionTimeMs int64    `json:"approxCompletionTimeMs"`
	Message                string   `json:"message,omitempty"`
}

// MachineID names a machine of the maintenance schedule (Mesos' MachineID):
// a hostname (compared case-insensitively) and/or an IP.
type MachineID struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
}

// Key identifies the machine: lower-case hostname and ip.
func (m MachineID) Key() string { return strings.ToLower(m.Hostname) + "/" + m.IP }

// String names the machine in messages.
func (m MachineID) String() string {
	switch {
	case m.Hostname != "" && m.IP != "":
		return m.Hostname + " (" + m.IP + ")"
	case m.Hostname != "":
		return m.Hostname
	}
	return m.IP
}

// Matches reports whether an executor registered with hostname runs on the
// machine: the machine's hostname equals it (case-insensitively) or its ip
// does (executors that register with their IP as hostname).
func (m MachineID) Matches(hostname string) bool {
	return (m.Hostname != "" && strings.EqualFold(m.Hostname, hostname)) || (m.IP != "" && m.IP == hostname)
}

// Nanos is Mesos' TimeInfo / DurationInfo: {"nanoseconds": n}.
type Nanos struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// Unavailability is when a machine may be unavailable: from Start for
// Duration (absent: indefinitely).
type Unavailability struct {
	Start    *Nanos `json:"start"`
	Duration *Nanos `json:"duration,omitempty"`
}

// StartTime is the start as a time.
func (u Unavailability) StartTime() time.Time { return time.Unix(0, u.Start.Nanoseconds) }

// MaintenanceWindow is a set of machines with one unavailability.
type MaintenanceWindow struct {
	MachineIDs     []MachineID     `json:"machine_ids"`
	Unavailability *Unavailability `json:"unavailability"`
}

// MaintenanceSchedule is the cluster's one schedule (Mesos' maintenance::Schedule).
type MaintenanceSchedule struct {
	Windows []MaintenanceWindow `json:"windows"`
}

// MachineMode is a machine's maintenance mode.
type MachineMode string

// Machine modes.
const (
	MachineUp       MachineMode = "UP"
	MachineDraining MachineMode = "DRAINING"
	MachineDown     MachineMode = "DOWN"
)

// MachineStatus is one scheduled machine's mode and window.
type MachineStatus struct {
	ID             MachineID      `json:"id"`
	Mode           MachineMode    `json:"mode"`
	Unavailability Unavailability `json:"unavailability"`
	Since          int64          `json:"since"` // epoch ms of the last mode change
}

// ValidateSchedule checks a schedule against Mesos' rules: every window
// has a machine and an unavailability with a start (and a non-negative
// duration); every machine has a hostname or a well-formed ip and appears
// once; every machine that is DOWN (down: keys of DOWN machines) stays in
// the schedule. It returns every violation.
func ValidateSchedule(s MaintenanceSchedule, down map[string]MachineID) []string {
	var errs []string
	seen := map[string]bool{}
	for i, w := range s.Windows {
		f := fmt.Sprintf("windows[%d]", i)
		if len(w.MachineIDs) == 0 {
			errs = append(errs, f+".machine_ids - a maintenance window must have at least one machine")
		}
		switch u := w.Unavailability; {
		case u == nil || u.Start == nil:
			errs = append(errs, f+".unavailability - a maintenance window must have an unavailability with a start")
		case u.Duration != nil && u.Duration.Nanoseconds < 0:
			errs = append(errs, f+".unavailability.duration - must not be negative")
		}
		for j, m := range w.MachineIDs {
			mf := fmt.Sprintf("%s.machine_ids[%d]", f, j)
			if msg := validateMachine(mf, m); msg != "" {
				errs = append(errs, msg)
				continue
			}
			if seen[m.Key()] {
				errs = append(errs, mf+" - machine "+m.String()+" appears more than once in the schedule")
			}
			seen[m.Key()] = true
		}
	}
	for key, m := range down {
		if !seen[key] {
			errs = append(errs, "machine "+m.String()+" is DOWN and must remain in the schedule (bring it up first)")
		}
	}
	return errs
}

// validateMachine: a hostname or an ip, and a well-formed ip if given.
func validateMachine(field string, m MachineID) string {
	if m.Hostname == "" && m.IP == "" {
		return field + " - a machine must have a hostname or an ip"
	}
	if m.IP != "" && net.ParseIP(m.IP) == nil {
		return field + " - ip " + m.IP + " is not a valid IP address"
	}
	return ""
}

// ValidateMachineList checks the body of machine/down and machine/up: not
// empty, each machine once, each with a hostname or a well-formed ip, and
// each known (scheduled, or in the wanted mode: known is called per machine
// and returns "" or the violation).
func ValidateMachineList(ms []MachineID, known func(MachineID) string) []string {
	if len(ms) == 0 {
		return []string{"machines - the list of machines must not be empty"}
	}
	var errs []string
	seen := map[string]bool{}
	for i, m := range ms {
		f := fmt.Sprintf("machines[%d]", i)
		if msg := validateMachine(f, m); msg != "" {
			errs = append(errs, msg)
			continue
		}
		if seen[m.Key()] {
			errs = append(errs, f+" - machine "+m.String()+" appears more than once")
			continue
		}
		seen[m.Key()] = true
		if msg := known(m); msg != "" {
			errs = append(errs, f+" - "+msg)
		}
	}
	return errs
}
