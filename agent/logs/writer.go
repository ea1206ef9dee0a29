package logs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Rotation defaults.
const (
	// DefaultMaxSize is the size at which output.log is rotated.
	DefaultMaxSize = 10 << 20
	// DefaultMaxFiles is how many rotated files are kept.
	DefaultMaxFiles = 3
)

// Writer appends to <dir>/output.log and rotates it once the next write
// would take it past maxSize: output.log becomes output.log.1, .1 becomes
// .2 and so on, and the file beyond maxFiles is deleted. A write is never
// split, so writing whole lines keeps lines whole; a write larger than
// maxSize goes alone into a fresh file. Safe for concurrent use.
type Writer struct {
	dir      string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// NewWriter creates dir if needed and opens its output.log for appending.
// maxSize <= 0 means DefaultMaxSize; maxFiles < 0 means none are kept.
func NewWriter(dir string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, maxSize: maxSize, maxFiles: max(maxFiles, 0)}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) path(n int) string {
	if n == 0 {
		return filepath.Join(w.dir, CurrentFile)
	}
	return filepath.Join(w.dir, CurrentFile+"."+strconv.Itoa(n))
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path(0), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends p, rotating first if p would take the file past maxSize.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, os.ErrClosed
	}
	if w.size > 0 && w.size+int64(len(p)) > w.maxSize {
		// A failed rotation that left output.log open is retried on the
		// next write; the data is written to the open file meanwhile.
		if err := w.rotate(); err != nil && w.f == nil {
			return 0, fmt.Errorf("rotate %s: %w", w.path(0), err)
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// rotate shifts the files by one and opens output.log again (a new one
// unless the shift failed). mu is held; w.f is nil only if the reopen failed.
func (w *Writer) rotate() error {
	err := w.f.Close()
	w.f = nil
	if err == nil {
		err = w.shift()
	}
	if oerr := w.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// shift deletes the oldest rotated file and renames the others (and
// output.log) one number up.
func (w *Writer) shift() error {
	if err := os.Remove(w.path(w.maxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for n := w.maxFiles - 1; n >= 0; n-- {
		if err := os.Rename(w.path(n), w.path(n+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close closes the file; later writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// maxLine is the longest line CopyLines hands over whole; longer ones are
// written in pieces of this size.
const maxLine = 64 << 10

// CopyLines copies r to w one line per Write (a longer line than 64 KiB in
// several) until r ends; a last line without a newline is written too. It
// returns nil at io.EOF, else the read or write error.
func CopyLines(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}
