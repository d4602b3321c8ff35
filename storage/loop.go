package storage

import (
	"context"
	"sync"
	"time"
)

// Loop is background work done at a fixed interval: made by Every,
// stopped by Close or by the end of the context it was made with. The
// daemon's periodic jobs (garbage collection, inbox polling, republishing,
// saving uptime) are Loops owned by the values that need them.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Every calls fn every interval (which must be positive) on a goroutine
// of its own, first after one interval, until ctx ends or Close is
// called. fn gets a context that ends then too, and is never called
// twice at once. If start is set, the loop first waits for it (giving up
// when it returns an error) before its first interval begins.
func Every(ctx context.Context, interval time.Duration, start func(context.Context) error, fn func(context.Context)) *Loop {
	ctx, cancel := context.WithCancel(ctx)
	l := &Loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		if start != nil && start(ctx) != nil {
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
	return l
}

// Done is closed once the loop has stopped, by Close or its context.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Close stops the loop and waits for a call of fn in progress to return
// (its context is cancelled). It is safe to call more than once.
func (l *Loop) Close() {
	l.once.Do(l.cancel)
	<-l.done
}
