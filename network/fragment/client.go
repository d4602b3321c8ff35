package fragment

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/streamguard"
	"github.com/cairn-storage/cairn/storage"
)

// Client is the client side of the protocol. Each operation opens its own
// stream to the peer (dialing it if needed), so any number may run at once
// from any goroutines.
type Client struct {
	h     host.Host
	owner ed25519.PrivateKey
	pub   [ownerSize]byte

	// Deadlines bounds every stream. Set it before the first operation;
	// the zero value is the default. A stream gets 2 × Header plus the
	// body's time, and never outlives the caller's ctx.
	Deadlines Deadlines
	// Now is the clock that stamps DELETEs; nil means time.Now. Set it
	// before the first operation.
	Now func() time.Time
}

// NewClient returns a client that opens streams from h and acts for the
// user whose signing key is owner: PUTs record its public key as an
// owner of the fragment, DELETEs are signed with it. owner may be nil for
// a client that only reads (PUT and DELETE then fail with Invalid). The
// client keeps owner; the caller must not modify it.
func NewClient(h host.Host, owner ed25519.PrivateKey) *Client {
	c := &Client{h: h}
	if len(owner) == ed25519.PrivateKeySize {
		c.owner = owner
		copy(c.pub[:], owner.Public().(ed25519.PublicKey))
	}
	return c
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
	if resp.Status != statusOK {
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
	if r.c.owner == nil {
		return storage.Ef(op, storage.Invalid, ref.Short(), errors.New("client has no owner key"))
	}
	if len(data) > MaxFragment {
		return storage.Ef(op, storage.Invalid, ref.Short(), fmt.Errorf("fragment of %d bytes is over the cap of %d", len(data), MaxFragment))
	}
	req := &request{Op: opPut, Ref: ref, Len: uint32(len(data)), Owner: r.c.pub}
	resp, err := r.c.roundTrip(ctx, op, r.p, req, data, 0)
	if err != nil {
		return err
	}
	if resp.Status != statusOK {
		return statusError(op, r.p, resp)
	}
	return nil
}

func (r *remote) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	const op = "get fragment"
	resp, err := r.c.roundTrip(ctx, op, r.p, &request{Op: opGet, Ref: ref}, nil, MaxFragment)
	if err != nil {
		return nil, err
	}
	if resp.Status != statusOK {
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
	case statusOK:
		return true, nil
	case statusNotFound:
		return false, nil
	}
	return false, statusError(op, r.p, resp)
}

func (r *remote) Delete(ctx context.Context, ref storage.Ref) error {
	const op = "delete fragment"
	if r.c.owner == nil {
		return storage.Ef(op, storage.Invalid, ref.Short(), errors.New("client has no owner key"))
	}
	pid, err := peer.Decode(string(r.p))
	if err != nil {
		return storage.Ef(op, storage.Invalid, r.p.Short(), err)
	}
	now := time.Now
	if r.c.Now != nil {
		now = r.c.Now
	}
	req := &request{Op: opDelete, Ref: ref, Owner: r.c.pub, Time: now().Unix()}
	copy(req.Sig[:], ed25519.Sign(r.c.owner, deleteMessage([]byte(pid), ref, req.Time)))
	resp, err := r.c.roundTrip(ctx, op, r.p, req, nil, 0)
	if err != nil {
		return err
	}
	if resp.Status != statusOK && resp.Status != statusNotFound {
		return statusError(op, r.p, resp)
	}
	return nil
}

// statusError turns a refusal from the peer into an error of the mapped
// kind. The peer's message is quoted: it is untrusted text.
func statusError(op string, p storage.PeerID, resp response) error {
	k := resp.Status.kind()
	var err error
	switch {
	case resp.Msg != "":
		err = fmt.Errorf("peer says %s", strconv.QuoteToGraphic(resp.Msg))
	case k == storage.Other:
		err = fmt.Errorf("unknown status %d", resp.Status)
	default:
		err = k
	}
	return storage.Ef(op, k, p.Short(), err)
}

// roundTrip opens a stream to p, sends req followed by body, and reads the
// response with a body of at most maxBody bytes. Errors are transport or
// format failures, classified; a refusal is a response with its status.
func (c *Client) roundTrip(ctx context.Context, op string, p storage.PeerID, req *request, body []byte, maxBody uint32) (response, error) {
	if err := ctx.Err(); err != nil {
		return response{}, storage.Ef(op, storage.Canceled, p.Short(), err)
	}
	pid, err := peer.Decode(string(p))
	if err != nil {
		return response{}, storage.Ef(op, storage.Invalid, p.Short(), err)
	}
	d := c.Deadlines.withDefaults()
	req.Version = Version

	octx, cancel := context.WithTimeout(ctx, d.Header)
	s, err := c.h.NewStream(octx, pid, ProtocolID)
	cancel()
	if err != nil {
		return response{}, streamguard.Classify(ctx, op, p, err)
	}
	g := streamguard.New(ctx, s, 2*d.Header+d.body(len(body))-d.Header)
	defer g.Done()

	if _, err := s.Write(req.appendHeader(make([]byte, 0, headerSize+ownerSize+8+sigSize))); err != nil {
		return response{}, g.Fail(op, p, err)
	}
	// The body goes out while the response is awaited: a server that
	// refuses early answers before reading it, and the reset below then
	// stops the write.
	werr := make(chan error, 1)
	if len(body) > 0 {
		go func() {
			_, err := s.Write(body)
			if err == nil {
				err = s.CloseWrite()
			}
			werr <- err
		}()
	} else {
		werr <- s.CloseWrite()
	}
	resp, err := readResponseHeader(s, maxBody)
	if err != nil {
		err = g.Fail(op, p, err)
		<-werr
		return response{}, err
	}
	if resp.Status != statusOK {
		_ = s.Reset()
		<-werr
		return resp, nil
	}
	if err := <-werr; err != nil {
		return response{}, g.Fail(op, p, err)
	}
	if resp.Len > 0 {
		g.Extend(d.body(int(resp.Len)))
		if resp.Body, err = readBody(s, int(resp.Len)); err != nil {
			return response{}, g.Fail(op, p, err)
		}
	}
	_ = s.Close()
	return resp, nil
}
