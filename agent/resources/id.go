package resources

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
)

// NameUUIDFromBytes returns the type 3 (name-based, MD5) UUID of b exactly as
// Java's UUID.nameUUIDFromBytes computes it: the MD5 of the raw bytes with no
// namespace prefix, with the version nibble set to 3 and the RFC 4122 variant
// bits set. The result is in lower-case canonical 8-4-4-4-12 form.
func NameUUIDFromBytes(b []byte) string {
	sum := md5.Sum(b)
	sum[6] = sum[6]&0x0f | 0x30 // version 3
	sum[8] = sum[8]&0x3f | 0x80 // IETF variant
	var out [36]byte
	hex.Encode(out[0:8], sum[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], sum[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], sum[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], sum[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], sum[10:16])
	return string(out[:])
}

// ExecutorID returns the executor id Drove assigns to an executor listening on
// hostname:port: NameUUIDFromBytes of the bytes of "hostname:port".
func ExecutorID(hostname string, port int) string {
	return NameUUIDFromBytes([]byte(hostname + ":" + strconv.Itoa(port)))
}
