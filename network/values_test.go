package network

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/storage"
)

// toyValidator accepts value = seq (8 bytes) ‖ Ed25519 signature by key
// over the key and seq; Select takes the highest seq, ties to the bytewise
// larger value.
type toyValidator struct{ pub ed25519.PublicKey }

var toyKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func toyValue(priv ed25519.PrivateKey, key string, seq uint64) []byte {
	v := binary.BigEndian.AppendUint64(nil, seq)
	return append(v, ed25519.Sign(priv, append([]byte(key), v...))...)
}

func (tv toyValidator) Validate(key string, value []byte) error {
	if len(value) != 8+ed25519.SignatureSize {
		return fmt.Errorf("toy value of %d bytes", len(value))
	}
	if !ed25519.Verify(tv.pub, append([]byte(key), value[:8]...), value[8:]) {
		return errors.New("bad toy signature")
	}
	return nil
}

func (toyValidator) Select(_ string, values [][]byte) (int, error) {
	best := -1
	for i, v := range values {
		if len(v) < 8 {
			return 0, errors.New("short value")
		}
		if best < 0 {
			best = i
			continue
		}
		a, b := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(values[best])
		if a > b || a == b && bytes.Compare(v, values[best]) > 0 {
			best = i
		}
	}
	if best < 0 {
		return 0, errors.New("no values")
	}
	return best, nil
}

func seqOf(v []byte) uint64 { return binary.BigEndian.Uint64(v) }

func TestKeyNamespace(t *testing.T) {
	for _, c := range []struct {
		key, ns string
		ok      bool
	}{
		{"/cairn-folder/abc", "cairn-folder", true},
		{"/a/b/c", "a", true},
		{"cairn-folder/abc", "", false},
		{"//abc", "", false},
		{"/abc", "", false},
		{"/abc/", "", false},
		{"", "", false},
	} {
		ns, err := KeyNamespace(c.key)
		if (err == nil) != c.ok || ns != c.ns {
			t.Errorf("KeyNamespace(%q) = %q, %v", c.key, ns, err)
		}
		if err != nil && !errors.Is(err, storage.Invalid) {
			t.Errorf("KeyNamespace(%q): %v is not Invalid", c.key, err)
		}
	}
}

func TestValidatorConfigErrors(t *testing.T) {
	for _, vs := range []map[string]Validator{
		{"": toyValidator{}},
		{"a/b": toyValidator{}},
		{"pk": toyValidator{}},
		{"ipns": toyValidator{}},
		{"toy": nil},
	} {
		id, err := NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(context.Background(), Config{Identity: id, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Validators: vs})
		if err == nil {
			n.Close()
			t.Fatalf("New with validators %v: no error", vs)
		}
		if !errors.Is(err, storage.Invalid) {
			t.Fatalf("New with validators %v: %v, want Invalid", vs, err)
		}
	}
}

func TestDHTSelectTieToIncoming(t *testing.T) {
	v := dhtValidator{toyValidator{}}
	a := toyValue(toyKey, "/toy/x", 3)
	if i, err := v.Select("/toy/x", [][]byte{bytes.Clone(a), a}); err != nil || i != 0 {
		t.Fatalf("Select(identical) = %d, %v; want 0", i, err)
	}
	if i, err := v.Select("/toy/x", [][]byte{toyValue(toyKey, "/toy/x", 1), a}); err != nil || i != 1 {
		t.Fatalf("Select(older, newer) = %d, %v; want 1", i, err)
	}
}

// TestValuesNoRollback runs three real nodes on 127.0.0.1: a newer value
// replaces an older one, an older one is refused by every peer, a forged
// one is refused locally and by the peers.
func TestValuesNoRollback(t *testing.T) {
	vs := map[string]Validator{"toy": toyValidator{toyKey.Public().(ed25519.PublicKey)}}
	a := newNode(t, Config{Validators: vs})
	b := newNode(t, Config{Validators: vs, Bootstrap: a.Addrs()})
	c := newNode(t, Config{Validators: vs, Bootstrap: a.Addrs()})
	nodes := []*Node{a, b, c}
	waitFor(t, 15*time.Second, "routing tables of 2", func() bool {
		for _, n := range nodes {
			if n.dht.RoutingTable().Size() < 2 {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const key = "/toy/folder"
	everywhere := func(what string, want uint64) {
		t.Helper()
		for i, n := range nodes {
			v, err := n.GetValue(ctx, key)
			if err != nil || seqOf(v) != want {
				t.Fatalf("%s: node %d GetValue = seq %d, %v; want seq %d", what, i, seqOf(v), err, want)
			}
		}
	}

	if _, err := a.GetValue(ctx, key); !errors.Is(err, storage.NotExist) {
		t.Fatalf("GetValue before any put: %v, want NotExist", err)
	}
	if err := a.PutValue(ctx, key, toyValue(toyKey, key, 2)); err != nil {
		t.Fatal(err)
	}
	everywhere("after seq 2", 2)

	// Seq 1 after seq 2: every peer refuses it.
	err := b.PutValue(ctx, key, toyValue(toyKey, key, 1))
	if !errors.Is(err, storage.Unavailable) {
		t.Fatalf("PutValue(seq 1) after seq 2: %v, want Unavailable (every peer refused)", err)
	}
	// And straight on the DHT wire, peer by peer.
	pm, err := dhtpb.NewProtocolMessenger(c.dht.MessageSender())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*recpb.Record{
		{Key: []byte(key), Value: toyValue(toyKey, key, 1)},                                              // stale
		{Key: []byte(key), Value: toyValue(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), key, 9)}, // forged
		{Key: []byte(key), Value: []byte("junk")},                                                        // malformed
	} {
		for _, p := range []peer.ID{a.h.ID(), b.h.ID()} {
			if err := pm.PutValue(ctx, p, rec); err == nil {
				t.Fatalf("peer %s took value seq %d (%d bytes)", p, seqOf(rec.Value), len(rec.Value))
			}
		}
	}
	forged := toyValue(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), key, 9)
	if err := c.PutValue(ctx, key, forged); !errors.Is(err, storage.Invalid) {
		t.Fatalf("PutValue(forged): %v, want Invalid", err)
	}
	everywhere("after refused puts", 2)

	// Republishing the same value is fine; a newer one replaces it.
	if err := a.PutValue(ctx, key, toyValue(toyKey, key, 2)); err != nil {
		t.Fatalf("republish seq 2: %v", err)
	}
	if err := c.PutValue(ctx, key, toyValue(toyKey, key, 3)); err != nil {
		t.Fatal(err)
	}
	everywhere("after seq 3", 3)

	if err := a.PutValue(ctx, "/other/x", []byte("x")); !errors.Is(err, storage.Invalid) {
		t.Fatalf("PutValue in an unknown namespace: %v, want Invalid", err)
	}
	if _, err := a.GetValue(ctx, "/other/x"); !errors.Is(err, storage.Invalid) {
		t.Fatalf("GetValue in an unknown namespace: %v, want Invalid", err)
	}
}

func TestPutValueAlone(t *testing.T) {
	vs := map[string]Validator{"toy": toyValidator{toyKey.Public().(ed25519.PublicKey)}}
	a := newNode(t, Config{Validators: vs})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.PutValue(ctx, "/toy/k", toyValue(toyKey, "/toy/k", 1)); !errors.Is(err, storage.Unavailable) {
		t.Fatalf("PutValue with no peers: %v, want Unavailable", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if err := a.PutValue(cctx, "/toy/k", toyValue(toyKey, "/toy/k", 1)); !errors.Is(err, storage.Canceled) {
		t.Fatalf("PutValue with a cancelled ctx: %v, want Canceled", err)
	}
}

func FuzzKeyNamespace(f *testing.F) {
	for _, k := range []string{"/cairn-folder/abc", "/a/", "//x", "", "/"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ns, err := KeyNamespace(key)
		if err != nil {
			return
		}
		if ns == "" || !strings.HasPrefix(key, "/"+ns+"/") || len(key) <= len(ns)+2 || strings.Contains(ns, "/") {
			t.Fatalf("KeyNamespace(%q) = %q", key, ns)
		}
	})
}
