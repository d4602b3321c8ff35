package holder

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/audit"
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

// A holder answers audits of what it keeps for the fragment's owner only;
// audits renew the owner's lease; a lease left to run out is collected,
// and the bytes held for others fall back.
func TestAuditsRenewLeases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const lease = 3 * time.Second
	hs, err := StartCluster(ctx, t.TempDir(), 3, func(ctx context.Context, i int, c Config) (*Holder, error) {
		c.Contribute, c.Grace = 1<<30, 1<<30
		c.Lease, c.LeaseCheck = lease, 200*time.Millisecond
		return Start(ctx, c)
	}, (*Holder).Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { CloseAll(hs) }()
	if _, err := hs[0].Net.WaitPeers(ctx, fragment.ProtocolID, 2, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	owner := ed25519.NewKeyFromSeed(make([]byte, 32))
	stranger := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	holder := hs[1].Net.ID()
	fc := fragment.NewClient(hs[0].Net.Host(), owner)
	kept, keptData := storetest.Fragment(1, 40<<10) // audited: kept
	left, leftData := storetest.Fragment(2, 30<<10) // never audited: collected
	for _, f := range []struct {
		ref  storage.Ref
		data []byte
	}{{kept, keptData}, {left, leftData}} {
		if err := fc.Store(holder).Put(ctx, f.ref, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if got := hs[1].DB.Fragments().Bytes(); got != 70<<10 {
		t.Fatalf("holder keeps %d bytes, want %d", got, 70<<10)
	}
	ac := audit.NewClient(hs[0].Net.Host(), owner)
	if err := audit.NewClient(hs[2].Net.Host(), stranger).Audit(ctx, holder, kept, 4); !errors.Is(err, storage.Permission) {
		t.Fatalf("a stranger's audit: %v, want Permission", err)
	}
	deadline := time.Now().Add(4 * lease)
	for time.Now().Before(deadline) {
		if err := ac.Audit(ctx, holder, kept, 4); err != nil {
			t.Fatalf("audit of a kept fragment: %v", err)
		}
		if ok, _ := hs[1].DB.Fragments().Has(ctx, left); !ok {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ok, _ := hs[1].DB.Fragments().Has(ctx, left); ok {
		t.Fatalf("a fragment nobody renewed is still held after %v (lease %v)", 4*lease, lease)
	}
	if err := ac.Audit(ctx, holder, left, 4); !errors.Is(err, storage.Permission) && !audit.Failed(err) {
		t.Fatalf("audit of a collected fragment: %v", err)
	}
	if err := ac.Audit(ctx, holder, kept, 4); err != nil {
		t.Fatalf("the audited fragment was collected too: %v", err)
	}
	if got := hs[1].DB.Fragments().Bytes(); got != 40<<10 {
		t.Fatalf("after the lease ran out the holder keeps %d bytes, want %d", got, 40<<10)
	}
}
