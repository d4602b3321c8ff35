package cryptree

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the Argon2id parameters that turn a passphrase into the key
// protecting a keyring file.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

var (
	// DefaultKDF is interactive strength: 3 passes over 64 MiB, 2 lanes.
	DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 2}
	// TestKDF is the cheapest setting, for tests only.
	TestKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	// MaxKDF holds the largest parameters a keyring file may ask for; a file
	// beyond them is rejected before any work, so a hostile file cannot make
	// the reader spend unbounded memory or time.
	MaxKDF = KDFParams{Time: 16, MemoryKiB: 1 << 20, Threads: 16}
)

// check reports whether p is usable and within max.
func (p KDFParams) check(max KDFParams) error {
	switch {
	case p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads):
		return invalid(fmt.Sprintf("argon2id parameters too small (t=%d m=%dKiB p=%d)", p.Time, p.MemoryKiB, p.Threads))
	case p.Time > max.Time || p.MemoryKiB > max.MemoryKiB || p.Threads > max.Threads:
		return invalid(fmt.Sprintf("argon2id parameters too large (t=%d m=%dKiB p=%d; at most t=%d m=%dKiB p=%d)",
			p.Time, p.MemoryKiB, p.Threads, max.Time, max.MemoryKiB, max.Threads))
	}
	return nil
}

// Keyring file layout (SPEC.md §8).
const (
	fileMagic     = "CAIRNKR"
	fileVersion   = 0x01
	fileHeaderLen = len(fileMagic) + 1 + 4 + 4 + 1 + 16
	// KeyringFileLen is the size of every v1 keyring file.
	KeyringFileLen = fileHeaderLen + RecordOverhead + 32
)

// MarshalFile returns the keyring file of k under passphrase with Argon2id
// parameters p and a fresh random salt and nonce. It returns ErrInvalid if p
// is outside [minimum, MaxKDF]. The result is a new slice; passphrase is only
// read.
func (k *Keyring) MarshalFile(passphrase []byte, p KDFParams) ([]byte, error) {
	if err := p.check(MaxKDF); err != nil {
		return nil, err
	}
	var salt [16]byte
	var nonce [12]byte
	if _, err := io.ReadFull(rand.Reader, salt[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, err
	}
	return k.marshalFile(passphrase, p, salt, nonce), nil
}

// marshalFile is MarshalFile with a given salt and nonce, for test vectors.
func (k *Keyring) marshalFile(passphrase []byte, p KDFParams, salt [16]byte, nonce [12]byte) []byte {
	hdr := make([]byte, 0, KeyringFileLen)
	hdr = append(hdr, fileMagic...)
	hdr = append(hdr, fileVersion)
	hdr = binary.BigEndian.AppendUint32(hdr, p.Time)
	hdr = binary.BigEndian.AppendUint32(hdr, p.MemoryKiB)
	hdr = append(hdr, p.Threads)
	hdr = append(hdr, salt[:]...)
	rec := sealRecord(kek(passphrase, salt[:], p), nonce, k.Root[:], hdr)
	return append(hdr, rec...)
}

func kek(passphrase, salt []byte, p KDFParams) Key {
	var k Key
	copy(k[:], argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, 16))
	return k
}

// ParseKeyringFile opens a keyring file made by MarshalFile. It returns
// ErrInvalid for a malformed file or Argon2id parameters beyond MaxKDF (checked
// before any key stretching), and ErrWrongPassphrase (which is also
// ErrCannotDecrypt) when the passphrase is wrong or the file was changed.
// b and passphrase are only read.
func ParseKeyringFile(b []byte, passphrase []byte) (*Keyring, error) {
	return parseKeyringFile(b, passphrase, MaxKDF)
}

// ReadKDFParams returns the Argon2id parameters a keyring file asks for,
// without opening it (to warn before a slow unlock, or to decide to re-key).
func ReadKDFParams(b []byte) (KDFParams, error) {
	if len(b) != KeyringFileLen {
		return KDFParams{}, invalid(fmt.Sprintf("keyring file is %d bytes, want %d", len(b), KeyringFileLen))
	}
	if string(b[:len(fileMagic)]) != fileMagic {
		return KDFParams{}, invalid("not a Cairn keyring file")
	}
	if v := b[len(fileMagic)]; v != fileVersion {
		return KDFParams{}, invalid(fmt.Sprintf("keyring file version %d is not supported", v))
	}
	h := b[len(fileMagic)+1:]
	return KDFParams{
		Time:      binary.BigEndian.Uint32(h[0:4]),
		MemoryKiB: binary.BigEndian.Uint32(h[4:8]),
		Threads:   h[8],
	}, nil
}

func parseKeyringFile(b, passphrase []byte, max KDFParams) (*Keyring, error) {
	p, err := ReadKDFParams(b)
	if err != nil {
		return nil, err
	}
	if err := p.check(max); err != nil {
		return nil, err
	}
	hdr := b[:fileHeaderLen]
	salt := hdr[fileHeaderLen-16:]
	root, err := OpenRecord(kek(passphrase, salt, p), b[fileHeaderLen:], hdr)
	if err != nil || len(root) != 32 {
		return nil, ErrWrongPassphrase
	}
	return KeyringFromRoot([32]byte(root)), nil
}
