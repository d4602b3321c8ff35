package cryptree

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
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

const chunkVersion = 0x01

// ChunkOverhead is how many bytes SealChunk adds to a plaintext: the version
// byte and the 16-byte GCM tag.
const ChunkOverhead = 17

// chunkNonce is the fixed GCM nonce for chunks: each chunk key seals one
// plaintext only, so a constant nonce never repeats under a key.
var chunkNonce [12]byte

var chunkAD = []byte{chunkVersion}

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

// SealChunk appends to dst the sealed form of plaintext under key:
// version byte 0x01, ciphertext, 16-byte tag (SPEC.md §2). The result is
// len(plaintext)+ChunkOverhead bytes longer than dst. dst and plaintext must
// not overlap (cipher.AEAD panics on overlapping buffers); pass nil to get a
// new slice. The key must never seal a different plaintext (fixed nonce).
// plaintext must be shorter than GCM's limit of 64 GiB (cipher.AEAD panics
// beyond it); chunks are a few MiB. Safe for concurrent use.
func SealChunk(dst []byte, key Key, plaintext []byte) []byte {
	g := newGCM(&key)
	dst = append(dst, chunkVersion)
	return g.Seal(dst, chunkNonce[:], plaintext, chunkAD)
}

// OpenChunk appends to dst the plaintext of a chunk sealed by SealChunk.
// Any failure — wrong key, changed or truncated bytes, unknown version — is
// ErrCannotDecrypt, and then no plaintext is returned. sealed is only read.
// To decrypt in place pass sealed[1:1] as dst; otherwise dst must not overlap
// sealed. Safe for concurrent use.
func OpenChunk(dst []byte, key Key, sealed []byte) ([]byte, error) {
	if len(sealed) < ChunkOverhead || sealed[0] != chunkVersion {
		return nil, ErrCannotDecrypt
	}
	g := newGCM(&key)
	out, err := g.Open(dst, chunkNonce[:], sealed[1:], chunkAD)
	if err != nil {
		return nil, ErrCannotDecrypt
	}
	return out, nil
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
