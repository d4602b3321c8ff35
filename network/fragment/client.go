package fragment

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// Client is the client side of the protocol. Each operation takes a
// stream to the peer of its own: an idle one left by an earlier operation
// if there is one, else a new one (dialing the peer if needed), so any
// number may run at once from any goroutines. Streams that ended a request
// cleanly are kept for reuse (up to 8 per peer, see Deadlines.Idle):
// opening a stream costs a multistream negotiation and a handful of small
// frames each way, which for a 100 KiB fragment was ~20 % of the sender's
// and receiver's CPU.
type Client struct {
	rt *proto.Client
	// key signs PUTs, and DELETEs when cert is nil; pub is its public
	// key. A delegate client's key is the delegate's and cert the
	// owner's certificate naming it.
	key  ed25519.PrivateKey
	pub  [ownerSize]byte
	cert *[certSize]byte

	// Deadlines bounds every stream. Set it before the first operation;
	// the zero value is the default. A stream gets 2 × Header plus the
	// body's time, and never outlives the caller's ctx.
	Deadlines Deadlines
	// Now is the clock that stamps PUTs and DELETEs; nil means time.Now.
	// Set it before the first operation.
	Now func() time.Time
}

// NewClient returns a client that opens streams from h and acts for the
// user whose signing key is owner: its PUTs and DELETEs are signed with
// it, and the holder records its public key as an owner of what it PUTs
// (and charges it). owner may be nil for a client that only reads (PUT
// and DELETE then fail with Invalid). The client keeps owner; the caller
// must not modify it.
func NewClient(h host.Host, owner ed25519.PrivateKey) *Client {
	c := &Client{rt: proto.NewClient(h, ProtocolID)}
	if len(owner) == ed25519.PrivateKeySize {
		c.key = owner
		copy(c.pub[:], owner.Public().(ed25519.PublicKey))
	}
	return c
}

// NewDelegateClient returns a client whose PUTs are the owner's without
// the owner's private key: a delegate repairing the owner's chunks
// (network/audit's delegation). cert is the owner's delegation
// certificate (audit.SignCert) naming the public key of delegate; each
// PUT carries it and is signed with delegate, and the holder, once it has
// checked both, records and charges the certificate's owner, so that the
// new fragments' leases and charges are the owner's and the owner's own
// audits renew them. It cannot DELETE (Invalid). Errors: those of
// audit.ParseCert (Invalid, Permission), Invalid for a certificate that
// names another delegate or a bad key; the certificate's time is the
// holder's to judge, at each PUT.
func NewDelegateClient(h host.Host, delegate ed25519.PrivateKey, cert []byte) (*Client, error) {
	const op = "delegate client"
	if len(delegate) != ed25519.PrivateKeySize {
		return nil, storage.E(op, storage.Invalid, errors.New("bad delegate key"))
	}
	ct, err := audit.ParseCert(cert)
	if err != nil {
		return nil, err
	}
	c := &Client{rt: proto.NewClient(h, ProtocolID), key: delegate, cert: (*[certSize]byte)(bytes.Clone(cert))}
	copy(c.pub[:], delegate.Public().(ed25519.PublicKey))
	if ct.Delegate != c.pub {
		return nil, storage.E(op, storage.Invalid, errors.New("the certificate names another delegate"))
	}
	return c, nil
}

// Store returns peer p's store, as seen through this client. It does not
// dial; errors come from its methods and carry the kinds listed in
// PROTOCOL.md: Unavailable for transport failures and deadlines, Canceled
// when ctx is cancelled, NotExist, Quota, Invalid, Corrupt, Permission, IO
// as the peer answers. Get never returns bytes whose root is not the ref.
func (c *Client) Store(p storage.PeerID) storage.FragmentStore {
	return &remote{c: c, p: p}
}

// Info asks peer p how much space it offers and holds.
func (c *Client) Info(ctx context.Context, p storage.PeerID) (Info, error) {
	const op = "fragment info"
	resp, err := c.roundTrip(ctx, op, p, &request{Op: opInfo}, nil, infoBodySize)
	if err != nil {
		return Info{}, err
	}
	if resp.Status != proto.OK {
		return Info{}, statusError(op, p, resp)
	}
	i, err := parseInfo(resp.Body)
	if err != nil {
		return Info{}, storage.Ef(op, storage.Corrupt, p.Short(), err)
	}
	return i, nil
}

type remote struct {
	c *Client
	p storage.PeerID
}

func (r *remote) Put(ctx context.Context, ref storage.Ref, data []byte) error {
	const op = "put fragment"
	if r.c.key == nil {
		return storage.Ef(op, storage.Invalid, ref.Short(), errors.New("client has no owner key: it cannot put"))
	}
	if len(data) > MaxFragment {
		return storage.Ef(op, storage.Invalid, ref.Short(), fmt.Errorf("fragment of %d bytes is over the cap of %d", len(data), MaxFragment))
	}
	server, err := peer.Decode(string(r.p))
	if err != nil {
		return storage.Ef(op, storage.Invalid, r.p.Short(), err)
	}
	req := &request{Op: opPut, Ref: ref, Len: uint32(len(data)), Owner: r.c.pub, Time: r.c.now().Unix()}
	if r.c.cert == nil {
		copy(req.Sig[:], ed25519.Sign(r.c.key, putMessage([]byte(server), ref, req.Len, req.Time)))
	} else {
		req.Op, req.Cert = opPutDelegated, *r.c.cert
		copy(req.Sig[:], ed25519.Sign(r.c.key, delegatedMessage([]byte(server), ref, req.Len, req.Time, req.Cert[:])))
	}
	resp, err := r.c.roundTrip(ctx, op, r.p, req, data, 0)
	if err != nil {
		return err
	}
	if resp.Status != proto.OK {
		return statusError(op, r.p, resp)
	}
	return nil
}

func (r *remote) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	return r.GetToVerified(ctx, nil, ref)
}

// GetToVerified is Get reading the fragment into dst when cap(dst) is
// enough for it (the result then aliases dst; a longer one is allocated):
// a reader that recycles fragment buffers (storage/blob's fetch) neither
// allocates nor zeroes one per fragment. Like Get it returns only bytes
// whose erasure.Root is ref, checked here, in this process, after the
// last byte arrived: a caller need not hash them again. On error the
// contents of dst are unspecified.
func (r *remote) GetToVerified(ctx context.Context, dst []byte, ref storage.Ref) ([]byte, error) {
	const op = "get fragment"
	resp, err := r.c.roundTripTo(ctx, op, r.p, &request{Op: opGet, Ref: ref}, nil, MaxFragment, dst)
	if err != nil {
		return nil, err
	}
	if resp.Status != proto.OK {
		return nil, statusError(op, r.p, resp)
	}
	if erasure.Root(resp.Body) != ref {
		return nil, storage.Ef(op, storage.Corrupt, r.p.Short(), fmt.Errorf("peer sent %d bytes that do not match ref %s", len(resp.Body), ref.Short()))
	}
	return resp.Body, nil
}

func (r *remote) Has(ctx context.Context, ref storage.Ref) (bool, error) {
	const op = "has fragment"
	resp, err := r.c.roundTrip(ctx, op, r.p, &request{Op: opHas, Ref: ref}, nil, 0)
	if err != nil {
		return false, err
	}
	switch resp.Status {
	case proto.OK:
		return true, nil
	case proto.NotFound:
		return false, nil
	}
	return false, statusError(op, r.p, resp)
}

func (r *remote) Delete(ctx context.Context, ref storage.Ref) error {
	const op = "delete fragment"
	if r.c.key == nil || r.c.cert != nil {
		return storage.Ef(op, storage.Invalid, ref.Short(), errors.New("client has no owner key"))
	}
	pid, err := peer.Decode(string(r.p))
	if err != nil {
		return storage.Ef(op, storage.Invalid, r.p.Short(), err)
	}
	req := &request{Op: opDelete, Ref: ref, Owner: r.c.pub, Time: r.c.now().Unix()}
	copy(req.Sig[:], ed25519.Sign(r.c.key, deleteMessage([]byte(pid), ref, req.Time)))
	resp, err := r.c.roundTrip(ctx, op, r.p, req, nil, 0)
	if err != nil {
		return err
	}
	if !proto.Continues(resp.Status) {
		return statusError(op, r.p, resp)
	}
	return nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// statusError turns a refusal from the peer into an error of the mapped
// kind.
func statusError(op string, p storage.PeerID, resp response) error {
	return statuses.Error(op, p, &resp)
}

// CloseIdle closes every stream kept for reuse.
func (c *Client) CloseIdle() { c.rt.CloseIdle() }

// roundTrip sends req followed by body to p and reads the response with a
// body of at most maxBody bytes (proto.Client.RoundTrip). Errors are
// transport or format failures, classified; a refusal is a response with
// its status.
func (c *Client) roundTrip(ctx context.Context, op string, p storage.PeerID, req *request, body []byte, maxBody uint32) (response, error) {
	return c.roundTripTo(ctx, op, p, req, body, maxBody, nil)
}

// roundTripTo is roundTrip reading the response's body into dst when it
// has room (proto.Client.RoundTripTo).
func (c *Client) roundTripTo(ctx context.Context, op string, p storage.PeerID, req *request, body []byte, maxBody uint32, dst []byte) (response, error) {
	req.Version = Version
	d := proto.Deadlines(c.Deadlines.withDefaults())
	head := req.appendHeader(make([]byte, 0, headerSize+maxFields))
	return c.rt.RoundTripTo(ctx, op, p, d, head, body, maxBody, dst)
}
