package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

var delegateKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'d'}, 32))

// certOf signs a certificate by from for to with any times (SignCert
// refuses the bad ones this test needs).
func certOf(from ed25519.PrivateKey, to ed25519.PublicKey, notAfter time.Time, serial uint64) []byte {
	c := Cert{NotAfter: notAfter.Unix(), Serial: serial}
	copy(c.Owner[:], from.Public().(ed25519.PublicKey))
	copy(c.Delegate[:], to)
	copy(c.Sig[:], ed25519.Sign(from, c.message()))
	b, _ := c.MarshalBinary()
	return b
}

// asDelegate is a client of key that audits under cert, whatever cert
// says (Delegated checks it first).
func (e *env) asDelegate(key ed25519.PrivateKey, cert []byte) *Client {
	c := NewClient(e.h, key)
	c.cert = cert
	return c
}

// A delegate with the owner's certificate audits the owner's fragments
// and renews the owner's leases; every other certificate is refused.
func TestDelegatedAudits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ref := e.put(t, 5, 40<<10)
	dpub := delegateKey.Public().(ed25519.PublicKey)
	cert, err := SignCert(owner, dpub, time.Now().Add(time.Hour), 5)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := NewClient(e.h, delegateKey).Delegated(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Audit(ctx, e.holder, ref, 4); err != nil {
		t.Fatalf("the delegate's audit: %v", err)
	}
	if len(e.owners) != 1 || !bytes.Equal(e.owners[0][:], owner.Public().(ed25519.PublicKey)) {
		t.Fatalf("the delegated audit renewed %x, want the owner's lease", e.owners)
	}
	// The client refuses what it can see is wrong.
	if _, err := NewClient(e.h, stranger).Delegated(cert); !errors.Is(err, storage.Permission) {
		t.Fatalf("a client of another key under the cert: %v", err)
	}
	if _, err := SignCert(owner, dpub, time.Now().Add(MaxValidity+time.Hour), 1); !errors.Is(err, storage.Invalid) {
		t.Fatalf("signing a cert for longer than %v: %v", MaxValidity, err)
	}
	forged := bytes.Clone(cert)
	forged[CertSize-1] ^= 1
	longer := bytes.Clone(cert)
	longer[72]++ // not after, one second later: the signature no longer holds
	refused := map[string]*Client{
		"no certificate":         NewClient(e.h, delegateKey),
		"another's certificate":  e.asDelegate(stranger, cert),
		"a forged certificate":   e.asDelegate(delegateKey, forged),
		"an altered certificate": e.asDelegate(delegateKey, longer),
		"an expired certificate": e.asDelegate(delegateKey, certOf(owner, dpub, time.Now().Add(-time.Second), 5)),
		"a 100-day certificate":  e.asDelegate(delegateKey, certOf(owner, dpub, time.Now().Add(100*24*time.Hour), 5)),
		"a stranger's delegate":  e.asDelegate(delegateKey, certOf(stranger, dpub, time.Now().Add(time.Hour), 5)),
		"a self-signed delegate": e.asDelegate(delegateKey, certOf(delegateKey, dpub, time.Now().Add(time.Hour), 5)),
	}
	for name, c := range refused {
		if err := c.Audit(ctx, e.holder, ref, 1); !errors.Is(err, storage.Permission) {
			t.Errorf("%s: %v, want Permission", name, err)
		}
	}
	if len(e.renew) != 1 {
		t.Fatalf("refused audits renewed leases: %d renewals", len(e.renew))
	}
}

// REVOKE voids the owner's certificates up to a serial, never lowers it,
// and only an owner of something here may write one.
func TestRevoke(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ref := e.put(t, 6, 20<<10)
	dpub := delegateKey.Public().(ed25519.PublicKey)
	dc := e.asDelegate(delegateKey, certOf(owner, dpub, time.Now().Add(time.Hour), 5))
	oc := NewClient(e.h, owner)
	if err := NewClient(e.h, stranger).Revoke(ctx, e.holder, 100); !errors.Is(err, storage.Permission) {
		t.Fatalf("a stranger's revocation: %v", err)
	}
	if err := oc.Revoke(ctx, e.holder, 4); err != nil {
		t.Fatal(err)
	}
	if err := dc.Audit(ctx, e.holder, ref, 1); err != nil {
		t.Fatalf("serial 5 after revoking up to 4: %v", err)
	}
	if err := oc.Revoke(ctx, e.holder, 5); err != nil {
		t.Fatal(err)
	}
	if err := dc.Audit(ctx, e.holder, ref, 1); !errors.Is(err, storage.Permission) {
		t.Fatalf("serial 5 after revoking up to 5: %v", err)
	}
	if err := oc.Revoke(ctx, e.holder, 2); err != nil {
		t.Fatal(err)
	}
	if err := dc.Audit(ctx, e.holder, ref, 1); !errors.Is(err, storage.Permission) {
		t.Fatalf("a lower revocation lowered the serial: %v", err)
	}
	if err := e.asDelegate(delegateKey, certOf(owner, dpub, time.Now().Add(time.Hour), 6)).Audit(ctx, e.holder, ref, 1); err != nil {
		t.Fatalf("a new certificate, serial 6: %v", err)
	}
	// A REVOKE from another time is refused; the signature binds the
	// serial.
	oc.now = func() time.Time { return time.Now().Add(-2 * Window) }
	if err := oc.Revoke(ctx, e.holder, 9); !errors.Is(err, storage.Invalid) {
		t.Fatalf("an old revocation: %v", err)
	}
	r := request{Op: opRevoke, Serial: 9, Time: time.Now().Unix()}
	server, _ := rawID(e.holder)
	r.sign(owner, server)
	r.Serial = 10
	if r.verify(server) {
		t.Fatal("a revocation whose serial changed still verifies")
	}
}

func FuzzParseCert(f *testing.F) {
	f.Add(certOf(owner, delegateKey.Public().(ed25519.PublicKey), time.Unix(1702592000, 0), 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCert(b)
		if err != nil {
			return
		}
		if again, _ := c.MarshalBinary(); !bytes.Equal(again, b) {
			t.Fatal("a certificate that parses re-encodes differently")
		}
	})
}
