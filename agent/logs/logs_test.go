package logs_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drove-go/drove/agent/logs"
	"github.com/stretchr/testify/require"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	n, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

func TestWriter_RotatesAtMaxSize(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app", "inst")
	w, err := logs.NewWriter(dir, 10, 2)
	require.NoError(t, err)
	defer w.Close()

	write(t, w, "aaaa\n")
	write(t, w, "bbbb\n") // exactly 10: no rotation yet
	files, err := logs.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"output.log"}, files)
	require.Equal(t, "aaaa\nbbbb\n", readFile(t, filepath.Join(dir, "output.log")))

	write(t, w, "c\n") // would be 12: rotates first
	require.Equal(t, "c\n", readFile(t, filepath.Join(dir, "output.log")))
	require.Equal(t, "aaaa\nbbbb\n", readFile(t, filepath.Join(dir, "output.log.1")))

	write(t, w, "0123456789ABCDEF\n") // larger than maxSize: alone in a fresh file
	require.Equal(t, "0123456789ABCDEF\n", readFile(t, filepath.Join(dir, "output.log")))
	require.Equal(t, "c\n", readFile(t, filepath.Join(dir, "output.log.1")))
	require.Equal(t, "aaaa\nbbbb\n", readFile(t, filepath.Join(dir, "output.log.2")))

	write(t, w, "d\n") // the oldest file falls off
	files, err = logs.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"output.log", "output.log.1", "output.log.2"}, files)
	require.Equal(t, "d\n", readFile(t, filepath.Join(dir, "output.log")))
	require.Equal(t, "0123456789ABCDEF\n", readFile(t, filepath.Join(dir, "output.log.1")))
	require.Equal(t, "c\n", readFile(t, filepath.Join(dir, "output.log.2")))

	require.NoError(t, w.Close())
	_, err = w.Write([]byte("x"))
	require.ErrorIs(t, err, os.ErrClosed)
}

func TestWriter_AppendsToExistingFile(t *testing.T) {
	dir := t.TempDir()
	w, err := logs.NewWriter(dir, 10, 1)
	require.NoError(t, err)
	write(t, w, "12345678\n")
	require.NoError(t, w.Close())

	w, err = logs.NewWriter(dir, 10, 1)
	require.NoError(t, err)
	defer w.Close()
	write(t, w, "x\n") // 9 + 2 > 10: the size of the existing file counts
	require.Equal(t, "x\n", readFile(t, filepath.Join(dir, "output.log")))
	require.Equal(t, "12345678\n", readFile(t, filepath.Join(dir, "output.log.1")))
}

func TestWriter_NoRotatedFilesKept(t *testing.T) {
	dir := t.TempDir()
	w, err := logs.NewWriter(dir, 4, 0)
	require.NoError(t, err)
	defer w.Close()
	write(t, w, "abc\n")
	write(t, w, "def\n")
	files, err := logs.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"output.log"}, files)
	require.Equal(t, "def\n", readFile(t, filepath.Join(dir, "output.log")))
}

func TestList_OrderAndFilter(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"output.log.10", "output.log.2", "other.txt", "output.log", "output.x", "output.log.1"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "output.dir"), 0o755))
	files, err := logs.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"output.log", "output.log.1", "output.log.2", "output.log.10", "output.x"}, files)

	empty := t.TempDir()
	files, err = logs.List(empty)
	require.NoError(t, err)
	require.NotNil(t, files, "an empty list encodes as [] not null")
	require.Empty(t, files)

	_, err = logs.List(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, logs.ErrNoSuchDir)
}

func TestRead_DroveSemantics(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "output.1.log"), []byte("First log file"), 0o644))
	cases := []struct {
		name           string
		offset         int64
		length         int
		data           string
		off            int64
		wantErr        error
		wantErrMessage string
	}{
		{name: "tail start", offset: -1, length: -1, data: "", off: 14},
		{name: "offset only reads the default length", offset: 0, length: -1, data: "First log file", off: 0},
		{name: "offset and length", offset: 0, length: 10, data: "First log ", off: 0},
		{name: "at the end", offset: 14, length: 10, data: "", off: 14},
		{name: "scrolling", offset: 10, length: 10, data: "file", off: 10},
		{name: "past the end", offset: 100, length: -1, data: "", off: 100},
		{name: "zero length", offset: 3, length: 0, data: "", off: 3},
		{name: "length without offset", offset: -1, length: 10, wantErr: logs.ErrBadRange, wantErrMessage: "negative seek offset"},
		{name: "offset below -1", offset: -2, length: -1, wantErr: logs.ErrBadRange},
		{name: "length below -1", offset: 0, length: -5, wantErr: logs.ErrBadRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, off, err := logs.Read(dir, "output.1.log", c.offset, c.length)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
				require.ErrorContains(t, err, c.wantErrMessage)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.data, data)
			require.Equal(t, c.off, off)
		})
	}
}

func TestRead_Errors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "output.log"), []byte("x"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "output.d"), 0o755))
	for _, name := range []string{"", "x.log", "../output.log", "output.log/../../etc/passwd", `output.log\x`,
		"output..", "output.log\x00", "../../../etc/passwd"} {
		_, _, err := logs.Read(dir, name, 0, -1)
		require.ErrorIs(t, err, logs.ErrBadName, "name %q", name)
		_, err = logs.Open(dir, name)
		require.ErrorIs(t, err, logs.ErrBadName, "name %q", name)
	}
	_, _, err := logs.Read(dir, "output.wrong.log", 0, -1)
	require.ErrorIs(t, err, logs.ErrNoSuchFile)
	_, _, err = logs.Read(dir, "output.d", 0, -1)
	require.ErrorIs(t, err, logs.ErrNoSuchFile, "a directory is not a log file")
	_, _, err = logs.Read(filepath.Join(dir, "gone"), "output.log", 0, -1)
	require.ErrorIs(t, err, logs.ErrNoSuchDir)
}

func TestRead_StopsBeforeAPartialRune(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "output.log"), []byte("aé€b"), 0o644)) // 1 + 2 + 3 + 1 bytes
	var got strings.Builder
	off := int64(0)
	for range 10 {
		data, o, err := logs.Read(dir, "output.log", off, 2)
		require.NoError(t, err)
		require.Equal(t, off, o)
		if data == "" {
			break
		}
		got.WriteString(data)
		off += int64(len(data))
	}
	require.Equal(t, "aé€b", got.String())

	// A sequence the writer has not finished yet is left for the next read.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "output.log"), []byte("ab\xe2\x82"), 0o644))
	data, _, err := logs.Read(dir, "output.log", 0, -1)
	require.NoError(t, err)
	require.Equal(t, "ab", data)
}

func TestOpen_Download(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "output.log.1"), []byte("rotated\n"), 0o644))
	f, err := logs.Open(dir, "output.log.1")
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, "rotated\n", string(b))

	_, err = logs.Open(dir, "output.log")
	require.ErrorIs(t, err, logs.ErrNoSuchFile)
}

func TestDir_ChecksIDs(t *testing.T) {
	d, err := logs.Dir("/logs", "app-1", "AI-123")
	require.NoError(t, err)
	require.Equal(t, filepath.Join("/logs", "app-1", "AI-123"), d)
	for _, ids := range [][2]string{{"", "i"}, {"a", ""}, {"..", "i"}, {"a", "."}, {"a/b", "i"}, {"a", `..\x`}, {"a", "../../etc"}} {
		_, err := logs.Dir("/logs", ids[0], ids[1])
		require.ErrorIs(t, err, logs.ErrBadName, "ids %q", ids)
	}
}

// recorder keeps every write separately.
type recorder struct{ writes []string }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func TestCopyLines_WritesWholeLines(t *testing.T) {
	long := strings.Repeat("x", 64<<10+10)
	var rec recorder
	// iotest-like reader that hands out 3 bytes at a time.
	src := &trickle{s: "one\ntwo\n" + long + "\nlast"}
	require.NoError(t, logs.CopyLines(&rec, src))
	require.Equal(t, "one\n", rec.writes[0])
	require.Equal(t, "two\n", rec.writes[1])
	require.Equal(t, "last", rec.writes[len(rec.writes)-1])
	require.Equal(t, long+"\n", strings.Join(rec.writes[2:len(rec.writes)-1], ""))
	require.Len(t, rec.writes, 5, "the long line comes in two pieces")
}

type trickle struct{ s string }

func (r *trickle) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 3)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func TestSweep_RemovesQuietInstances(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	mk := func(app, inst string, mtime time.Time) string {
		dir := filepath.Join(root, app, inst)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		f := filepath.Join(dir, "output.log")
		require.NoError(t, os.WriteFile(f, []byte("x\n"), 0o644))
		require.NoError(t, os.Chtimes(f, mtime, mtime))
		require.NoError(t, os.Chtimes(dir, mtime, mtime))
		return dir
	}
	gone := mk("app1", "old", old)
	kept := mk("app1", "old-but-active", old)
	fresh := mk("app2", "new", time.Now())
	lonely := mk("app3", "old", old)

	n, err := logs.Sweep(root, time.Now().Add(-24*time.Hour), func(app, inst string) bool {
		return app == "app1" && inst == "old-but-active"
	})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoDirExists(t, gone)
	require.NoDirExists(t, lonely)
	require.NoDirExists(t, filepath.Dir(lonely), "an emptied app directory goes too")
	require.DirExists(t, kept)
	require.DirExists(t, fresh)

	n, err = logs.Sweep(filepath.Join(root, "missing"), time.Now(), nil)
	require.NoError(t, err)
	require.Zero(t, n)
}
