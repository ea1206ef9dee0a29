//go:build !unix

package testimage

// lockBuilds is a no-op where flock is unavailable.
func lockBuilds() func() { return func() {} }
