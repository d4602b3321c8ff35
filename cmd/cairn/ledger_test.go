package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// TestLedgerSurvivesRestart: a storage peer charges what it keeps to the
// fragment's owner, whichever peer sends it, once per fragment; the
// account is in its database and survives a restart; a delete releases
// it.
func TestLedgerSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	ident, err := network.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	start := func(dir string, ident []byte) *node {
		t.Helper()
		n, err := startNode(ctx, nodeConfig{
			Home: dir, Identity: ident, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
			Contribute: 1 << 30, Grace: 1 << 20,
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	srv := start(dir, ident)
	defer func() { srv.Close() }()
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	name := fragment.OwnerName(owner.Public().(ed25519.PublicKey))

	// The same owner on two devices (two transport peers).
	var devs []*node
	var stores []storage.FragmentStore
	for range 2 {
		id, err := network.NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		dev := start(t.TempDir(), id)
		defer dev.Close()
		c := fragment.NewClient(dev.net.Host(), owner)
		t.Cleanup(c.CloseIdle)
		devs = append(devs, dev)
		stores = append(stores, c.Store(storage.PeerID(srv.net.ID())))
	}
	meet := func() {
		for _, d := range devs {
			d.net.Host().Peerstore().AddAddrs(srv.net.Host().ID(), srv.net.Host().Addrs(), peerstore.PermanentAddrTTL)
		}
	}
	meet()
	ref, data := storetest.Fragment(41, 50000)
	for i, st := range stores {
		if err := st.Put(ctx, ref, data); err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
	}
	if h := srv.ledger.Held(name); h != int64(len(data)) {
		t.Fatalf("two devices' puts of one fragment charged %d, want %d", h, len(data))
	}

	// Restart the storage peer on the same database and identity.
	srv.Close()
	srv = start(dir, ident)
	if h := srv.ledger.Held(name); h != int64(len(data)) {
		t.Fatalf("after a restart the ledger holds %d, want %d", h, len(data))
	}
	meet()
	if err := stores[1].Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if h := srv.ledger.Held(name); h != 0 {
		t.Fatalf("after the delete the ledger holds %d", h)
	}
	srv.Close()
	srv = start(dir, ident)
	if h := srv.ledger.Held(name); h != 0 {
		t.Fatalf("after the delete and a restart the ledger holds %d", h)
	}
}
