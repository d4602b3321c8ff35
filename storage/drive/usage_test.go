package drive

import (
	"context"
	"strings"
	"testing"
	"time"
)

// UsageOrLast answers zeros, not fresh, before the drive opens; the usage
// read once open; and that last usage, not fresh, when the drive cannot
// be read again.
func TestUsageOrLast(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	recs := &downRecords{Records: e.recs}
	recs.down.Store(true) // no peers yet
	release := make(chan struct{})
	d, err := Open(ctx, e.config(recs, func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if u, fresh := d.UsageOrLast(ctx); fresh || u != (Usage{}) {
		t.Fatalf("before open: %+v, fresh %v; want zeros, stale", u, fresh)
	}

	recs.down.Store(false)
	close(release)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.WaitOpen(wctx); err != nil {
		t.Fatalf("never opened: %v", err)
	}
	const data = "some bytes"
	ent, err := d.Put(ctx, "/a/f", strings.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{Files: 1, Size: int64(len(data)), Stored: ent.Manifest.StoredBytes()}
	if u, fresh := d.UsageOrLast(ctx); !fresh || u != want {
		t.Fatalf("open: %+v, fresh %v; want %+v, fresh", u, fresh, want)
	}

	// The walk cannot run (its context is done): the last usage, stale.
	if _, err := d.Put(ctx, "/a/g", strings.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if u, fresh := d.UsageOrLast(done); fresh || u != want {
		t.Fatalf("unreadable: %+v, fresh %v; want %+v, stale", u, fresh, want)
	}
	if u, fresh := d.UsageOrLast(ctx); !fresh || u.Files != 2 {
		t.Fatalf("readable again: %+v, fresh %v; want 2 files, fresh", u, fresh)
	}
}
