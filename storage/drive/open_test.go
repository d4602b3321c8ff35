package drive

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// downRecords is a record layer that is unreachable while down is set.
type downRecords struct {
	Records
	down    atomic.Bool
	lookups atomic.Int64
}

func (r *downRecords) Lookup(ctx context.Context, id cryptree.FolderID) (*cryptree.Record, error) {
	r.lookups.Add(1)
	if r.down.Load() {
		return nil, storage.E("lookup", storage.Unavailable, errors.New("no peers"))
	}
	return r.Records.Lookup(ctx, id)
}

func (r *downRecords) Publish(ctx context.Context, rec *cryptree.Record) error {
	if r.down.Load() {
		return storage.E("publish", storage.Unavailable, errors.New("no peers"))
	}
	return r.Records.Publish(ctx, rec)
}

func (e *treeEnv) config(recs Records, wait func(context.Context) error) Config {
	keys, w := e.kr.RootFolder()
	return Config{
		Tree: TreeConfig{Objects: e.objects, Records: recs, Cache: memstore.NewKV(),
			Root: w.ID(), RootKeys: keys, RootWriter: &w},
		Journal: memstore.NewKV(), MetaKey: e.kr.MetadataKey(),
		Wait: wait, Retry: time.Millisecond,
	}
}

// Until the network answers for the root, every call is Unavailable with
// ErrNotOpen; the Tree opens in the background only after Wait returns,
// then with retries; WaitOpen sees it.
func TestOpenLazily(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	recs := &downRecords{Records: e.recs}
	recs.down.Store(true)
	release := make(chan struct{})
	waited := make(chan struct{})
	d, err := Open(ctx, e.config(recs, func(ctx context.Context) error {
		close(waited)
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
	<-waited
	if n := recs.lookups.Load(); n != 0 {
		t.Fatalf("%d lookups before Wait returned", n)
	}
	// Calls wait for the network as long as their ctx allows, then say
	// the drive is not open; none of them tries to open it.
	brief := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	_, err = d.Stat(brief(), "/")
	checkKind(t, "stat before the network answers", err, storage.Unavailable)
	if !errors.Is(err, ErrNotOpen) {
		t.Fatalf("not-open error without ErrNotOpen: %v", err)
	}
	checkKind(t, "share before open", d.Share(brief(), "/x", "nobody", false), storage.Unavailable)
	_, err = d.PendingShares(brief())
	checkKind(t, "pending shares before open", err, storage.Unavailable)
	if n := recs.lookups.Load(); n != 0 {
		t.Fatalf("%d lookups by calls before Wait returned", n)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	checkKind(t, "wait open, not open", d.WaitOpen(short), storage.Canceled)
	cancel()

	// The network comes up; the background opener retries and opens.
	before := recs.lookups.Load()
	close(release)
	time.Sleep(20 * time.Millisecond) // a few failed tries, backing off
	if tries := recs.lookups.Load() - before; tries < 2 {
		t.Fatalf("background opener tried %d times in 20 ms", tries)
	}
	recs.down.Store(false)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.WaitOpen(wctx); err != nil {
		t.Fatalf("never opened: %v", err)
	}
	if d.opened() == nil {
		t.Fatal("WaitOpen returned before the tree was open")
	}
	if err := d.Mkdir(ctx, "/a", false); err != nil {
		t.Fatal(err)
	}
	if ls, err := d.List(ctx, "/"); err != nil || names(ls) != "a/" {
		t.Fatalf("list: %q, %v", names(ls), err)
	}
}

// A call that finds the Tree closed tries to open it itself: with no
// Wait and the network up, the first call works.
func TestOpenFirstCall(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	release := make(chan struct{})
	d, err := Open(ctx, e.config(e.recs, func(ctx context.Context) error {
		<-release // the network is not ready yet
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Before the wait is over no call opens the Tree (it could take an
	// unreachable root for a missing one): it waits as its ctx allows,
	// then says so.
	before := e.recs.Lookups()
	brief, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := d.Stat(brief, "/"); !errors.Is(err, ErrNotOpen) || !errors.Is(err, storage.Unavailable) {
		t.Fatalf("a call before the wait is over: %v", err)
	}
	if n := e.recs.Lookups() - before; n != 0 {
		t.Fatalf("a call before the wait is over looked up %d records", n)
	}
	close(release)
	if err := d.WaitOpen(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "/"); err != nil {
		t.Fatal(err)
	}
}

// Close stops the background opener (and waits for it): no lookup after.
func TestOpenClose(t *testing.T) {
	e := newTreeEnv(t)
	recs := &downRecords{Records: e.recs}
	recs.down.Store(true)
	d, err := Open(context.Background(), e.config(recs, nil))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for recs.lookups.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if recs.lookups.Load() < 3 {
		t.Fatal("the background opener does not retry")
	}
	d.Close()
	n := recs.lookups.Load()
	time.Sleep(30 * time.Millisecond)
	if m := recs.lookups.Load(); m != n {
		t.Fatalf("%d lookups after Close", m-n)
	}
	d.Close() // again: a no-op

	// The context given to Open ends it too.
	ctx, cancel := context.WithCancel(context.Background())
	d, err = Open(ctx, e.config(recs, nil))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-d.open.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the background opener outlived its context")
	}
}

func TestOpenConfig(t *testing.T) {
	e := newTreeEnv(t)
	cfg := e.config(e.recs, nil)
	cfg.Journal = nil
	_, err := Open(context.Background(), cfg)
	checkKind(t, "no journal", err, storage.Invalid)
	cfg = e.config(e.recs, nil)
	cfg.Tree.Root = cryptree.FolderID{1}
	_, err = Open(context.Background(), cfg)
	checkKind(t, "root writer mismatch", err, storage.Invalid)
}
