package logs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Sweep removes the log directories below root (root/<appId>/<instanceId>)
// whose newest entry was modified before cutoff, except those for which
// keep (when not nil) returns true, and then the app directories left
// empty. It returns how many instance directories it removed; errors do not
// stop it and are returned joined.
func Sweep(root string, cutoff time.Time, keep func(appID, instanceID string) bool) (int, error) {
	apps, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var errs []error
	removed := 0
	for _, app := range apps {
		if !app.IsDir() {
			continue
		}
		appDir := filepath.Join(root, app.Name())
		instances, err := os.ReadDir(appDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		left := len(instances)
		for _, in := range instances {
			if !in.IsDir() || (keep != nil && keep(app.Name(), in.Name())) {
				continue
			}
			dir := filepath.Join(appDir, in.Name())
			newest, err := lastModified(dir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !newest.Before(cutoff) {
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
			left--
		}
		if left == 0 {
			// Fails harmlessly if a new instance created its directory meanwhile.
			_ = os.Remove(appDir)
		}
	}
	return removed, errors.Join(errs...)
}

// lastModified is the latest modification time of dir and its entries.
func lastModified(dir string) (time.Time, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return time.Time{}, err
	}
	newest := st.ModTime()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest, nil
}
