package main

import (
	"context"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
)

// lazyTree is the daemon's drive.Namespace: the Cryptree namespace, opened
// once the network can answer for the root folder (a fresh daemon may not
// have found its peers yet; a recovering one must not mistake an
// unreachable root for a missing one). Until then every call says
// Unavailable and tries again.
type lazyTree struct {
	cfg   drive.TreeConfig
	setup func(*drive.Tree) // wires sharing once open; may be nil

	mu   sync.Mutex
	tree *drive.Tree
}

func newLazyTree(cfg drive.TreeConfig, setup func(*drive.Tree)) *lazyTree {
	return &lazyTree{cfg: cfg, setup: setup}
}

func (l *lazyTree) get(ctx context.Context) (*drive.Tree, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tree != nil {
		return l.tree, nil
	}
	t, err := drive.NewTree(ctx, l.cfg)
	if err != nil {
		return nil, withHint(storage.E("open drive", storage.Unavailable, err),
			"the daemon is still looking for its storage peers; try again in a moment")
	}
	if l.setup != nil {
		l.setup(t)
	}
	l.tree = t
	return t, nil
}

// ready returns the tree if it is open, else nil; it never tries to open.
func (l *lazyTree) ready() *drive.Tree {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree
}

// openWhenReady opens the tree in the background: after enough storage
// peers are known (or a while has passed), then with backoff until it
// works or ctx ends.
func (l *lazyTree) openWhenReady(ctx context.Context, n *node, logf func(string, ...any)) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ps, _ := n.net.Peers(ctx, fragmentProtocol)
		if len(ps) >= blob.DefaultK+blob.DefaultM {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	wait := 500 * time.Millisecond
	for {
		_, err := l.get(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		logf("drive: %v (retrying in %v)", err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

func (l *lazyTree) Stat(ctx context.Context, p string) (drive.Entry, error) {
	t, err := l.get(ctx)
	if err != nil {
		return drive.Entry{}, err
	}
	return t.Stat(ctx, p)
}

func (l *lazyTree) List(ctx context.Context, dir string) ([]drive.Entry, error) {
	t, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return t.List(ctx, dir)
}

func (l *lazyTree) Walk(ctx context.Context, dir string, fn func(drive.Entry) error) error {
	t, err := l.get(ctx)
	if err != nil {
		return err
	}
	return t.Walk(ctx, dir, fn)
}

func (l *lazyTree) Mkdir(ctx context.Context, p string, parents bool) error {
	t, err := l.get(ctx)
	if err != nil {
		return err
	}
	return t.Mkdir(ctx, p, parents)
}

func (l *lazyTree) Commit(ctx context.Context, p string, m *blob.Manifest, mtime time.Time) (drive.Entry, error) {
	t, err := l.get(ctx)
	if err != nil {
		return drive.Entry{}, err
	}
	return t.Commit(ctx, p, m, mtime)
}

func (l *lazyTree) Remove(ctx context.Context, p string, recursive bool) ([]drive.Entry, error) {
	t, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return t.Remove(ctx, p, recursive)
}

func (l *lazyTree) Rename(ctx context.Context, src, dst string) error {
	t, err := l.get(ctx)
	if err != nil {
		return err
	}
	return t.Rename(ctx, src, dst)
}

func (l *lazyTree) Versions(ctx context.Context, p string) ([]drive.VersionInfo, error) {
	t, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return t.Versions(ctx, p)
}

func (l *lazyTree) Version(ctx context.Context, p string, n uint64) (drive.Entry, error) {
	t, err := l.get(ctx)
	if err != nil {
		return drive.Entry{}, err
	}
	return t.Version(ctx, p, n)
}
