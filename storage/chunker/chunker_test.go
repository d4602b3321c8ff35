package chunker

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/cairn-storage/cairn/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// small are the params of the golden vector and of most tests: fast, and
// with many chunks per MiB.
var small = Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

// tiny params make every edge case reachable with a few hundred bytes.
var tiny = Params{Min: 64, Avg: 256, Max: 1024}

// random returns n bytes of a ChaCha8 stream whose 32-byte seed is the
// label, zero-padded.
func random(label string, n int) []byte {
	var seed [32]byte
	copy(seed[:], label)
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

var big = sync.OnceValue(func() []byte { return random("cairn/chunker 64MiB", 64<<20) })

// shortReader returns at most a random 1..maxN bytes per Read, and now and
// then (0, nil).
type shortReader struct {
	r    io.Reader
	rng  *rand.Rand
	maxN int
}

func (s *shortReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.rng.IntN(8) == 0 {
		return 0, nil
	}
	return s.r.Read(p[:min(len(p), 1+s.rng.IntN(s.maxN))])
}

func newShort(b []byte, seed uint64, maxN int) io.Reader {
	return &shortReader{r: bytes.NewReader(b), rng: rand.New(rand.NewPCG(seed, 1)), maxN: maxN}
}

// ends runs a Chunker over r and returns the chunk end offsets, checking
// that the chunks concatenate to want.
func ends(t testing.TB, r io.Reader, p Params, want []byte) []int {
	t.Helper()
	c, err := New(r, p)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	off := 0
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			if len(chunk) != 0 {
				t.Fatalf("io.EOF with %d bytes", len(chunk))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk) == 0 || !bytes.Equal(chunk, want[off:off+len(chunk)]) {
			t.Fatalf("chunk at %d (%d bytes) differs from the input", off, len(chunk))
		}
		off += len(chunk)
		out = append(out, off)
	}
	if off != len(want) {
		t.Fatalf("chunks cover %d of %d bytes", off, len(want))
	}
	if _, err := c.Next(); err != io.EOF {
		t.Fatalf("Next after EOF: %v, want io.EOF", err)
	}
	return out
}

// checkEnds checks the chunk size rules for data of length n.
func checkEnds(t testing.TB, e []int, n int, p Params) {
	t.Helper()
	if n == 0 {
		if len(e) != 0 {
			t.Fatalf("empty input gave %d chunks", len(e))
		}
		return
	}
	if len(e) == 0 || e[len(e)-1] != n {
		t.Fatalf("ends %v do not finish at %d", e, n)
	}
	prev := 0
	for i, x := range e {
		size := x - prev
		last := i == len(e)-1
		if size <= 0 || size > p.Max || (!last && size < p.Min) {
			t.Fatalf("chunk %d of %d has size %d, params %+v", i, len(e), size, p)
		}
		prev = x
	}
}

func TestGearVector(t *testing.T) {
	gear, gearLS := &public.gear, &public.gearLS
	b := make([]byte, 0, 256*8)
	for _, v := range gear {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	sum := sha256.Sum256(b)
	const want = "08244cd7ad10470148de1dbc92af1393df15a9d0af0966ce7feb58d72dcdec04"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SHA-256 of the gear table = %s, want %s", got, want)
	}
	if gear[0] != 0x6403f467f085d64b || gear[255] != 0x910b65dfe564fdf7 {
		t.Errorf("gear[0], gear[255] = %#x, %#x", gear[0], gear[255])
	}
	for i := range gear {
		if gearLS[i] != gear[i]<<1 {
			t.Fatalf("gearLS[%d] is not gear[%d]<<1", i, i)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{Default, true},
		{small, true},
		{tiny, true},
		{Params{1, 1, 1}, true},
		{Params{MaxSize, MaxSize, MaxSize}, true},
		{Params{3, 4, 5}, true},
		{Params{0, 1, 1}, false},
		{Params{-1, 1, 1}, false},
		{Params{2, 1, 4}, false},
		{Params{1, 4, 2}, false},
		{Params{1, 3, 4}, false},
		{Params{1, 1 << 20, MaxSize + 1}, false},
		{Params{1, 0, 0}, false},
		{Params{}, false},
	} {
		err := tc.p.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tc.p, err, tc.ok)
		}
		if err != nil && !errors.Is(err, storage.Invalid) {
			t.Errorf("%+v.Validate() = %v, not of Kind Invalid", tc.p, err)
		}
		if _, err := New(bytes.NewReader(nil), tc.p); (err == nil) != tc.ok {
			t.Errorf("New(%+v) = %v", tc.p, err)
		}
	}
	if _, err := New(nil, Default); !errors.Is(err, storage.Invalid) {
		t.Errorf("New(nil reader) = %v, want Invalid", err)
	}
}

// TestInvalidParamsPure checks that the pure functions never panic on
// invalid params.
func TestInvalidParamsPure(t *testing.T) {
	data := random("invalid", 1000)
	for _, p := range []Params{{}, {0, 1, 1}, {5, 4, 3}, {1, 3, 4}, {-5, -4, -3}} {
		if b := Boundaries(data, p); b != nil {
			t.Errorf("Boundaries(%+v) = %v, want nil", p, b)
		}
		if n := Cut(data, p, true); n != len(data) {
			t.Errorf("Cut(%+v, final) = %d", p, n)
		}
		if n := Cut(data, p, false); n != 0 {
			t.Errorf("Cut(%+v, not final) = %d", p, n)
		}
	}
}

func goldenPath(name string) string { return filepath.Join("testdata", name) }

func readGolden(t *testing.T, name string) []int {
	t.Helper()
	f, err := os.Open(goldenPath(name))
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n, err := strconv.Atoi(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeGolden(t *testing.T, name, header string, e []int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header)
	for _, x := range e {
		fmt.Fprintln(&b, x)
	}
	if err := os.WriteFile(goldenPath(name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGolden freezes the chunk boundaries: if it fails, every stored chunk
// of every user would move. Do not -update it without a format version.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name, label string
		size        int
		p           Params
	}{
		{"boundaries-small.txt", "cairn/chunker golden 8MiB", 8 << 20, small},
		{"boundaries-default.txt", "cairn/chunker 64MiB", 64 << 20, Default},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			if tc.size == 64<<20 {
				data = big()
			} else {
				data = random(tc.label, tc.size)
			}
			got := Boundaries(data, tc.p)
			if *update {
				header := fmt.Sprintf("# Chunk end offsets of %d bytes of math/rand/v2 ChaCha8 output,\n"+
					"# seed = %q zero-padded to 32 bytes, params Min %d Avg %d Max %d.\n",
					tc.size, tc.label, tc.p.Min, tc.p.Avg, tc.p.Max)
				writeGolden(t, tc.name, header, got)
			}
			want := readGolden(t, tc.name)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("boundaries differ from %s: got %d chunks, want %d", tc.name, len(got), len(want))
			}
		})
	}
}

func TestSizes(t *testing.T) {
	for _, p := range []Params{tiny, small, Default} {
		sizes := []int{0, 1, p.Min - 1, p.Min, p.Min + 1, p.Avg, p.Max - 1, p.Max, p.Max + 1,
			2*p.Max + 3, 3*p.Avg + 7, 10*p.Avg + 1}
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%d-%d-%d/%d", p.Min, p.Avg, p.Max, n), func(t *testing.T) {
				data := random(fmt.Sprint("sizes", n), n)
				want := Boundaries(data, p)
				checkEnds(t, want, n, p)
				readers := map[string]io.Reader{
					"whole":    bytes.NewReader(data),
					"short":    newShort(data, uint64(n), 4096),
					"data+eof": iotest.DataErrReader(newShort(data, uint64(n)+1, 100_000)),
				}
				if n <= 4*small.Max {
					readers["onebyte"] = iotest.OneByteReader(bytes.NewReader(data))
					readers["half"] = iotest.HalfReader(bytes.NewReader(data))
				}
				for name, r := range readers {
					if got := ends(t, r, p, data); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("%s reader: ends %v, Boundaries %v", name, got, want)
					}
				}
			})
		}
	}
}

// TestReaderSplits runs many random read patterns over one multi-chunk
// input: boundaries must not depend on them.
func TestReaderSplits(t *testing.T) {
	data := random("splits", 1<<20)
	want := Boundaries(data, small)
	checkEnds(t, want, len(data), small)
	if len(want) < 50 {
		t.Fatalf("only %d chunks", len(want))
	}
	for seed := range uint64(20) {
		maxN := []int{1, 7, 100, 5000, 70_000, 1 << 20}[seed%6]
		r := iotest.DataErrReader(newShort(data, seed, maxN))
		if got := ends(t, r, small, data); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d maxN %d: boundaries differ", seed, maxN)
		}
	}
	if got := ends(t, iotest.OneByteReader(bytes.NewReader(data)), small, data); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("one-byte reader: boundaries differ")
	}
}

func TestCut(t *testing.T) {
	p := small
	data := random("cut", 4*p.Max)
	first := Cut(data, p, true)
	if first < p.Min || first > p.Max {
		t.Fatalf("first cut %d", first)
	}
	for _, tc := range []struct {
		n     int
		final bool
		want  int
	}{
		{0, true, 0},
		{0, false, 0},
		{1, true, 1},
		{1, false, 0},
		{p.Min, true, p.Min},
		{p.Min, false, 0},
		{first - 1, false, 0},
		{first - 1, true, first - 1},
		{first, false, first},
		{first, true, first},
		{p.Max, false, first},
		{len(data), false, first},
	} {
		if got := Cut(data[:tc.n], p, tc.final); got != tc.want {
			t.Errorf("Cut(%d bytes, final %v) = %d, want %d", tc.n, tc.final, got, tc.want)
		}
	}
	// Without any boundary (constant bytes never hit the mask here), the
	// cut is forced at Max, and only once Max bytes are there.
	zeros := make([]byte, 3*p.Max)
	if got := Cut(zeros[:p.Max-1], p, false); got != 0 {
		t.Errorf("Cut(Max-1 zeros, not final) = %d, want 0", got)
	}
	if got := Cut(zeros, p, false); got != p.Max {
		t.Errorf("Cut(zeros, not final) = %d, want Max", got)
	}
	e := Boundaries(zeros, p)
	checkEnds(t, e, len(zeros), p)
}

// chunkSet is the chunks of a stream by position and by SHA-256.
type chunkSet struct {
	data   []byte
	spans  map[[2]int]bool // [start, end) of every chunk
	hashes map[[32]byte]bool
}

func newChunkSet(data []byte, p Params) *chunkSet {
	cs := &chunkSet{data: data, spans: map[[2]int]bool{}, hashes: map[[32]byte]bool{}}
	prev := 0
	for _, e := range Boundaries(data, p) {
		cs.spans[[2]int{prev, e}] = true
		cs.hashes[sha256.Sum256(data[prev:e])] = true
		prev = e
	}
	return cs
}

// changed returns how many chunks of b are not chunks of a (compared by
// SHA-256), where b is a with one byte edited (delta 0), inserted (+1) or
// deleted (-1) at pos. Chunks that are the same span of unchanged bytes in
// both are equal without hashing them again.
func (a *chunkSet) changed(b []byte, pos, delta int, p Params) int {
	after := pos + 1 // b[x] == a[x-delta] from here on
	if delta < 0 {
		after = pos
	}
	n := 0
	prev := 0
	for _, e := range Boundaries(b, p) {
		s := prev
		prev = e
		if e <= pos && a.spans[[2]int{s, e}] {
			continue
		}
		if s >= after && a.spans[[2]int{s - delta, e - delta}] {
			continue
		}
		if !a.hashes[sha256.Sum256(b[s:e])] {
			n++
		}
	}
	return n
}

type edited struct {
	name  string
	data  []byte
	delta int
}

func edits(data []byte, pos int) []edited {
	edit := bytes.Clone(data)
	edit[pos] ^= 0x5a
	insert := make([]byte, 0, len(data)+1)
	insert = append(append(append(insert, data[:pos]...), 0x5a), data[pos:]...)
	del := make([]byte, 0, len(data)-1)
	del = append(append(del, data[:pos]...), data[pos+1:]...)
	return []edited{{"edit", edit, 0}, {"insert", insert, 1}, {"delete", del, -1}}
}

// TestLocalEdit: a one-byte edit, insertion or deletion in the middle of a
// 64 MiB file changes at most 3 chunks.
func TestLocalEdit(t *testing.T) {
	data := big()
	set := newChunkSet(data, Default)
	pos := len(data)/2 + 12345
	for _, e := range edits(data, pos) {
		if n := set.changed(e.data, pos, e.delta, Default); n > 3 || n == 0 {
			t.Errorf("%s: %d chunks changed", e.name, n)
		}
	}
}

// TestLocalEditMany repeats it at many positions with small params.
func TestLocalEditMany(t *testing.T) {
	data := random("edits", 2<<20)
	set := newChunkSet(data, small)
	rng := rand.New(rand.NewPCG(7, 7))
	hist := map[int]int{}
	for range 50 {
		pos := rng.IntN(len(data))
		for _, e := range edits(data, pos) {
			n := set.changed(e.data, pos, e.delta, small)
			hist[n]++
			if n > 3 || n == 0 {
				t.Errorf("%s at %d: %d chunks changed", e.name, pos, n)
			}
		}
	}
	t.Logf("changed chunks: count %v", hist)
}

func TestAverage(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		p    Params
	}{
		{random("average", 16<<20), small},
		{big(), Default},
	} {
		e := Boundaries(tc.data, tc.p)
		mean := float64(len(tc.data)) / float64(len(e))
		ratio := mean / float64(tc.p.Avg)
		t.Logf("params %+v: %d chunks, mean %.0f = %.3f Avg", tc.p, len(e), mean, ratio)
		if ratio < 0.75 || ratio > 1.25 {
			t.Errorf("params %+v: mean chunk size %.3f Avg", tc.p, ratio)
		}
	}
}

// failReader returns data, then err.
type failReader struct {
	data []byte
	err  error
}

func (f *failReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	if len(f.data) == 0 {
		return n, f.err // data and the error together
	}
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	data := random("readerr", 300<<10)
	all := Boundaries(data, small)
	c, err := New(&failReader{data: data, err: boom}, small)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	off := 0
	for {
		chunk, err := c.Next()
		if err != nil {
			if !errors.Is(err, boom) || !errors.Is(err, storage.IO) {
				t.Fatalf("Next: %v, want boom of Kind IO", err)
			}
			break
		}
		off += len(chunk)
		got = append(got, off)
	}
	// The chunks before the error are the stream's own; the tail, whose
	// end is unknown, is not returned.
	if len(got) == 0 || len(got) >= len(all) || fmt.Sprint(got) != fmt.Sprint(all[:len(got)]) {
		t.Fatalf("chunks before the error %v, stream's %v", got, all)
	}
	if _, err := c.Next(); !errors.Is(err, boom) {
		t.Fatalf("error is not sticky: %v", err)
	}

	// A reader error that carries a Kind keeps it.
	c, _ = New(iotest.ErrReader(storage.E("read", storage.Unavailable, boom)), small)
	if _, err := c.Next(); !errors.Is(err, storage.Unavailable) || !errors.Is(err, boom) {
		t.Fatalf("Next: %v, want Unavailable", err)
	}
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

type liarReader struct{ n int }

func (l liarReader) Read(p []byte) (int, error) { return len(p) + l.n, nil }

func TestBadReaders(t *testing.T) {
	for name, r := range map[string]io.Reader{
		"stuck":    stuckReader{},
		"too many": liarReader{1},
		"negative": liarReader{-1 << 40},
	} {
		c, _ := New(r, small)
		if _, err := c.Next(); err == nil || err == io.EOF {
			t.Errorf("%s: Next = %v, want an error", name, err)
		}
	}
	c, _ := New(stuckReader{}, small)
	if _, err := c.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("stuck: %v, want io.ErrNoProgress", err)
	}
}

func TestReset(t *testing.T) {
	a := random("reset a", 500<<10)
	b := random("reset b", 300<<10)
	c, _ := New(bytes.NewReader(a), small)
	for {
		if _, err := c.Next(); err != nil {
			break
		}
	}
	c.Reset(bytes.NewReader(b))
	want := Boundaries(b, small)
	var got []int
	off := 0
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(chunk, b[off:off+len(chunk)]) {
			t.Fatal("chunk differs after Reset")
		}
		off += len(chunk)
		got = append(got, off)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("boundaries differ after Reset")
	}
	c.Reset(nil)
	if _, err := c.Next(); !errors.Is(err, storage.Invalid) {
		t.Fatalf("Next after Reset(nil): %v, want Invalid", err)
	}
}

// TestNoAllocs: after warm-up, Next does not allocate, and the buffer stays
// within Max + the read size.
func TestNoAllocs(t *testing.T) {
	data := random("allocs", 2<<20)
	r := bytes.NewReader(data)
	c, _ := New(r, small)
	run := func() {
		r.Reset(data)
		c.Reset(r)
		for {
			if _, err := c.Next(); err != nil {
				break
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(5, run); n != 0 {
		t.Errorf("%v allocations per stream after warm-up", n)
	}
	if len(c.buf) > small.Max+small.Max {
		t.Errorf("buffer grew to %d", len(c.buf))
	}
}

// reportCPU adds throughput per CPU-second ("cpuMB/s"), which the load of
// other work on a shared machine disturbs less than MB/s per wall second.
// Run with -cpu 1: with GOMAXPROCS > 1 the GC's CPU time counts too.
func reportCPU(b *testing.B, bytes int, cpu0 float64) {
	if d := cpuSeconds() - cpu0; cpu0 > 0 && d > 0 {
		b.ReportMetric(float64(b.N)*float64(bytes)/1e6/d, "cpuMB/s")
	}
}

// BenchmarkChunker measures Chunker over 64 MiB of random bytes with the
// default params, the buffer warmed up (reused through Reset).
func BenchmarkChunker(b *testing.B) {
	data := big()
	r := bytes.NewReader(data)
	c, err := New(r, Default)
	if err != nil {
		b.Fatal(err)
	}
	chunks := 0
	run := func() {
		r.Reset(data)
		c.Reset(r)
		for {
			_, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			chunks++
		}
	}
	run()
	chunks = 0
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	for b.Loop() {
		run()
	}
	reportCPU(b, len(data), cpu0)
	b.ReportMetric(float64(len(data))/(float64(chunks)/float64(b.N)), "B/chunk")
}

// BenchmarkBoundaries measures the pure form on the same input.
func BenchmarkBoundaries(b *testing.B) {
	data := big()
	b.SetBytes(int64(len(data)))
	cpu0 := cpuSeconds()
	for b.Loop() {
		Boundaries(data, Default)
	}
	reportCPU(b, len(data), cpu0)
}
