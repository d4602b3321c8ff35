package fragment

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

var (
	mallory = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'m'}, 32))
	dave    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'d'}, 32)) // alice's delegate
)

// graceAccount is an account that admits at most limit bytes per owner:
// a holder's grace.
type graceAccount struct {
	account
	limit int64
}

func (a *graceAccount) Admit(ctx context.Context, owner string, n int64) error {
	a.mu.Lock()
	over := a.held[owner]+n > a.limit
	a.mu.Unlock()
	if over {
		return storage.E("admit", storage.Quota, fmt.Errorf("%s is over its grace", owner))
	}
	return a.account.Admit(ctx, owner, n)
}

// nothingCharged fails unless no owner holds anything in acct and the
// service recorded no owner and stored nothing.
func nothingCharged(t *testing.T, what string, e *env, acct *account) {
	t.Helper()
	acct.mu.Lock()
	defer acct.mu.Unlock()
	for o, n := range acct.held {
		if n != 0 {
			t.Fatalf("%s: %s charged %d", what, o, n)
		}
	}
	records := 0
	_ = e.owners.Scan(t.Context(), []byte("fragment/owner/"), func(_, _ []byte) error { records++; return nil })
	if e.store.Len() != 0 || records != 0 {
		t.Fatalf("%s: %d fragments, %d owner records", what, e.store.Len(), records)
	}
}

func TestPutSignature(t *testing.T) {
	ctx := t.Context()
	acct := &account{}
	hs := mockHosts(t, 3)
	e := newEnv(t, hs, ServiceConfig{Admit: acct})
	ref, data := storetest.Fragment(51, 3000)
	other, _ := storetest.Fragment(52, 3000)
	now := time.Now().Unix()
	n := uint32(len(data))
	send := func(what string, head []byte, want proto.Status) {
		t.Helper()
		if want == proto.OK { // a refusal comes before the body is read
			head = append(head, data...)
		}
		resp, err := rawExchange(t, hs[1], hs[0].ID(), head)
		if err != nil || resp.Status != want {
			t.Fatalf("%s: %+v, %v; want status %d", what, resp, err, want)
		}
	}
	good := signedPut(alice, hs[0].ID(), ref, n, now)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	send("a flipped bit in the signature", bad, proto.Permission)
	// Bob signs a PUT that names alice: the signature is not hers.
	r := putRequest(bob, hs[0].ID(), ref, n, now)
	r.Owner = pub(alice)
	send("another key's signature", r.appendHeader(nil), proto.Permission)
	send("signed for another server", signedPut(alice, hs[2].ID(), ref, n, now), proto.Permission)
	// The signature covers the ref and the length.
	r = putRequest(alice, hs[0].ID(), other, n, now)
	r.Ref = ref
	send("signed for another ref", r.appendHeader(nil), proto.Permission)
	r = putRequest(alice, hs[0].ID(), ref, n+1, now)
	r.Len = n
	send("signed for another length", r.appendHeader(nil), proto.Permission)
	for _, skew := range []int64{-6 * 60, 6 * 60} {
		send(fmt.Sprintf("signed %ds off", skew), signedPut(alice, hs[0].ID(), ref, n, now+skew), proto.Invalid)
	}
	nothingCharged(t, "refused puts", e, acct)

	// A client whose clock is off, one without a key, a reader's.
	skewed := NewClient(hs[1], alice)
	skewed.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	wantKind(t, "put with a skewed clock", skewed.Store(e.peer).Put(ctx, ref, data), storage.Invalid)
	wantKind(t, "put without a key", NewClient(hs[1], nil).Store(e.peer).Put(ctx, ref, data), storage.Invalid)
	nothingCharged(t, "refused clients", e, acct)

	// The real one, replayed within the window: stored once, charged once.
	send("a signed put", good, proto.OK)
	send("the same put replayed", good, proto.OK)
	if acct.of(alice) != int64(n) {
		t.Fatalf("alice charged %d for one fragment put twice, want %d", acct.of(alice), n)
	}
}

// TestHostileCannotCharge: Mallory may name Alice's key as the owner of
// her PUTs, and she may make up keys, but Alice's grace is untouched
// and every made-up key needs a signature of its own.
func TestHostileCannotCharge(t *testing.T) {
	ctx := t.Context()
	acct := &graceAccount{limit: 10000}
	hs := mockHosts(t, 3)
	e := newEnv(t, hs, ServiceConfig{Admit: acct})
	for i := range 4 {
		ref, data := storetest.Fragment(uint64(60+i), 6000)
		r := putRequest(mallory, hs[0].ID(), ref, uint32(len(data)), time.Now().Unix())
		r.Owner = pub(alice)
		// Refused before the body: the header alone gets the answer.
		resp, err := rawExchange(t, hs[2], hs[0].ID(), r.appendHeader(nil))
		if err != nil || resp.Status != proto.Permission {
			t.Fatalf("mallory's put in alice's name: %+v, %v", resp, err)
		}
	}
	nothingCharged(t, "mallory's puts in alice's name", e, &acct.account)
	// Mallory's own key is charged for her own PUTs, within her grace.
	ms := NewClient(hs[2], mallory).Store(e.peer)
	ref, data := storetest.Fragment(70, 6000)
	if err := ms.Put(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	ref2, data2 := storetest.Fragment(71, 6000)
	wantKind(t, "mallory over her grace", ms.Put(ctx, ref2, data2), storage.Quota)
	if acct.of(mallory) != 6000 || acct.of(alice) != 0 {
		t.Fatalf("mallory charged %d, alice %d; want 6000 and 0", acct.of(mallory), acct.of(alice))
	}
	// Alice still has her whole grace.
	as := e.remote()
	for i := range 2 {
		ref, data := storetest.Fragment(uint64(80+i), 5000)
		if err := as.Put(ctx, ref, data); err != nil {
			t.Fatalf("alice's put %d after mallory's: %v", i, err)
		}
	}
	if acct.of(alice) != 10000 {
		t.Fatalf("alice charged %d, want 10000", acct.of(alice))
	}
}

// revocations is a Revoked hook: serials up to through[owner] are void.
type revocations map[[32]byte]uint64

func (r revocations) revoked(_ context.Context, owner [32]byte, serial uint64) (bool, error) {
	through, ok := r[owner]
	return ok && serial <= through, nil
}

func TestDelegatedPut(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Now()}
	acct := &account{}
	hs := mockHosts(t, 3)
	revoked := revocations{}
	e := newEnv(t, hs, ServiceConfig{Admit: acct, Now: clock.now, Revoked: revoked.revoked})
	e.client.Now = clock.now
	cert, err := audit.SignCert(alice, dave.Public().(ed25519.PublicKey), time.Now().Add(time.Hour), 3)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := NewDelegateClient(hs[2], dave, cert)
	if err != nil {
		t.Fatal(err)
	}
	dc.Now = clock.now
	ds := dc.Store(e.peer)
	ref, data := storetest.Fragment(90, 4000)
	if err := ds.Put(ctx, ref, data); err != nil {
		t.Fatalf("the delegate's put: %v", err)
	}
	if acct.of(alice) != 4000 || acct.of(dave) != 0 {
		t.Fatalf("delegated put: alice charged %d, dave %d; want 4000 and 0", acct.of(alice), acct.of(dave))
	}
	if ok, _ := e.srv.IsOwner(ctx, ref, pub(alice)); !ok {
		t.Fatal("the delegated put is not alice's")
	}
	if ok, _ := e.srv.IsOwner(ctx, ref, pub(dave)); ok {
		t.Fatal("the delegate was recorded as an owner")
	}
	if err := ds.Put(ctx, ref, data); err != nil || acct.of(alice) != 4000 {
		t.Fatalf("the delegate's put again: %v, alice charged %d", err, acct.of(alice))
	}
	wantKind(t, "a delegate's delete", ds.Delete(ctx, ref), storage.Invalid)
	// The owner's own delete of it releases the charge.
	if err := e.remote().Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	nothingCharged(t, "after alice's delete", e, acct)

	ref2, data2 := storetest.Fragment(91, 4000)
	refuse := func(what string, c *Client, want storage.Kind) {
		t.Helper()
		c.Now = clock.now
		wantKind(t, what, c.Store(e.peer).Put(ctx, ref2, data2), want)
		nothingCharged(t, what, e, acct)
	}
	// Forged: mallory's certificate with alice's key put in as owner.
	mcert, err := audit.SignCert(mallory, dave.Public().(ed25519.PublicKey), time.Now().Add(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDelegateClient(hs[2], dave, mcert[:len(mcert)-1]); storage.KindOf(err) != storage.Invalid {
		t.Fatalf("a delegate client of a short certificate: %v", err)
	}
	alicePub := pub(alice)
	forged := bytes.Clone(mcert)
	copy(forged[1:33], alicePub[:])
	if _, err := NewDelegateClient(hs[2], dave, forged); storage.KindOf(err) != storage.Permission {
		t.Fatalf("a delegate client of a forged certificate: %v", err)
	}
	fc, err := NewDelegateClient(hs[2], dave, mcert)
	if err != nil {
		t.Fatal(err)
	}
	copy(fc.cert[1:33], alicePub[:]) // what a hostile client would send
	refuse("a forged certificate", fc, storage.Permission)
	// Another delegate's certificate, signed by the delegate it names
	// not: mallory sends the PUT under dave's certificate.
	if _, err := NewDelegateClient(hs[2], mallory, cert); storage.KindOf(err) != storage.Invalid {
		t.Fatalf("a delegate client of another delegate's certificate: %v", err)
	}
	oc, err := NewDelegateClient(hs[2], dave, cert)
	if err != nil {
		t.Fatal(err)
	}
	oc.key, oc.pub = mallory, pub(mallory)
	refuse("another delegate's certificate", oc, storage.Permission)
	// A certificate the owner revoked here, then an expired one.
	revoked[pub(alice)] = 3
	refuse("a revoked certificate", dc, storage.Permission)
	delete(revoked, pub(alice))
	clock.add(2 * time.Hour)
	refuse("an expired certificate", dc, storage.Permission)
	// A server that takes no delegated PUTs.
	e2 := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: acct})
	dc2, err := NewDelegateClient(e2.hosts[1], dave, cert)
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, "a server without revocations", dc2.Store(e2.peer).Put(ctx, ref2, data2), storage.Permission)
	nothingCharged(t, "a server without revocations", e2, acct)
}
