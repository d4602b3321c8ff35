package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"golang.org/x/crypto/curve25519"
)

func TestSealTo(t *testing.T) {
	alice := KeyringFromRoot([32]byte(pattern(32, 1, 1)))
	bob := KeyringFromRoot([32]byte(pattern(32, 2, 1)))
	carol := KeyringFromRoot([32]byte(pattern(32, 3, 1)))
	bobPriv, bobPub := bob.BoxKey()
	carolPriv, _ := carol.BoxKey()
	msg := testCaps(t)[1].Marshal()

	sealed, err := SealTo(bobPub, alice.SigningKey(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(msg)+MessageOverhead {
		t.Errorf("sealed %d bytes, want %d", len(sealed), len(msg)+MessageOverhead)
	}
	if bytes.Contains(sealed, alice.SigningKey().Public().(ed25519.PublicKey)) {
		t.Error("the sender's key is visible")
	}
	got, sender, err := OpenFrom(bobPriv, sealed)
	if err != nil || !bytes.Equal(got, msg) || !sender.Equal(alice.SigningKey().Public()) {
		t.Fatalf("OpenFrom: %v", err)
	}
	if _, _, err := OpenFrom(carolPriv, sealed); !errors.Is(err, ErrCannotDecrypt) {
		t.Errorf("wrong recipient: %v", err)
	}
	empty, _ := SealTo(bobPub, alice.SigningKey(), nil)
	if got, _, err := OpenFrom(bobPriv, empty); err != nil || len(got) != 0 {
		t.Errorf("empty message: %v", err)
	}

	for i := range sealed {
		sealed[i] ^= 0x04
		if got, s, err := OpenFrom(bobPriv, sealed); !errors.Is(err, ErrCannotDecrypt) || got != nil || s != nil {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
		sealed[i] ^= 0x04
	}
	for _, n := range []int{0, 1, MessageOverhead - 1, len(sealed) - 1} {
		if _, _, err := OpenFrom(bobPriv, sealed[:n]); !errors.Is(err, ErrCannotDecrypt) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}

	if _, err := SealTo(bobPub, alice.SigningKey(), make([]byte, MaxMessage+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := SealTo([32]byte{}, alice.SigningKey(), msg); !errors.Is(err, ErrInvalid) {
		t.Errorf("low-order recipient: %v", err)
	}
	if _, err := SealTo(bobPub, alice.SigningKey()[:5], msg); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad sender key: %v", err)
	}
}

// TestSealToBadSignature: a message correctly encrypted to the recipient
// but whose signature is not the sender's (or not over this message) is
// refused with ErrBadSignature.
func TestSealToBadSignature(t *testing.T) {
	alice := KeyringFromRoot([32]byte(pattern(32, 1, 1)))
	bobPriv, bobPub := KeyringFromRoot([32]byte(pattern(32, 2, 1))).BoxKey()
	eph := pattern(32, 9, 1)
	ephPub, _ := curve25519.X25519(eph, curve25519.Basepoint)
	shared, _ := curve25519.X25519(eph, bobPub[:])
	key := messageKey(shared, ephPub, bobPub[:])
	for _, c := range []struct {
		name   string
		signed []byte
	}{
		{"over another plaintext", messageSigned(ephPub, bobPub, []byte("other"))},
		{"for another recipient", messageSigned(ephPub, [32]byte{1}, []byte("hello"))},
	} {
		inner := append([]byte(alice.SigningKey()[32:]), ed25519.Sign(alice.SigningKey(), c.signed)...)
		inner = append(inner, "hello"...)
		hdr := append([]byte{msgV1}, ephPub...)
		sealed := newGCM(&key).Seal(bytes.Clone(hdr), chunkNonce[:], inner, hdr)
		if _, _, err := OpenFrom(bobPriv, sealed); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestInboxID(t *testing.T) {
	pub := ed25519.PublicKey(pattern(32, 0, 1))
	want := sha256.Sum256(append([]byte("cairn inbox v1\x00"), pub...))
	if InboxID(pub) != want {
		t.Fatal("InboxID does not follow the formula")
	}
}
