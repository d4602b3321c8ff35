package chunker

import (
	"fmt"
	"math/bits"

	"github.com/cairn-storage/cairn/storage"
)

// MaxSize is the largest Params.Max that Validate accepts: 64 MiB.
const MaxSize = 64 << 20

// Params are the chunk size limits, in bytes. Every chunk but the last of a
// stream is at least Min and at most Max bytes long; the mean chunk size on
// random data is close to Avg (see the package comment).
type Params struct {
	Min, Avg, Max int // Avg must be a power of two
}

// Default is what Cairn uses for file data: 512 KiB / 1 MiB / 8 MiB.
var Default = Params{Min: 512 << 10, Avg: 1 << 20, Max: 8 << 20}

// Validate returns nil if 0 < Min <= Avg <= Max <= MaxSize and Avg is a
// power of two, and otherwise an error of Kind storage.Invalid.
func (p Params) Validate() error {
	var why string
	switch {
	case p.Min <= 0:
		why = "Min must be positive"
	case p.Min > p.Avg:
		why = "Min must not exceed Avg"
	case p.Avg > p.Max:
		why = "Avg must not exceed Max"
	case p.Max > MaxSize:
		why = fmt.Sprintf("Max must not exceed %d", MaxSize)
	case p.Avg&(p.Avg-1) != 0:
		why = "Avg must be a power of two"
	default:
		return nil
	}
	return storage.E("chunker params", storage.Invalid,
		fmt.Errorf("%s (min %d, avg %d, max %d)", why, p.Min, p.Avg, p.Max))
}

// cutter is a validated Params with the derived masks and normal point,
// and the gear table it hashes with.
type cutter struct {
	t              *Table
	min, norm, max int
	maskS, maskL   uint64 // before and after the normal point
}

// window is how many bytes before Min the hash is warmed over. Bit 62, the
// highest tested bit, depends on the last 63 bytes.
const window = 64

func newCutter(p Params, t *Table) cutter {
	b := bits.TrailingZeros(uint(p.Avg))
	norm := p.Avg - p.Avg/4
	norm = max(norm, p.Min)
	norm = min(norm, p.Max)
	return cutter{
		t:     t,
		min:   p.Min,
		norm:  norm,
		max:   p.Max,
		maskS: mask(b + 2),
		maskL: mask(b - 2),
	}
}

// mask returns n one bits ending at bit 62 (n <= 62; n < 0 counts as 0).
func mask(n int) uint64 {
	if n <= 0 {
		return 0
	}
	return (1<<n - 1) << (63 - n)
}
