package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/drove-go/drove/fsm/model"
)

// Digest returns a short stable hash of l: the first 12 hex digits of the
// SHA-256 of a canonical encoding (nodes in ascending order, each node's cores
// sorted). It does not depend on map iteration order or on the order of the
// core slices, and a node listed with no cores and no memory hashes the same
// as an absent node. It is meant for gossip metadata, to notice that an
// executor's resources changed.
func Digest(l model.ResourceLayout) string {
	nodes := make([]int, 0, len(l.Cores)+len(l.Memory))
	for n := range l.Cores {
		nodes = append(nodes, n)
	}
	for n := range l.Memory {
		if _, ok := l.Cores[n]; !ok {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	var b strings.Builder
	for _, n := range nodes {
		cores := slices.Clone(l.Cores[n])
		mem := l.Memory[n]
		if len(cores) == 0 && mem == 0 {
			continue
		}
		slices.Sort(cores)
		b.WriteString("n")
		b.WriteString(strconv.Itoa(n))
		b.WriteString(" c")
		for i, c := range cores {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(c))
		}
		b.WriteString(" m")
		b.WriteString(strconv.FormatInt(mem, 10))
		b.WriteByte('\n')
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])[:12]
}
