package logs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Names and limits of the files and reads.
const (
	// CurrentFile is the file being written; rotated files are CurrentFile
	// plus ".1", ".2" and so on, ".1" being the newest.
	CurrentFile = "output.log"
	// FilePrefix starts every log file name that is listed and served.
	FilePrefix = "output."
	// DefaultReadLength is how many bytes Read returns when asked for -1
	// (Drove's 32768).
	DefaultReadLength = 32768
	// MaxReadLength caps the bytes one Read returns, whatever is asked.
	MaxReadLength = 4 << 20
)

// Errors of the file functions; match with errors.Is.
var (
	// ErrBadName is a file name or id that is not acceptable (a path
	// separator, "..", or a file name not starting with "output.").
	ErrBadName = errors.New("invalid log file name")
	// ErrNoSuchFile is a valid file name that does not exist.
	ErrNoSuchFile = errors.New("no such log file")
	// ErrNoSuchDir is an instance without a log directory.
	ErrNoSuchDir = errors.New("no logs for this instance")
	// ErrBadRange is a read offset or length out of range.
	ErrBadRange = errors.New("invalid read range")
)

// Dir returns the log directory of an instance below root. The ids must be
// plain names: not empty, not "." or "..", without path separators.
func Dir(root, appID, instanceID string) (string, error) {
	for _, id := range []string{appID, instanceID} {
		if err := checkID(id); err != nil {
			return "", err
		}
	}
	return filepath.Join(root, appID, instanceID), nil
}

func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`+"\x00") {
		return fmt.Errorf("%w: %q", ErrBadName, id)
	}
	return nil
}

// CheckName accepts a log file name: it starts with "output.", has no path
// separators or NUL, and is not "..".
func CheckName(name string) error {
	if !strings.HasPrefix(name, FilePrefix) || strings.ContainsAny(name, `/\`+"\x00") || strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// List returns the log files in dir: regular files whose names start with
// "output.", the current file first, then rotated ones newest first
// (output.log.1, output.log.2, …), then any others by name.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchDir, dir)
	}
	if err != nil {
		return nil, err
	}
	files := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() && CheckName(e.Name()) == nil {
			files = append(files, e.Name())
		}
	}
	slices.SortFunc(files, compareNames)
	return files, nil
}

// compareNames orders output.log, output.log.1, output.log.2, …, output.log.10,
// then any other names alphabetically.
func compareNames(a, b string) int {
	ra, rb := rank(a), rank(b)
	return cmp.Or(cmp.Compare(ra, rb), strings.Compare(a, b))
}

// rank is 0 for the current file, n for output.log.n, and beyond every
// rotated file for other names.
func rank(name string) int {
	if name == CurrentFile {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(name, CurrentFile+".")); err == nil && n > 0 &&
		strings.HasPrefix(name, CurrentFile+".") {
		return n
	}
	return int(^uint(0) >> 1)
}

// Read reads a log file with the semantics of Drove's executor:
//
//   - offset -1 and length -1 (a tail's start): data is empty and the
//     offset returned is the file's length;
//   - otherwise up to length bytes (DefaultReadLength when -1, at most
//     MaxReadLength) from offset, and the offset returned is the requested
//     one: the caller adds len(data) itself. Reading at or past the end
//     gives empty data.
//
// Data never ends inside a UTF-8 sequence, so that valid text stays valid
// and its byte length is what the caller must advance by: a sequence cut
// at length is finished (up to 3 bytes more than asked), one the writer has
// not finished yet is left for the next read.
func Read(dir, name string, offset int64, length int) (data string, off int64, err error) {
	if err := CheckName(name); err != nil {
		return "", 0, err
	}
	switch {
	case offset < -1 || length < -1:
		return "", 0, fmt.Errorf("%w: offset and length must be >= -1, got %d and %d", ErrBadRange, offset, length)
	case offset == -1 && length != -1:
		return "", 0, fmt.Errorf("%w: negative seek offset", ErrBadRange)
	}
	f, err := openFile(dir, name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	if offset == -1 {
		st, err := f.Stat()
		if err != nil {
			return "", 0, err
		}
		return "", st.Size(), nil
	}
	if length == -1 {
		length = DefaultReadLength
	}
	length = min(length, MaxReadLength)
	// A few bytes more than asked, to finish a UTF-8 sequence cut at length.
	buf := make([]byte, length+utf8.UTFMax-1)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	return string(runeBoundary(buf[:n], length)), offset, nil
}

// runeBoundary cuts b, read from a file, to about length bytes without
// splitting a UTF-8 sequence: a sequence cut at length is finished from the
// bytes beyond it, and one still incomplete at the end of the file (being
// written) is left out. Invalid bytes are left as they are.
func runeBoundary(b []byte, length int) []byte {
	end := min(len(b), length)
	for end < len(b) && end > 0 && !utf8.RuneStart(b[end]) && end-length < utf8.UTFMax-1 {
		end++
	}
	if end < len(b) {
		return b[:end]
	}
	for i := end - 1; i >= 0 && i >= end-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:end]) {
				return b[:i]
			}
			break
		}
	}
	return b[:end]
}

// Open opens a log file for download. The caller closes it.
func Open(dir, name string) (*os.File, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return openFile(dir, name)
}

// openFile opens dir/name, a regular file, mapping a missing directory to
// ErrNoSuchDir and a missing file to ErrNoSuchFile.
func openFile(dir, name string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(dir); errors.Is(derr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchDir, dir)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoSuchFile, name)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNoSuchFile, name)
	}
	return f, nil
}
