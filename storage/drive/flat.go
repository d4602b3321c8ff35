package drive

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// Namespace is the drive's metadata: which files and folders exist, and
// each file's manifest. Flat implements it in a local KV until the Cryptree
// implementation replaces it. Implementations are safe for concurrent use.
// Paths are cleaned with Clean (a bad one is storage.Invalid). Entries
// returned belong to the caller.
type Namespace interface {
	// Stat returns the entry at path (with its Manifest for a file), or
	// storage.NotExist.
	Stat(ctx context.Context, path string) (Entry, error)
	// List returns the direct children of folder dir sorted by name, with
	// nil Manifests. storage.NotExist if dir is missing, storage.Invalid if
	// it is a file.
	List(ctx context.Context, dir string) ([]Entry, error)
	// Walk calls fn for every entry below dir (dir itself excluded), depth
	// first, each folder's children in name order, files with their
	// Manifest. If fn returns fs.SkipDir for a folder, its children are
	// skipped; any other error stops the walk and is returned. Walk is not
	// a snapshot, and fn may call the Namespace.
	Walk(ctx context.Context, dir string, fn func(Entry) error) error
	// Mkdir creates folder path. storage.Exist if path exists (unless
	// parents is set and it is a folder); storage.NotExist if the parent is
	// missing and parents is not set; storage.Invalid if a parent is a
	// file. With parents set, missing ancestors are created.
	Mkdir(ctx context.Context, path string, parents bool) error
	// Commit creates or replaces file path with manifest m and mtime (zero
	// means now) atomically, creating missing parent folders.
	// storage.Invalid if path is a folder or a parent is a file.
	Commit(ctx context.Context, path string, m *blob.Manifest, mtime time.Time) (Entry, error)
	// Remove removes path and returns the file entries it removed (with
	// Manifests), so their fragments can be collected. storage.NotExist if
	// missing; storage.Invalid for "/" or for a non-empty folder without
	// recursive.
	Remove(ctx context.Context, path string, recursive bool) ([]Entry, error)
	// Rename moves a file or a whole folder. storage.NotExist if src or the
	// parent of dst is missing; storage.Exist if dst exists;
	// storage.Invalid to move "/" or a folder into itself, or if the parent
	// of dst is a file.
	Rename(ctx context.Context, src, dst string) error
}

// Flat is the flat, local Namespace: one sealed record per file or folder
// in a storage.KV, kept under a key that names the parent folder (by a
// random id) and the child (by a keyed hash of its name), so keys reveal
// the shape of the tree but no names. See docs/DESIGN.md, "The drive".
//
// Crash safety: every change a reader could see half-done is either one
// KV write (Commit, Mkdir, removing one entry) or a rename, which first
// writes an intent record and is completed by whichever Flat next uses the
// KV. Commit creates missing parents first, each visible as an (empty)
// folder before the file appears in one write. A recursive Remove deletes
// bottom-up, so an interrupted one leaves a smaller but consistent tree.
//
// Flat is safe for concurrent use: reads share a lock, changes hold it
// alone. Only one Flat per KV and key may be in use at a time (several
// users' Flats may share a KV: their keys differ).
type Flat struct {
	kv    storage.KV
	key   cryptree.Key
	names [32]byte // HMAC key for name hashes
	root  folderID

	mu       sync.RWMutex
	repaired atomic.Bool
}

var _ Namespace = (*Flat)(nil)

// NewFlat returns the namespace of the user whose metadata key is key, kept
// in kv. Nothing is read until the first call.
func NewFlat(kv storage.KV, key cryptree.Key) *Flat {
	f := &Flat{kv: kv, key: key, names: subkey(key, "names")}
	r := subkey(key, "root")
	copy(f.root[:], r[:])
	return f
}

func (f *Flat) childKey(dir folderID, name string) []byte {
	m := hmac.New(sha256.New, f.names[:])
	m.Write([]byte(name))
	k := make([]byte, 0, len(prefixChild)+32)
	k = append(k, prefixChild...)
	k = append(k, dir[:]...)
	return append(k, m.Sum(nil)[:16]...)
}

func (f *Flat) intentKey() []byte {
	return append([]byte(prefixIntent), f.root[:]...)
}

// getChild reads the child name of folder dir.
func (f *Flat) getChild(ctx context.Context, dir folderID, name string) (entryRec, bool, error) {
	k := f.childKey(dir, name)
	plain, found, err := getSealed(ctx, f.kv, f.key, k)
	if !found || err != nil {
		return entryRec{}, false, err
	}
	e, err := decodeEntry(plain)
	if err == nil && e.name != name {
		err = fmt.Errorf("%w: name does not match key", errRecord)
	}
	if err != nil {
		return entryRec{}, false, storage.E("read entry", storage.Corrupt, err)
	}
	return e, true, nil
}

func (f *Flat) putChild(ctx context.Context, dir folderID, e entryRec) error {
	return setSealed(ctx, f.kv, f.key, f.childKey(dir, e.name), encodeEntry(e))
}

func (f *Flat) delChild(ctx context.Context, dir folderID, name string) error {
	return f.kv.Delete(ctx, f.childKey(dir, name))
}

// children returns the children of folder dir sorted by name.
func (f *Flat) children(ctx context.Context, dir folderID) ([]entryRec, error) {
	prefix := append([]byte(prefixChild), dir[:]...)
	var out []entryRec
	err := f.kv.Scan(ctx, prefix, func(k, v []byte) error {
		plain, err := open(f.key, k, v)
		if err != nil {
			return err
		}
		e, err := decodeEntry(plain)
		if err == nil && string(f.childKey(dir, e.name)) != string(k) {
			err = fmt.Errorf("%w: name does not match key", errRecord)
		}
		if err != nil {
			return storage.E("read entry", storage.Corrupt, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// lookupDir returns the id of folder p: storage.NotExist if a component is
// missing, storage.Invalid if one is a file.
func (f *Flat) lookupDir(ctx context.Context, p string) (folderID, error) {
	cur := f.root
	for i, name := range split(p) {
		e, found, err := f.getChild(ctx, cur, name)
		if err != nil {
			return cur, err
		}
		sub := "/" + strings.Join(split(p)[:i+1], "/")
		if !found {
			return cur, storage.Ef("lookup", storage.NotExist, sub, nil)
		}
		if !e.dir {
			return cur, storage.Ef("lookup", storage.Invalid, sub, errors.New("not a folder"))
		}
		cur = e.id
	}
	return cur, nil
}

// lookup returns the parent folder of a clean path other than "/" and the
// child there, if any. Missing ancestors or a file among them are
// storage.NotExist.
func (f *Flat) lookup(ctx context.Context, p string) (parent folderID, e entryRec, found bool, err error) {
	parent, err = f.lookupDir(ctx, path.Dir(p))
	if errors.Is(err, storage.Invalid) {
		err = storage.Ef("lookup", storage.NotExist, p, err)
	}
	if err != nil {
		return parent, e, false, err
	}
	e, found, err = f.getChild(ctx, parent, path.Base(p))
	return parent, e, found, err
}

func (e entryRec) entry(p string) Entry {
	return Entry{Path: p, IsDir: e.dir, Size: e.size, Mtime: e.mtime}
}

// withManifest fills in the entry's Manifest from the record.
func (e entryRec) full(p string) (Entry, error) {
	out := e.entry(p)
	if !e.dir {
		m, err := e.parseManifest()
		if err != nil {
			return Entry{}, storage.Ef("read entry", storage.Corrupt, p, err)
		}
		out.Manifest = m
	}
	return out, nil
}

// ready completes an interrupted rename before the first use.
func (f *Flat) ready(ctx context.Context) error {
	if f.repaired.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.repaired.Load() {
		return nil
	}
	if err := f.repair(ctx); err != nil {
		return err
	}
	f.repaired.Store(true)
	return nil
}

// repair completes the rename an intent record describes, if any. It is
// idempotent: the source entry, while it exists, is the truth.
func (f *Flat) repair(ctx context.Context) error {
	k := f.intentKey()
	plain, found, err := getSealed(ctx, f.kv, f.key, k)
	if errors.Is(err, storage.CannotDecrypt) {
		// Unreadable: nothing can be completed; the source is still there.
		return f.kv.Delete(ctx, k)
	}
	if !found || err != nil {
		return err
	}
	in, err := decodeIntent(plain)
	if err != nil {
		return f.kv.Delete(ctx, k)
	}
	e, found, err := f.getChild(ctx, in.src, in.srcName)
	if err != nil {
		return err
	}
	if found {
		if err := f.move(ctx, in, e); err != nil {
			return err
		}
	}
	return f.kv.Delete(ctx, k)
}

// move writes e as dstName in dst, then deletes srcName from src.
func (f *Flat) move(ctx context.Context, in intent, e entryRec) error {
	e.name = in.dstName
	if err := f.putChild(ctx, in.dst, e); err != nil {
		return err
	}
	return f.delChild(ctx, in.src, in.srcName)
}

func clean(op string, p string) (string, error) {
	c, err := Clean(p)
	if err != nil {
		return "", storage.E(op, storage.Invalid, err)
	}
	return c, nil
}

// Stat returns the entry at p.
func (f *Flat) Stat(ctx context.Context, p string) (Entry, error) {
	const op = "stat"
	p, err := clean(op, p)
	if err != nil {
		return Entry{}, err
	}
	if err := f.ready(ctx); err != nil {
		return Entry{}, err
	}
	if p == "/" {
		return Entry{Path: "/", IsDir: true}, nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, e, found, err := f.lookup(ctx, p)
	if err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	if !found {
		return Entry{}, storage.Ef(op, storage.NotExist, p, nil)
	}
	return e.full(p)
}

// List returns the children of folder dir, sorted by name, without
// Manifests.
func (f *Flat) List(ctx context.Context, dir string) ([]Entry, error) {
	const op = "list"
	dir, err := clean(op, dir)
	if err != nil {
		return nil, err
	}
	if err := f.ready(ctx); err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	id, err := f.dirID(ctx, dir)
	if err != nil {
		return nil, storage.Ef(op, storage.Other, dir, err)
	}
	recs, err := f.children(ctx, id)
	if err != nil {
		return nil, storage.Ef(op, storage.Other, dir, err)
	}
	out := make([]Entry, len(recs))
	for i, e := range recs {
		out[i] = e.entry(path.Join(dir, e.name))
	}
	return out, nil
}

// dirID resolves folder dir: storage.NotExist if missing (or below a file),
// storage.Invalid if dir itself is a file.
func (f *Flat) dirID(ctx context.Context, dir string) (folderID, error) {
	if dir == "/" {
		return f.root, nil
	}
	_, e, found, err := f.lookup(ctx, dir)
	switch {
	case err != nil:
		return folderID{}, err
	case !found:
		return folderID{}, storage.E("lookup", storage.NotExist, nil)
	case !e.dir:
		return folderID{}, storage.E("lookup", storage.Invalid, errors.New("not a folder"))
	}
	return e.id, nil
}

// Walk calls fn for everything below dir, depth first in name order.
func (f *Flat) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	const op = "walk"
	dir, err := clean(op, dir)
	if err != nil {
		return err
	}
	if err := f.ready(ctx); err != nil {
		return err
	}
	f.mu.RLock()
	id, err := f.dirID(ctx, dir)
	f.mu.RUnlock()
	if err != nil {
		return storage.Ef(op, storage.Other, dir, err)
	}
	return f.walk(ctx, id, dir, fn)
}

func (f *Flat) walk(ctx context.Context, id folderID, dir string, fn func(Entry) error) error {
	f.mu.RLock()
	recs, err := f.children(ctx, id)
	f.mu.RUnlock()
	if err != nil {
		return storage.Ef("walk", storage.Other, dir, err)
	}
	for _, r := range recs {
		e, err := r.full(path.Join(dir, r.name))
		if err != nil {
			return err
		}
		err = fn(e)
		if e.IsDir && errors.Is(err, fs.SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if e.IsDir {
			if err := f.walk(ctx, r.id, e.Path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func newFolderID() (folderID, error) {
	var id folderID
	if _, err := rand.Read(id[:]); err != nil {
		return id, storage.E("new folder id", storage.IO, err)
	}
	return id, nil
}

// mkdirAll makes sure folder p exists, creating what is missing; the
// caller holds the write lock. storage.Invalid if a component is a file.
func (f *Flat) mkdirAll(ctx context.Context, p string, now time.Time) (folderID, error) {
	cur := f.root
	for i, name := range split(p) {
		e, found, err := f.getChild(ctx, cur, name)
		if err != nil {
			return cur, err
		}
		if found && !e.dir {
			sub := "/" + strings.Join(split(p)[:i+1], "/")
			return cur, storage.Ef("mkdir", storage.Invalid, sub, errors.New("a file is in the way"))
		}
		if !found {
			if e, err = f.mkdirIn(ctx, cur, name, now); err != nil {
				return cur, err
			}
		}
		cur = e.id
	}
	return cur, nil
}

func (f *Flat) mkdirIn(ctx context.Context, parent folderID, name string, now time.Time) (entryRec, error) {
	id, err := newFolderID()
	if err != nil {
		return entryRec{}, err
	}
	e := entryRec{name: name, dir: true, mtime: now, id: id}
	return e, f.putChild(ctx, parent, e)
}

// Mkdir creates folder p.
func (f *Flat) Mkdir(ctx context.Context, p string, parents bool) error {
	const op = "mkdir"
	p, err := clean(op, p)
	if err != nil {
		return err
	}
	if err := f.ready(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if parents {
		// An existing file at p itself is Exist, not Invalid.
		if p != "/" {
			if _, e, found, err := f.lookup(ctx, p); err == nil && found && !e.dir {
				return storage.Ef(op, storage.Exist, p, nil)
			}
		}
		_, err := f.mkdirAll(ctx, p, time.Now())
		return wrap(op, p, err)
	}
	if p == "/" {
		return storage.Ef(op, storage.Exist, p, nil)
	}
	parent, err := f.lookupDir(ctx, path.Dir(p))
	if err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	_, found, err := f.getChild(ctx, parent, path.Base(p))
	if err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	if found {
		return storage.Ef(op, storage.Exist, p, nil)
	}
	_, err = f.mkdirIn(ctx, parent, path.Base(p), time.Now())
	return wrap(op, p, err)
}

func wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return storage.Ef(op, storage.Other, p, err)
}

// Commit creates or replaces file p in one KV write.
func (f *Flat) Commit(ctx context.Context, p string, m *blob.Manifest, mtime time.Time) (Entry, error) {
	const op = "commit"
	p, err := clean(op, p)
	if err != nil {
		return Entry{}, err
	}
	if m == nil || p == "/" {
		return Entry{}, storage.Ef(op, storage.Invalid, p, errors.New("no manifest, or the root"))
	}
	raw, err := m.MarshalBinary()
	if err != nil {
		return Entry{}, storage.Ef(op, storage.Invalid, p, err)
	}
	if err := f.ready(ctx); err != nil {
		return Entry{}, err
	}
	now := time.Now()
	if mtime.IsZero() {
		mtime = now
	}
	mtime = clampTime(mtime)
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, err := f.mkdirAll(ctx, path.Dir(p), now)
	if err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	old, found, err := f.getChild(ctx, parent, path.Base(p))
	if err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	if found && old.dir {
		return Entry{}, storage.Ef(op, storage.Invalid, p, errors.New("is a folder"))
	}
	e := entryRec{name: path.Base(p), size: m.Size, mtime: mtime, manifest: raw}
	if err := f.putChild(ctx, parent, e); err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	out := e.entry(p)
	out.Manifest = m
	return out, nil
}

// Remove removes p, bottom-up when recursive.
func (f *Flat) Remove(ctx context.Context, p string, recursive bool) ([]Entry, error) {
	const op = "remove"
	p, err := clean(op, p)
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, storage.Ef(op, storage.Invalid, p, errors.New("cannot remove the root"))
	}
	if err := f.ready(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, e, found, err := f.lookup(ctx, p)
	if err != nil {
		return nil, storage.Ef(op, storage.Other, p, err)
	}
	if !found {
		return nil, storage.Ef(op, storage.NotExist, p, nil)
	}
	var removed []Entry
	if e.dir {
		kids, err := f.children(ctx, e.id)
		if err != nil {
			return nil, storage.Ef(op, storage.Other, p, err)
		}
		if len(kids) > 0 && !recursive {
			return nil, storage.Ef(op, storage.Invalid, p, errors.New("folder not empty"))
		}
		if err := f.removeTree(ctx, e.id, p, kids, &removed); err != nil {
			return removed, storage.Ef(op, storage.Other, p, err)
		}
	} else {
		full, err := e.full(p)
		if err != nil {
			return nil, err
		}
		removed = append(removed, full)
	}
	if err := f.delChild(ctx, parent, e.name); err != nil {
		return removed, storage.Ef(op, storage.Other, p, err)
	}
	return removed, nil
}

// removeTree deletes everything below folder id (whose children are kids),
// deepest first, appending removed files to out.
func (f *Flat) removeTree(ctx context.Context, id folderID, dir string, kids []entryRec, out *[]Entry) error {
	for _, k := range kids {
		p := path.Join(dir, k.name)
		if k.dir {
			sub, err := f.children(ctx, k.id)
			if err != nil {
				return err
			}
			if err := f.removeTree(ctx, k.id, p, sub, out); err != nil {
				return err
			}
		} else {
			e, err := k.full(p)
			if err != nil {
				return err
			}
			*out = append(*out, e)
		}
		if err := f.delChild(ctx, id, k.name); err != nil {
			return err
		}
	}
	return nil
}

// Rename moves src to dst through an intent record.
func (f *Flat) Rename(ctx context.Context, src, dst string) error {
	const op = "rename"
	src, dst, err := cleanMove(op, src, dst)
	if err != nil {
		return err
	}
	if err := f.ready(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	srcParent, e, found, err := f.lookup(ctx, src)
	if err != nil {
		return storage.Ef(op, storage.Other, src, err)
	}
	if !found {
		return storage.Ef(op, storage.NotExist, src, nil)
	}
	dstParent, err := f.lookupDir(ctx, path.Dir(dst))
	if err != nil {
		return storage.Ef(op, storage.Other, dst, err)
	}
	if _, found, err := f.getChild(ctx, dstParent, path.Base(dst)); err != nil {
		return storage.Ef(op, storage.Other, dst, err)
	} else if found {
		return storage.Ef(op, storage.Exist, dst, nil)
	}
	in := intent{src: srcParent, srcName: e.name, dst: dstParent, dstName: path.Base(dst)}
	if err := setSealed(ctx, f.kv, f.key, f.intentKey(), encodeIntent(in)); err != nil {
		return storage.Ef(op, storage.Other, src, err)
	}
	if err := f.move(ctx, in, e); err != nil {
		// The intent stays: the next Flat on this KV completes the move.
		f.repaired.Store(false)
		return storage.Ef(op, storage.Other, src, err)
	}
	if err := f.kv.Delete(ctx, f.intentKey()); err != nil {
		f.repaired.Store(false)
		return storage.Ef(op, storage.Other, src, err)
	}
	return nil
}
