package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// HKDF info strings of SPEC.md §5. Never change their meaning; add new ones.
const (
	infoChunkSecret = "cairn keyring v1 chunk-secret"
	infoSigning     = "cairn keyring v1 ed25519-identity"
	infoBox         = "cairn keyring v1 x25519-box"
	infoMetadata    = "cairn keyring v1 metadata-key"
	infoChunker     = "cairn keyring v1 chunker-key"
)

// Keyring holds every secret of one user, all derived from Root
// (SPEC.md §5). Build it with NewKeyring, KeyringFromRoot,
// ParseRecoverySecret or ParseKeyringFile; the derived keys are computed
// once there. Treat Root as read-only: changing it does not change the
// derived keys. A Keyring is immutable and safe for concurrent use.
type Keyring struct {
	Root [32]byte

	chunk   ChunkSecret
	signing ed25519.PrivateKey
	boxPriv [32]byte
	boxPub  [32]byte
	meta    Key
	chunker [32]byte
}

// NewKeyring returns a keyring with a fresh random root from crypto/rand.
func NewKeyring() (*Keyring, error) {
	var root [32]byte
	if _, err := rand.Read(root[:]); err != nil {
		return nil, err
	}
	return KeyringFromRoot(root), nil
}

// KeyringFromRoot returns the keyring derived from root.
func KeyringFromRoot(root [32]byte) *Keyring {
	k := &Keyring{Root: root}
	derive(root, infoChunkSecret, k.chunk[:])
	var seed [32]byte
	derive(root, infoSigning, seed[:])
	k.signing = ed25519.NewKeyFromSeed(seed[:])
	derive(root, infoBox, k.boxPriv[:])
	k.boxPriv[0] &= 248
	k.boxPriv[31] &= 127
	k.boxPriv[31] |= 64
	pub, err := curve25519.X25519(k.boxPriv[:], curve25519.Basepoint)
	if err != nil {
		panic("cryptree: x25519: " + err.Error()) // unreachable: the base point is not low order
	}
	copy(k.boxPub[:], pub)
	derive(root, infoMetadata, k.meta[:])
	derive(root, infoChunker, k.chunker[:])
	return k
}

// derive fills out with HKDF-SHA256(ikm = root, salt = empty, info).
func derive(root [32]byte, info string, out []byte) {
	b, err := hkdf.Key(sha256.New, root[:], nil, info, len(out))
	if err != nil {
		panic("cryptree: hkdf: " + err.Error()) // unreachable: out is at most 32 bytes
	}
	copy(out, b)
}

// ChunkSecret returns the user's secret for convergent chunk keys.
func (k *Keyring) ChunkSecret() ChunkSecret { return k.chunk }

// ChunkerKey returns the user's secret for chunk boundaries (SPEC.md §5): the
// key of storage/chunker's keyed gear table, so that nobody without the
// root can predict where the user's files are cut. It comes back with the
// root on recovery, so the user's later versions still dedup.
func (k *Keyring) ChunkerKey() [32]byte { return k.chunker }

// SigningKey returns the user's Ed25519 identity key, a copy the caller owns.
func (k *Keyring) SigningKey() ed25519.PrivateKey {
	return bytes.Clone(k.signing)
}

// BoxKey returns the user's X25519 key pair for receiving wrapped keys. The
// private key is already clamped.
func (k *Keyring) BoxKey() (priv, pub [32]byte) { return k.boxPriv, k.boxPub }

// MetadataKey returns the key that seals the owner's metadata records
// (SealRecord). Never use it with SealChunk.
func (k *Keyring) MetadataKey() Key { return k.meta }

// User ids (SPEC.md §6).
const (
	userIDPrefix   = "cu1"
	userIDChecksum = "cairn user id v1"
	userIDRawLen   = 32 + 32 + 4
)

var (
	b32lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	b32upper = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// UserIDLen is the length of every user id string: "cu1" and 109 base32
// characters.
const UserIDLen = 3 + (userIDRawLen*8+4)/5

// UserID returns the printable id that others use to verify this user and to
// send them keys: "cu1" then lower-case base32 of the Ed25519 public key, the
// X25519 public key and a 4-byte checksum.
func (k *Keyring) UserID() string {
	return FormatUserID(k.signing.Public().(ed25519.PublicKey), k.boxPub)
}

// FormatUserID returns the user id of the given public keys. sign must be
// ed25519.PublicKeySize bytes; it panics otherwise (a programming error).
func FormatUserID(sign ed25519.PublicKey, box [32]byte) string {
	if len(sign) != ed25519.PublicKeySize {
		panic("cryptree: FormatUserID: bad ed25519 public key length")
	}
	raw := make([]byte, 0, userIDRawLen)
	raw = append(raw, sign...)
	raw = append(raw, box[:]...)
	raw = append(raw, checksum(userIDChecksum, raw, 4)...)
	return userIDPrefix + b32lower.EncodeToString(raw)
}

// ParseUserID parses a user id made by UserID, tolerating surrounding white
// space and upper case (ASCII only). It returns ErrInvalid (with a reason) for anything
// else, including a checksum mismatch. The returned key is a new slice.
func ParseUserID(s string) (ed25519.PublicKey, [32]byte, error) {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, [32]byte{}, invalid("user id has a character that is not a letter or a digit 2-7")
		}
	}
	s = strings.ToLower(s)
	if len(s) != UserIDLen || !strings.HasPrefix(s, userIDPrefix) {
		return nil, [32]byte{}, invalid("not a Cairn user id (want \"cu1\" and 109 base32 characters)")
	}
	body := s[len(userIDPrefix):]
	raw, err := b32lower.DecodeString(body)
	if err != nil || len(raw) != userIDRawLen || b32lower.EncodeToString(raw) != body {
		return nil, [32]byte{}, invalid("user id is not valid base32")
	}
	payload := raw[:64]
	if !bytes.Equal(raw[64:], checksum(userIDChecksum, payload, 4)) {
		return nil, [32]byte{}, invalid("user id checksum mismatch (mistyped?)")
	}
	var box [32]byte
	copy(box[:], raw[32:64])
	return ed25519.PublicKey(bytes.Clone(raw[:32])), box, nil
}

// checksum returns SHA-256(domain || b)[:n].
func checksum(domain string, b []byte, n int) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(b)
	return h.Sum(nil)[:n]
}

// Recovery secrets (SPEC.md §7).
const (
	recoveryChecksum = "cairn recovery secret v1"
	recoveryRawLen   = 32 + 3
	recoveryChars    = 56 // base32 of 35 bytes, no unused bits
	recoveryGroup    = 4
)

// RecoverySecret returns the root as text for paper: 14 groups of 4
// upper-case base32 characters joined by dashes, with a checksum built in.
// Anyone holding it holds every key of this user.
func (k *Keyring) RecoverySecret() string {
	raw := make([]byte, 0, recoveryRawLen)
	raw = append(raw, k.Root[:]...)
	raw = append(raw, checksum(recoveryChecksum, k.Root[:], 3)...)
	enc := b32upper.EncodeToString(raw)
	var b strings.Builder
	for i := 0; i < len(enc); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(enc[i : i+recoveryGroup])
	}
	return b.String()
}

// ParseRecoverySecret rebuilds the keyring from a recovery secret. It ignores
// case, spaces, tabs, newlines and dashes, and reads 0, 1 and 8 as O, I and B.
// It returns ErrInvalid with a reason for a wrong length, a character outside
// the alphabet, or a checksum mismatch (a typo).
func ParseRecoverySecret(s string) (*Keyring, error) {
	clean := make([]byte, 0, recoveryChars)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '0':
			c = 'O'
		case c == '1':
			c = 'I'
		case c == '8':
			c = 'B'
		}
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return nil, invalid("recovery secret has a character that is not a letter or a digit 2-7")
		}
		if len(clean) == recoveryChars {
			return nil, invalid("recovery secret is too long (want 56 characters)")
		}
		clean = append(clean, c)
	}
	if len(clean) != recoveryChars {
		return nil, invalid("recovery secret is too short (want 56 characters)")
	}
	raw := make([]byte, recoveryRawLen)
	n, err := b32upper.Decode(raw, clean)
	if err != nil || n != recoveryRawLen {
		return nil, invalid("recovery secret is not valid base32")
	}
	var root [32]byte
	copy(root[:], raw[:32])
	if !bytes.Equal(raw[32:], checksum(recoveryChecksum, root[:], 3)) {
		return nil, invalid("recovery secret checksum mismatch: it was probably mistyped")
	}
	return KeyringFromRoot(root), nil
}
