// Package streamguard bounds a libp2p stream by a deadline and a context
// and turns its failures into storage errors, the same way for every Cairn
// protocol (network/fragment, network/pointer).
package streamguard

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cairn-storage/cairn/storage"
)

// ErrDeadline is the cause a Guard cancels with when its timer fires.
var ErrDeadline = errors.New("stream deadline passed")

// Guard enforces a stream's deadline and its context: when either ends it
// resets the stream, which unblocks any Read or Write on it. Streams on
// every transport get the same treatment (mocknet streams ignore
// SetDeadline, so the timer is what counts there; real ones get both).
type Guard struct {
	// Ctx ends when the deadline passes, the parent ends or Done is called.
	Ctx     context.Context
	cancel  context.CancelCauseFunc
	S       network.Stream // the guarded stream
	timer   *time.Timer
	stopRst func() bool
}

// New guards s for d, within parent.
func New(parent context.Context, s network.Stream, d time.Duration) *Guard {
	ctx, cancel := context.WithCancelCause(parent)
	g := &Guard{Ctx: ctx, cancel: cancel, S: s}
	g.stopRst = context.AfterFunc(ctx, func() { _ = s.Reset() })
	g.timer = time.AfterFunc(d, func() { cancel(ErrDeadline) })
	_ = s.SetDeadline(time.Now().Add(d))
	return g
}

// Extend moves the deadline to d from now.
func (g *Guard) Extend(d time.Duration) {
	g.timer.Reset(d)
	_ = g.S.SetDeadline(time.Now().Add(d))
}

// Done stops the guard without resetting the stream.
func (g *Guard) Done() { g.Release() }

// Release stops the guard like Done and reports whether the stream is
// untouched by it: false if the deadline or the context already ended the
// guard (and it reset, or is resetting, the stream). A stream kept for
// another exchange must be released, not just done.
func (g *Guard) Release() bool {
	ok := g.stopRst()
	g.timer.Stop()
	g.cancel(nil)
	return ok
}

// Fail resets the stream and classifies err (see Classify).
func (g *Guard) Fail(op string, p storage.PeerID, err error) error {
	_ = g.S.Reset()
	return Classify(g.Ctx, op, p, err)
}

// Classify turns a transport or format failure into an error: the guard's
// own deadline or the caller's is Unavailable, a cancelled caller is
// Canceled, a format violation keeps its kind, the rest is Unavailable.
func Classify(ctx context.Context, op string, p storage.PeerID, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, ErrDeadline) || errors.Is(cause, context.DeadlineExceeded) {
			return storage.Ef(op, storage.Unavailable, p.Short(), cause)
		}
		return storage.Ef(op, storage.Canceled, p.Short(), cause)
	}
	if k := storage.KindOf(err); k != storage.Other && k != storage.Canceled {
		return storage.Ef(op, k, p.Short(), err)
	}
	return storage.Ef(op, storage.Unavailable, p.Short(), err)
}
