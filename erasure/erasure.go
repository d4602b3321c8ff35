package erasure

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// Errors. Functions wrap them with detail (fmt.Errorf("...: %w", ErrX));
// check them with errors.Is.
var (
	// ErrInvalid reports bad parameters from the caller: k, m, sizes, index.
	ErrInvalid = errors.New("erasure: invalid parameters")
	// ErrTooFew reports fewer than k usable fragments.
	ErrTooFew = errors.New("erasure: too few fragments")
	// ErrCorrupt reports a malformed header or inconsistent fragment or proof.
	ErrCorrupt = errors.New("erasure: corrupt fragment")
)

// Code is a Reed–Solomon code with k data and m parity fragments. A Code is
// immutable and safe for concurrent use by many goroutines.
type Code struct {
	k, m int
	enc  reedsolomon.Encoder // nil when m == 0
}

type codeKey struct{ k, m int }

// encoders caches one reedsolomon.Encoder per (k, m); they are safe for
// concurrent use and keep their own inversion-matrix cache, which is worth
// sharing between Codes.
var encoders sync.Map // codeKey -> reedsolomon.Encoder

// New returns the code with k data and m parity fragments. It needs k >= 1,
// m >= 0 and k+m <= MaxShards, else it returns an error wrapping ErrInvalid.
func New(k, m int) (*Code, error) {
	if k < 1 || m < 0 || k > MaxShards || m > MaxShards || k+m > MaxShards {
		return nil, fmt.Errorf("k=%d m=%d (need k>=1, m>=0, k+m<=%d): %w", k, m, MaxShards, ErrInvalid)
	}
	c := &Code{k: k, m: m}
	if m == 0 {
		return c, nil
	}
	key := codeKey{k, m}
	if e, ok := encoders.Load(key); ok {
		c.enc = e.(reedsolomon.Encoder)
		return c, nil
	}
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return nil, fmt.Errorf("k=%d m=%d: %v: %w", k, m, err, ErrInvalid)
	}
	e, _ := encoders.LoadOrStore(key, enc)
	c.enc = e.(reedsolomon.Encoder)
	return c, nil
}

// K is the number of data fragments, any K of the N fragments rebuild the data.
func (c *Code) K() int { return c.k }

// M is the number of parity fragments: up to M fragments may be lost.
func (c *Code) M() int { return c.m }

// N is K+M, the number of fragments Encode makes.
func (c *Code) N() int { return c.k + c.m }

// Encode cuts data (1..MaxData bytes, typically a sealed chunk) into N
// fragments. Fragment i is a HeaderSize header followed by shard i of
// ceil(len(data)/K) bytes; fragments 0..K-1 hold the data in order (the
// last one zero-padded), K..N-1 hold parity. All fragments are subslices of
// one new buffer, each capped at its own end so appending to one never
// overwrites another. The caller owns the result; data is only read and
// not retained. Bad sizes give an error wrapping ErrInvalid.
func (c *Code) Encode(data []byte) ([][]byte, error) { return c.EncodeTo(nil, data) }

// EncodedSize is the total size of the N fragments of dataLen bytes
// (N * FragmentSize(K, dataLen)), or 0 if dataLen is out of range.
func (c *Code) EncodedSize(dataLen int) int { return c.N() * FragmentSize(c.k, dataLen) }

// EncodeTo is Encode writing the fragments into dst[:EncodedSize] when
// cap(dst) is large enough (a new buffer otherwise), so that a caller can
// recycle buffers and skip allocating and zeroing. The fragments alias dst;
// dst's previous contents do not matter. dst must not overlap data.
func (c *Code) EncodeTo(dst, data []byte) ([][]byte, error) {
	if len(data) < 1 || len(data) > MaxData {
		return nil, fmt.Errorf("data length %d (need 1..%d): %w", len(data), MaxData, ErrInvalid)
	}
	n := c.N()
	ss := shardSize(c.k, len(data))
	fs := HeaderSize + ss
	var buf []byte
	if cap(dst) >= n*fs {
		buf = dst[:n*fs]
	} else {
		buf = make([]byte, n*fs)
	}
	frags := make([][]byte, 2*n)
	shards := frags[n:]
	frags = frags[:n:n]
	for i := range n {
		f := buf[i*fs : (i+1)*fs : (i+1)*fs]
		putHeader(f, Header{K: c.k, M: c.m, Index: i, DataLen: len(data)})
		frags[i] = f
		shards[i] = f[HeaderSize:]
		if i < c.k {
			var w int
			if i*ss < len(data) {
				w = copy(shards[i], data[i*ss:])
			}
			clear(shards[i][w:]) // padding
		}
	}
	if c.enc != nil {
		if err := c.enc.Encode(shards); err != nil {
			// Cannot happen: all shards have the same non-zero size.
			return nil, fmt.Errorf("reed-solomon encode: %v: %w", err, ErrInvalid)
		}
	}
	return frags, nil
}

// Decode rebuilds the data from fragments. frags must have length N;
// frags[i] is fragment i, or nil (or empty) if missing.
//
// If refs is not nil it must have length N, and every fragment whose
// Root differs from refs[i] is treated as missing and never fed to the
// decoder: the returned data is then exactly what was encoded (given
// correct refs). Roots are computed in index order, data fragments first,
// and only until K good fragments agree, so surplus fragments cost nothing.
//
// Every fragment's header is checked (magic, version, checksum, k, m,
// index == i, length matching the data length); a bad fragment is treated
// as missing. Fragments must agree on the data length: with refs, the first
// data length that K verified fragments share wins; without refs, the data
// length held by the most well-formed fragments wins. Without refs, Decode
// catches only malformed headers, not altered shard bytes.
//
// Fewer than K good fragments give an error wrapping ErrTooFew that says
// how many were good. Reconstructed padding that is not zero (fragments
// from different encodings, or altered shards without refs) gives
// ErrCorrupt. A wrong len(frags) or len(refs) gives ErrInvalid.
//
// Decode only reads frags and refs: it never writes to them or keeps them.
// The result is a new slice that aliases nothing the caller holds.
func (c *Code) Decode(frags [][]byte, refs [][32]byte) ([]byte, error) {
	return c.DecodeTo(nil, frags, refs)
}

// DecodeTo is Decode writing into dst when cap(dst) >= K*ShardSize (a new
// buffer otherwise); the result then aliases dst. dst must not overlap
// frags. On error dst's contents are unspecified.
func (c *Code) DecodeTo(dst []byte, frags [][]byte, refs [][32]byte) ([]byte, error) {
	n := c.N()
	if len(frags) != n {
		return nil, fmt.Errorf("got %d fragments, code has %d: %w", len(frags), n, ErrInvalid)
	}
	if refs != nil && len(refs) != n {
		return nil, fmt.Errorf("got %d refs, code has %d: %w", len(refs), n, ErrInvalid)
	}

	// Groups of well-formed fragments by the data length they claim.
	type group struct {
		dataLen int
		members []int // fragment indexes, ascending
	}
	var groups []group
	chosen := -1
	for i, f := range frags {
		if len(f) == 0 {
			continue
		}
		h, err := CheckFragment(f)
		if err != nil || h.K != c.k || h.M != c.m || h.Index != i {
			continue
		}
		if refs != nil && Root(f) != refs[i] {
			continue
		}
		g := -1
		for j := range groups {
			if groups[j].dataLen == h.DataLen {
				g = j
				break
			}
		}
		if g < 0 {
			groups = append(groups, group{dataLen: h.DataLen})
			g = len(groups) - 1
			groups[g].members = make([]int, 0, n)
		}
		groups[g].members = append(groups[g].members, i)
		if refs != nil && len(groups[g].members) == c.k {
			chosen = g
			break
		}
	}
	if refs == nil {
		for j := range groups {
			if chosen < 0 || len(groups[j].members) > len(groups[chosen].members) {
				chosen = j
			}
		}
	}
	good := 0
	if chosen >= 0 {
		good = len(groups[chosen].members)
	}
	if good < c.k {
		return nil, fmt.Errorf("%d good of %d, need %d: %w", good, n, c.k, ErrTooFew)
	}
	use := groups[chosen].members[:c.k]
	dataLen := groups[chosen].dataLen
	ss := shardSize(c.k, dataLen)

	var out []byte
	if cap(dst) >= c.k*ss {
		out = dst[:c.k*ss]
	} else {
		out = make([]byte, c.k*ss)
	}
	shards := make([][]byte, n)
	for i := range c.k {
		shards[i] = out[i*ss : i*ss : (i+1)*ss] // missing: empty, room to rebuild
	}
	missing := c.k
	for _, i := range use {
		s := frags[i][HeaderSize : HeaderSize+ss : HeaderSize+ss]
		if i < c.k {
			copy(out[i*ss:], s)
			shards[i] = out[i*ss : (i+1)*ss]
			missing--
		} else {
			shards[i] = s // parity: only read by ReconstructData
		}
	}
	if missing > 0 {
		if err := c.enc.ReconstructData(shards); err != nil {
			return nil, fmt.Errorf("reed-solomon reconstruct: %v: %w", err, ErrCorrupt)
		}
	}
	for _, b := range out[dataLen:] {
		if b != 0 {
			return nil, fmt.Errorf("non-zero padding: %w", ErrCorrupt)
		}
	}
	return out[:dataLen:dataLen], nil
}
