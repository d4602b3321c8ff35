package cryptree

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"math/bits"
	"sync"

	"github.com/zeebo/blake3"
)

// Key is an AES-128 key. A Key used with SealChunk seals exactly one
// plaintext, ever (see SPEC.md §2).
type Key [16]byte

// NewKey returns a fresh random key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Sealed chunk versions (SPEC.md §2): 0x01 is the plaintext as is (its
// sealed length shows the plaintext length exactly); 0x02 pads it so the
// sealed length is a Padmé bucket. New chunks are 0x02; both open.
const (
	chunkVersion       = 0x01
	chunkVersionPadded = 0x02
)

// ChunkOverhead is how many bytes SealChunk (version 0x01) adds to a
// plaintext: the version byte and the 16-byte GCM tag. SealChunkPadded
// adds PaddedChunkSize(n) - n.
const ChunkOverhead = 17

// paddedMin is the smallest version 0x02 chunk: version, marker, tag.
const paddedMin = 1 + 1 + 16

// copyPiece is the largest copy SealChunkPadded makes at once.
const copyPiece = 256 << 10

// chunkNonce is the fixed GCM nonce for chunks: each chunk key seals one
// plaintext only, so a constant nonce never repeats under a key. Version
// 0x02 has its own nonce: a convergent key that sealed a plaintext as 0x01
// (already stored) and seals it again as 0x02 seals two different bodies,
// so the two must not share a (key, nonce) pair.
var (
	chunkNonce       [12]byte
	chunkNoncePadded = [12]byte{11: chunkVersionPadded}
)

var (
	chunkAD       = []byte{chunkVersion}
	chunkADPadded = []byte{chunkVersionPadded}
)

// newGCM returns AES-128-GCM under key. It cannot fail for a 16-byte key
// with the standard nonce and tag sizes.
func newGCM(key *Key) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("cryptree: aes: " + err.Error()) // unreachable: the key length is fixed
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("cryptree: gcm: " + err.Error()) // unreachable
	}
	return g
}

// SealChunk appends to dst the version 0x01 sealed form of plaintext under
// key: version byte 0x01, ciphertext, 16-byte tag (SPEC.md §2). The result
// is len(plaintext)+ChunkOverhead bytes longer than dst, so the sealed
// length tells anyone who sees it the plaintext length; new chunks are
// sealed with SealChunkPadded. dst and plaintext must not overlap
// (cipher.AEAD panics on overlapping buffers); pass nil to get a new slice.
// The key must never seal a different plaintext (fixed nonce). plaintext
// must be shorter than GCM's limit of 64 GiB (cipher.AEAD panics beyond
// it); chunks are a few MiB. Safe for concurrent use.
//
// Deprecated: version 0x01 is kept so that stored chunks open and the test
// vectors stay; use SealChunkPadded.
func SealChunk(dst []byte, key Key, plaintext []byte) []byte {
	g := newGCM(&key)
	dst = append(dst, chunkVersion)
	return g.Seal(dst, chunkNonce[:], plaintext, chunkAD)
}

// PaddedChunkSize is the length of SealChunkPadded's output for n bytes of
// plaintext (n >= 0): Padmé(n + 18), the smallest Padmé bucket that holds
// the version byte, the plaintext, the 0x80 marker and the tag (SPEC.md
// §2). It is at most about 3 % more than n + 18 from 64 KiB up (6 % from
// 256 bytes, 12 % below). It panics for negative n.
func PaddedChunkSize(n int) int {
	if n < 0 {
		panic("cryptree: PaddedChunkSize of a negative length")
	}
	return padme(n + paddedMin)
}

// padme rounds l up as the Padmé function of the PURBs paper (Nikitin et
// al., PETS 2019): with E = floor(log2 l) and S = floor(log2 E) + 1, the
// lowest E-S bits are rounded up to zero, so a length in [2^E, 2^(E+1))
// has one of about 2^S ≈ 2E bucket values and leaks O(log log l) bits.
func padme(l int) int {
	if l < 2 {
		return l
	}
	e := bits.Len(uint(l)) - 1
	s := bits.Len(uint(e))
	m := 1<<(e-s) - 1
	return (l + m) &^ m
}

// SealChunkPadded appends to dst the version 0x02 sealed form of plaintext
// under key (SPEC.md §2):
//
//	0x02 || AES-128-GCM(key, nonce 0x00*11 || 0x02, plaintext || 0x80 || 0x00*z, ad 0x02)
//
// with z such that the result is PaddedChunkSize(len(plaintext)) bytes
// longer than dst: the sealed length shows only the plaintext length's
// bucket, and the true length comes back only on opening. The plaintext
// is copied once (into dst, where it is sealed in place). dst and
// plaintext must not overlap. The key must never seal a different
// plaintext (fixed nonce). Safe for concurrent use.
func SealChunkPadded(dst []byte, key Key, plaintext []byte) []byte {
	total := PaddedChunkSize(len(plaintext))
	start := len(dst)
	if cap(dst)-start < total {
		nd := make([]byte, start, start+total)
		copy(nd, dst)
		dst = nd
	}
	dst = append(dst, chunkVersionPadded)
	body := dst[start+1 : start+total-16]
	// Copy in pieces: from 1 MiB up the runtime's memmove uses
	// non-temporal stores, which push body out of the cache just before
	// GCM reads it (measured: the padded seal of a 1 MiB chunk took about
	// 3× the unpadded one with one copy, about 1.2× with pieces).
	for off := 0; off < len(plaintext); off += copyPiece {
		copy(body[off:], plaintext[off:min(off+copyPiece, len(plaintext))])
	}
	body[len(plaintext)] = 0x80
	clear(body[len(plaintext)+1:])
	g := newGCM(&key)
	return g.Seal(dst[:start+1], chunkNoncePadded[:], body, chunkADPadded)
}

// OpenChunk appends to dst the plaintext of a chunk sealed by SealChunk
// (version 0x01) or SealChunkPadded (0x02; the padding is removed). Any
// failure — wrong key, changed or truncated bytes, unknown version,
// padding that is not exactly what SealChunkPadded makes — is
// ErrCannotDecrypt, and then no plaintext is returned. sealed is only
// read. To decrypt in place pass sealed[1:1] as dst; otherwise dst must
// not overlap sealed. For version 0x02 the bytes past the returned slice,
// up to len(sealed)-17 beyond len(dst), are overwritten with the padding.
// Safe for concurrent use.
func OpenChunk(dst []byte, key Key, sealed []byte) ([]byte, error) {
	if len(sealed) < ChunkOverhead {
		return nil, ErrCannotDecrypt
	}
	switch sealed[0] {
	case chunkVersion:
		g := newGCM(&key)
		out, err := g.Open(dst, chunkNonce[:], sealed[1:], chunkAD)
		if err != nil {
			return nil, ErrCannotDecrypt
		}
		return out, nil
	case chunkVersionPadded:
		if len(sealed) < paddedMin {
			return nil, ErrCannotDecrypt
		}
		g := newGCM(&key)
		out, err := g.Open(dst, chunkNoncePadded[:], sealed[1:], chunkADPadded)
		if err != nil {
			return nil, ErrCannotDecrypt
		}
		body := out[len(dst):]
		n := unpadChunk(body)
		if n < 0 || PaddedChunkSize(n) != len(sealed) {
			clear(body)
			return nil, ErrCannotDecrypt
		}
		return out[:len(dst)+n], nil
	}
	return nil, ErrCannotDecrypt
}

// unpadChunk returns the length of the content before the 0x80 marker that
// ends body's non-zero bytes, or -1 if there is none.
func unpadChunk(body []byte) int {
	i := len(body) - 1
	for i >= 0 && body[i] == 0 {
		i--
	}
	if i < 0 || body[i] != 0x80 {
		return -1
	}
	return i
}

// BLAKE3 derive-key contexts of SPEC.md §3.
const (
	ctxChunkID  = "Cairn cryptree v1 chunk id"
	ctxChunkKey = "Cairn cryptree v1 chunk key"
)

// ChunkSecret is a user's secret for convergent chunk keys (SPEC.md §3):
// the same user and chunk give the same id and key; different users share
// nothing. Get it from Keyring.ChunkSecret.
type ChunkSecret [32]byte

// Derive returns the chunk id and chunk key of plaintext under s, with one
// keyed BLAKE3 pass over plaintext. The id does not reveal the key. plaintext
// is only read. Safe for concurrent use.
func (s *ChunkSecret) Derive(plaintext []byte) (id [32]byte, key Key) {
	h, err := blake3.NewKeyed(s[:])
	if err != nil {
		panic("cryptree: blake3: " + err.Error()) // unreachable: the key is 32 bytes
	}
	_, _ = h.Write(plaintext)
	var sum, out [32]byte
	h.Sum(sum[:0])
	deriveKey(&chunkIDPool, ctxChunkID, sum[:], id[:0])
	deriveKey(&chunkKeyPool, ctxChunkKey, sum[:], out[:0])
	copy(key[:], out[:16]) // BLAKE3 output is a prefix-consistent XOF
	return id, key
}

// Pools of BLAKE3 derive-key hashers, one per context: Reset keeps the
// context key, so a hasher is reused without rehashing its context.
var chunkIDPool, chunkKeyPool sync.Pool

// deriveKey appends BLAKE3-derive-key(context, material)[:32] to out, which
// must have room for it.
func deriveKey(pool *sync.Pool, context string, material, out []byte) {
	h, _ := pool.Get().(*blake3.Hasher)
	if h == nil {
		h = blake3.NewDeriveKey(context)
	}
	_, _ = h.Write(material)
	h.Sum(out)
	h.Reset()
	pool.Put(h)
}
