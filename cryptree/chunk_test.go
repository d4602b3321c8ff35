package cryptree

import (
	"bytes"
	"errors"
	"testing"

	"github.com/zeebo/blake3"
)

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestChunkRoundTrip(t *testing.T) {
	key := mustKey(t)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 1 << 20} {
		p := pattern(n, byte(n), 3)
		prefix := []byte("prefix")
		sealed := SealChunk(bytes.Clone(prefix), key, p)
		if !bytes.Equal(sealed[:len(prefix)], prefix) || len(sealed) != len(prefix)+n+ChunkOverhead {
			t.Fatalf("n=%d: seal did not append %d bytes", n, n+ChunkOverhead)
		}
		sealed = sealed[len(prefix):]
		got, err := OpenChunk([]byte("x"), key, sealed)
		if err != nil || !bytes.Equal(got, append([]byte("x"), p...)) {
			t.Fatalf("n=%d: open: %v", n, err)
		}
		// In place, as documented.
		got, err = OpenChunk(sealed[1:1], key, sealed)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("n=%d: open in place: %v", n, err)
		}
	}
}

func TestChunkDeterministic(t *testing.T) {
	key := mustKey(t)
	p := []byte("same plaintext, same key")
	if !bytes.Equal(SealChunk(nil, key, p), SealChunk(nil, key, p)) {
		t.Fatal("sealing is not deterministic under one key")
	}
}

func TestOpenChunkWrongKey(t *testing.T) {
	key, other := mustKey(t), mustKey(t)
	sealed := SealChunk(nil, key, []byte("secret data"))
	got, err := OpenChunk(nil, other, sealed)
	if !errors.Is(err, ErrCannotDecrypt) || got != nil {
		t.Fatalf("got %q, %v; want nil, ErrCannotDecrypt", got, err)
	}
}

func TestOpenChunkBitFlips(t *testing.T) {
	key := Key(pattern(16, 1, 1))
	sealed := SealChunk(nil, key, pattern(40, 9, 1))
	for i := range len(sealed) * 8 {
		bad := bytes.Clone(sealed)
		bad[i/8] ^= 1 << (i % 8)
		if got, err := OpenChunk(nil, key, bad); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Fatalf("bit %d flipped: got %x, %v", i, got, err)
		}
	}
}

func TestOpenChunkTruncations(t *testing.T) {
	key := Key(pattern(16, 1, 1))
	sealed := SealChunk(nil, key, pattern(40, 9, 1))
	for n := range len(sealed) {
		if _, err := OpenChunk(nil, key, sealed[:n]); !errors.Is(err, ErrCannotDecrypt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := OpenChunk(nil, key, append(bytes.Clone(sealed), 0)); !errors.Is(err, ErrCannotDecrypt) {
		t.Fatalf("extended: %v", err)
	}
}

func TestDerive(t *testing.T) {
	alice := ChunkSecret(pattern(32, 1, 1))
	bob := ChunkSecret(pattern(32, 2, 1))
	p := pattern(4096, 0, 1)
	id1, k1 := alice.Derive(p)
	id2, k2 := alice.Derive(bytes.Clone(p))
	if id1 != id2 || k1 != k2 {
		t.Fatal("same user, same chunk: different id or key")
	}
	id3, k3 := bob.Derive(p)
	if id1 == id3 || k1 == k3 {
		t.Fatal("different users share an id or key")
	}
	p[100] ^= 1
	id4, k4 := alice.Derive(p)
	if id1 == id4 || k1 == k4 {
		t.Fatal("different chunks share an id or key")
	}
	if bytes.Equal(id1[:16], k1[:]) {
		t.Fatal("key is a prefix of the id")
	}
	// The derived key seals and opens.
	sealed := SealChunk(nil, k1, pattern(4096, 0, 1))
	if _, err := OpenChunk(nil, k1, sealed); err != nil {
		t.Fatal(err)
	}
}

func TestRecord(t *testing.T) {
	key := mustKey(t)
	p, ad := []byte("manifest v1"), []byte("folder 7")
	s1, err := SealRecord(key, p, ad)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := SealRecord(key, p, ad)
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of one record are equal: nonce not random")
	}
	if len(s1) != len(p)+RecordOverhead {
		t.Fatalf("len %d, want %d", len(s1), len(p)+RecordOverhead)
	}
	if got, err := OpenRecord(key, s1, ad); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("open: %q, %v", got, err)
	}
	empty, _ := SealRecord(key, nil, nil)
	if got, err := OpenRecord(key, empty, nil); err != nil || len(got) != 0 {
		t.Fatalf("open empty: %q, %v", got, err)
	}
	cases := map[string]func() ([]byte, error){
		"wrong ad":  func() ([]byte, error) { return OpenRecord(key, s1, []byte("folder 8")) },
		"no ad":     func() ([]byte, error) { return OpenRecord(key, s1, nil) },
		"wrong key": func() ([]byte, error) { return OpenRecord(mustKey(t), s1, ad) },
		"short":     func() ([]byte, error) { return OpenRecord(key, s1[:RecordOverhead-1], ad) },
		"truncated": func() ([]byte, error) { return OpenRecord(key, s1[:len(s1)-1], ad) },
		"nil":       func() ([]byte, error) { return OpenRecord(key, nil, ad) },
	}
	for name, f := range cases {
		if got, err := f(); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
	for i := range len(s1) * 8 {
		bad := bytes.Clone(s1)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := OpenRecord(key, bad, ad); !errors.Is(err, ErrCannotDecrypt) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
}

func FuzzOpenChunk(f *testing.F) {
	key := Key(pattern(16, 1, 1))
	f.Add(key[:], SealChunk(nil, key, []byte("hello")))
	f.Add(key[:], SealChunk(nil, key, nil))
	f.Add(key[:], SealChunkPadded(nil, key, []byte("hello")))
	f.Add(key[:], SealChunkPadded(nil, key, nil))
	f.Add(key[:], []byte{})
	f.Add(key[:], []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, k, sealed []byte) {
		var key Key
		copy(key[:], k)
		got, err := OpenChunk(nil, key, sealed)
		if err != nil {
			if !errors.Is(err, ErrCannotDecrypt) || got != nil {
				t.Fatalf("got %x, %v", got, err)
			}
			return
		}
		again := SealChunk(nil, key, got)
		if sealed[0] == chunkVersionPadded {
			again = SealChunkPadded(nil, key, got)
		}
		if !bytes.Equal(again, sealed) {
			t.Fatal("opened bytes do not seal back to the input")
		}
	})
}

func FuzzOpenRecord(f *testing.F) {
	key := Key(pattern(16, 1, 1))
	f.Add(sealRecord(key, [12]byte{}, []byte("hello"), nil), []byte{})
	f.Add(sealRecord(key, [12]byte{1}, nil, []byte("ad")), []byte("ad"))
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		got, err := OpenRecord(key, sealed, ad)
		if err != nil {
			if !errors.Is(err, ErrCannotDecrypt) || got != nil {
				t.Fatalf("got %x, %v", got, err)
			}
			return
		}
		if !bytes.Equal(sealRecord(key, [12]byte(sealed[1:13]), got, ad), sealed) {
			t.Fatal("opened bytes do not seal back to the input")
		}
	})
}

func BenchmarkSealChunk(b *testing.B) {
	key := Key(pattern(16, 1, 1))
	p := pattern(1<<20, 0, 1)
	dst := make([]byte, 0, len(p)+ChunkOverhead)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		dst = SealChunk(dst[:0], key, p)
	}
}

func BenchmarkOpenChunk(b *testing.B) {
	key := Key(pattern(16, 1, 1))
	p := pattern(1<<20, 0, 1)
	sealed := SealChunk(nil, key, p)
	dst := make([]byte, 0, len(p))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = OpenChunk(dst[:0], key, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDerive(b *testing.B) {
	s := ChunkSecret(pattern(32, 1, 1))
	p := pattern(1<<20, 0, 1)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		s.Derive(p)
	}
}

// Baselines for the same run: the raw primitives, without this package.
func BenchmarkBaselineGCM(b *testing.B) {
	g := newGCM(&Key{1})
	p := pattern(1<<20, 0, 1)
	dst := make([]byte, 0, len(p)+16)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		dst = g.Seal(dst[:0], chunkNonce[:], p, nil)
	}
}

func BenchmarkBaselineBLAKE3(b *testing.B) {
	p := pattern(1<<20, 0, 1)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		blake3.Sum256(p)
	}
}
