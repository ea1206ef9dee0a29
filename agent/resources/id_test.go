package resources

import (
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/drove-go/drove/fsm/model"
	"github.com/stretchr/testify/require"
)

// byHand derives a name-based UUID from the MD5 hex string with string
// operations only, independently of NameUUIDFromBytes.
func byHand(t *testing.T, name string) string {
	sum := md5.Sum([]byte(name))
	h := []byte(hex.EncodeToString(sum[:]))
	h[12] = '3' // version nibble: first hex digit of byte 6
	// variant: top two bits of byte 8 become 10, i.e. its first hex digit is 8..b.
	h[16] = "89ab89ab89ab89ab"[hexVal(t, h[16])]
	s := string(h)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func hexVal(t *testing.T, c byte) int {
	v, err := hex.DecodeString("0" + string(c))
	require.NoError(t, err)
	return int(v[0])
}

func TestNameUUIDFromBytes(t *testing.T) {
	// Outputs of Java's UUID.nameUUIDFromBytes.
	require.Equal(t, "90015098-3cd2-3fb0-9696-3f7d28e17f72", NameUUIDFromBytes([]byte("abc")))
	require.Equal(t, "d41d8cd9-8f00-3204-a980-0998ecf8427e", NameUUIDFromBytes(nil))
	require.Equal(t, byHand(t, "abc"), NameUUIDFromBytes([]byte("abc")))
}

func TestExecutorID(t *testing.T) {
	// md5("localhost:3000") = 93b6b6f3c7c8d824afc9cb6d0b32454c: byte 6 0xd8 -> 0x38,
	// byte 8 0xaf keeps 0xaf (already 10xxxxxx).
	require.Equal(t, "93b6b6f3c7c8d824afc9cb6d0b32454c", hex.EncodeToString(md5Sum("localhost:3000")))
	const want = "93b6b6f3-c7c8-3824-afc9-cb6d0b32454c" // also Java's output
	require.Equal(t, want, byHand(t, "localhost:3000"))
	require.Equal(t, want, ExecutorID("localhost", 3000))
	require.Equal(t, "32080ad2-13cd-3e5f-a639-82384ffd6bdd", ExecutorID("exec-1.example.com", 3000))
	require.Equal(t, byHand(t, "exec-1.example.com:3000"), ExecutorID("exec-1.example.com", 3000))
	require.NotEqual(t, ExecutorID("localhost", 3000), ExecutorID("localhost", 3001))
}

func md5Sum(s string) []byte {
	sum := md5.Sum([]byte(s))
	return sum[:]
}

func TestDigest(t *testing.T) {
	build := func(order []int) model.ResourceLayout {
		l := model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{}}
		for _, n := range order {
			l.Cores[n] = []int{n*4 + 3, n * 4, n*4 + 2, n*4 + 1}
			l.Memory[n] = int64(1000 + n)
		}
		return l
	}
	d := Digest(build([]int{0, 1, 2, 3, 4, 5, 6, 7}))
	require.Regexp(t, "^[0-9a-f]{12}$", d)
	for range 50 {
		require.Equal(t, d, Digest(build([]int{7, 3, 5, 1, 0, 6, 2, 4})))
	}
	sorted := model.ResourceLayout{Cores: map[int][]int{}, Memory: map[int]int64{}}
	for n := range 8 {
		sorted.Cores[n] = []int{n * 4, n*4 + 1, n*4 + 2, n*4 + 3}
		sorted.Memory[n] = int64(1000 + n)
	}
	require.Equal(t, d, Digest(sorted))
	require.Equal(t, []int{0, 1, 2, 3}, sorted.Cores[0], "Digest must not reorder its input")

	// An empty node is the same as an absent one; any real change shows.
	withEmpty := build([]int{0, 1, 2, 3, 4, 5, 6, 7})
	withEmpty.Cores[9], withEmpty.Memory[9] = []int{}, 0
	require.Equal(t, d, Digest(withEmpty))
	changed := build([]int{0, 1, 2, 3, 4, 5, 6, 7})
	changed.Memory[3]++
	require.NotEqual(t, d, Digest(changed))
	moved := build([]int{0, 1, 2, 3, 4, 5, 6, 7})
	moved.Cores[0], moved.Cores[1] = []int{0, 1, 2}, append(moved.Cores[1], 3) // core 3 to node 1
	require.NotEqual(t, d, Digest(moved))
	require.NotEqual(t, Digest(model.ResourceLayout{Cores: map[int][]int{0: {1}}}),
		Digest(model.ResourceLayout{Memory: map[int]int64{0: 1}}))
}
