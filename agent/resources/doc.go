// Package resources describes what an executor offers to the cluster: its
// Drove-compatible executor id and its resource layout (cores and memory per
// NUMA node), discovered from sysfs and procfs and shaped by operator
// overrides.
//
// ExecutorID reproduces Drove's id (Java's UUID.nameUUIDFromBytes over
// "hostname:port"), so a Go executor keeps the id a Java executor on the same
// host and port would have. Discover reads the NUMA topology from
// <sysfs>/devices/system/node (falling back to a single node built from
// <sysfs>/devices/system/cpu/online and <procfs>/meminfo) and applies the
// overrides in Options. Digest condenses a layout into a short stable hash
// that can be gossiped to notice resource changes.
package resources
