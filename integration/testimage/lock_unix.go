//go:build unix

package testimage

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockBuilds serializes image builds across processes (go test runs
// packages in parallel), so a second build waits and then hits the build
// cache instead of racing to a duplicate image. It returns the unlock
// function; on failure it returns a no-op.
func lockBuilds() func() {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "drove-testimage.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return func() {}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
}
