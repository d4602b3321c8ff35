package cryptree

import (
	"bytes"
	"errors"
	"testing"
)

// sealPaddedBody seals body (plaintext and padding, as is) as a version
// 0x02 chunk, canonical or not: for tests of the opening side.
func sealPaddedBody(key Key, body []byte) []byte {
	g := newGCM(&key)
	return g.Seal([]byte{chunkVersionPadded}, chunkNoncePadded[:], body, chunkADPadded)
}

func TestPadme(t *testing.T) {
	for _, c := range [][2]int{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, {9, 10}, {18, 18}, {19, 20}, {100, 104},
		{1000, 1024}, {1100, 1152}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<15},
		{8<<20 - 1, 8 << 20}, {64<<20 - 18, 64 << 20},
	} {
		if got := padme(c[0]); got != c[1] {
			t.Errorf("padme(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	// padme is monotone, idempotent and within its overhead bound.
	prev := 0
	for l := 2; l < 1<<17; l++ {
		p := padme(l)
		if p < l || p < prev || padme(p) != p {
			t.Fatalf("padme(%d) = %d (previous %d, padme of it %d)", l, p, prev, padme(p))
		}
		if float64(p-l) > 0.12*float64(l) {
			t.Fatalf("padme(%d) = %d: overhead over 12 %%", l, p)
		}
		prev = p
	}
}

// TestPaddedOverhead checks the overhead bounds PaddedChunkSize documents
// and reports the worst and mean overhead over chunk-like sizes.
func TestPaddedOverhead(t *testing.T) {
	worst := map[int]float64{}
	for n := 0; n < 9<<20; n += 1 + n/4096 {
		p := PaddedChunkSize(n)
		if p < n+paddedMin {
			t.Fatalf("PaddedChunkSize(%d) = %d, less than n+18", n, p)
		}
		r := float64(p-n-paddedMin) / float64(n+paddedMin)
		band := 0
		switch {
		case n+paddedMin >= 64<<10:
			band = 3
		case n+paddedMin >= 256:
			band = 2
		default:
			band = 1
		}
		worst[band] = max(worst[band], r)
	}
	limits := map[int]float64{1: 0.125, 2: 0.0625, 3: 1.0 / 32}
	for band, w := range worst {
		if w > limits[band] {
			t.Errorf("band %d: worst padding %.4f over %.4f", band, w, limits[band])
		}
	}
	var sum float64
	cnt := 0
	for n := 512 << 10; n <= 8<<20; n += 4099 {
		sum += float64(PaddedChunkSize(n)-n) / float64(n)
		cnt++
	}
	t.Logf("worst padding: %.2f %% (< 256 B), %.2f %% (256 B..64 KiB), %.2f %% (>= 64 KiB); mean over 512 KiB..8 MiB %.2f %%",
		100*worst[1], 100*worst[2], 100*worst[3], 100*sum/float64(cnt))
}

func TestPaddedChunkRoundTrip(t *testing.T) {
	key := mustKey(t)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 4077, 4078, 4079, 1 << 20, 1<<20 - 18, 1<<20 - 17, 3<<20 + 5} {
		p := pattern(n, byte(n), 3)
		prefix := []byte("prefix")
		sealed := SealChunkPadded(bytes.Clone(prefix), key, p)
		if !bytes.Equal(sealed[:len(prefix)], prefix) || len(sealed) != len(prefix)+PaddedChunkSize(n) {
			t.Fatalf("n=%d: seal appended %d bytes, want %d", n, len(sealed)-len(prefix), PaddedChunkSize(n))
		}
		sealed = sealed[len(prefix):]
		if sealed[0] != 0x02 {
			t.Fatalf("n=%d: version %#x", n, sealed[0])
		}
		if !bytes.Equal(SealChunkPadded(nil, key, p), sealed) {
			t.Fatalf("n=%d: sealing is not deterministic", n)
		}
		// With room in dst, and without.
		roomy := SealChunkPadded(make([]byte, 0, PaddedChunkSize(n)+10), key, p)
		if !bytes.Equal(roomy, sealed) {
			t.Fatalf("n=%d: seal into a roomy dst differs", n)
		}
		got, err := OpenChunk([]byte("x"), key, sealed)
		if err != nil || !bytes.Equal(got, append([]byte("x"), p...)) {
			t.Fatalf("n=%d: open: %v", n, err)
		}
		in := bytes.Clone(sealed)
		got, err = OpenChunk(in[1:1], key, in)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("n=%d: open in place: %v", n, err)
		}
	}
}

// TestPaddedBuckets: many distinct plaintext sizes give few sealed sizes,
// and every sealed size is a Padmé value.
func TestPaddedBuckets(t *testing.T) {
	key := Key(pattern(16, 5, 1))
	sizes := map[int]bool{}
	sealedSizes := map[int]bool{}
	for n := 512 << 10; n < 2<<20; n += 997 {
		sizes[n] = true
		s := PaddedChunkSize(n)
		if padme(s) != s {
			t.Fatalf("sealed size %d of %d is not a bucket", s, n)
		}
		sealedSizes[s] = true
	}
	for n := 3000; n < 3200; n++ { // real seals, too
		sealedSizes[len(SealChunkPadded(nil, key, pattern(n, 0, 1)))] = true
	}
	t.Logf("%d plaintext sizes, %d sealed sizes", len(sizes)+200, len(sealedSizes))
	// 2^5 buckets per octave from 64 KiB: 64 for 512 KiB..2 MiB, and
	// 128-byte buckets for 3000..3200.
	if len(sealedSizes) > 70 {
		t.Fatalf("%d sealed sizes for %d plaintext sizes", len(sealedSizes), len(sizes)+200)
	}
}

// TestOpenChunkV1Still: chunks sealed in version 0x01 (already stored)
// still open, and neither version opens relabelled as the other.
func TestOpenChunkV1Still(t *testing.T) {
	key := Key(pattern(16, 9, 1))
	p := pattern(5000, 1, 7)
	v1 := SealChunk(nil, key, p)
	if v1[0] != 0x01 || len(v1) != len(p)+ChunkOverhead {
		t.Fatalf("version 0x01 chunk: version %#x, %d bytes", v1[0], len(v1))
	}
	if got, err := OpenChunk(nil, key, v1); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("open 0x01: %v", err)
	}
	v2 := SealChunkPadded(nil, key, p)
	// One key, both versions: no keystream in common (distinct nonces).
	if bytes.Equal(v1[1:1+len(p)], v2[1:1+len(p)]) {
		t.Fatal("version 0x01 and 0x02 under one key share a keystream")
	}
	as2, as1 := bytes.Clone(v1), bytes.Clone(v2)
	as2[0], as1[0] = 0x02, 0x01
	for name, s := range map[string][]byte{"0x01 as 0x02": as2, "0x02 as 0x01": as1} {
		if got, err := OpenChunk(nil, key, s); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Errorf("%s: %x, %v", name, got, err)
		}
	}
}

func TestOpenPaddedFailures(t *testing.T) {
	key := Key(pattern(16, 1, 1))
	p := pattern(40, 9, 1)
	good := SealChunkPadded(nil, key, p)
	for i := range len(good) * 8 {
		bad := bytes.Clone(good)
		bad[i/8] ^= 1 << (i % 8)
		if got, err := OpenChunk(nil, key, bad); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Fatalf("bit %d flipped: got %x, %v", i, got, err)
		}
	}
	for n := range len(good) {
		if _, err := OpenChunk(nil, key, good[:n]); !errors.Is(err, ErrCannotDecrypt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := OpenChunk(nil, key, append(bytes.Clone(good), 0)); !errors.Is(err, ErrCannotDecrypt) {
		t.Fatal("extended chunk opened")
	}
	if _, err := OpenChunk(nil, mustKey(t), good); !errors.Is(err, ErrCannotDecrypt) {
		t.Fatal("opened under the wrong key")
	}
	// Authentic (sealed under the key) but not what SealChunkPadded makes.
	bodyLen := PaddedChunkSize(len(p)) - 17
	canon := append(append(bytes.Clone(p), 0x80), make([]byte, bodyLen-len(p)-1)...)
	if got, err := OpenChunk(nil, key, sealPaddedBody(key, canon)); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("canonical body: %v", err)
	}
	noMarker := bytes.Clone(canon)
	noMarker[len(p)] = 0
	trailing := bytes.Clone(canon)
	trailing[len(trailing)-1] = 1
	wrongMarker := bytes.Clone(canon)
	wrongMarker[len(p)] = 0x81
	long := append(bytes.Clone(canon), make([]byte, 64)...) // a bigger bucket than the content needs
	for name, body := range map[string][]byte{
		"no marker": noMarker, "byte after the marker": trailing, "marker 0x81": wrongMarker,
		"too much padding": long, "all zero": make([]byte, bodyLen), "empty": {},
	} {
		in := sealPaddedBody(key, body)
		if got, err := OpenChunk(nil, key, in); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Errorf("%s: got %x, %v", name, got, err)
		}
		// In place, a refused chunk leaves no plaintext behind.
		if _, err := OpenChunk(in[1:1], key, in); err == nil {
			t.Errorf("%s: opened in place", name)
		} else if len(body) > 0 && bytes.Contains(in, p[:8]) {
			t.Errorf("%s: plaintext left in the buffer", name)
		}
	}
}

// FuzzOpenPaddedChunk seals arbitrary bodies (content and padding as
// given) under a fixed key and opens them: the padding check must accept
// exactly what SealChunkPadded makes.
func FuzzOpenPaddedChunk(f *testing.F) {
	key := Key(pattern(16, 1, 1))
	f.Add([]byte("hello\x80\x00\x00"), false)
	f.Add([]byte{0x80}, false)
	f.Add([]byte{}, false)
	f.Add(append([]byte("x"), make([]byte, 30)...), false)
	f.Add(SealChunkPadded(nil, key, []byte("hello")), true)
	f.Add(SealChunk(nil, key, []byte("hello")), true)
	f.Fuzz(func(t *testing.T, b []byte, raw bool) {
		in := b
		if !raw {
			in = sealPaddedBody(key, b)
		}
		got, err := OpenChunk(nil, key, in)
		if err != nil {
			if !errors.Is(err, ErrCannotDecrypt) || got != nil {
				t.Fatalf("got %x, %v", got, err)
			}
			return
		}
		var again []byte
		if in[0] == chunkVersion {
			again = SealChunk(nil, key, got)
		} else {
			again = SealChunkPadded(nil, key, got)
		}
		if !bytes.Equal(again, in) {
			t.Fatal("opened bytes do not seal back to the input")
		}
	})
}

func BenchmarkSealChunkPadded(b *testing.B) {
	key := Key(pattern(16, 1, 1))
	p := pattern(1<<20, 0, 1)
	dst := make([]byte, 0, PaddedChunkSize(len(p)))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		dst = SealChunkPadded(dst[:0], key, p)
	}
}

func BenchmarkOpenChunkPadded(b *testing.B) {
	key := Key(pattern(16, 1, 1))
	p := pattern(1<<20, 0, 1)
	sealed := SealChunkPadded(nil, key, p)
	dst := make([]byte, 0, len(sealed))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = OpenChunk(dst[:0], key, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
