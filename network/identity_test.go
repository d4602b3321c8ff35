package network

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/cairn-storage/cairn/storage"
)

func TestIdentity(t *testing.T) {
	a, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	ida, err := IdentityPeerID(a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := IdentityPeerID(a)
	idb, _ := IdentityPeerID(b)
	if ida != again || ida == idb || ida == "" {
		t.Fatalf("ids %q %q %q", ida, again, idb)
	}

	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpBytes, err := crypto.MarshalPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string][]byte{
		"nil":       nil,
		"garbage":   []byte("not a key"),
		"truncated": a[:len(a)-1],
		"secp256k1": secpBytes,
		"huge":      make([]byte, 1<<20),
	} {
		if _, err := IdentityPeerID(key); !errors.Is(err, storage.Invalid) {
			t.Errorf("%s: err = %v, want Kind Invalid", name, err)
		}
	}
}

func TestNodeIDMatchesIdentity(t *testing.T) {
	key, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	want, err := IdentityPeerID(key)
	if err != nil {
		t.Fatal(err)
	}
	if n := newNode(t, Config{Identity: key}); n.ID() != want {
		t.Fatalf("node ID %s, identity says %s", n.ID(), want)
	}
}

func FuzzIdentityPeerID(f *testing.F) {
	key, err := NewIdentity()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01, 0x12, 0x40})
	f.Add(key[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := IdentityPeerID(b)
		if err != nil {
			if !errors.Is(err, storage.Invalid) {
				t.Fatalf("error of wrong kind: %v", err)
			}
			return
		}
		if id == "" {
			t.Fatal("empty id without error")
		}
	})
}
