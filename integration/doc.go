// Package integration holds drove's multi-node end-to-end tests and the
// benchmarks that print its performance figures. Controllers run in process
// on 127.0.0.1 ports, or as real processes of the drove binary.
package integration
