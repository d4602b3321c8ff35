package network

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

func TestWaitPeers(t *testing.T) {
	a := newNode(t, Config{})
	b := newNode(t, Config{Bootstrap: a.Addrs()})
	newNode(t, Config{Bootstrap: a.Addrs()})
	ctx := context.Background()

	t.Run("enough", func(t *testing.T) {
		ps, err := b.WaitPeers(ctx, testProto, 2, 30*time.Second)
		if err != nil || len(ps) < 2 {
			t.Fatalf("wait for 2 of 2: %d peers, %v", len(ps), err)
		}
	})
	t.Run("too few", func(t *testing.T) {
		start := time.Now()
		ps, err := b.WaitPeers(ctx, testProto, 5, 600*time.Millisecond)
		if err != nil || len(ps) != 2 {
			t.Fatalf("wait for 5 of 2: %d peers, %v; want 2 and no error", len(ps), err)
		}
		if d := time.Since(start); d < 600*time.Millisecond || d > 5*time.Second {
			t.Fatalf("wait for 5 of 2 took %v, want the timeout (600 ms)", d)
		}
	})
	t.Run("no timeout", func(t *testing.T) {
		start := time.Now()
		ps, err := b.WaitPeers(ctx, testProto, 5, 0)
		if err != nil || len(ps) != 2 {
			t.Fatalf("look once: %d peers, %v", len(ps), err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("look once took %v", d)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		ps, err := b.WaitPeers(cctx, testProto, 5, time.Minute)
		if !errors.Is(err, storage.Canceled) || len(ps) != 2 {
			t.Fatalf("cancelled wait: %d peers, %v; want 2 and Canceled", len(ps), err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c := newNode(t, Config{Bootstrap: a.Addrs()})
		done := make(chan error, 1)
		go func() {
			_, err := c.WaitPeers(ctx, testProto, 50, time.Minute)
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		c.Close()
		select {
		case err := <-done:
			if !errors.Is(err, storage.Unavailable) {
				t.Fatalf("wait on a closed node: %v, want Unavailable", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("wait outlived Close")
		}
	})
}
