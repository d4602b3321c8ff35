package blob

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Manifest describes the bytes of one file version.
type Manifest struct {
	// Size is the length of the file in bytes.
	Size int64
	// Inline holds the whole file when it is small enough not to be chunked
	// and erasure-coded (Size <= Config.InlineMax). Chunks is then empty.
	Inline []byte
	// Chunks in file order; their plaintext sizes add up to Size.
	Chunks []Chunk

	offsets []int64 // offsets[i] = file offset of Chunks[i]; built lazily
}

// Chunk is one content-defined piece of a file, sealed and erasure-coded.
type Chunk struct {
	ID        [32]byte     // keyed hash of the plaintext (per user): dedup and resume
	Key       cryptree.Key // AES-128 key of this chunk
	Size      int          // plaintext length
	SealedLen int          // sealed length: cryptree.PaddedChunkSize(Size), or Size + cryptree.ChunkOverhead for a version 0x01 chunk
	K         int          // data fragments needed to rebuild
	N         int          // fragments in the code (k + parity); not all need to exist
	Frags     []Frag       // the fragments that were placed, by increasing Index
}

// Frag is one placed fragment of a chunk.
type Frag struct {
	Index  int         // position in the code, 0 <= Index < N
	Ref    storage.Ref // erasure.Root of the fragment's bytes
	Holder storage.PeerID
}

// offsetsOnce fills m.offsets.
func (m *Manifest) index() []int64 {
	if m.offsets == nil && len(m.Chunks) > 0 {
		off := make([]int64, len(m.Chunks))
		var pos int64
		for i, c := range m.Chunks {
			off[i] = pos
			pos += int64(c.Size)
		}
		m.offsets = off
	}
	return m.offsets
}

// chunkAt returns the index of the chunk holding file offset off
// (0 <= off < m.Size).
func (m *Manifest) chunkAt(off int64) int {
	o := m.index()
	return sort.Search(len(o), func(i int) bool { return o[i] > off }) - 1
}

// Holders returns the distinct peers that hold fragments of m.
func (m *Manifest) Holders() []storage.PeerID {
	seen := map[storage.PeerID]bool{}
	var out []storage.PeerID
	for _, c := range m.Chunks {
		for _, f := range c.Frags {
			if !seen[f.Holder] {
				seen[f.Holder] = true
				out = append(out, f.Holder)
			}
		}
	}
	return out
}

// StoredBytes is the total size of the fragments m refers to: what the
// file costs on the network after redundancy.
func (m *Manifest) StoredBytes() int64 {
	var n int64
	for _, c := range m.Chunks {
		n += int64(len(c.Frags)) * int64(erasure.FragmentSize(c.K, c.SealedLen))
	}
	return n
}

// Wire format (docs/DESIGN.md, "Manifest"): all integers are unsigned
// varints unless said otherwise.
//
//	magic "CMF" | version 0x01 | size | inline flag (0/1)
//	inline: len | bytes
//	else:   nchunks | chunk*
//	chunk:  size | sealedLen | id [32] | key [16] | k | n | nfrags | frag*
//	frag:   index | ref [32] | holderLen | holder
const (
	manifestMagic   = "CMF"
	manifestVersion = 1

	maxHolderLen = 128
	// MaxManifest caps the encoded size of a manifest we will parse.
	MaxManifest = 64 << 20
)

var errManifest = errors.New("malformed manifest")

// MarshalBinary encodes m.
func (m *Manifest) MarshalBinary() ([]byte, error) {
	var b []byte
	b = append(b, manifestMagic...)
	b = append(b, manifestVersion)
	b = binary.AppendUvarint(b, uint64(m.Size))
	if len(m.Chunks) == 0 && int64(len(m.Inline)) == m.Size {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(m.Inline)))
		b = append(b, m.Inline...)
		return b, nil
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = binary.AppendUvarint(b, uint64(c.Size))
		b = binary.AppendUvarint(b, uint64(c.SealedLen))
		b = append(b, c.ID[:]...)
		b = append(b, c.Key[:]...)
		b = binary.AppendUvarint(b, uint64(c.K))
		b = binary.AppendUvarint(b, uint64(c.N))
		b = binary.AppendUvarint(b, uint64(len(c.Frags)))
		for _, f := range c.Frags {
			if len(f.Holder) > maxHolderLen {
				return nil, storage.E("encode manifest", storage.Invalid, fmt.Errorf("holder id longer than %d bytes", maxHolderLen))
			}
			b = binary.AppendUvarint(b, uint64(f.Index))
			b = append(b, f.Ref[:]...)
			b = binary.AppendUvarint(b, uint64(len(f.Holder)))
			b = append(b, f.Holder...)
		}
	}
	return b, nil
}

// ParseManifest decodes and checks a manifest. Anything malformed or
// inconsistent is an error of Kind Corrupt.
func ParseManifest(data []byte) (*Manifest, error) {
	m, err := parseManifest(data)
	if err != nil {
		return nil, storage.E("parse manifest", storage.Corrupt, err)
	}
	return m, nil
}

type mreader struct {
	r *bytes.Reader
}

func (r mreader) uint(max uint64) (uint64, error) {
	v, err := binary.ReadUvarint(r.r)
	if err != nil {
		return 0, errManifest
	}
	if v > max {
		return 0, fmt.Errorf("%w: value %d over limit %d", errManifest, v, max)
	}
	return v, nil
}

func (r mreader) full(dst []byte) error {
	if r.r.Len() < len(dst) {
		return errManifest
	}
	_, _ = r.r.Read(dst)
	return nil
}

func parseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifest {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errManifest, len(data), MaxManifest)
	}
	if len(data) < len(manifestMagic)+1 || string(data[:len(manifestMagic)]) != manifestMagic {
		return nil, fmt.Errorf("%w: bad magic", errManifest)
	}
	if v := data[len(manifestMagic)]; v != manifestVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errManifest, v)
	}
	r := mreader{bytes.NewReader(data[len(manifestMagic)+1:])}
	size, err := r.uint(1 << 62)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Size: int64(size)}
	flag, err := r.r.ReadByte()
	if err != nil || flag > 1 {
		return nil, errManifest
	}
	if flag == 1 {
		n, err := r.uint(uint64(r.r.Len()))
		if err != nil {
			return nil, err
		}
		if n != size {
			return nil, fmt.Errorf("%w: inline length %d != size %d", errManifest, n, size)
		}
		m.Inline = make([]byte, n)
		if err := r.full(m.Inline); err != nil {
			return nil, err
		}
	} else {
		// Each chunk takes at least 55 bytes, which bounds the count.
		nchunks, err := r.uint(uint64(r.r.Len() / 55))
		if err != nil {
			return nil, err
		}
		if nchunks == 0 {
			// MarshalBinary writes a manifest without chunks inline.
			return nil, fmt.Errorf("%w: chunked manifest without chunks", errManifest)
		}
		var total uint64
		m.Chunks = make([]Chunk, nchunks)
		for i := range m.Chunks {
			c := &m.Chunks[i]
			sz, err := r.uint(erasure.MaxData)
			if err != nil {
				return nil, err
			}
			sl, err := r.uint(erasure.MaxData)
			if err != nil {
				return nil, err
			}
			// Version 0x02 (padded) or 0x01 (stored before padding).
			if sz == 0 || (sl != uint64(cryptree.PaddedChunkSize(int(sz))) && sl != sz+cryptree.ChunkOverhead) {
				return nil, fmt.Errorf("%w: chunk %d: sizes %d/%d", errManifest, i, sz, sl)
			}
			c.Size, c.SealedLen = int(sz), int(sl)
			total += sz
			if err := r.full(c.ID[:]); err != nil {
				return nil, err
			}
			if err := r.full(c.Key[:]); err != nil {
				return nil, err
			}
			k, err := r.uint(erasure.MaxShards)
			if err != nil {
				return nil, err
			}
			n, err := r.uint(erasure.MaxShards)
			if err != nil {
				return nil, err
			}
			if k < 1 || n < k {
				return nil, fmt.Errorf("%w: chunk %d: code %d of %d", errManifest, i, k, n)
			}
			c.K, c.N = int(k), int(n)
			nf, err := r.uint(n)
			if err != nil {
				return nil, err
			}
			c.Frags = make([]Frag, nf)
			last := -1
			for j := range c.Frags {
				f := &c.Frags[j]
				idx, err := r.uint(n - 1)
				if err != nil {
					return nil, err
				}
				if int(idx) <= last {
					return nil, fmt.Errorf("%w: chunk %d: fragment indexes not increasing", errManifest, i)
				}
				last = int(idx)
				f.Index = int(idx)
				if err := r.full(f.Ref[:]); err != nil {
					return nil, err
				}
				hl, err := r.uint(maxHolderLen)
				if err != nil {
					return nil, err
				}
				h := make([]byte, hl)
				if err := r.full(h); err != nil {
					return nil, err
				}
				f.Holder = storage.PeerID(h)
			}
		}
		if total != size {
			return nil, fmt.Errorf("%w: chunk sizes add up to %d, size is %d", errManifest, total, size)
		}
	}
	if r.r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errManifest, r.r.Len())
	}
	return m, nil
}
