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

// Drive is one user's drive: a Namespace for names, a blob.Client for
// bytes, and an upload journal so that an upload interrupted by a crash
// resumes without sending again what already landed. It is what the
// daemon and the FUSE drive call. Safe for concurrent use.
type Drive struct {
	ns  Namespace
	bc  *blob.Client
	kv  storage.KV // the journal
	key cryptree.Key
	tag [8]byte // journal key prefix for this user

	mu      sync.Mutex
	running map[string]bool // upload ids claimed by a Put or Resume now

	leftMu sync.Mutex
	left   map[string][]string // path → ids of crash leftovers (nil: not scanned yet)
}

// New returns the drive of the user whose metadata key is key. Journal
// records are sealed under key and kept in journal (which may be the same
// KV as the namespace's: prefixes differ).
func New(ns Namespace, bc *blob.Client, journal storage.KV, key cryptree.Key) *Drive {
	d := &Drive{ns: ns, bc: bc, kv: journal, key: key, running: map[string]bool{}}
	t := subkey(key, "journal")
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
// Errors: storage.Invalid for a bad path, a folder at p or a bad Source;
// storage.IO when Source cannot be examined; blob's errors (Unavailable,
// Canceled, ...) and the namespace's (Invalid if a parent is a file).
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
	e, err := d.ns.Stat(ctx, p)
	switch {
	case errors.Is(err, storage.NotExist):
		return reuse, nil
	case err != nil:
		return nil, err
	case e.IsDir:
		return nil, storage.Ef("put", storage.Invalid, p, errors.New("is a folder"))
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
	return d.ns.Commit(ctx, j.path, m, j.mtime)
}

// Open returns a random-access reader for file p and its entry.
// storage.NotExist if missing, storage.Invalid for a folder. The Reader's
// fetches are bounded by ctx.
func (d *Drive) Open(ctx context.Context, p string) (*blob.Reader, Entry, error) {
	e, err := d.ns.Stat(ctx, p)
	if err != nil {
		return nil, Entry{}, err
	}
	if e.IsDir {
		return nil, Entry{}, storage.Ef("open", storage.Invalid, e.Path, errors.New("is a folder"))
	}
	return d.bc.Open(ctx, e.Manifest), e, nil
}

// Stat is Namespace.Stat.
func (d *Drive) Stat(ctx context.Context, p string) (Entry, error) { return d.ns.Stat(ctx, p) }

// List is Namespace.List.
func (d *Drive) List(ctx context.Context, dir string) ([]Entry, error) { return d.ns.List(ctx, dir) }

// Walk is Namespace.Walk.
func (d *Drive) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	return d.ns.Walk(ctx, dir, fn)
}

// Mkdir is Namespace.Mkdir.
func (d *Drive) Mkdir(ctx context.Context, p string, parents bool) error {
	return d.ns.Mkdir(ctx, p, parents)
}

// Remove is Namespace.Remove. The fragments of removed files stay on their
// peers (collecting them is not done yet).
func (d *Drive) Remove(ctx context.Context, p string, recursive bool) ([]Entry, error) {
	return d.ns.Remove(ctx, p, recursive)
}

// Rename is Namespace.Rename.
func (d *Drive) Rename(ctx context.Context, src, dst string) error { return d.ns.Rename(ctx, src, dst) }

// Usage returns the number of files, their logical size and what they
// take on the network after redundancy (sum of Manifest.StoredBytes). It
// reads every manifest.
func (d *Drive) Usage(ctx context.Context) (files int, size, stored int64, err error) {
	err = d.ns.Walk(ctx, "/", func(e Entry) error {
		if e.IsDir {
			return nil
		}
		files++
		size += e.Size
		if e.Manifest != nil {
			stored += e.Manifest.StoredBytes()
		}
		return nil
	})
	return files, size, stored, err
}
