package drive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// Drive is one user's drive, the one thing callers (the daemon's API, the
// FUSE drive, the web page) hold: files and folders (Put, Open, Stat,
// List, Walk, Mkdir, Remove, Rename, versions), sharing and receiving
// (Share, Unshare, Link, Shares, Receive, Received, PendingShares,
// Accept, Decline), upkeep (Republish, Usage, UsageOrLast) and the upload journal
// (Pending, Resume). Names live in a Tree, opened lazily (Open); bytes go
// through the Tree's blob.Client; the journal lets an upload interrupted
// by a crash resume without sending again what already landed.
//
// Paths are cleaned with Clean (a bad one is storage.Invalid). Errors are
// *storage.Error with a Kind a filesystem can map: NotExist, Exist,
// IsDir (a file was expected: Open, Put or Versions of a folder),
// NotDir (a folder was expected: List or Walk of a file, a path through
// a file when creating), NotEmpty (Remove of a folder with children,
// without recursive), Permission (a read-only share, /shared itself),
// Invalid (a bad path or argument, the root, /.cairn), Unavailable (the
// network, or the Tree not open yet: ErrNotOpen), and the kinds of the
// record and object layers (Corrupt, CannotDecrypt, Canceled, IO).
//
// Safe for concurrent use. Entries and manifests returned belong to the
// caller; nothing passed in is retained.
type Drive struct {
	cfg  Config
	open opener
	bc   *blob.Client
	kv   storage.KV // the journal
	key  cryptree.Key
	tag  [8]byte // journal key prefix for this user

	mu      sync.Mutex
	running map[string]bool // upload ids claimed by a Put or Resume now

	leftMu sync.Mutex
	left   map[string][]string // path → ids of crash leftovers (nil: not scanned yet)

	usage lastUsage // what UsageOrLast read last
}

func newDrive(cfg Config) *Drive {
	d := &Drive{cfg: cfg, bc: cfg.Tree.Objects, kv: cfg.Journal, key: cfg.MetaKey, running: map[string]bool{}}
	d.open.cfg = cfg.Tree
	d.open.ready = make(chan struct{})
	d.open.waited = make(chan struct{}) // closed by Open's background opener
	t := subkey(cfg.MetaKey, "journal")
	copy(d.tag[:], t[:])
	return d
}

// PutOptions are the optional settings of Put.
type PutOptions struct {
	// Progress counts plaintext bytes as their chunks land.
	Progress storage.Progress
	// Source is the absolute local path of the file the bytes come from,
	// if any: it lets a journaled upload resume after a crash. Its size
	// and mtime are recorded when Put starts.
	Source string
	// Mtime is the file's modification time; zero means now.
	Mtime time.Time
}

// Put uploads r to path p and returns the committed entry.
//
// While it runs, a journal entry records the path, the source and every
// chunk that landed. Chunks already placed are not sent again: those of
// the file now at p (an earlier version) and those of an interrupted
// upload of p, which this Put supersedes (its journal entry is removed
// when Put returns). Only when every chunk is placed is the file committed
// to the namespace, so it is never half-visible; then the journal entry is
// deleted. On an error the journal entry is deleted as well (the caller
// saw the failure): only a crash leaves one behind, for Resume.
//
// Errors: storage.Invalid for a bad path, the root or a bad Source;
// storage.IsDir for a folder at p, storage.NotDir if a parent is a file;
// storage.IO when Source cannot be examined; blob's errors (Unavailable,
// Canceled, ...) and the Tree's (Permission in a read-only share).
func (d *Drive) Put(ctx context.Context, p string, r io.Reader, o PutOptions) (Entry, error) {
	const op = "put"
	p, err := clean(op, p)
	if err != nil {
		return Entry{}, err
	}
	if p == "/" || r == nil {
		return Entry{}, storage.Ef(op, storage.Invalid, p, errors.New("no reader, or the root"))
	}
	now := time.Now()
	j := journal{path: p, mtime: o.Mtime, started: now}
	if j.mtime.IsZero() {
		j.mtime = now
	}
	j.mtime = clampTime(j.mtime)
	if o.Source != "" {
		if !filepath.IsAbs(o.Source) || len(o.Source) > 4*MaxPath {
			return Entry{}, storage.Ef(op, storage.Invalid, o.Source, errors.New("source must be an absolute path"))
		}
		fi, err := os.Stat(o.Source)
		if err != nil {
			return Entry{}, storage.Ef(op, storage.IO, o.Source, err)
		}
		j.source, j.srcSize, j.srcMtime = o.Source, fi.Size(), clampTime(fi.ModTime())
	}
	reuse, err := d.reuseExisting(ctx, p)
	if err != nil {
		return Entry{}, err
	}
	// Adopt the chunks of interrupted uploads of the same path.
	old, err := d.leftovers(ctx, p)
	if err != nil {
		return Entry{}, err
	}
	var adopted []string
	for _, u := range old {
		if u.hdr == nil || u.hdr.path != p || !d.claim(u.id) {
			continue
		}
		adopted = append(adopted, u.id)
		for _, c := range u.chunks {
			reuse[c.ID] = c
		}
	}
	defer func() {
		for _, id := range adopted {
			_ = d.dropJournal(context.WithoutCancel(ctx), id)
			d.release(id)
		}
	}()

	id, err := d.newUpload()
	if err != nil {
		return Entry{}, err
	}
	defer d.release(id)
	if err := setSealed(ctx, d.kv, d.key, d.headerKey(id), encodeJournal(j)); err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	e, err := d.upload(ctx, id, j, r, reuse, o.Progress, -1)
	// Done or failed, the caller learns of it: the journal entry goes.
	// (A crash never gets here.) Deleting must outlive a cancelled ctx.
	_ = d.dropJournal(context.WithoutCancel(ctx), id)
	return e, err
}

// reuseExisting returns the chunks of the file now at p, keyed by id.
func (d *Drive) reuseExisting(ctx context.Context, p string) (map[[32]byte]blob.Chunk, error) {
	reuse := map[[32]byte]blob.Chunk{}
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	e, err := t.Stat(ctx, p)
	switch {
	case errors.Is(err, storage.NotExist):
		return reuse, nil
	case err != nil:
		return nil, err
	case e.IsDir:
		return nil, storage.Ef("put", storage.IsDir, p, errors.New("is a folder"))
	}
	for _, c := range e.Manifest.Chunks {
		reuse[c.ID] = c
	}
	return reuse, nil
}

// upload runs the data path for journal entry id and commits the result.
// want >= 0 is the size the bytes must have (a resumed source).
func (d *Drive) upload(ctx context.Context, id string, j journal, r io.Reader, reuse map[[32]byte]blob.Chunk, prog storage.Progress, want int64) (Entry, error) {
	m, err := d.bc.Put(ctx, r, blob.PutOptions{
		Progress: prog,
		Reuse: func(cid [32]byte) (blob.Chunk, bool) {
			c, ok := reuse[cid] // read only while Put runs: safe
			return c, ok
		},
		Landed: func(i int, c blob.Chunk) error {
			b, err := encodeChunk(c)
			if err != nil {
				return err
			}
			return setSealed(ctx, d.kv, d.key, d.chunkKey(id, i), b)
		},
	})
	if err != nil {
		return Entry{}, storage.Ef("put", storage.Other, j.path, err)
	}
	if want >= 0 && m.Size != want {
		return Entry{}, storage.Ef("put", storage.Invalid, j.path,
			fmt.Errorf("source changed while reading: %d bytes, expected %d", m.Size, want))
	}
	t, err := d.tree(ctx)
	if err != nil {
		return Entry{}, err
	}
	return t.Commit(ctx, j.path, m, j.mtime)
}

// Open returns a random-access reader for file p and its entry.
// storage.NotExist if missing, storage.IsDir for a folder. The Reader's
// fetches are bounded by ctx.
func (d *Drive) Open(ctx context.Context, p string) (*blob.Reader, Entry, error) {
	e, err := d.Stat(ctx, p)
	if err != nil {
		return nil, Entry{}, err
	}
	if e.IsDir {
		return nil, Entry{}, storage.Ef("open", storage.IsDir, e.Path, errors.New("is a folder"))
	}
	return d.bc.Open(ctx, e.Manifest), e, nil
}

// Stat returns the entry at p, a file's with the Manifest of its current
// version; storage.NotExist if it is missing or a parent is a file.
func (d *Drive) Stat(ctx context.Context, p string) (Entry, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return Entry{}, err
	}
	return t.Stat(ctx, p)
}

// List returns the direct children of folder dir sorted by name, without
// Manifests (Tree.List). storage.NotExist if dir is missing,
// storage.NotDir if it is a file.
func (d *Drive) List(ctx context.Context, dir string) ([]Entry, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.List(ctx, dir)
}

// Walk calls fn for every entry below dir (dir itself excluded), depth
// first, each folder's children in name order, files with their
// Manifest. If fn returns fs.SkipDir for a folder, its children are
// skipped; any other error stops the walk and is returned. Walk is not a
// snapshot, and fn may call the Drive. Errors as for List.
func (d *Drive) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	t, err := d.tree(ctx)
	if err != nil {
		return err
	}
	return t.Walk(ctx, dir, fn)
}

// Mkdir creates folder p. storage.Exist if p exists (unless parents is
// set and it is a folder); storage.NotExist if the parent is missing and
// parents is not set; storage.NotDir if a parent is a file. With parents
// set, missing ancestors are created.
func (d *Drive) Mkdir(ctx context.Context, p string, parents bool) error {
	t, err := d.tree(ctx)
	if err != nil {
		return err
	}
	return t.Mkdir(ctx, p, parents)
}

// Remove moves p into the trash (Tree.Remove) and returns the file
// entries it removed, with Manifests. storage.NotExist if missing;
// storage.NotEmpty for a folder with children without recursive;
// storage.Invalid for "/". The fragments of removed files stay on their
// peers (collecting them is not done yet).
func (d *Drive) Remove(ctx context.Context, p string, recursive bool) ([]Entry, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.Remove(ctx, p, recursive)
}

// Rename moves a file or a whole folder. storage.NotExist if src or the
// parent of dst is missing; storage.Exist if dst exists; storage.NotDir
// if the parent of dst is a file; storage.Invalid to move "/" or a folder
// into itself, or between the own drive and a share.
func (d *Drive) Rename(ctx context.Context, src, dst string) error {
	t, err := d.tree(ctx)
	if err != nil {
		return err
	}
	return t.Rename(ctx, src, dst)
}

// Republish publishes again every folder record the Tree has seen
// (Tree.Republish) and returns how many were published. The daemon's
// Maintenance calls it every few hours.
func (d *Drive) Republish(ctx context.Context) (int, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return 0, err
	}
	return t.Republish(ctx)
}

// Share gives user toUserID access to p (Tree.Share).
func (d *Drive) Share(ctx context.Context, p, toUserID string, write bool) error {
	t, err := d.tree(ctx)
	if err != nil {
		return err
	}
	return t.Share(ctx, p, toUserID, write)
}

// Link returns a read-only cairn:// link to p (Tree.Link).
func (d *Drive) Link(ctx context.Context, p string) (string, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return "", err
	}
	return t.Link(ctx, p)
}

// Unshare revokes the grant of p to fromUserID, or the link (Tree.Unshare).
func (d *Drive) Unshare(ctx context.Context, p, fromUserID, link string) error {
	t, err := d.tree(ctx)
	if err != nil {
		return err
	}
	return t.Unshare(ctx, p, fromUserID, link)
}

// Shares lists what this user shared (Tree.Shares).
func (d *Drive) Shares(ctx context.Context) ([]Grant, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.Shares(ctx)
}

// Receive fetches the inbox and sorts what arrived into /shared and the
// pending list (Tree.Receive); it returns how many shares were added or
// updated under /shared.
func (d *Drive) Receive(ctx context.Context) (int, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return 0, err
	}
	return t.Receive(ctx)
}

// Received lists the shares under /shared (Tree.Received).
func (d *Drive) Received(ctx context.Context) ([]ShareInfo, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.Received(ctx)
}

// PendingShares lists the shares that wait to be accepted (Tree.Pending;
// Drive.Pending is the upload journal's).
func (d *Drive) PendingShares(ctx context.Context) ([]ShareInfo, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.Pending(ctx)
}

// Accept moves pending shares under /shared (Tree.Accept) and returns
// their names there.
func (d *Drive) Accept(ctx context.Context, names []string, fromUserID string) ([]string, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.Accept(ctx, names, fromUserID)
}

// Decline drops pending shares (Tree.Decline) and returns how many.
func (d *Drive) Decline(ctx context.Context, names []string, fromUserID string) (int, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return 0, err
	}
	return t.Decline(ctx, names, fromUserID)
}
