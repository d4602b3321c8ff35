package proto

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairn-storage/cairn/network/internal/streamguard"
	"github.com/cairn-storage/cairn/storage"
)

// Deadlines bounds a protocol's streams, on both sides.
type Deadlines struct {
	// Header is the time allowed to open a stream and to exchange a
	// request or response header. With MinRate 0 it bounds a whole
	// request instead: reading it, handling it and writing the answer.
	Header time.Duration
	// MinRate is the slowest a body may move, in bytes per second: a body
	// of n bytes gets Header + n/MinRate. 0: no time per byte (above).
	MinRate int64
	// Idle is how long a server waits for the next request on a stream
	// that has carried one; a client keeps an unused stream for two
	// thirds of it, so that it rarely picks one the server is about to
	// close. 0: one request per stream.
	Idle time.Duration
}

// Body is the time allowed for a body of n bytes.
func (d Deadlines) Body(n int) time.Duration {
	if d.MinRate <= 0 {
		return d.Header
	}
	return d.Header + time.Duration(float64(n)/float64(d.MinRate)*float64(time.Second))
}

// ErrAbort is what a handler returns when its stream can carry no answer
// (a body could not be read whole): the stream is reset.
var ErrAbort = errors.New("stream aborted")

// ServerConfig describes one protocol's server side. Every field but
// Logf is required.
type ServerConfig[R any] struct {
	Protocol protocol.ID
	// Service is the resource-manager service the streams are accounted
	// under.
	Service string
	// Name names the service in logs ("fragment service").
	Name      string
	Table     *Table
	Deadlines Deadlines
	// Read reads one request from the stream: all of it, or as much as
	// Handle needs to decide (a header, say, with the body left to
	// Handle). An error of Kind Invalid is answered with the table's
	// status for it and ends the stream; any other error (EOF, reset,
	// deadline) resets it. Read must check every length against its cap
	// before it allocates or reads that much, and read nothing past the
	// request.
	Read func(io.Reader) (R, error)
	// Handle answers one request: the body of an OK response, or an
	// error the table maps to a status. ErrAbort, or an error while
	// x.Ctx is done, resets the stream. Handle runs on the stream's
	// goroutine; req is its own.
	Handle func(x *Exchange, req *R) ([]byte, error)
	// Logf logs the requests answered with Internal; nil discards.
	Logf func(format string, args ...any)
}

// Exchange is one request being handled.
type Exchange struct {
	// Ctx ends when the stream's deadline passes or the server closes.
	Ctx context.Context
	// S is the stream, for the rest of a request Read left unread.
	S network.Stream
	// From is the remote peer.
	From storage.PeerID
	// Op names the request in logs; Handle sets it.
	Op string

	g     *streamguard.Guard
	after []func()
}

// Extend moves the request's deadline to d from now (a body about to be
// read, say).
func (x *Exchange) Extend(d time.Duration) { x.g.Extend(d) }

// Defer runs f once the answer is written (or the stream reset): for a
// buffer the body lives in, a resource-manager reservation.
func (x *Exchange) Defer(f func()) { x.after = append(x.after, f) }

// Server runs one protocol's request lifecycle on a host: one request
// after another on each stream until the client half-closes it, it stays
// idle past Deadlines.Idle, or an answer other than ok or not found ends
// it (network/PROTOCOL.md). It is safe for concurrent use; each stream is
// handled on the goroutine libp2p starts for it.
type Server[R any] struct {
	h      host.Host
	cfg    ServerConfig[R]
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup

	inflight atomic.Int64 // handlers running and not idle between requests
	started  atomic.Int64 // streams accepted
}

// NewServer registers cfg's stream handler on h. Close removes it.
func NewServer[R any](h host.Host, cfg ServerConfig[R]) *Server[R] {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server[R]{h: h, cfg: cfg, ctx: ctx, cancel: cancel}
	h.SetStreamHandler(cfg.Protocol, s.handle)
	return s
}

// Close removes the stream handler, resets the streams still being
// handled and waits for their handlers to return. It is safe to call more
// than once.
func (s *Server[R]) Close() {
	s.h.RemoveStreamHandler(s.cfg.Protocol)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// InFlight is the number of requests being handled now (streams idle
// between requests do not count).
func (s *Server[R]) InFlight() int64 { return s.inflight.Load() }

// Started is the number of streams accepted so far.
func (s *Server[R]) Started() int64 { return s.started.Load() }

func (s *Server[R]) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.inflight.Add(1)
	s.started.Add(1)
	defer func() {
		s.inflight.Add(-1)
		s.wg.Done()
	}()
	if err := st.Scope().SetService(s.cfg.Service); err != nil {
		_ = st.ResetWithError(network.StreamResourceLimitExceeded)
		return
	}
	for first := true; s.serve(st, first); first = false {
	}
}

// serve answers one request on st and reports whether the stream may
// carry another. The first request of a stream must arrive within the
// header deadline; a later one within Deadlines.Idle, and the client's
// half-close instead ends the stream quietly.
func (s *Server[R]) serve(st network.Stream, first bool) bool {
	d := s.cfg.Deadlines
	wait := d.Header
	if !first {
		wait = d.Idle
	}
	g := streamguard.New(s.ctx, st, wait)
	defer g.Done()

	if !first {
		s.inflight.Add(-1)
	}
	req, err := s.cfg.Read(st)
	if !first {
		s.inflight.Add(1)
	}
	if err != nil {
		switch {
		case !first && errors.Is(err, io.EOF) && g.Ctx.Err() == nil:
			_ = st.Close() // the client is done with the stream
		case storage.KindOf(err) == storage.Invalid && g.Ctx.Err() == nil:
			// The rest of the request is not read: the client resets the
			// stream when it sees the refusal.
			if s.reply(g, s.cfg.Table.Answer(err), nil) {
				_ = st.Close()
			}
		default:
			_ = st.Reset()
		}
		return false
	}
	if d.MinRate > 0 || !first {
		g.Extend(d.Header)
	}
	x := &Exchange{Ctx: g.Ctx, S: st, From: storage.PeerID(st.Conn().RemotePeer().String()), g: g}
	defer func() {
		for _, f := range x.after {
			f()
		}
	}()
	body, err := s.cfg.Handle(x, &req)
	if errors.Is(err, ErrAbort) || g.Ctx.Err() != nil {
		_ = st.Reset()
		return false
	}
	resp := s.cfg.Table.Answer(err)
	if err != nil {
		if resp.Status == Internal {
			s.cfg.Logf("%s: %s from %s: %v", s.cfg.Name, x.Op, x.From.Short(), err)
		}
		body = nil
	}
	if !s.reply(g, resp, body) {
		return false
	}
	if d.Idle <= 0 || !Continues(resp.Status) {
		_ = st.Close()
		return false
	}
	return true
}

// smallBody is the largest body written in one piece with its header.
const smallBody = 256

// reply writes resp and body, or resets the stream if the write fails
// (and reports false).
func (s *Server[R]) reply(g *streamguard.Guard, resp Response, body []byte) bool {
	resp.Len = uint32(len(body))
	if s.cfg.Deadlines.MinRate > 0 {
		g.Extend(s.cfg.Deadlines.Body(len(body)))
	}
	hdr := resp.AppendHeader(make([]byte, 0, HeaderSize+MaxText+smallBody))
	if len(body) <= smallBody {
		hdr = append(hdr, body...)
		body = nil
	}
	if _, err := g.S.Write(hdr); err != nil {
		_ = g.S.Reset()
		return false
	}
	if len(body) > 0 {
		if _, err := g.S.Write(body); err != nil {
			_ = g.S.Reset()
			return false
		}
	}
	return true
}
