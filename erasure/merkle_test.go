package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"testing"

	"github.com/zeebo/blake3"
)

var proofSizes = []int{0, 1, LeafSize - 1, LeafSize, LeafSize + 1, 2 * LeafSize, 3*LeafSize + 1, 5*LeafSize + 3, 8 * LeafSize, 13*LeafSize - 7}

func TestLeaves(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want int
	}{{-1, 0}, {0, 1}, {1, 1}, {LeafSize, 1}, {LeafSize + 1, 2}, {5*LeafSize + 3, 6}, {1 << 40, 1 << 27}} {
		if got := Leaves(tc.size); got != tc.want {
			t.Errorf("Leaves(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

// refRoot is an independent recursive definition of the tree: the left
// subtree holds the largest power of two of leaves below n. The level-wise
// rule "pair neighbours, promote an odd last node" must give the same tree.
func refRoot(data []byte, leafSize int) [32]byte {
	var leavesOf [][]byte
	for i := 0; i < len(data); i += leafSize {
		leavesOf = append(leavesOf, data[i:min(i+leafSize, len(data))])
	}
	if len(data) == 0 {
		leavesOf = [][]byte{{}}
	}
	var rec func(ls [][]byte) [32]byte
	rec = func(ls [][]byte) [32]byte {
		if len(ls) == 1 {
			var out [32]byte
			blake3.DeriveKey(ctxLeaf, ls[0], out[:])
			return out
		}
		split := 1 << (bits.Len(uint(len(ls)-1)) - 1)
		l, r := rec(ls[:split]), rec(ls[split:])
		var out [32]byte
		blake3.DeriveKey(ctxNode, append(l[:], r[:]...), out[:])
		return out
	}
	top := rec(leavesOf)
	var buf [40]byte
	for i := range 8 {
		buf[i] = byte(uint64(len(data)) >> (8 * i))
	}
	copy(buf[8:], top[:])
	var out [32]byte
	blake3.DeriveKey(ctxRoot, buf[:], out[:])
	return out
}

func TestRootMatchesReference(t *testing.T) {
	data := testData(7, 200)
	for n := 0; n <= len(data); n++ {
		if got, want := rootLeafSize(data[:n], 3), refRoot(data[:n], 3); got != want {
			t.Fatalf("%d bytes, 3-byte leaves: root %x, reference %x", n, got, want)
		}
	}
	big := testData(8, 300*LeafSize+5) // more leaves than Root's stack buffer
	for _, n := range []int{0, 1, LeafSize, 5*LeafSize + 3, 256 * LeafSize, 257*LeafSize + 1, len(big)} {
		if got, want := Root(big[:n]), refRoot(big[:n], LeafSize); got != want {
			t.Fatalf("%d bytes: root %x, reference %x", n, got, want)
		}
	}
}

func TestRootDistinct(t *testing.T) {
	seen := map[[32]byte]string{}
	add := func(name string, r [32]byte) {
		if prev, ok := seen[r]; ok {
			t.Fatalf("root of %s equals root of %s", name, prev)
		}
		seen[r] = name
	}
	data := testData(3, 3*LeafSize)
	for _, n := range []int{0, 1, 2, LeafSize, LeafSize + 1, 2 * LeafSize, 3 * LeafSize} {
		add(fmt.Sprint(n, " bytes"), Root(data[:n]))
	}
	add("zero byte", Root([]byte{0}))
	add("64 zero bytes", Root(make([]byte, 64)))
	// The root of one leaf is not that leaf's hash, nor its plain BLAKE3.
	h := hasherPool.Get().(*hashers)
	add("leaf hash of 1 byte", h.hashLeaf(data[:1]))
	add("leaf hash of empty", h.hashLeaf(nil))
	hasherPool.Put(h)
	add("blake3 of 1 byte", blake3.Sum256(data[:1]))
}

func TestProveVerify(t *testing.T) {
	for _, size := range proofSizes {
		data := testData(uint64(size), size)
		root := Root(data)
		n := Leaves(int64(size))
		for i := range n {
			p, err := Prove(data, i)
			if err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			if !p.Verify(root) {
				t.Fatalf("size %d leaf %d: proof does not verify", size, i)
			}
			if p.Verify(Root(append(append([]byte{}, data...), 0))) {
				t.Fatalf("size %d leaf %d: verifies under another root", size, i)
			}
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			q, err := ParseProof(b)
			if err != nil {
				t.Fatalf("size %d leaf %d: parse: %v", size, i, err)
			}
			b2, _ := q.MarshalBinary()
			if !bytes.Equal(b, b2) || !q.Verify(root) {
				t.Fatalf("size %d leaf %d: round trip differs", size, i)
			}
			checkTamper(t, p, root, fmt.Sprintf("size %d leaf %d", size, i), size == 5*LeafSize+3)
		}
		for _, i := range []int{-1, n, n + 1} {
			if _, err := Prove(data, i); !errors.Is(err, ErrInvalid) {
				t.Fatalf("size %d: Prove(%d): %v, want ErrInvalid", size, i, err)
			}
		}
	}
}

// checkTamper changes p in every way it can think of; none may verify.
// Every bit of the path is flipped when allBits, else a sample of bits.
func checkTamper(t *testing.T, p *Proof, root [32]byte, name string, allBits bool) {
	t.Helper()
	try := func(what string, f func(q *Proof)) {
		t.Helper()
		q := &Proof{Index: p.Index, Size: p.Size, Leaf: append([]byte{}, p.Leaf...), Path: append([][32]byte{}, p.Path...)}
		f(q)
		if q.Verify(root) {
			t.Fatalf("%s: tampered proof verifies: %s", name, what)
		}
		if b, err := q.MarshalBinary(); err == nil {
			if r, err := ParseProof(b); err != nil || r.Verify(root) {
				t.Fatalf("%s: tampered proof marshals to something bad: %s: %v", name, what, err)
			}
		}
	}
	if len(p.Leaf) > 0 {
		for _, pos := range []int{0, len(p.Leaf) / 2, len(p.Leaf) - 1} {
			for bit := range 8 {
				try(fmt.Sprintf("leaf byte %d bit %d", pos, bit), func(q *Proof) { q.Leaf[pos] ^= 1 << bit })
			}
		}
		try("leaf shortened", func(q *Proof) { q.Leaf = q.Leaf[:len(q.Leaf)-1] })
	}
	try("leaf extended", func(q *Proof) { q.Leaf = append(q.Leaf, 0) })
	for j := range p.Path {
		for bit := range 256 {
			if !allBits && bit%8 != bit/8%8 {
				continue
			}
			try(fmt.Sprintf("path %d bit %d", j, bit), func(q *Proof) { q.Path[j][bit/8] ^= 1 << (bit % 8) })
		}
	}
	if len(p.Path) > 0 {
		try("path shortened", func(q *Proof) { q.Path = q.Path[1:] })
	}
	try("path extended", func(q *Proof) { q.Path = append(q.Path, [32]byte{}) })
	for bit := range 63 {
		try(fmt.Sprintf("index bit %d", bit), func(q *Proof) { q.Index ^= 1 << bit })
		try(fmt.Sprintf("size bit %d", bit), func(q *Proof) { q.Size ^= 1 << bit })
	}
	try("index -1", func(q *Proof) { q.Index = -1 })
	try("size -1", func(q *Proof) { q.Size = -1 })
	try("size +1", func(q *Proof) { q.Size++ })
	try("size -1 byte", func(q *Proof) { q.Size-- })
	if len(p.Leaf) > 0 || len(p.Path) > 0 {
		try("nil leaf and path", func(q *Proof) { q.Path = nil; q.Leaf = nil })
	}
}

func TestVerifyNil(t *testing.T) {
	var p *Proof
	if p.Verify([32]byte{}) {
		t.Fatal("nil proof verifies")
	}
	if _, err := p.MarshalBinary(); err == nil {
		t.Fatal("nil proof marshals")
	}
	// An empty proof with a nil leaf is the proof of empty data.
	if !(&Proof{}).Verify(Root(nil)) {
		t.Fatal("proof of empty data does not verify")
	}
}

func TestParseProofStrict(t *testing.T) {
	data := testData(1, 5*LeafSize+3)
	p, _ := Prove(data, 5)
	good, _ := p.MarshalBinary()
	if _, err := ParseProof(good); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":         nil,
		"short":         good[:proofFixedSize-1],
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte{}, good...), 0),
		"version":       append([]byte{2}, good[1:]...),
		"too long":      make([]byte, MaxProofLen+1),
		"path count +1": func() []byte { b := append([]byte{}, good...); b[proofFixedSize-1+3] = 4; return b }(),
	}
	for name, b := range cases {
		if _, err := ParseProof(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
