package storage

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	var n atomic.Int64
	l := Every(context.Background(), 5*time.Millisecond, nil, func(context.Context) { n.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	l.Close()
	l.Close()
	got := n.Load()
	if got < 3 {
		t.Fatalf("ran %d times in 5 s", got)
	}
	time.Sleep(20 * time.Millisecond)
	if n.Load() != got {
		t.Fatal("it ran after Close")
	}
}

// Close cancels a call in progress and waits for it; a failed start
// means no call at all; the end of the parent context stops it too.
func TestEveryStops(t *testing.T) {
	in := make(chan struct{})
	var out atomic.Bool
	l := Every(context.Background(), time.Millisecond, nil, func(ctx context.Context) {
		select {
		case in <- struct{}{}:
		default:
		}
		<-ctx.Done()
		out.Store(true)
	})
	<-in
	l.Close()
	if !out.Load() {
		t.Fatal("Close returned before the call in progress")
	}

	var calls atomic.Int64
	l = Every(context.Background(), time.Millisecond, func(context.Context) error { return errors.New("no") },
		func(context.Context) { calls.Add(1) })
	time.Sleep(20 * time.Millisecond)
	l.Close()
	if calls.Load() != 0 {
		t.Fatal("it ran after its start failed")
	}

	ctx, cancel := context.WithCancel(context.Background())
	l = Every(ctx, time.Millisecond, nil, func(context.Context) {})
	cancel()
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the context did not stop it")
	}
}
