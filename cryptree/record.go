package cryptree

import (
	"crypto/rand"
	"io"
)

const recordVersion = 0x01

// RecordOverhead is how many bytes SealRecord adds: the version byte, the
// 12-byte nonce and the 16-byte tag.
const RecordOverhead = 1 + 12 + 16

// SealRecord seals a small plaintext under key with a random nonce
// (SPEC.md §4): 0x01 || nonce || ciphertext || tag. ad is bound but not
// stored; OpenRecord must be given the same ad. The result is a new slice;
// plaintext and ad are only read. A key may seal many records (up to about
// 2^32). The error is non-nil only if the system's randomness fails.
// Safe for concurrent use.
func SealRecord(key Key, plaintext, ad []byte) ([]byte, error) {
	var nonce [12]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, err
	}
	return sealRecord(key, nonce, plaintext, ad), nil
}

// sealRecord is SealRecord with a given nonce, for test vectors.
func sealRecord(key Key, nonce [12]byte, plaintext, ad []byte) []byte {
	g := newGCM(&key)
	out := make([]byte, 0, RecordOverhead+len(plaintext))
	out = append(out, recordVersion)
	out = append(out, nonce[:]...)
	return g.Seal(out, nonce[:], plaintext, recordAD(ad))
}

// recordAD returns 0x01 || ad.
func recordAD(ad []byte) []byte {
	b := make([]byte, 0, 1+len(ad))
	b = append(b, recordVersion)
	return append(b, ad...)
}

// OpenRecord returns the plaintext of a record sealed by SealRecord under key
// with the same ad, in a new slice. Any failure — short input, unknown
// version, wrong key or ad, changed bytes — is ErrCannotDecrypt.
// Safe for concurrent use.
func OpenRecord(key Key, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < RecordOverhead || sealed[0] != recordVersion {
		return nil, ErrCannotDecrypt
	}
	g := newGCM(&key)
	nonce := sealed[1:13]
	out, err := g.Open(make([]byte, 0, len(sealed)-RecordOverhead), nonce, sealed[13:], recordAD(ad))
	if err != nil {
		return nil, ErrCannotDecrypt
	}
	return out, nil
}
