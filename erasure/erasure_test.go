package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func testData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func mustNew(t testing.TB, k, m int) *Code {
	t.Helper()
	c, err := New(k, m)
	if err != nil {
		t.Fatalf("New(%d, %d): %v", k, m, err)
	}
	return c
}

func rootsOf(frags [][]byte) [][32]byte {
	refs := make([][32]byte, len(frags))
	for i, f := range frags {
		refs[i] = Root(f)
	}
	return refs
}

// cloneFrags deep-copies fragments so a test can mutate them freely.
func cloneFrags(frags [][]byte) [][]byte {
	out := make([][]byte, len(frags))
	for i, f := range frags {
		if f != nil {
			out[i] = append([]byte{}, f...)
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, km := range [][2]int{{1, 0}, {1, 1}, {2, 1}, {3, 0}, {4, 3}, {10, 6}, {17, 3}, {1, 255}, {255, 1}, {256, 0}} {
		k, m := km[0], km[1]
		c := mustNew(t, k, m)
		sizes := []int{1, k + 1, k, 1000}
		if k > 1 {
			sizes = append(sizes, k-1)
		}
		if k == 10 {
			sizes = append(sizes, 1<<20, 8<<20)
		}
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%d+%d/%d", k, m, size), func(t *testing.T) {
				data := testData(uint64(size), size)
				frags, err := c.Encode(data)
				if err != nil {
					t.Fatal(err)
				}
				if len(frags) != c.N() {
					t.Fatalf("got %d fragments, want %d", len(frags), c.N())
				}
				for i, f := range frags {
					if len(f) != FragmentSize(k, size) || cap(f) != len(f) {
						t.Fatalf("fragment %d: len %d cap %d, want %d", i, len(f), cap(f), FragmentSize(k, size))
					}
					h, err := CheckFragment(f)
					if err != nil {
						t.Fatalf("fragment %d: %v", i, err)
					}
					if h != (Header{K: k, M: m, Index: i, DataLen: size}) {
						t.Fatalf("fragment %d: header %+v", i, h)
					}
				}
				refs := rootsOf(frags)
				// Lose the first m fragments: the hardest case for data.
				lost := cloneFrags(frags)
				for i := range m {
					lost[i] = nil
				}
				for _, r := range [][][32]byte{nil, refs} {
					got, err := c.Decode(lost, r)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, data) {
						t.Fatal("decoded data differs")
					}
				}
			})
		}
	}
}

// TestEveryLoss loses every combination of fragments for small codes: up to
// m lost decodes, more gives ErrTooFew.
func TestEveryLoss(t *testing.T) {
	for _, km := range [][2]int{{1, 1}, {2, 1}, {3, 2}, {4, 3}, {5, 3}, {2, 0}} {
		k, m := km[0], km[1]
		c := mustNew(t, k, m)
		n := c.N()
		for _, size := range []int{1, 7, 100} {
			data := testData(uint64(size), size)
			frags, err := c.Encode(data)
			if err != nil {
				t.Fatal(err)
			}
			refs := rootsOf(frags)
			for mask := range 1 << n {
				in := make([][]byte, n)
				lost := 0
				for i := range n {
					if mask&(1<<i) != 0 {
						lost++
					} else {
						in[i] = frags[i]
					}
				}
				for _, r := range [][][32]byte{nil, refs} {
					got, err := c.Decode(in, r)
					if lost <= m {
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%d+%d size %d lost mask %b refs %v: err %v, equal %v", k, m, size, mask, r != nil, err, bytes.Equal(got, data))
						}
					} else if !errors.Is(err, ErrTooFew) {
						t.Fatalf("%d+%d size %d lost mask %b: err %v, want ErrTooFew", k, m, size, mask, err)
					}
				}
			}
		}
	}
}

// mutation damages one fragment of a set in place.
type mutation struct {
	name string
	// detectedWithoutRefs: a header-only check catches it.
	detectedWithoutRefs bool
	apply               func(frags [][]byte, i int)
}

var mutations = []mutation{
	{"flip header magic", true, func(f [][]byte, i int) { f[i][0] ^= 1 }},
	{"flip header version", true, func(f [][]byte, i int) { f[i][3] ^= 0x80 }},
	{"flip header k", true, func(f [][]byte, i int) { f[i][4] ^= 1 }},
	{"flip header index", true, func(f [][]byte, i int) { f[i][6] ^= 1 }},
	{"flip header datalen low bit", true, func(f [][]byte, i int) { f[i][8] ^= 1 }},
	{"flip header crc", true, func(f [][]byte, i int) { f[i][15] ^= 0x10 }},
	{"flip shard first bit", false, func(f [][]byte, i int) { f[i][HeaderSize] ^= 1 }},
	{"flip shard last bit", false, func(f [][]byte, i int) { f[i][len(f[i])-1] ^= 0x80 }},
	{"truncate by one", true, func(f [][]byte, i int) { f[i] = f[i][:len(f[i])-1] }},
	{"truncate to header", true, func(f [][]byte, i int) { f[i] = f[i][:HeaderSize] }},
	{"truncate inside header", true, func(f [][]byte, i int) { f[i] = f[i][:5] }},
	{"extend by one", true, func(f [][]byte, i int) { f[i] = append(f[i], 0) }},
	{"replace by neighbour", true, func(f [][]byte, i int) { f[i] = append([]byte{}, f[(i+1)%len(f)]...) }},
}

// TestCorrupt damages fragments one by one: with refs, decoding survives
// while at least k are intact and says ErrTooFew after; without refs, the
// header checks catch what they can.
func TestCorrupt(t *testing.T) {
	for _, km := range [][2]int{{4, 3}, {3, 2}, {10, 6}} {
		k, m := km[0], km[1]
		c := mustNew(t, k, m)
		data := testData(5, 10007)
		frags, err := c.Encode(data)
		if err != nil {
			t.Fatal(err)
		}
		refs := rootsOf(frags)
		for _, mu := range mutations {
			t.Run(fmt.Sprintf("%d+%d/%s", k, m, mu.name), func(t *testing.T) {
				in := cloneFrags(frags)
				for bad := 1; bad <= c.N(); bad++ {
					// Damage fragments from the data end first, then parity.
					mu.apply(in, bad-1)
					got, err := c.Decode(in, refs)
					if bad <= m {
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%d damaged, refs: err %v", bad, err)
						}
					} else if !errors.Is(err, ErrTooFew) {
						t.Fatalf("%d damaged, refs: err %v, want ErrTooFew", bad, err)
					}
					if !mu.detectedWithoutRefs {
						continue
					}
					got, err = c.Decode(in, nil)
					if bad <= m {
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%d damaged, no refs: err %v", bad, err)
						}
					} else if err == nil {
						t.Fatalf("%d damaged, no refs: no error", bad)
					}
				}
			})
		}
	}
}

func TestWrongRefs(t *testing.T) {
	c := mustNew(t, 3, 2)
	data := testData(1, 999)
	frags, _ := c.Encode(data)
	refs := rootsOf(frags)
	refs[0][0] ^= 1
	refs[4][31] ^= 1
	got, err := c.Decode(frags, refs)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("2 wrong refs: %v", err)
	}
	refs[2][5] ^= 1
	if _, err := c.Decode(frags, refs); !errors.Is(err, ErrTooFew) {
		t.Fatalf("3 wrong refs: %v, want ErrTooFew", err)
	}
	// Swapped fragments: each one's header names the other index.
	in := cloneFrags(frags)
	in[0], in[1] = in[1], in[0]
	got, err = c.Decode(in, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("swapped, no refs: %v", err)
	}
	in[2], in[3] = in[3], in[2]
	if _, err := c.Decode(in, nil); !errors.Is(err, ErrTooFew) {
		t.Fatalf("4 swapped, no refs: %v, want ErrTooFew", err)
	}
}

// TestMixedEncodings feeds fragments of two encodings with different data
// lengths: refs pick the right ones; without refs the majority wins.
func TestMixedEncodings(t *testing.T) {
	c := mustNew(t, 3, 3)
	a, b := testData(1, 3000), testData(2, 2999)
	fa, _ := c.Encode(a)
	fb, _ := c.Encode(b)
	in := [][]byte{fb[0], fa[1], fb[2], fa[3], fa[4], fb[5]}
	got, err := c.Decode(in, rootsOf(fa))
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("refs of a: %v", err)
	}
	got, err = c.Decode(in, rootsOf(fb))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("refs of b: %v", err)
	}
	in[0] = fa[0]
	got, err = c.Decode(in, nil)
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("majority a: %v", err)
	}
	// Same data length, different contents, no refs: the padding check or
	// nothing can tell; with refs it is always right.
	c2 := mustNew(t, 2, 2)
	x, y := testData(3, 9), testData(4, 9)
	fx, _ := c2.Encode(x)
	fy, _ := c2.Encode(y)
	got, err = c2.Decode([][]byte{fx[0], fy[1], fx[2], fy[3]}, rootsOf(fx))
	if err != nil || !bytes.Equal(got, x) {
		t.Fatalf("refs of x: %v", err)
	}
}

func TestDecodeLeavesFragmentsAlone(t *testing.T) {
	c := mustNew(t, 4, 3)
	data := testData(9, 5000)
	frags, _ := c.Encode(data)
	refs := rootsOf(frags)
	in := cloneFrags(frags)
	in[0], in[2], in[5] = nil, nil, in[5][:3]
	want := cloneFrags(in)
	for _, r := range [][][32]byte{nil, refs} {
		got, err := c.Decode(in, r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatal(err)
		}
		for i := range in {
			if !bytes.Equal(in[i], want[i]) {
				t.Fatalf("fragment %d modified", i)
			}
		}
		got[0] ^= 1 // the result aliases nothing of the caller's
		for i := range in {
			if !bytes.Equal(in[i], want[i]) {
				t.Fatalf("fragment %d aliased by the result", i)
			}
		}
	}
}

func TestEncodeToDecodeTo(t *testing.T) {
	c := mustNew(t, 10, 6)
	dst := bytes.Repeat([]byte{0xAA}, 1<<20) // dirty buffer
	out := bytes.Repeat([]byte{0x55}, 1<<20)
	for _, size := range []int{1, 99999, 12345} {
		data := testData(uint64(size), size)
		want, _ := c.Encode(data)
		frags, err := c.EncodeTo(dst, data)
		if err != nil {
			t.Fatal(err)
		}
		if c.EncodedSize(size) != len(want)*len(want[0]) {
			t.Fatalf("EncodedSize(%d) = %d", size, c.EncodedSize(size))
		}
		for i := range frags {
			if !bytes.Equal(frags[i], want[i]) {
				t.Fatalf("size %d: EncodeTo fragment %d differs from Encode", size, i)
			}
			if &frags[i][0] != &dst[i*len(frags[i])] {
				t.Fatalf("fragment %d does not alias dst", i)
			}
		}
		frags = cloneFrags(frags)
		frags[1], frags[3] = nil, nil
		got, err := c.DecodeTo(out, frags, nil)
		if err != nil || !bytes.Equal(got, data) || &got[0] != &out[0] {
			t.Fatalf("size %d: DecodeTo: %v", size, err)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, km := range [][2]int{{0, 0}, {0, 3}, {-1, 2}, {3, -1}, {257, 0}, {200, 57}, {1, 256}, {1 << 40, 0}} {
		if _, err := New(km[0], km[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%d, %d): %v, want ErrInvalid", km[0], km[1], err)
		}
	}
	c := mustNew(t, 2, 1)
	for _, n := range []int{0, MaxData + 1} {
		if _, err := c.Encode(make([]byte, n)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%d bytes): %v, want ErrInvalid", n, err)
		}
	}
	if _, err := c.Encode(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Encode(nil): %v", err)
	}
	frags, _ := c.Encode([]byte("hello"))
	if _, err := c.Decode(frags[:2], nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decode 2 of 3: %v", err)
	}
	if _, err := c.Decode(frags, make([][32]byte, 2)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decode 2 refs: %v", err)
	}
	if _, err := c.Decode(make([][]byte, 3), nil); !errors.Is(err, ErrTooFew) {
		t.Errorf("Decode nothing: %v", err)
	}
	if _, err := c.Decode([][]byte{{}, {1}, []byte("garbage garbage garbage")}, nil); !errors.Is(err, ErrTooFew) {
		t.Errorf("Decode garbage: %v", err)
	}
	// A fragment of another code is not usable.
	c3 := mustNew(t, 2, 2)
	f3, _ := c3.Encode([]byte("hello"))
	if _, err := c.Decode(f3[:3], nil); !errors.Is(err, ErrTooFew) {
		t.Errorf("Decode other code: %v", err)
	}
	if c.K() != 2 || c.M() != 1 || c.N() != 3 {
		t.Errorf("K, M, N = %d, %d, %d", c.K(), c.M(), c.N())
	}
}

func TestFragmentSize(t *testing.T) {
	for _, tc := range []struct{ k, n, want int }{
		{1, 1, HeaderSize + 1}, {10, 1, HeaderSize + 1}, {10, 10, HeaderSize + 1}, {10, 11, HeaderSize + 2},
		{10, 1 << 20, HeaderSize + 104858}, {0, 5, 0}, {257, 5, 0}, {3, 0, 0}, {3, MaxData + 1, 0}, {-1, -1, 0},
	} {
		if got := FragmentSize(tc.k, tc.n); got != tc.want {
			t.Errorf("FragmentSize(%d, %d) = %d, want %d", tc.k, tc.n, got, tc.want)
		}
	}
}

func TestHeader(t *testing.T) {
	for _, h := range []Header{
		{K: 1, M: 0, Index: 0, DataLen: 1},
		{K: 256, M: 0, Index: 255, DataLen: MaxData},
		{K: 1, M: 255, Index: 255, DataLen: 77},
		{K: 10, M: 6, Index: 15, DataLen: 1 << 20},
	} {
		b := make([]byte, h.FragmentSize())
		putHeader(b, h)
		got, err := ParseHeader(b[:HeaderSize])
		if err != nil || got != h {
			t.Fatalf("ParseHeader(%+v) = %+v, %v", h, got, err)
		}
		if got, err := CheckFragment(b); err != nil || got != h {
			t.Fatalf("CheckFragment(%+v) = %+v, %v", h, got, err)
		}
		if _, err := CheckFragment(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CheckFragment short: %v", err)
		}
		// Every single bit flip in the header is caught.
		for bit := range HeaderSize * 8 {
			c := append([]byte{}, b[:HeaderSize]...)
			c[bit/8] ^= 1 << (bit % 8)
			if _, err := ParseHeader(c); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%+v: flipped bit %d accepted: %v", h, bit, err)
			}
		}
	}
	// Well-formed checksum over out-of-range fields is still rejected.
	for _, h := range []Header{{K: 200, M: 100, Index: 0, DataLen: 5}, {K: 2, M: 1, Index: 3, DataLen: 5}, {K: 2, M: 1, Index: 0, DataLen: 0}, {K: 2, M: 1, Index: 0, DataLen: MaxData + 1}} {
		b := make([]byte, HeaderSize)
		putHeader(b, h)
		if _, err := ParseHeader(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ParseHeader(%+v): %v, want ErrCorrupt", h, err)
		}
	}
	if _, err := ParseHeader(nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ParseHeader(nil): %v", err)
	}
}

// TestConcurrent runs one Code from several goroutines (go test -race).
func TestConcurrent(t *testing.T) {
	c := mustNew(t, 5, 3)
	done := make(chan error)
	for g := range 4 {
		go func() {
			data := testData(uint64(g), 30000+g)
			frags, err := c.Encode(data)
			if err == nil {
				frags[g] = nil
				var got []byte
				got, err = c.Decode(frags, rootsOf(frags))
				if err == nil && !bytes.Equal(got, data) {
					err = errors.New("mismatch")
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
