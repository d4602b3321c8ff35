package fragment

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// account is an Admitter that admits all and counts what it holds per
// owner.
type account struct {
	mu   sync.Mutex
	held map[string]int64
}

func (a *account) Admit(_ context.Context, owner string, n int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		a.held = map[string]int64{}
	}
	a.held[owner] += n
	return nil
}

func (a *account) Release(_ context.Context, owner string, n int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held[owner] -= n
	return nil
}

func (a *account) of(key ed25519.PrivateKey) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[OwnerName(key.Public().(ed25519.PublicKey))]
}

func TestAdmissionByOwner(t *testing.T) {
	ctx := t.Context()
	acct := &account{}
	hs := mockHosts(t, 4)
	e := newEnv(t, hs, ServiceConfig{Admit: acct})
	ref1, data1 := storetest.Fragment(31, 6000)
	ref2, data2 := storetest.Fragment(32, 5000)
	// Alice from two devices (two transport peers), and Bob.
	alice1 := e.client.Store(e.peer)
	alice2 := NewClient(hs[2], alice).Store(e.peer)
	bobs := NewClient(hs[3], bob).Store(e.peer)
	want := func(what string, a, b int64) {
		t.Helper()
		if acct.of(alice) != a || acct.of(bob) != b {
			t.Fatalf("%s: alice charged %d, bob %d; want %d and %d", what, acct.of(alice), acct.of(bob), a, b)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(alice1.Put(ctx, ref1, data1))
	want("first put", 6000, 0)
	must(alice1.Put(ctx, ref1, data1))
	want("the same put again", 6000, 0)
	must(alice2.Put(ctx, ref1, data1))
	want("the same fragment from her other peer", 6000, 0)
	must(alice2.Put(ctx, ref2, data2))
	want("another fragment from her other peer", 11000, 0)
	must(bobs.Put(ctx, ref1, data1))
	want("bob keeps the same fragment", 11000, 6000)

	must(alice1.Delete(ctx, ref1))
	want("alice deletes it", 5000, 6000)
	if ok, _ := e.store.Has(ctx, ref1); !ok {
		t.Fatal("bob's fragment went with alice's delete")
	}
	wantKind(t, "alice deletes it again", alice2.Delete(ctx, ref1), storage.Permission)
	want("alice deletes it again", 5000, 6000)
	must(bobs.Delete(ctx, ref1))
	want("bob deletes it", 5000, 0)
	must(alice1.Delete(ctx, ref2))
	want("alice deletes the other", 0, 0)
	if e.store.Len() != 0 {
		t.Fatalf("%d fragments left", e.store.Len())
	}
}

// failingStore fails every Put.
type failingStore struct{ storage.FragmentStore }

func (failingStore) Put(context.Context, storage.Ref, []byte) error {
	return storage.E("put", storage.IO, errors.New("disk full"))
}

func TestFailedPutNotCharged(t *testing.T) {
	ctx := t.Context()
	ref, data := storetest.Fragment(33, 6000)
	_, other := storetest.Fragment(34, 6000)

	acct := &account{}
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: acct})
	wantKind(t, "body not matching its ref", e.remote().Put(ctx, ref, other), storage.Invalid)
	if n := acct.of(alice); n != 0 {
		t.Fatalf("a refused body charged %d", n)
	}

	// A client that sends half the body and goes away.
	s, err := e.hosts[1].NewStream(ctx, e.hosts[0].ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	req := putRequest(alice, e.server.ID(), ref, uint32(len(data)), time.Now().Unix())
	_, _ = s.Write(append(req.appendHeader(nil), data[:1000]...))
	if !waitFor(3*time.Second, func() bool { return acct.of(alice) == 6000 }) {
		t.Fatal("the put was not admitted")
	}
	_ = s.Reset()
	if !waitFor(3*time.Second, func() bool { return acct.of(alice) == 0 }) {
		t.Fatalf("an aborted put left %d charged", acct.of(alice))
	}

	acct2 := &account{}
	e2 := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: acct2, Store: failingStore{e.store}})
	wantKind(t, "store failure", e2.remote().Put(ctx, ref, data), storage.IO)
	if n := acct2.of(alice); n != 0 {
		t.Fatalf("a put the store failed charged %d", n)
	}
	if ok, _ := e2.owners.Get(ctx, ownerKey(ref, &req.Owner)); ok != nil {
		t.Fatal("an owner was recorded for a fragment not stored")
	}
	// Over capacity: refused before admission.
	e3 := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: acct2, Capacity: 100})
	wantKind(t, "over capacity", e3.remote().Put(ctx, ref, data), storage.Quota)
	if n := acct2.of(alice); n != 0 {
		t.Fatalf("a put over capacity charged %d", n)
	}
}

func TestConcurrentDuplicatePutsChargedOnce(t *testing.T) {
	ctx := t.Context()
	acct := &account{}
	hs := mockHosts(t, 4)
	e := newEnv(t, hs, ServiceConfig{Admit: acct})
	ref, data := storetest.Fragment(35, 20000)
	var wg sync.WaitGroup
	for _, h := range hs[1:] {
		c := NewClient(h, alice).Store(e.peer)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Put(ctx, ref, data); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if n := acct.of(alice); n != 20000 {
		t.Fatalf("12 concurrent puts of one fragment by one owner charged %d, want 20000", n)
	}
}
