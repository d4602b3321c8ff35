package holder

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// A cluster of real holders finds itself and keeps fragments for others;
// one whose store lies is caught by the reader's check; a restarted
// holder keeps what it held.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	const n = 5
	var liar *storetest.Faulty
	hs, err := StartCluster(ctx, dir, n, func(ctx context.Context, i int, c Config) (*Holder, error) {
		c.Contribute, c.Grace = 1<<30, 1<<30
		if i == n-1 {
			c.WrapStore = func(s storage.FragmentStore) storage.FragmentStore {
				liar = storetest.NewFaulty(s, storetest.Faults{CorruptRate: 1})
				return liar
			}
		}
		return Start(ctx, c)
	}, (*Holder).Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { CloseAll(hs) }()
	for i, h := range hs {
		ps, err := h.Net.WaitPeers(ctx, fragment.ProtocolID, n-1, 20*time.Second)
		if err != nil || len(ps) < n-1 {
			t.Fatalf("holder %d sees %d storage peers, %v", i, len(ps), err)
		}
	}
	owner := ed25519.NewKeyFromSeed(make([]byte, 32))
	fc := fragment.NewClient(hs[0].Net.Host(), owner)
	ref, data := storetest.Fragment(1, 50<<10)
	for i, h := range hs[1:] {
		s := fc.Store(h.Net.ID())
		if err := s.Put(ctx, ref, data); err != nil {
			t.Fatalf("put on holder %d: %v", i+1, err)
		}
		got, err := s.Get(ctx, ref)
		switch {
		case h == hs[n-1]:
			if !errors.Is(err, storage.Corrupt) {
				t.Fatalf("the lying holder: %v", err)
			}
		case err != nil || string(got) != string(data):
			t.Fatalf("get from holder %d: %v", i+1, err)
		}
	}
	if liar.Counts().Corrupted == 0 {
		t.Fatal("the liar never lied")
	}
	// Restart holder 1 on its database: the fragment is still there.
	hs[1].Close()
	ident, err := network.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Start(ctx, Config{Dir: filepath.Join(dir, "peer-01"), Identity: ident, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Contribute: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	hs[1] = h
	if ok, err := h.DB.Fragments().Has(ctx, ref); err != nil || !ok {
		t.Fatalf("after a restart: held %v, %v", ok, err)
	}
	// A second holder on the same database is refused with a clear error.
	if _, err := Start(ctx, Config{Dir: filepath.Join(dir, "peer-01"), Identity: ident}); !errors.Is(err, ErrOpenDatabase) {
		t.Fatalf("a second holder on one database: %v", err)
	}
}
