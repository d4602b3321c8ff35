package erasure

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// LeafSize is the Merkle leaf size. Measured on the project machine with
// BenchmarkRootLeafSize (1 MiB, one core, plain BLAKE3 at ~4.0 GB/s): 1 KiB
// leaves run Root at ~20 % of BLAKE3's speed, 4 KiB at ~45 %, 8 KiB at
// ~80 %, 16 KiB at ~88 % (zeebo/blake3 hashes 8 KiB groups with AVX2).
// 8 KiB keeps audit proofs (one leaf plus 32 bytes per level) at half the
// size of 16 KiB for a few per cent of speed.
const LeafSize = 8 << 10

// maxProofSize caps Proof.Size accepted by ParseProof and Verify (1 TiB,
// far above any fragment) so that leaf counts stay small and exact.
const maxProofSize = 1 << 40

// Hash construction (see FORMAT.md). Each hash is BLAKE3 in derive_key
// mode with its own context string, 32 bytes of output:
//
//	leaf(b)    = BLAKE3-derive_key(ctxLeaf, b)
//	node(l, r) = BLAKE3-derive_key(ctxNode, l || r)
//	root       = BLAKE3-derive_key(ctxRoot, uint64le(size) || top)
//
// Derive-key mode separates the domains without a prefix byte, so a full
// 8 KiB leaf is exactly one AVX2 group.
const (
	ctxLeaf = "cairn-storage 2026-11-26 erasure merkle leaf v1"
	ctxNode = "cairn-storage 2026-11-26 erasure merkle node v1"
	ctxRoot = "cairn-storage 2026-11-26 erasure merkle root v1"
)

var (
	protoLeaf = blake3.NewDeriveKey(ctxLeaf)
	protoNode = blake3.NewDeriveKey(ctxNode)
	protoRoot = blake3.NewDeriveKey(ctxRoot)
)

// hashers holds one ready hasher per domain; pooled because a blake3
// Hasher carries an 8 KiB buffer.
type hashers struct {
	leaf, node, root blake3.Hasher
}

var hasherPool = sync.Pool{New: func() any {
	return &hashers{leaf: *protoLeaf.Clone(), node: *protoNode.Clone(), root: *protoRoot.Clone()}
}}

func (h *hashers) hashLeaf(b []byte) (out [32]byte) {
	h.leaf.Reset()
	_, _ = h.leaf.Write(b)
	h.leaf.Sum(out[:0])
	return out
}

func (h *hashers) hashNode(l, r *[32]byte) (out [32]byte) {
	var buf [64]byte
	copy(buf[:32], l[:])
	copy(buf[32:], r[:])
	h.node.Reset()
	_, _ = h.node.Write(buf[:])
	h.node.Sum(out[:0])
	return out
}

func (h *hashers) hashRoot(size int64, top *[32]byte) (out [32]byte) {
	var buf [40]byte
	binary.LittleEndian.PutUint64(buf[:8], uint64(size))
	copy(buf[8:], top[:])
	h.root.Reset()
	_, _ = h.root.Write(buf[:])
	h.root.Sum(out[:0])
	return out
}

// Leaves is the number of Merkle leaves of size bytes of data:
// ceil(size/LeafSize), and 1 for empty data (one empty leaf). It returns 0
// for a negative size.
func Leaves(size int64) int { return leaves(size, LeafSize) }

func leaves(size int64, leafSize int) int {
	switch {
	case size < 0:
		return 0
	case size == 0:
		return 1
	}
	return int((size-1)/int64(leafSize)) + 1
}

// leafLen is the length of leaf i of size bytes; i must be < leaves(size).
func leafLen(size int64, i int) int {
	end := int64(i+1) * LeafSize
	if end > size {
		return int(size - int64(i)*LeafSize)
	}
	return LeafSize
}

// Root is the Merkle root of data, the fragment's Ref: data is cut into
// LeafSize leaves (the last one shorter, one empty leaf for empty data),
// each level pairs neighbours left to right and promotes an unpaired last
// node unchanged, and the top is bound to len(data) by a final root hash.
// Computing it over a fragment is the fragment's integrity check. Safe for
// concurrent use; data is only read.
func Root(data []byte) [32]byte { return rootLeafSize(data, LeafSize) }

func rootLeafSize(data []byte, leafSize int) [32]byte {
	h := hasherPool.Get().(*hashers)
	defer hasherPool.Put(h)
	n := leaves(int64(len(data)), leafSize)
	var stack [256][32]byte
	var level [][32]byte
	if n <= len(stack) {
		level = stack[:n]
	} else {
		level = make([][32]byte, n)
	}
	for i := range n {
		end := min((i+1)*leafSize, len(data))
		level[i] = h.hashLeaf(data[i*leafSize : end])
	}
	top := reduce(h, level)
	return h.hashRoot(int64(len(data)), &top)
}

// reduce hashes level up to its top node, overwriting level.
func reduce(h *hashers, level [][32]byte) [32]byte {
	for len(level) > 1 {
		half := (len(level) + 1) / 2
		for j := range len(level) / 2 {
			level[j] = h.hashNode(&level[2*j], &level[2*j+1])
		}
		if len(level)%2 == 1 {
			level[half-1] = level[len(level)-1]
		}
		level = level[:half]
	}
	return level[0]
}

// pathLen is the number of siblings on the path of leaf index among n.
func pathLen(n, index int) int {
	p := 0
	for n > 1 {
		if index%2 == 1 || index+1 < n {
			p++
		}
		index /= 2
		n = (n + 1) / 2
	}
	return p
}

// Proof shows that Leaf is leaf Index of data of Size bytes with a given
// Root. Path holds the sibling hashes from the leaf level up, skipping
// levels where the node is promoted without a sibling.
type Proof struct {
	Index int    // leaf index, 0..Leaves(Size)-1
	Size  int64  // total data length
	Leaf  []byte // the leaf's bytes
	Path  [][32]byte
}

// Prove builds the proof for leaf index of data. Leaf is a copy: the proof
// does not alias data. An index outside 0..Leaves(len(data))-1 gives an
// error wrapping ErrInvalid.
func Prove(data []byte, index int) (*Proof, error) {
	size := int64(len(data))
	n := Leaves(size)
	if index < 0 || index >= n {
		return nil, fmt.Errorf("leaf index %d of %d: %w", index, n, ErrInvalid)
	}
	if size > maxProofSize {
		return nil, fmt.Errorf("data of %d bytes too large for a proof: %w", size, ErrInvalid)
	}
	h := hasherPool.Get().(*hashers)
	defer hasherPool.Put(h)
	level := make([][32]byte, n)
	for i := range n {
		level[i] = h.hashLeaf(data[i*LeafSize : i*LeafSize+leafLen(size, i)])
	}
	p := &Proof{
		Index: index,
		Size:  size,
		Leaf:  append([]byte{}, data[index*LeafSize:index*LeafSize+leafLen(size, index)]...),
		Path:  make([][32]byte, 0, pathLen(n, index)),
	}
	idx := index
	for len(level) > 1 {
		switch {
		case idx%2 == 1:
			p.Path = append(p.Path, level[idx-1])
		case idx+1 < len(level):
			p.Path = append(p.Path, level[idx+1])
		}
		half := (len(level) + 1) / 2
		for j := range len(level) / 2 {
			level[j] = h.hashNode(&level[2*j], &level[2*j+1])
		}
		if len(level)%2 == 1 {
			level[half-1] = level[len(level)-1]
		}
		level = level[:half]
		idx /= 2
	}
	return p, nil
}

// check reports whether the proof's shape is consistent: size in range,
// index in range, leaf length and path length as the size demands.
func (p *Proof) check() error {
	if p == nil {
		return fmt.Errorf("nil proof")
	}
	if p.Size < 0 || p.Size > maxProofSize {
		return fmt.Errorf("size %d out of range", p.Size)
	}
	n := Leaves(p.Size)
	if p.Index < 0 || p.Index >= n {
		return fmt.Errorf("leaf index %d of %d", p.Index, n)
	}
	if want := leafLen(p.Size, p.Index); len(p.Leaf) != want {
		return fmt.Errorf("leaf is %d bytes, want %d", len(p.Leaf), want)
	}
	if want := pathLen(n, p.Index); len(p.Path) != want {
		return fmt.Errorf("path has %d hashes, want %d", len(p.Path), want)
	}
	return nil
}

// Verify reports whether p proves its Leaf under root. It returns false
// for a nil proof or any inconsistency (size, index, leaf length, path
// length, hashes); it never panics. Safe for concurrent use; p is only read.
func (p *Proof) Verify(root [32]byte) bool {
	if p.check() != nil {
		return false
	}
	h := hasherPool.Get().(*hashers)
	defer hasherPool.Put(h)
	cur := h.hashLeaf(p.Leaf)
	idx, n, pi := p.Index, Leaves(p.Size), 0
	for n > 1 {
		switch {
		case idx%2 == 1:
			cur = h.hashNode(&p.Path[pi], &cur)
			pi++
		case idx+1 < n:
			cur = h.hashNode(&cur, &p.Path[pi])
			pi++
		}
		idx /= 2
		n = (n + 1) / 2
	}
	return h.hashRoot(p.Size, &cur) == root
}

// Proof encoding (see FORMAT.md):
//
//	0      version (1)
//	1..8   size, uint64 little endian (<= 2^40)
//	9..12  index, uint32 little endian
//	13..16 leaf length L, uint32 little endian (<= LeafSize)
//	17..   L leaf bytes
//	then   path count P (1 byte), P * 32 bytes of hashes
const (
	proofVersion   = 1
	proofFixedSize = 1 + 8 + 4 + 4 + 1
	// MaxProofLen bounds the encoded size of any valid proof.
	MaxProofLen = proofFixedSize + LeafSize + 64*32
)

// MarshalBinary encodes the proof. An inconsistent proof (one ParseProof
// would reject) gives an error wrapping ErrInvalid.
func (p *Proof) MarshalBinary() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("marshal proof: %v: %w", err, ErrInvalid)
	}
	b := make([]byte, 0, proofFixedSize+len(p.Leaf)+32*len(p.Path))
	b = append(b, proofVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Size))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Index))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Leaf)))
	b = append(b, p.Leaf...)
	b = append(b, byte(len(p.Path)))
	for i := range p.Path {
		b = append(b, p.Path[i][:]...)
	}
	return b, nil
}

// ParseProof decodes a proof made by MarshalBinary. It is strict: unknown
// version, sizes out of range, a leaf or path length other than what size
// and index demand, and trailing bytes all give an error wrapping
// ErrCorrupt. The proof does not alias b. Parsing does not check hashes:
// call Verify.
func ParseProof(b []byte) (*Proof, error) {
	bad := func(format string, a ...any) (*Proof, error) {
		return nil, fmt.Errorf("proof: "+format+": %w", append(a, ErrCorrupt)...)
	}
	if len(b) < proofFixedSize {
		return bad("%d bytes, too short", len(b))
	}
	if len(b) > MaxProofLen {
		return bad("%d bytes, too long", len(b))
	}
	if b[0] != proofVersion {
		return bad("unknown version %d", b[0])
	}
	size := binary.LittleEndian.Uint64(b[1:9])
	if size > maxProofSize {
		return bad("size %d out of range", size)
	}
	index := binary.LittleEndian.Uint32(b[9:13])
	n := Leaves(int64(size))
	if uint64(index) >= uint64(n) {
		return bad("leaf index %d of %d", index, n)
	}
	leafN := binary.LittleEndian.Uint32(b[13:17])
	if want := leafLen(int64(size), int(index)); uint64(leafN) != uint64(want) {
		return bad("leaf is %d bytes, want %d", leafN, want)
	}
	rest := b[17:]
	if uint64(len(rest)) < uint64(leafN)+1 {
		return bad("truncated leaf")
	}
	p := &Proof{Index: int(index), Size: int64(size), Leaf: append([]byte{}, rest[:leafN]...)}
	rest = rest[leafN:]
	count := int(rest[0])
	rest = rest[1:]
	if want := pathLen(n, int(index)); count != want {
		return bad("path has %d hashes, want %d", count, want)
	}
	if len(rest) != 32*count {
		return bad("path is %d bytes, want %d", len(rest), 32*count)
	}
	p.Path = make([][32]byte, count)
	for i := range p.Path {
		copy(p.Path[i][:], rest[32*i:])
	}
	return p, nil
}
