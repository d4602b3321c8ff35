package proto

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairn-storage/cairn/network/internal/streamguard"
	"github.com/cairn-storage/cairn/storage"
)

// MaxIdle is how many unused streams a client keeps per peer.
const MaxIdle = 8

// Client is the client side of one protocol's request lifecycle: each
// round trip takes a stream of its own, an idle one left by an earlier
// request if there is one (and Deadlines.Idle allows reuse), else a new
// one, so any number may run at once from any goroutines. Streams that
// ended a request with ok or not found are kept for reuse, up to MaxIdle
// per peer: opening a stream costs a multistream negotiation and a
// handful of small frames each way.
type Client struct {
	h     host.Host
	proto protocol.ID

	mu   sync.Mutex
	idle map[peer.ID][]idleStream
}

type idleStream struct {
	s     network.Stream
	since time.Time
}

// NewClient returns a client that opens streams of protocol id from h.
func NewClient(h host.Host, id protocol.ID) *Client {
	return &Client{h: h, proto: id}
}

// RoundTrip sends head, then body, to p and reads the response, whose
// body may be at most maxBody bytes. The body is written while the
// response is awaited: a server that refuses early answers before reading
// it, and the reset that follows a refusal stops the write. A refusal
// (any status but OK) comes back as the Response, with a nil error; an
// error is a transport or format failure, classified (Unavailable,
// Canceled, Corrupt). A reused stream that fails before a response header
// arrives (the server closed it meanwhile) is replaced by a new one,
// once: the protocol's requests must be idempotent.
func (c *Client) RoundTrip(ctx context.Context, op string, p storage.PeerID, d Deadlines, head, body []byte, maxBody uint32) (Response, error) {
	return c.RoundTripTo(ctx, op, p, d, head, body, maxBody, nil)
}

// RoundTripTo is RoundTrip reading the response's body into dst when it
// has room for it (ReadBodyTo), so that a caller recycling buffers (the
// fragment client's GETs) does not allocate and zero one per response.
// The response's Body then aliases dst.
func (c *Client) RoundTripTo(ctx context.Context, op string, p storage.PeerID, d Deadlines, head, body []byte, maxBody uint32, dst []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, storage.Ef(op, storage.Canceled, p.Short(), err)
	}
	pid, err := peer.Decode(string(p))
	if err != nil {
		return Response{}, storage.Ef(op, storage.Invalid, p.Short(), err)
	}
	if d.Idle > 0 {
		if s := c.take(pid, d.Idle*2/3); s != nil {
			resp, answered, err := c.exchange(ctx, op, p, pid, s, d, head, body, maxBody, dst)
			if err == nil || answered || ctx.Err() != nil {
				return resp, err
			}
		}
	}
	octx, cancel := context.WithTimeout(ctx, d.Header)
	s, err := c.h.NewStream(octx, pid, c.proto)
	cancel()
	if err != nil {
		return Response{}, streamguard.Classify(ctx, op, p, err)
	}
	resp, _, err := c.exchange(ctx, op, p, pid, s, d, head, body, maxBody, dst)
	return resp, err
}

// exchange is one request and response on s; answered reports whether a
// response header arrived. s is kept for reuse after an ok or not-found
// answer without a body left unread, and reset or closed otherwise.
func (c *Client) exchange(ctx context.Context, op string, p storage.PeerID, pid peer.ID, s network.Stream, d Deadlines, head, body []byte, maxBody uint32, dst []byte) (resp Response, answered bool, err error) {
	limit := d.Header
	if d.MinRate > 0 {
		limit += d.Body(len(body)) // the request's header and body, then the response's header
	}
	g := streamguard.New(ctx, s, limit)
	defer g.Done()

	if _, err := s.Write(head); err != nil {
		return Response{}, false, g.Fail(op, p, err)
	}
	werr := make(chan error, 1)
	if len(body) > 0 {
		go func() {
			_, err := s.Write(body)
			werr <- err
		}()
	} else {
		werr <- nil
	}
	resp, err = ReadResponseHeader(s, maxBody)
	if err != nil {
		err = g.Fail(op, p, err)
		<-werr
		return Response{}, false, err
	}
	if !Continues(resp.Status) || resp.Status == NotFound && resp.Len > 0 {
		_ = s.Reset()
		<-werr
		return resp, true, nil
	}
	if err := <-werr; err != nil {
		return Response{}, true, g.Fail(op, p, err)
	}
	if resp.Len > 0 {
		if d.MinRate > 0 {
			g.Extend(d.Body(int(resp.Len)))
		}
		if resp.Body, err = ReadBodyTo(s, dst, int(resp.Len)); err != nil {
			return Response{}, true, g.Fail(op, p, err)
		}
	}
	if !g.Release() {
		return resp, true, nil // the deadline or the caller reset s meanwhile
	}
	if d.Idle <= 0 {
		_ = s.Close()
		return resp, true, nil
	}
	_ = s.SetDeadline(time.Time{})
	c.keep(pid, s)
	return resp, true, nil
}

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
	if len(l) < MaxIdle {
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
