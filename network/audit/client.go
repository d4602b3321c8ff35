package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// Client audits holders on behalf of one auditor key (the owner's, or a
// delegate's). Safe for concurrent use.
type Client struct {
	c    *proto.Client
	key  ed25519.PrivateKey
	cert []byte // a delegate's: its audits are PROVE-DELEGATED under it
	now  func() time.Time
	t    *traffic
}

// traffic counts what a client's audits moved, shared with its
// delegated copies.
type traffic struct{ sent, received, audits atomic.Int64 }

// NewClient returns a client that signs its audits with key.
func NewClient(h host.Host, key ed25519.PrivateKey) *Client {
	return &Client{c: proto.NewClient(h, ProtocolID), key: key, now: time.Now, t: &traffic{}}
}

// Traffic is what this client's audits (and its Delegated copies') have
// sent and received since it was made: requests and answer bodies (the
// protocol's frame headers, a few bytes each, and the transport's
// framing are not counted), and how many audits were answered.
func (c *Client) Traffic() (sent, received, audits int64) {
	return c.t.sent.Load(), c.t.received.Load(), c.t.audits.Load()
}

// Delegated returns a client that audits for the owner of cert (SignCert)
// as its delegate: c's key must be the one cert names, and the audits are
// PROVE-DELEGATED, answered where the owner keeps the fragment and
// renewing the owner's leases. It shares c's streams. Errors: those of
// ParseCert, storage.Permission for a cert naming another delegate,
// storage.Invalid for one that is void at this clock.
func (c *Client) Delegated(cert []byte) (*Client, error) {
	const op = "delegated audits"
	ct, err := ParseCert(cert)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(ct.Delegate[:], c.key.Public().(ed25519.PublicKey)) {
		return nil, storage.E(op, storage.Permission, errors.New("the delegation names another delegate"))
	}
	if err := ct.Valid(c.now()); err != nil {
		return nil, storage.E(op, storage.Invalid, err)
	}
	d := *c
	d.cert = bytes.Clone(cert)
	return &d, nil
}

// Revoke tells holder p that every delegation certificate of c's key
// (the owner's) with a serial up to serial is void there: its delegated
// audits are refused from now on. A holder keeps the highest serial it
// was told, so a lower one changes nothing. Errors: storage.Permission
// when p keeps nothing for this owner (only owners may write there),
// Unavailable, Invalid (a clock more than Window off).
func (c *Client) Revoke(ctx context.Context, p storage.PeerID, serial uint64) error {
	const op = "revoke"
	server, err := rawID(p)
	if err != nil {
		return err
	}
	req := request{Op: opRevoke, Serial: serial, Time: c.now().Unix()}
	req.sign(c.key, server)
	resp, err := c.c.RoundTrip(ctx, op, p, Deadlines, req.append(nil), nil, 0)
	if err != nil {
		return err
	}
	if resp.Status != proto.OK {
		return statuses.Error(op, p, &resp)
	}
	return nil
}

// Audit asks holder p to prove that it holds fragment ref: leaves (1 to
// MaxLeaves) leaves picked by a fresh nonce, each with its Merkle path to
// ref, which is the fragment's root. It returns nil only when every proof
// checks out. The error says what happened, and Failed tells an audit the
// holder failed (it lost the fragment or answered wrong: storage.NotExist,
// storage.Corrupt) from one that could not be made (storage.Unavailable,
// storage.Canceled: the holder is away, which counts against its
// availability, not its honesty; storage.Permission: this auditor may not
// audit there).
func (c *Client) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref, leaves int) error {
	const op = "audit"
	if leaves < 1 || leaves > MaxLeaves {
		return storage.E(op, storage.Invalid, fmt.Errorf("%d leaves (1 to %d)", leaves, MaxLeaves))
	}
	server, err := rawID(p)
	if err != nil {
		return err
	}
	req := request{Op: opProve, Ref: ref, Leaves: uint8(leaves), Time: c.now().Unix()}
	if c.cert != nil {
		req.Op = opProveDelegated
		copy(req.Cert[:], c.cert)
	}
	if _, err := rand.Read(req.Nonce[:]); err != nil {
		return storage.E(op, storage.IO, err)
	}
	req.sign(c.key, server)
	wire := req.append(nil)
	resp, err := c.c.RoundTrip(ctx, op, p, Deadlines, wire, nil, maxBody)
	if err != nil {
		return err
	}
	c.t.sent.Add(int64(len(wire)))
	c.t.received.Add(int64(len(resp.Body)))
	c.t.audits.Add(1)
	if resp.Status != proto.OK {
		return statuses.Error(op, p, &resp)
	}
	proofs, err := parseProofs(resp.Body, leaves)
	if err != nil {
		return storage.Ef(op, storage.Corrupt, p.Short(), err)
	}
	for j, pr := range proofs {
		want := Indices(req.Nonce, ref, pr.Size, leaves)[j]
		if pr.Index != want || !pr.Verify(ref) {
			return storage.Ef(op, storage.Corrupt, p.Short(),
				fmt.Errorf("proof %d of %d does not check out: the holder does not have the fragment's bytes", j+1, leaves))
		}
	}
	return nil
}

// Failed reports whether err (from Audit) is an audit the holder failed,
// as opposed to one that could not be made.
func Failed(err error) bool {
	return errors.Is(err, storage.NotExist) || errors.Is(err, storage.Corrupt)
}

// DefaultLeaves is how many leaves the daemon's audits ask for: one. An
// audit is mostly its leaf (8 KiB of the fragment and its Merkle path,
// about 8.5 KB on the wire with the request), and the daemon audits every
// fragment about daily, so each leaf costs some 33 MB of traffic a day per
// GB stored (1.6 GB of fragments at 10+6, ~3,900 fragments of 420 KiB);
// eight would cost 270 MB. Detection adds up over the days instead: a
// holder that kept a share s of a fragment passes n daily audits with
// odds s^n (half kept: caught within a week with odds 99 %), and one that
// lost it all fails the first.
const DefaultLeaves = 1

// Auditor is Audit with a fixed number of leaves, as a storage.Auditor.
func (c *Client) Auditor(leaves int) storage.Auditor { return auditor{c, leaves} }

type auditor struct {
	c      *Client
	leaves int
}

func (a auditor) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	return a.c.Audit(ctx, p, ref, a.leaves)
}
