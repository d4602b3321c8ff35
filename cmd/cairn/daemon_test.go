package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// countKV counts writes.
type countKV struct {
	storage.KV
	sets atomic.Int64
}

func (c *countKV) Set(ctx context.Context, k, v []byte) error {
	c.sets.Add(1)
	return c.KV.Set(ctx, k, v)
}

// The uptime saver saves at its interval, stops on Close, and saves once
// more then.
func TestUptimeSaver(t *testing.T) {
	ctx := context.Background()
	kv := &countKV{KV: memstore.NewKV()}
	up := newUptime(ctx, kv, time.Now().Add(-time.Hour))
	s := newUptimeSaver(ctx, up, 2*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for kv.sets.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d saves in 10 s", kv.sets.Load())
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	n := kv.sets.Load()
	time.Sleep(30 * time.Millisecond)
	if m := kv.sets.Load(); m != n {
		t.Fatalf("%d saves after Close", m-n)
	}
	if _, err := kv.Get(ctx, uptimeKey); err != nil {
		t.Fatalf("nothing saved: %v", err)
	}
	// The end of its context stops it too.
	cctx, cancel := context.WithCancel(ctx)
	s = newUptimeSaver(cctx, up, time.Millisecond)
	cancel()
	select {
	case <-s.loop.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the saver outlived its context")
	}
}
