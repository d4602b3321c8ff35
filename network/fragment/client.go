package fragment

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/streamguard"
	"github.com/cairn-storage/cairn/storage"
)

// Client is the client side of the protocol. Each operation takes a
// stream to the peer of its own: an idle one left by an earlier operation
// if there is one, else a new one (dialing the peer if needed), so any
// number may run at once from any goroutines. Streams that ended a request
// cleanly are kept for reuse (up to maxIdle per peer, see Deadlines.Idle):
// opening a stream costs a multistream negotiation and a handful of small
// frames each way, which for a 100 KiB fragment was ~20 % of the sender's
// and receiver's CPU.
type Client struct {
	h     host.Host
	owner ed25519.PrivateKey
	pub   [ownerSize]byte

	mu   sync.Mutex
	idle map[peer.ID][]idleStream

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

type idleStream struct {
	s     network.Stream
	since time.Time
}

// maxIdle is how many unused streams a client keeps per peer.
const maxIdle = 8

// take returns an idle stream to pid kept for less than maxAge, or nil.
func (c *Client) take(pid peer.ID, maxAge time.Duration) network.Stream {
	var stale []network.Stream
	defer func() {
		for _, s := range stale {
			_ = s.Close()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.idle[pid]
	for len(l) > 0 {
		e := l[len(l)-1]
		l = l[:len(l)-1]
		if time.Since(e.since) < maxAge {
			c.idle[pid] = l
			return e.s
		}
		stale = append(stale, e.s)
	}
	delete(c.idle, pid)
	return nil
}

// keep puts s back for reuse, or closes it if pid has enough idle streams.
func (c *Client) keep(pid peer.ID, s network.Stream) {
	c.mu.Lock()
	if c.idle == nil {
		c.idle = map[peer.ID][]idleStream{}
	}
	l := c.idle[pid]
	if len(l) < maxIdle {
		c.idle[pid] = append(l, idleStream{s, time.Now()})
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	_ = s.Close()
}

// CloseIdle closes every stream kept for reuse.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, l := range idle {
		for _, e := range l {
			_ = e.s.Close()
		}
	}
}

// roundTrip sends req followed by body to p on a stream of its own (an
// idle one if there is one) and reads the response with a body of at most
// maxBody bytes. Errors are transport or format failures, classified; a
// refusal is a response with its status. A reused stream that fails before
// any response arrives (the server closed it meanwhile) is replaced by a
// new one, once: every request is idempotent.
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
	if s := c.take(pid, d.Idle*2/3); s != nil {
		resp, answered, err := c.exchange(ctx, op, p, pid, s, req, body, maxBody, d)
		if err == nil || answered || ctx.Err() != nil {
			return resp, err
		}
	}
	octx, cancel := context.WithTimeout(ctx, d.Header)
	s, err := c.h.NewStream(octx, pid, ProtocolID)
	cancel()
	if err != nil {
		return response{}, streamguard.Classify(ctx, op, p, err)
	}
	resp, _, err := c.exchange(ctx, op, p, pid, s, req, body, maxBody, d)
	return resp, err
}

// exchange is one request and response on s; answered reports whether a
// response header arrived. s is kept for reuse after an ok or not-found
// answer, and reset or closed otherwise.
func (c *Client) exchange(ctx context.Context, op string, p storage.PeerID, pid peer.ID, s network.Stream, req *request, body []byte, maxBody uint32, d Deadlines) (resp response, answered bool, err error) {
	g := streamguard.New(ctx, s, 2*d.Header+d.body(len(body))-d.Header)
	defer g.Done()

	if _, err := s.Write(req.appendHeader(make([]byte, 0, headerSize+ownerSize+8+sigSize))); err != nil {
		return response{}, false, g.Fail(op, p, err)
	}
	// The body goes out while the response is awaited: a server that
	// refuses early answers before reading it, and the reset below then
	// stops the write.
	werr := make(chan error, 1)
	if len(body) > 0 {
		go func() {
			_, err := s.Write(body)
			werr <- err
		}()
	} else {
		werr <- nil
	}
	resp, err = readResponseHeader(s, maxBody)
	if err != nil {
		err = g.Fail(op, p, err)
		<-werr
		return response{}, false, err
	}
	if resp.Status != statusOK && (resp.Status != statusNotFound || resp.Len > 0) {
		_ = s.Reset()
		<-werr
		return resp, true, nil
	}
	if err := <-werr; err != nil {
		return response{}, true, g.Fail(op, p, err)
	}
	if resp.Len > 0 {
		g.Extend(d.body(int(resp.Len)))
		if resp.Body, err = readBody(s, int(resp.Len)); err != nil {
			return response{}, true, g.Fail(op, p, err)
		}
	}
	if !g.Release() {
		return resp, true, nil // the deadline or the caller reset s meanwhile
	}
	_ = s.SetDeadline(time.Time{})
	c.keep(pid, s)
	return resp, true, nil
}
