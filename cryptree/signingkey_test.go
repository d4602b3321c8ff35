package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// The memo of derived signing keys must give the same key as a fresh
// derivation, and a copy the caller may scribble on.
func TestSigningKeyMemo(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	want := ed25519.NewKeyFromSeed(seed)
	a := writerFromSeed(seed, Key{1})
	if !bytes.Equal(a.Sign, want) {
		t.Fatal("first derivation differs from ed25519.NewKeyFromSeed")
	}
	a.Sign[40] ^= 0xff
	b := writerFromSeed(seed, Key{2})
	if !bytes.Equal(b.Sign, want) {
		t.Fatal("a caller's change to its key reached the memo")
	}
	if b.WK != (Key{2}) {
		t.Fatal("WK not taken from the caller")
	}
}
