package drive

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Config sets up a Drive.
type Config struct {
	// Tree is the user's Cryptree namespace (Objects also carries file
	// content: Put and Open use it).
	Tree TreeConfig
	// Journal keeps the upload journal, sealed under MetaKey (the
	// keyring's metadata key). It may be a KV other things use: keys
	// start with drive/j/ and a tag derived from MetaKey.
	Journal storage.KV
	MetaKey cryptree.Key
	// Wait, if set, returns once the network can be expected to answer
	// for the root folder (enough storage peers found, or a while has
	// passed). The Tree is opened in the background only after it
	// returns, so a fresh daemon does not mistake an unreachable root for
	// a missing one. Errors other than ctx's end are logged and ignored.
	Wait func(ctx context.Context) error
	// Retry is the first pause between attempts to open the Tree in the
	// background; it doubles up to MaxRetry. 0 means 500 ms.
	Retry time.Duration
	// Logf, if set, receives notes (failed attempts to open; the Tree's
	// own notes go to Tree.Logf).
	Logf func(format string, args ...any)
}

// MaxRetry is the longest pause between attempts to open a Drive's Tree.
const MaxRetry = 30 * time.Second

// ErrNotOpen is in the chain of the Unavailable error every call returns
// while the Drive's Tree is not open yet (errors.Is).
var ErrNotOpen = errors.New("the drive is not open yet")

// opener opens a Drive's Tree once; every call before that tries again.
type opener struct {
	cfg TreeConfig

	mu     sync.Mutex // held while opening
	tree   atomic.Pointer[Tree]
	ready  chan struct{} // closed once tree is set
	waited chan struct{} // closed once Config.Wait has returned: calls may open the Tree

	stop context.CancelFunc // ends the background opener
	done chan struct{}      // closed when it has returned
}

// Open returns the drive cfg describes. It does not wait for the network:
// the Tree is opened in the background (after cfg.Wait, then with
// backoff until it works or ctx ends) and, once cfg.Wait has returned, by
// a call that finds it missing. No call opens the Tree before that: a
// recovering node must not take an unreachable root for a missing one and
// make a new, empty one. A call waits for cfg.Wait, or for an attempt
// under way, for as long as its ctx allows (a mutex would not), then
// fails with storage.Unavailable, ErrNotOpen in its chain, if the Tree is
// still not open. Close stops the background opener; ctx bounds
// it too. Errors: storage.Invalid for a cfg without objects, records,
// cache, root writer or journal.
func Open(ctx context.Context, cfg Config) (*Drive, error) {
	const op = "open drive"
	c := cfg.Tree
	switch {
	case c.Objects == nil || c.Records == nil || c.Cache == nil || c.RootWriter == nil || cfg.Journal == nil:
		return nil, storage.E(op, storage.Invalid, errors.New("missing objects, records, cache, root writer or journal"))
	case c.RootWriter.ID() != c.Root:
		return nil, storage.E(op, storage.Invalid, errors.New("root writer does not write the root folder"))
	}
	d := newDrive(cfg)
	ctx, d.open.stop = context.WithCancel(ctx)
	d.open.done = make(chan struct{})
	go d.openInBackground(ctx)
	return d, nil
}

// openInBackground waits for the network, then tries to open the Tree
// until it is open or ctx ends.
func (d *Drive) openInBackground(ctx context.Context) {
	defer close(d.open.done)
	waited := false
	defer func() { // on every way out: calls must never wait for a wait that is over
		if !waited {
			close(d.open.waited)
		}
	}()
	if d.cfg.Wait != nil {
		if err := d.cfg.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.logf("drive: waiting for the network: %v", err)
		}
	}
	close(d.open.waited)
	waited = true
	wait := d.cfg.Retry
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	for {
		_, err := d.tree(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		d.logf("drive: %v (retrying in %v)", err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, MaxRetry)
	}
}

// tree returns the open Tree, opening it if it is not open yet.
func (d *Drive) tree(ctx context.Context) (*Tree, error) {
	o := &d.open
	if t := o.tree.Load(); t != nil {
		return t, nil
	}
	notOpen := func(why string) (*Tree, error) {
		return nil, storage.E("open drive", storage.Unavailable, fmt.Errorf("%w: %s", ErrNotOpen, why))
	}
	select {
	case <-o.waited:
	case <-o.ready:
		return o.tree.Load(), nil
	case <-ctx.Done():
		return notOpen("still waiting for storage peers")
	}
	for !o.mu.TryLock() {
		select { // an attempt is under way: wait for it, as ctx allows
		case <-o.ready:
			return o.tree.Load(), nil
		case <-ctx.Done():
			return notOpen("still opening it")
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer o.mu.Unlock()
	if t := o.tree.Load(); t != nil {
		return t, nil
	}
	t, err := NewTree(ctx, o.cfg)
	if err != nil {
		kind := storage.Unavailable
		if ctx.Err() != nil {
			kind = storage.Canceled
		}
		return nil, storage.E("open drive", kind, fmt.Errorf("%w: %w", ErrNotOpen, err))
	}
	o.tree.Store(t)
	close(o.ready)
	return t, nil
}

// opened returns the Tree if it is open, else nil; it never tries to open.
func (d *Drive) opened() *Tree { return d.open.tree.Load() }

// WaitOpen returns once the Tree is open, or with storage.Canceled when
// ctx ends first. It does not try to open the Tree itself.
func (d *Drive) WaitOpen(ctx context.Context) error {
	select {
	case <-d.open.ready:
		return nil
	case <-ctx.Done():
		return storage.E("wait for the drive", storage.Canceled, ctx.Err())
	}
}

// Close stops opening the Tree in the background and waits for that to
// end. Calls already made finish; the Drive still answers afterwards (it
// holds no goroutine of its own once open). Close may be called more than
// once.
func (d *Drive) Close() {
	if d.open.stop == nil {
		return
	}
	d.open.stop()
	<-d.open.done
}

func (d *Drive) logf(format string, args ...any) {
	if d.cfg.Logf != nil {
		d.cfg.Logf(format, args...)
	}
}
