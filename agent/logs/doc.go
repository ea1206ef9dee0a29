// Package logs owns the executor's per-instance output logs, the files
// Drove's log APIs serve: the container's output, one line at a time, in
// <root>/<appId>/<instanceId>/output.log, rotated by size into
// output.log.1 (newest) … output.log.N (oldest).
//
// Writer appends to (and rotates) one instance's log; CopyLines feeds it
// whole lines from a container's output stream. List, Read and Open serve
// the files with Drove's semantics (see Read), and Sweep removes the logs
// of instances that have been quiet for longer than a retention period.
//
// File names given to List, Read and Open come from HTTP requests: only
// names starting with "output." and without path separators are accepted
// (ErrBadName), and ids are checked by Dir before they become paths.
package logs
