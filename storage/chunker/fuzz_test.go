package chunker

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzChunker feeds arbitrary bytes, params and read patterns: nothing may
// panic, chunks must obey the size rules and concatenate to the input, and
// Next must agree with Boundaries.
func FuzzChunker(f *testing.F) {
	f.Add([]byte("hello, world"), 1, 1, 1, uint64(0))
	f.Add(random("fuzz seed", 5000), 64, 256, 1024, uint64(1))
	f.Add(random("fuzz seed 2", 3000), 100, 128, 130, uint64(2))
	f.Add(make([]byte, 4000), 64, 256, 1024, uint64(3))
	f.Add([]byte{}, 0, 0, 0, uint64(4))
	f.Add([]byte{1, 2, 3}, -1, 3, 2, uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, lo, avg, hi int, seed uint64) {
		p := Params{Min: lo, Avg: avg, Max: hi}
		if p.Validate() != nil {
			if Boundaries(data, p) != nil {
				t.Fatal("Boundaries with invalid params")
			}
			Cut(data, p, false)
			if _, err := New(bytes.NewReader(data), p); err == nil {
				t.Fatal("New accepted invalid params")
			}
			return
		}
		if p.Max > 1<<16 {
			return // keep runs fast; large params are covered by the unit tests
		}
		want := Boundaries(data, p)
		checkEnds(t, want, len(data), p)
		var r io.Reader = newShort(data, seed, 1+int(seed%97))
		if seed&1 != 0 {
			r = iotest.DataErrReader(r)
		}
		if got := ends(t, r, p, data); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Next ends %v, Boundaries %v", got, want)
		}
	})
}
