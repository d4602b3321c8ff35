package fragment

import (
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage/storetest"
)

// fakeClock is a settable clock for the service.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func pub(k ed25519.PrivateKey) (p [32]byte) { copy(p[:], k.Public().(ed25519.PublicKey)); return }

func TestLeases(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Now()}
	acct := &account{}
	hs := mockHosts(t, 3)
	e := newEnv(t, hs, ServiceConfig{Admit: acct, Now: clock.now})
	e.client.Now = clock.now // PUTs are signed for a time in the window
	alices := e.remote()
	bc := NewClient(hs[2], bob)
	bc.Now = clock.now
	bobs := bc.Store(e.peer)
	refA, dataA := storetest.Fragment(41, 7000) // alice's alone
	refS, dataS := storetest.Fragment(42, 5000) // both keep it
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(alices.Put(ctx, refA, dataA))
	must(alices.Put(ctx, refS, dataS))
	must(bobs.Put(ctx, refS, dataS))
	lease := 30 * 24 * time.Hour

	// Twenty days on, alice renews refA by an audit, bob refS by a PUT
	// again; alice's lease on refS is left to run out.
	clock.add(20 * 24 * time.Hour)
	if ok, err := e.srv.Renew(ctx, refA, pub(alice), clock.now()); !ok || err != nil {
		t.Fatalf("Renew of alice's fragment: %v, %v", ok, err)
	}
	if ok, _ := e.srv.Renew(ctx, refA, pub(bob), clock.now()); ok {
		t.Fatal("bob renewed a lease he does not hold")
	}
	must(bobs.Put(ctx, refS, dataS))
	if got := acct.of(bob); got != 5000 {
		t.Fatalf("bob's renewing PUT charged him again: %d", got)
	}

	// Fifteen days more: only alice's lease on refS is over 30 days old.
	clock.add(15 * 24 * time.Hour)
	got, err := e.srv.Expire(ctx, clock.now().Add(-lease))
	must(err)
	if got.Leases != 1 || got.Fragments != 0 {
		t.Fatalf("Expire after 35 days: %+v, want one lease and no fragment", got)
	}
	if acct.of(alice) != 7000 || acct.of(bob) != 5000 {
		t.Fatalf("charges after the expiry: alice %d, bob %d; want 7000 and 5000", acct.of(alice), acct.of(bob))
	}
	if ok, _ := e.srv.IsOwner(ctx, refS, pub(alice)); ok {
		t.Fatal("alice still an owner of refS after her lease ran out")
	}
	if ok, _ := e.srv.IsOwner(ctx, refS, pub(bob)); !ok {
		t.Fatal("bob's lease went with alice's")
	}

	// Another month with no renewal: everything goes, and is released.
	clock.add(31 * 24 * time.Hour)
	got, err = e.srv.Expire(ctx, clock.now().Add(-lease))
	must(err)
	if got.Leases != 2 || got.Fragments != 2 || got.Bytes != 12000 {
		t.Fatalf("second Expire: %+v, want 2 leases, 2 fragments, 12000 bytes", got)
	}
	if e.store.Len() != 0 || acct.of(alice) != 0 || acct.of(bob) != 0 {
		t.Fatalf("after the leases ran out: %d fragments held, alice charged %d, bob %d", e.store.Len(), acct.of(alice), acct.of(bob))
	}
	if got, _ := e.srv.Expire(ctx, clock.now()); got != (Expired{}) {
		t.Fatalf("Expire with nothing left: %+v", got)
	}
}
