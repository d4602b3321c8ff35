package chunker

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
)

// goldenKey is the key of the keyed golden vector: bytes 0x00..0x1f.
func goldenKey() (k [KeySize]byte) {
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// TestKeyedGearVector freezes the derivation of a keyed table (package
// comment): if it fails, every user's boundaries move. The values were
// also computed from the package comment with Python's hmac module.
func TestKeyedGearVector(t *testing.T) {
	tb := Keyed(goldenKey())
	b := make([]byte, 0, 256*8)
	for _, v := range tb.gear {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	sum := sha256.Sum256(b)
	const want = "61291158c5218cac6241e15d42bc2433e3cb98894c5a83acc9ca582e7b12779b"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SHA-256 of the keyed gear table = %s, want %s", got, want)
	}
	if tb.gear[0] != 0x5255f2ce78dafa4c || tb.gear[1] != 0xe6a81dde6d88b9d3 || tb.gear[255] != 0x85aada16786fdd93 {
		t.Errorf("gear[0], gear[1], gear[255] = %#x, %#x, %#x", tb.gear[0], tb.gear[1], tb.gear[255])
	}
	for i := range tb.gear {
		if tb.gearLS[i] != tb.gear[i]<<1 {
			t.Fatalf("gearLS[%d] is not gear[%d]<<1", i, i)
		}
	}
	if z := Keyed([KeySize]byte{}); z.gear == public.gear || z.gear[0] != 0xe71a7f44b96cca2f {
		t.Errorf("zero key: gear[0] = %#x, want 0xe71a7f44b96cca2f (not the public table)", z.gear[0])
	}
	if Keyed(goldenKey()).gear != tb.gear {
		t.Error("the same key gave two tables")
	}
}

// TestKeyedGolden freezes the keyed boundaries of one input under the
// golden key. Do not -update it without a format version.
func TestKeyedGolden(t *testing.T) {
	const name, label, size = "boundaries-keyed-small.txt", "cairn/chunker keyed golden 1MiB", 1 << 20
	data := random(label, size)
	got := Keyed(goldenKey()).Boundaries(data, small)
	if *update {
		header := fmt.Sprintf("# Chunk end offsets of %d bytes of math/rand/v2 ChaCha8 output,\n"+
			"# seed = %q zero-padded to 32 bytes, params Min %d Avg %d Max %d,\n"+
			"# keyed table of the key 00 01 02 ... 1f (doc.go).\n",
			size, label, small.Min, small.Avg, small.Max)
		writeGolden(t, name, header, got)
	}
	want := readGolden(t, name)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("keyed boundaries differ from %s: got %d chunks, want %d", name, len(got), len(want))
	}
}

// TestKeyedReference: the keyed Chunker, Cut and Boundaries agree with the
// byte-at-a-time reference over the keyed table.
func TestKeyedReference(t *testing.T) {
	tb := Keyed([KeySize]byte{7})
	for _, p := range []Params{tiny, small, {1, 2, 3}, {200, 256, 4096}} {
		for _, n := range []int{0, 1, 65, 1000, 300_000} {
			data := random(fmt.Sprint("keyed ref", n), n)
			want := refBoundariesGear(data, p, &tb.gear)
			if got := tb.Boundaries(data, p); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("params %+v, %d bytes: Boundaries %v, reference %v", p, n, got, want)
			}
			c, err := tb.New(newShort(data, uint64(n), 777), p)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			off := 0
			for {
				chunk, err := c.Next()
				if err != nil {
					break
				}
				if !bytes.Equal(chunk, data[off:off+len(chunk)]) {
					t.Fatal("keyed chunk differs from the input")
				}
				off += len(chunk)
				got = append(got, off)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("params %+v, %d bytes: Chunker %v, reference %v", p, n, got, want)
			}
			if n > 0 {
				if k := tb.Cut(data, p, true); k != want[0] {
					t.Errorf("Cut = %d, want %d", k, want[0])
				}
			}
		}
	}
}

// shared counts the end offsets two boundary lists have in common, the
// end of the data excluded.
func shared(a, b []int) int {
	in := map[int]bool{}
	for _, x := range a[:len(a)-1] {
		in[x] = true
	}
	n := 0
	for _, x := range b[:len(b)-1] {
		if in[x] {
			n++
		}
	}
	return n
}

// TestKeyedBoundariesSecret: boundaries under two different keys (and
// under the public table) have little in common beyond chance, while one
// key always gives the same boundaries (a user's chunks dedup), and keyed
// boundaries keep the size rules, the mean size and locality of edits.
func TestKeyedBoundariesSecret(t *testing.T) {
	data := random("keyed secret", 8<<20)
	alice, bob := Keyed([KeySize]byte{1}), Keyed([KeySize]byte{2})
	ea, eb, ep := alice.Boundaries(data, small), bob.Boundaries(data, small), Boundaries(data, small)
	checkEnds(t, ea, len(data), small)
	checkEnds(t, eb, len(data), small)
	if again := Keyed([KeySize]byte{1}).Boundaries(data, small); fmt.Sprint(again) != fmt.Sprint(ea) {
		t.Fatal("the same key gave different boundaries")
	}
	// Two independent boundary sets of ~1000 cuts each over 8 MiB share
	// about 1000²/8M ≈ 0.1 offsets by chance; allow a few.
	for _, pair := range []struct {
		name string
		a, b []int
	}{{"alice/bob", ea, eb}, {"alice/public", ea, ep}, {"bob/public", eb, ep}} {
		if n := shared(pair.a, pair.b); n > 5 {
			t.Errorf("%s: %d of %d/%d boundaries shared", pair.name, n, len(pair.a), len(pair.b))
		}
	}
	for _, e := range [][]int{ea, eb} {
		mean := float64(len(data)) / float64(len(e))
		if r := mean / float64(small.Avg); r < 0.75 || r > 1.25 {
			t.Errorf("keyed mean chunk size %.3f Avg", r)
		}
	}
	set := &chunkSet{data: data, spans: map[[2]int]bool{}, hashes: map[[32]byte]bool{}}
	prev := 0
	for _, e := range ea {
		set.spans[[2]int{prev, e}] = true
		set.hashes[sha256.Sum256(data[prev:e])] = true
		prev = e
	}
	pos := len(data)/2 + 999
	for _, ed := range edits(data, pos) {
		n := 0
		prev := 0
		for _, e := range alice.Boundaries(ed.data, small) {
			if !set.hashes[sha256.Sum256(ed.data[prev:e])] {
				n++
			}
			prev = e
		}
		if n == 0 || n > 3 {
			t.Errorf("keyed %s: %d chunks changed", ed.name, n)
		}
	}
}

// BenchmarkChunkerKeyed is BenchmarkChunker with a keyed table.
func BenchmarkChunkerKeyed(b *testing.B) {
	data := big()
	r := bytes.NewReader(data)
	c, err := Keyed(goldenKey()).New(r, Default)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	for b.Loop() {
		r.Reset(data)
		c.Reset(r)
		for {
			if _, err := c.Next(); err != nil {
				break
			}
		}
	}
	reportCPU(b, len(data), cpu0)
}

func BenchmarkKeyed(b *testing.B) {
	k := goldenKey()
	for b.Loop() {
		Keyed(k)
	}
}
