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
	hs := leaseCluster(ctx, t, lease)
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
	auditUntilCollected(ctx, t, ac, hs[1], kept, left, lease)
	if err := ac.Audit(ctx, holder, left, 4); !errors.Is(err, storage.NotExist) {
		t.Fatalf("audit of a collected fragment: %v", err)
	}
	if err := ac.Audit(ctx, holder, kept, 4); err != nil {
		t.Fatalf("the audited fragment was collected too: %v", err)
	}
	if got := hs[1].DB.Fragments().Bytes(); got != 40<<10 {
		t.Fatalf("after the lease ran out the holder keeps %d bytes, want %d", got, 40<<10)
	}
}

// A delegate the owner named audits the owner's fragments on real
// holders, and its audits renew the owner's leases: an audited fragment
// stays while one nobody audits is collected. Its repairs' PUTs name the
// owner, so the owner's own audits find them. Without a certificate, with
// an expired one, or after the owner's REVOKE, it gets Permission; and
// only owners of something on a holder may write a revocation there.
func TestDelegatedAuditsRenewOwnersLeases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const lease = 3 * time.Second
	hs := leaseCluster(ctx, t, lease)
	owner := ed25519.NewKeyFromSeed(make([]byte, 32))
	var ownerPub [32]byte
	copy(ownerPub[:], owner.Public().(ed25519.PublicKey))
	delegate := ed25519.NewKeyFromSeed(append(make([]byte, 31), 2))
	holder := hs[1].Net.ID()
	fc := fragment.NewClient(hs[0].Net.Host(), owner)
	kept, keptData := storetest.Fragment(1, 40<<10) // audited by the delegate: kept
	left, leftData := storetest.Fragment(2, 30<<10) // never audited: collected
	for _, f := range []struct {
		ref  storage.Ref
		data []byte
	}{{kept, keptData}, {left, leftData}} {
		if err := fc.Store(holder).Put(ctx, f.ref, f.data); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := audit.SignCert(owner, delegate.Public().(ed25519.PublicKey), time.Now().Add(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	short, err := audit.SignCert(owner, delegate.Public().(ed25519.PublicKey), time.Now().Add(2*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	// The delegate runs on another node than the owner's.
	plain := audit.NewClient(hs[2].Net.Host(), delegate)
	dc, err := plain.Delegated(cert)
	if err != nil {
		t.Fatal(err)
	}
	shortc, err := plain.Delegated(short)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Audit(ctx, holder, kept, 4); !errors.Is(err, storage.Permission) {
		t.Fatalf("the delegate without a certificate: %v, want Permission", err)
	}
	if err := shortc.Audit(ctx, holder, kept, 1); err != nil {
		t.Fatalf("under a certificate of 2 s: %v", err)
	}
	auditUntilCollected(ctx, t, dc, hs[1], kept, left, lease)
	if ok, err := hs[1].Fragments.IsOwner(ctx, kept, ownerPub); err != nil || !ok {
		t.Fatalf("the delegate's audits did not keep the owner's lease: %v, %v", ok, err)
	}
	if err := dc.Audit(ctx, holder, left, 1); !errors.Is(err, storage.NotExist) {
		t.Fatalf("a delegated audit of a collected fragment: %v, want NotExist (a failed audit)", err)
	}
	if err := shortc.Audit(ctx, holder, kept, 1); !errors.Is(err, storage.Permission) {
		t.Fatalf("under an expired certificate: %v, want Permission", err)
	}
	// A repair's PUT by the delegate, on behalf of the owner: the
	// owner's lease and charge, renewed by the owner's audits and the
	// delegate's.
	fixed, fixedData := storetest.Fragment(3, 20<<10)
	dput, err := fragment.NewDelegateClient(hs[2].Net.Host(), delegate, cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := dput.Store(holder).Put(ctx, fixed, fixedData); err != nil {
		t.Fatalf("the delegate's put for the owner: %v", err)
	}
	if ok, err := hs[1].Fragments.IsOwner(ctx, fixed, ownerPub); err != nil || !ok {
		t.Fatalf("the delegate's put is not the owner's: %v, %v", ok, err)
	}
	if err := audit.NewClient(hs[0].Net.Host(), owner).Audit(ctx, holder, fixed, 2); err != nil {
		t.Fatalf("the owner's audit of the delegate's put: %v", err)
	}
	if err := dc.Audit(ctx, holder, fixed, 2); err != nil {
		t.Fatalf("the delegate's audit of its put: %v", err)
	}
	// Revocation: strangers (the delegate keeps nothing here) may not
	// write one; the owner's voids the certificate.
	if err := plain.Revoke(ctx, holder, 1<<62); !errors.Is(err, storage.Permission) {
		t.Fatalf("a revocation by a key that keeps nothing here: %v, want Permission", err)
	}
	oc := audit.NewClient(hs[0].Net.Host(), owner)
	if err := oc.Revoke(ctx, holder, 1); err != nil {
		t.Fatalf("the owner's revocation: %v", err)
	}
	if err := dc.Audit(ctx, holder, kept, 1); !errors.Is(err, storage.Permission) {
		t.Fatalf("under a revoked certificate: %v, want Permission", err)
	}
	// The revocation voids the delegate's PUTs there too, and an expired
	// certificate carries none.
	other, otherData := storetest.Fragment(4, 10<<10)
	if err := dput.Store(holder).Put(ctx, other, otherData); !errors.Is(err, storage.Permission) {
		t.Fatalf("a put under a revoked certificate: %v, want Permission", err)
	}
	sput, err := fragment.NewDelegateClient(hs[2].Net.Host(), delegate, short)
	if err != nil {
		t.Fatal(err)
	}
	if err := sput.Store(hs[0].Net.ID()).Put(ctx, other, otherData); !errors.Is(err, storage.Permission) {
		t.Fatalf("a put under an expired certificate: %v, want Permission", err)
	}
	// Holders the owner did not tell still answer: revocation is per
	// holder (the certificate's not-after bounds the rest).
	if err := fc.Store(hs[2].Net.ID()).Put(ctx, kept, keptData); err != nil {
		t.Fatal(err)
	}
	d2, err := audit.NewClient(hs[1].Net.Host(), delegate).Delegated(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Audit(ctx, hs[2].Net.ID(), kept, 1); err != nil {
		t.Fatalf("a holder that was not sent the revocation: %v", err)
	}
	// A new certificate with a higher serial works again.
	cert2, err := audit.SignCert(owner, delegate.Public().(ed25519.PublicKey), time.Now().Add(time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	dc2, err := plain.Delegated(cert2)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc2.Audit(ctx, holder, kept, 1); err != nil {
		t.Fatalf("under a new certificate, serial 2: %v", err)
	}
	dput2, err := fragment.NewDelegateClient(hs[2].Net.Host(), delegate, cert2)
	if err != nil {
		t.Fatal(err)
	}
	if err := dput2.Store(holder).Put(ctx, other, otherData); err != nil {
		t.Fatalf("a put under a new certificate, serial 2: %v", err)
	}
	if ok, err := hs[1].Fragments.IsOwner(ctx, other, ownerPub); err != nil || !ok {
		t.Fatalf("the delegate's put under serial 2 is not the owner's: %v, %v", ok, err)
	}
}

// leaseCluster starts three holders with a short lease, checked often,
// that see each other; they are closed when the test ends.
func leaseCluster(ctx context.Context, t *testing.T, lease time.Duration) []*Holder {
	t.Helper()
	hs, err := StartCluster(ctx, t.TempDir(), 3, func(ctx context.Context, i int, c Config) (*Holder, error) {
		c.Contribute, c.Grace = 1<<30, 1<<30
		c.Lease, c.LeaseCheck = lease, 200*time.Millisecond
		return Start(ctx, c)
	}, (*Holder).Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { CloseAll(hs) })
	if _, err := hs[0].Net.WaitPeers(ctx, fragment.ProtocolID, 2, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return hs
}

// auditUntilCollected audits kept on h with ac every half second until
// the lease of left, which nobody renews, has run out there (at most four
// leases): every audit of kept must pass meanwhile.
func auditUntilCollected(ctx context.Context, t *testing.T, ac *audit.Client, h *Holder, kept, left storage.Ref, lease time.Duration) {
	t.Helper()
	deadline := time.Now().Add(4 * lease)
	for time.Now().Before(deadline) {
		if err := ac.Audit(ctx, h.Net.ID(), kept, 4); err != nil {
			t.Fatalf("audit of a kept fragment: %v", err)
		}
		if ok, _ := h.DB.Fragments().Has(ctx, left); !ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("a fragment nobody renewed is still held after %v (lease %v)", 4*lease, lease)
}
