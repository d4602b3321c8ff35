package chunker

import (
	"fmt"
	"math/bits"
	"testing"
)

// refBoundaries is the algorithm as the package comment states it, one
// byte at a time and without the two-byte stepping of scan.
func refBoundaries(data []byte, p Params) []int { return refBoundariesGear(data, p, &public.gear) }

func refBoundariesGear(data []byte, p Params, gear *[256]uint64) []int {
	b := bits.TrailingZeros(uint(p.Avg))
	ones := func(n int) uint64 {
		var m uint64
		for i := 0; i < n; i++ {
			m |= 1 << (62 - i)
		}
		return m
	}
	maskS, maskL := ones(b+2), ones(b-2)
	norm := min(max(p.Avg-p.Avg/4, p.Min), p.Max)
	var out []int
	for off := 0; off < len(data); {
		rest := data[off:]
		n := min(len(rest), p.Max)
		var fp uint64
		for i := max(p.Min-64, 0); i < n; i++ {
			fp = fp<<1 + gear[rest[i]]
			m := maskS
			if i >= norm {
				m = maskL
			}
			if i >= p.Min && fp&m == 0 {
				n = i + 1
				break
			}
		}
		off += n
		out = append(out, off)
	}
	return out
}

func TestReference(t *testing.T) {
	for _, p := range []Params{tiny, small, {1, 1, 1}, {1, 2, 3}, {3, 4, 100}, {64, 64, 64}, {65, 128, 129}, {200, 256, 4096}} {
		for _, n := range []int{0, 1, 2, 3, 63, 64, 65, 1000, 1001, 300_000} {
			data := random(fmt.Sprint("ref", n), n)
			got, want := Boundaries(data, p), refBoundaries(data, p)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("params %+v, %d bytes: Boundaries %v, reference %v", p, n, got, want)
			}
		}
	}
}
