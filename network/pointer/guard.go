package pointer

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cairn-storage/cairn/storage"
)

// DefaultTimeout bounds a whole stream of this protocol: opening it,
// the request and the response (the largest, a 4 MiB inbox list, moves in
// it at 256 KiB/s).
const DefaultTimeout = 20 * time.Second

// errDeadline is the cause a guard cancels with when its timer fires.
var errDeadline = errors.New("stream deadline passed")

// guard enforces a stream's deadline and its context: when either ends
// it resets the stream, which unblocks any Read or Write on it (mocknet
// streams ignore SetDeadline, so the timer is what counts there).
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

// done stops the guard without resetting the stream.
func (g *guard) done() {
	g.timer.Stop()
	g.stopRst()
	g.cancel(nil)
}

// fail resets the stream and classifies err.
func (g *guard) fail(op string, p storage.PeerID, err error) error {
	_ = g.s.Reset()
	return classify(g.ctx, op, p, err)
}

// classify turns a transport or format failure into an error: our own
// deadline or the caller's is Unavailable, a cancelled caller is
// Canceled, a format violation keeps its kind, the rest is Unavailable.
func classify(ctx context.Context, op string, p storage.PeerID, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errDeadline) || errors.Is(cause, context.DeadlineExceeded) {
			return storage.Ef(op, storage.Unavailable, p.Short(), cause)
		}
		return storage.Ef(op, storage.Canceled, p.Short(), cause)
	}
	if k := storage.KindOf(err); k != storage.Other && k != storage.Canceled {
		return storage.Ef(op, k, p.Short(), err)
	}
	return storage.Ef(op, storage.Unavailable, p.Short(), err)
}
