package resources

import "fmt"

// Options controls Discover: where to read the host description from and how
// to shape what is offered to the cluster. The zero value discovers
// everything on the real host and offers all of it.
type Options struct {
	// SysfsRoot is the sysfs mount point; "" means "/sys".
	SysfsRoot string
	// ProcRoot is the procfs mount point; "" means "/proc".
	ProcRoot string
	// Cores, when > 0, offers only the first Cores cores in NUMA node order
	// (node 0's cores ascending, then node 1's, ...), i.e. cores 0..Cores-1
	// on the usual contiguous layout. It must not exceed the cores
	// discovered (flag --cores).
	Cores int
	// MemoryMB, when > 0, replaces the total memory, split across NUMA nodes
	// in proportion to their discovered memory (flag --memory-mb).
	MemoryMB int64
	// ReservedOSCores removes this many cores for the operating system, the
	// lowest ids first, from node 0 first and then from the following nodes
	// (Drove's osCores; flag --reserved-cores). It applies after Cores.
	ReservedOSCores int
	// ExposedMemPercent offers this percentage (1..100) of each node's
	// memory; 0 means 100 (Drove's exposedMemPercentage, which allows
	// 50..100; any 1..100 is accepted here for small hosts; flag
	// --exposed-memory-percent). It applies after MemoryMB.
	ExposedMemPercent int
	// DisableNUMA collapses all cores and memory into node 0.
	DisableNUMA bool
}

// Validate checks the option values on their own (not against the host).
// Error messages name the command-line flag and the offending value.
func (o Options) Validate() error {
	if o.Cores < 0 {
		return fmt.Errorf("--cores must not be negative, got %d", o.Cores)
	}
	if o.MemoryMB < 0 {
		return fmt.Errorf("--memory-mb must not be negative, got %d", o.MemoryMB)
	}
	if o.ReservedOSCores < 0 {
		return fmt.Errorf("--reserved-cores must not be negative, got %d", o.ReservedOSCores)
	}
	if o.Cores > 0 && o.ReservedOSCores >= o.Cores {
		return fmt.Errorf("--reserved-cores %d leaves no cores out of --cores %d", o.ReservedOSCores, o.Cores)
	}
	if o.ExposedMemPercent < 0 || o.ExposedMemPercent > 100 {
		return fmt.Errorf("--exposed-memory-percent must be between 1 and 100 (0 means 100), got %d", o.ExposedMemPercent)
	}
	return nil
}

func (o Options) sysfs() string {
	if o.SysfsRoot == "" {
		return "/sys"
	}
	return o.SysfsRoot
}

func (o Options) procfs() string {
	if o.ProcRoot == "" {
		return "/proc"
	}
	return o.ProcRoot
}

func (o Options) exposedPercent() int64 {
	if o.ExposedMemPercent == 0 {
		return 100
	}
	return int64(o.ExposedMemPercent)
}
