package drive

import (
	"context"
	"testing"
	"time"
)

// eventually polls cond every millisecond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The inbox loop receives shares without being asked, and stops on Close.
func TestMaintenanceInbox(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	put(t, e.alice.tree, "/one/f", "1")
	put(t, e.alice.tree, "/two/f", "2")
	bob := driveOver(e.bob.tree)
	m := NewMaintenance(ctx, bob, MaintenanceOptions{Inbox: 2 * time.Millisecond, Logf: t.Logf})
	if err := e.alice.tree.Share(ctx, "/one", e.bob.id, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "share received by the loop", func() bool {
		ps, err := bob.PendingShares(ctx)
		return err == nil && len(ps) == 1 && e.bob.inbox.count() == 0
	})
	m.Close()
	if err := e.alice.tree.Share(ctx, "/two", e.bob.id, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if n := e.bob.inbox.count(); n != 1 {
		t.Fatalf("after Close the loop still fetched the inbox (%d messages left)", n)
	}
	m.Close() // again: a no-op
}

// The republish loop publishes every record again at each tick, and stops
// on Close.
func TestMaintenanceRepublish(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	if err := e.tree.Mkdir(ctx, "/a/b", true); err != nil {
		t.Fatal(err)
	}
	before := e.recs.Publishes()
	m := NewMaintenance(ctx, driveOver(e.tree), MaintenanceOptions{Republish: 2 * time.Millisecond})
	eventually(t, "records republished twice", func() bool { return e.recs.Publishes() >= before+2*3 })
	m.Close()
	n := e.recs.Publishes()
	time.Sleep(30 * time.Millisecond)
	if got := e.recs.Publishes(); got != n {
		t.Fatalf("%d publications after Close", got-n)
	}
}

// Resume runs once the Tree is open and finishes a crashed upload.
func TestMaintenanceResume(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := randBytes(11, 100<<10)
	src := e.file(t, "src", data)
	crashPut(t, e, "/r/f", data, src, 3)
	d := e.drive(nil)
	m := NewMaintenance(ctx, d, MaintenanceOptions{Resume: true, Logf: t.Logf})
	defer m.Close()
	eventually(t, "upload resumed", func() bool {
		ps, err := d.Pending(ctx)
		_, serr := d.Stat(ctx, "/r/f")
		return err == nil && len(ps) == 0 && serr == nil
	})
	readBack(t, d, "/r/f", data)
}

// The loops wait for the Tree to open; Close does not wait for that.
func TestMaintenanceCloseBeforeOpen(t *testing.T) {
	e := newTreeEnv(t)
	recs := &downRecords{Records: e.recs}
	recs.down.Store(true)
	d, err := Open(context.Background(), e.config(recs, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := NewMaintenance(context.Background(), d, MaintenanceOptions{
		Inbox: time.Millisecond, Republish: time.Millisecond, Resume: true})
	time.Sleep(20 * time.Millisecond)
	if n := recs.lookups.Load(); n != 0 {
		t.Fatalf("the loops looked up %d records before the drive was open", n)
	}
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs while the drive is not open")
	}
}
