package cryptree

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"io"

	"golang.org/x/crypto/curve25519"
)

// Sealed message layout (SPEC.md §14).
const (
	msgV1     = 0x01
	msgInfo   = "cairn sealed message v1"
	msgSigCtx = "cairn sealed message v1\x00"
	inboxCtx  = "cairn inbox v1\x00"
	// MaxMessage is the largest plaintext SealTo seals.
	MaxMessage = 64 << 10
	// MessageOverhead is how many bytes SealTo adds: version, ephemeral
	// key, sender key, signature and GCM tag.
	MessageOverhead = 1 + 32 + 32 + 64 + 16
)

// SealTo seals plaintext to the holder of the X25519 key recipientBox,
// signed by sender (SPEC.md §14): an ephemeral X25519 key agreement,
// HKDF-SHA256 to an AES-128-GCM key, and inside the ciphertext the
// sender's public key and an Ed25519 signature over the ephemeral key, the
// recipient's key and the plaintext. Only the recipient learns who sent
// it. It returns ErrInvalid for a plaintext over MaxMessage, a malformed
// sender key or a low-order recipient key. The result is a new slice.
func SealTo(recipientBox [32]byte, sender ed25519.PrivateKey, plaintext []byte) ([]byte, error) {
	return sealTo(rand.Reader, recipientBox, sender, plaintext)
}

func sealTo(rnd io.Reader, recipientBox [32]byte, sender ed25519.PrivateKey, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxMessage {
		return nil, invalid("message larger than 64 KiB")
	}
	if len(sender) != ed25519.PrivateKeySize {
		return nil, invalid("sender key has the wrong length")
	}
	var eph [32]byte
	if _, err := io.ReadFull(rnd, eph[:]); err != nil {
		return nil, err
	}
	ephPub, err := curve25519.X25519(eph[:], curve25519.Basepoint)
	if err != nil {
		return nil, err
	}
	shared, err := curve25519.X25519(eph[:], recipientBox[:])
	if err != nil {
		return nil, invalid("recipient box key is a low-order X25519 point")
	}
	key := messageKey(shared, ephPub, recipientBox[:])
	sig := ed25519.Sign(sender, messageSigned(ephPub, recipientBox, plaintext))
	inner := make([]byte, 0, 32+64+len(plaintext))
	inner = append(inner, sender[32:]...)
	inner = append(inner, sig...)
	inner = append(inner, plaintext...)
	out := make([]byte, 0, MessageOverhead+len(plaintext))
	out = append(out, msgV1)
	out = append(out, ephPub...)
	return newGCM(&key).Seal(out, chunkNonce[:], inner, out[:33]), nil
}

// messageKey derives the AES key of a message from the X25519 shared
// secret, the ephemeral public key and the recipient's public key.
func messageKey(shared, ephPub, recipient []byte) Key {
	salt := make([]byte, 0, 64)
	salt = append(salt, ephPub...)
	salt = append(salt, recipient...)
	b, err := hkdf.Key(sha256.New, shared, salt, msgInfo, 16)
	if err != nil {
		panic("cryptree: hkdf: " + err.Error()) // unreachable: 16 bytes
	}
	return Key(b)
}

// messageSigned returns the bytes the sender signs.
func messageSigned(ephPub []byte, recipient [32]byte, plaintext []byte) []byte {
	b := make([]byte, 0, len(msgSigCtx)+64+len(plaintext))
	b = append(b, msgSigCtx...)
	b = append(b, ephPub...)
	b = append(b, recipient[:]...)
	return append(b, plaintext...)
}

// OpenFrom opens a message sealed by SealTo to the X25519 key boxPriv and
// returns the plaintext and the sender's Ed25519 public key (compare it
// with the user id the message claims to come from). It returns
// ErrCannotDecrypt if the message is not for this key or was changed, and
// ErrBadSignature (also ErrCannotDecrypt) if the signature does not verify.
// sealed is only read; the results are new slices.
func OpenFrom(boxPriv [32]byte, sealed []byte) (plaintext []byte, sender ed25519.PublicKey, err error) {
	if len(sealed) < MessageOverhead || len(sealed) > MessageOverhead+MaxMessage || sealed[0] != msgV1 {
		return nil, nil, ErrCannotDecrypt
	}
	boxPub, err := curve25519.X25519(boxPriv[:], curve25519.Basepoint)
	if err != nil {
		return nil, nil, ErrCannotDecrypt
	}
	ephPub := sealed[1:33]
	shared, err := curve25519.X25519(boxPriv[:], ephPub)
	if err != nil {
		return nil, nil, ErrCannotDecrypt
	}
	key := messageKey(shared, ephPub, boxPub)
	inner, err := newGCM(&key).Open(nil, chunkNonce[:], sealed[33:], sealed[:33])
	if err != nil {
		return nil, nil, ErrCannotDecrypt
	}
	sender = ed25519.PublicKey(inner[:32:32])
	sig, plaintext := inner[32:96], inner[96:]
	if !ed25519.Verify(sender, messageSigned(ephPub, [32]byte(boxPub), plaintext), sig) {
		return nil, nil, ErrBadSignature
	}
	return plaintext, sender, nil
}

// InboxID returns where a user's inbox lives (SPEC.md §14):
// SHA-256("cairn inbox v1" || 0x00 || the user's Ed25519 public key).
// recipientSign should be 32 bytes.
func InboxID(recipientSign ed25519.PublicKey) [32]byte {
	h := sha256.New()
	h.Write([]byte(inboxCtx))
	h.Write(recipientSign)
	return [32]byte(h.Sum(nil))
}
