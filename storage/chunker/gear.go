package chunker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// gearSeed seeds the SplitMix64 stream the public gear table is drawn
// from: "cairncdc" in ASCII. Changing it moves every public boundary.
const gearSeed = 0x636169726e636463

// KeySize is the length of the secret Keyed derives a table from.
const KeySize = 32

// gearLabel is the HMAC message prefix of the keyed table (see the package
// comment). Changing it moves every keyed boundary of every user.
const gearLabel = "cairn chunker v1 gear"

// Table is a gear table: the value the rolling hash adds for each byte.
// Boundaries depend only on the bytes, the Params and the Table, so with a
// secret Table (Keyed) nobody without the secret can predict them. A Table
// is about 4 KiB, read-only after it is made and safe for concurrent use;
// make one per secret and reuse it.
type Table struct {
	gear   [256]uint64
	gearLS [256]uint64 // gear shifted left by one, for stepping two bytes at once
}

// public is the table of New, Cut and Boundaries: SplitMix64 from gearSeed.
var public = newTable(makeGear(gearSeed))

// Public returns the public table, the one New, Cut and Boundaries use.
// Its boundaries can be computed by anyone; user data is chunked with a
// Keyed table. The Table is shared: do not modify it.
func Public() *Table { return public }

// Keyed returns the table derived from a 32-byte secret (see the package
// comment): gear[i] is bytes 8i..8i+7, little endian, of the 64 blocks
// HMAC-SHA256(key, "cairn chunker v1 gear" || byte(j)), j = 0..63, laid end
// to end. Equal secrets give equal tables; any secret, the zero one
// included, gives a table unrelated to Public. It costs 64 HMACs (a few
// microseconds).
func Keyed(key [KeySize]byte) *Table {
	var g [256]uint64
	m := hmac.New(sha256.New, key[:])
	msg := make([]byte, len(gearLabel)+1)
	copy(msg, gearLabel)
	var block [sha256.Size]byte
	for j := range 256 / 4 {
		msg[len(gearLabel)] = byte(j)
		m.Reset()
		m.Write(msg)
		m.Sum(block[:0])
		for k := range 4 {
			g[4*j+k] = binary.LittleEndian.Uint64(block[8*k:])
		}
	}
	return newTable(g)
}

func newTable(g [256]uint64) *Table {
	t := &Table{gear: g}
	for i, v := range g {
		t.gearLS[i] = v << 1
	}
	return t
}

// makeGear returns the first 256 outputs of SplitMix64 from seed.
func makeGear(seed uint64) [256]uint64 {
	var g [256]uint64
	s := seed
	for i := range g {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		g[i] = z ^ z>>31
	}
	return g
}
