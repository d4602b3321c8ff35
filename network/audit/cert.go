package audit

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// Delegation. An owner that will be offline names a delegate (its own
// always-on box, a friend) by signing a Cert with its user key, the key
// its fragment PUTs name as owner. The delegate then audits the owner's
// fragments with PROVE-DELEGATED, and an answered delegated audit renews
// the owner's lease, as the owner's own audit would. A Cert is void after
// NotAfter (at most MaxValidity ahead: a delegate of an owner who never
// comes back stops renewing within that), and sooner at every holder the
// owner sent a REVOKE of its serial (Client.Revoke).

// CertSize is the size of a delegation certificate.
const CertSize = 1 + 32 + 32 + 8 + 8 + 64

// CertVersion is the first byte of a certificate.
const CertVersion = 1

// MaxValidity is the longest a certificate may run: a holder refuses one
// whose NotAfter is further than this (and Window) ahead of its clock.
const MaxValidity = 90 * 24 * time.Hour

const certDomain = "cairn/audit/1 delegate\x00"

// Cert is a delegation certificate: Owner lets Delegate audit, until
// NotAfter, the fragments that holders keep for Owner.
type Cert struct {
	Owner    [32]byte // Ed25519 public key of the owner, who signs
	Delegate [32]byte // Ed25519 public key of the delegate
	NotAfter int64    // Unix seconds: void after this
	Serial   uint64   // the owner's number for it: REVOKE voids serials up to one
	Sig      [64]byte
}

// SignCert returns the certificate, encoded, by which owner delegates its
// audits to delegate until notAfter, numbered serial. notAfter must be in
// the future and at most MaxValidity ahead.
func SignCert(owner ed25519.PrivateKey, delegate ed25519.PublicKey, notAfter time.Time, serial uint64) ([]byte, error) {
	const op = "sign delegation"
	if len(owner) != ed25519.PrivateKeySize || len(delegate) != ed25519.PublicKeySize {
		return nil, storage.E(op, storage.Invalid, errors.New("bad key"))
	}
	now := time.Now()
	if !notAfter.After(now) || notAfter.After(now.Add(MaxValidity)) {
		return nil, storage.E(op, storage.Invalid, fmt.Errorf("not after %v: must be within %v from now", notAfter, MaxValidity))
	}
	c := Cert{NotAfter: notAfter.Unix(), Serial: serial}
	copy(c.Owner[:], owner.Public().(ed25519.PublicKey))
	copy(c.Delegate[:], delegate)
	copy(c.Sig[:], ed25519.Sign(owner, c.message()))
	return c.MarshalBinary()
}

// signed is the certificate's bytes before its signature.
func (c *Cert) signed() []byte {
	b := make([]byte, 0, CertSize)
	b = append(b, CertVersion)
	b = append(b, c.Owner[:]...)
	b = append(b, c.Delegate[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.NotAfter))
	return binary.BigEndian.AppendUint64(b, c.Serial)
}

// message is what the owner signs: the domain, an empty server (a
// certificate is good at every holder), and the certificate's bytes up to
// its signature.
func (c *Cert) message() []byte { return proto.SignedMessage(certDomain, nil, c.signed()) }

// MarshalBinary encodes c: version ‖ owner ‖ delegate ‖ not after ‖
// serial ‖ signature (PROTOCOL.md).
func (c *Cert) MarshalBinary() ([]byte, error) { return append(c.signed(), c.Sig[:]...), nil }

// ParseCert decodes a certificate and checks its owner's signature; it
// does not look at the time (Valid does). Errors are storage.Invalid
// (format) and storage.Permission (signature).
func ParseCert(b []byte) (*Cert, error) {
	const op = "parse delegation"
	if len(b) != CertSize {
		return nil, storage.E(op, storage.Invalid, fmt.Errorf("%d bytes, want %d", len(b), CertSize))
	}
	if b[0] != CertVersion {
		return nil, storage.E(op, storage.Invalid, fmt.Errorf("unknown version %d", b[0]))
	}
	c := &Cert{
		NotAfter: int64(binary.BigEndian.Uint64(b[65:73])),
		Serial:   binary.BigEndian.Uint64(b[73:81]),
	}
	copy(c.Owner[:], b[1:33])
	copy(c.Delegate[:], b[33:65])
	copy(c.Sig[:], b[81:CertSize])
	if c.NotAfter < 0 {
		return nil, storage.E(op, storage.Invalid, errors.New("negative time"))
	}
	if !ed25519.Verify(ed25519.PublicKey(c.Owner[:]), c.message(), c.Sig[:]) {
		return nil, storage.E(op, storage.Permission, errors.New("bad signature"))
	}
	return c, nil
}

// Valid reports why c is not good at now: expired, or running longer
// ahead than MaxValidity (with Window for clock skew). nil if it is good.
func (c *Cert) Valid(now time.Time) error {
	t := time.Unix(c.NotAfter, 0)
	switch {
	case now.After(t):
		return fmt.Errorf("delegation expired at %v", t.UTC())
	case t.After(now.Add(MaxValidity + Window)):
		return fmt.Errorf("delegation runs until %v, more than %v ahead", t.UTC(), MaxValidity)
	}
	return nil
}
