package fragment

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cairn-storage/cairn/storage"
)

// Deadlines bounds how long a stream may take. The zero value means the
// defaults of PROTOCOL.md.
type Deadlines struct {
	// Header is the time allowed to open a stream, and to exchange a
	// request or response header (default 10 s).
	Header time.Duration
	// MinRate is the slowest a body may move, in bytes per second
	// (default 256 KiB/s): a body of n bytes gets Header + n/MinRate.
	MinRate int64
}

const (
	defaultHeader  = 10 * time.Second
	defaultMinRate = 256 << 10
)

func (d Deadlines) withDefaults() Deadlines {
	if d.Header <= 0 {
		d.Header = defaultHeader
	}
	if d.MinRate <= 0 {
		d.MinRate = defaultMinRate
	}
	return d
}

// body is the time allowed for a body of n bytes.
func (d Deadlines) body(n int) time.Duration {
	return d.Header + time.Duration(float64(n)/float64(d.MinRate)*float64(time.Second))
}

// errDeadline is the cause a guard cancels with when its timer fires.
var errDeadline = errors.New("stream deadline passed")

// guard enforces a stream's deadline and its context: when either expires
// it resets the stream, which unblocks any Read or Write on it. Streams on
// every transport get the same treatment (mocknet streams ignore
// SetDeadline, so the timer is what counts; real ones get both).
type guard struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	s       network.Stream
	timer   *time.Timer
	stopRst func() bool
}

func newGuard(parent context.Context, s network.Stream, d time.Duration) *guard {
	ctx, cancel := context.WithCancelCause(parent)
	g := &guard{ctx: ctx, cancel: cancel, s: s}
	g.stopRst = context.AfterFunc(ctx, func() { _ = s.Reset() })
	g.timer = time.AfterFunc(d, func() { cancel(errDeadline) })
	_ = s.SetDeadline(time.Now().Add(d))
	return g
}

// extend moves the deadline to d from now.
func (g *guard) extend(d time.Duration) {
	g.timer.Reset(d)
	_ = g.s.SetDeadline(time.Now().Add(d))
}

// done stops the guard without resetting the stream.
func (g *guard) done() {
	g.timer.Stop()
	g.stopRst()
	g.cancel(nil)
}

// fail resets the stream and classifies err, a failure of the transport
// or of the wire format: the guard's own deadline and a parent deadline
// are Unavailable, a cancelled parent is Canceled, a format violation
// keeps its kind, anything else is Unavailable.
func (g *guard) fail(op string, p storage.PeerID, err error) error {
	_ = g.s.Reset()
	return classify(g.ctx, op, p, err)
}

func classify(ctx context.Context, op string, p storage.PeerID, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		switch {
		case errors.Is(cause, errDeadline), errors.Is(cause, context.DeadlineExceeded):
			return storage.Ef(op, storage.Unavailable, p.Short(), cause)
		default:
			return storage.Ef(op, storage.Canceled, p.Short(), cause)
		}
	}
	if k := storage.KindOf(err); k != storage.Other && k != storage.Canceled {
		return storage.Ef(op, k, p.Short(), err)
	}
	return storage.Ef(op, storage.Unavailable, p.Short(), err)
}
