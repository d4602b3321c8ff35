package drive

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// CapView is a read-only view of what one capability opens (a link, for
// `cairn get LINK` from a fresh home: no keyring, no tree of one's own).
// Paths are relative to the shared item: "/" is the shared folder, or
// the shared file itself. It never writes, even with a capability that
// carries a Writer. Safe for concurrent use.
type CapView struct {
	t       *Tree
	c       *cryptree.Capability
	objects *blob.Client
}

// OpenCapability opens the folder or file c names through objects and
// records, checking that it opens now. Errors: storage.Invalid for a
// missing argument or a malformed capability; storage.NotExist or
// storage.CannotDecrypt ("access revoked or key rotated") when it no
// longer opens; the record and object layers' kinds. c is not retained
// beyond a copy.
func OpenCapability(ctx context.Context, objects *blob.Client, records Records, c *cryptree.Capability) (*CapView, error) {
	const op = "open capability"
	if objects == nil || records == nil || c == nil {
		return nil, storage.E(op, storage.Invalid, errors.New("missing objects, records or capability"))
	}
	if err := c.Check(); err != nil {
		return nil, storage.E(op, storage.Invalid, err)
	}
	cc := *c
	cc.Writer = nil
	t := &Tree{view: true, seen: map[cryptree.FolderID]*cryptree.Record{},
		cfg: TreeConfig{Objects: objects, Records: records, Cache: newMapKV()}}
	if cc.Kind == cryptree.CapFolder {
		t.cfg.Root, t.cfg.RootKeys.SK = cc.ID, cc.SK
	}
	v := &CapView{t: t, c: &cc, objects: objects}
	if _, err := v.Stat(ctx, "/"); err != nil {
		return nil, err
	}
	return v, nil
}

// IsDir reports whether the view is of a folder ("/" lists it) rather
// than of a single file ("/" is the file).
func (v *CapView) IsDir() bool { return v.c.Kind == cryptree.CapFolder }

// Name is the display name the capability carries ("" if none).
func (v *CapView) Name() string { return v.c.Name }

// revoked turns the view's failures to open its top into a clear error.
func (v *CapView) revoked(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.NotExist) || errors.Is(err, storage.CannotDecrypt) {
		return storage.E(op, storage.KindOf(err), errors.Join(errRevoked, err))
	}
	return err
}

// file returns the shared file's metadata, for a file capability.
func (v *CapView) file(ctx context.Context, op, p string) (*cryptree.FileMeta, error) {
	p, err := clean(op, p)
	if err != nil {
		return nil, err
	}
	if p != "/" {
		return nil, storage.Ef(op, storage.NotExist, p, errors.New("a file share has nothing below it"))
	}
	meta, err := v.t.openFileShare(ctx, v.c)
	if err != nil {
		return nil, v.revoked(op, err)
	}
	return meta, nil
}

// Stat returns the entry at p ("/" for the shared item), a file's with
// its Manifest. Errors as for Tree.Stat.
func (v *CapView) Stat(ctx context.Context, p string) (Entry, error) {
	if v.IsDir() {
		e, err := v.t.Stat(ctx, p)
		if err != nil && p == "/" {
			err = v.revoked("stat", err)
		}
		return e, err
	}
	meta, err := v.file(ctx, "stat", p)
	if err != nil {
		return Entry{}, err
	}
	return v.t.fileEntry(ctx, "/", &meta.Versions[len(meta.Versions)-1])
}

// List returns the children of folder dir. storage.NotDir for a file
// share. Errors as for Tree.List.
func (v *CapView) List(ctx context.Context, dir string) ([]Entry, error) {
	if !v.IsDir() {
		return nil, storage.Ef("list", storage.NotDir, dir, errors.New("a file share is not a folder"))
	}
	return v.t.List(ctx, dir)
}

// Walk calls fn for everything below dir, as Tree.Walk. storage.NotDir
// for a file share.
func (v *CapView) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	if !v.IsDir() {
		return storage.Ef("walk", storage.NotDir, dir, errors.New("a file share is not a folder"))
	}
	return v.t.Walk(ctx, dir, fn)
}

// Open returns a random-access reader for file p and its entry.
// storage.IsDir for a folder. The Reader's fetches are bounded by ctx.
func (v *CapView) Open(ctx context.Context, p string) (*blob.Reader, Entry, error) {
	e, err := v.Stat(ctx, p)
	if err != nil {
		return nil, Entry{}, err
	}
	if e.IsDir {
		return nil, Entry{}, storage.Ef("open", storage.IsDir, e.Path, errors.New("is a folder"))
	}
	return v.objects.Open(ctx, e.Manifest), e, nil
}

// mapKV is an in-memory storage.KV: a CapView's cache.
type mapKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMapKV() *mapKV { return &mapKV{m: map[string][]byte{}} }

func (k *mapKV) Get(_ context.Context, key []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[string(key)]
	if !ok {
		return nil, storage.E("get", storage.NotExist, nil)
	}
	return bytes.Clone(v), nil
}

func (k *mapKV) Set(_ context.Context, key, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[string(key)] = bytes.Clone(value)
	return nil
}

func (k *mapKV) Delete(_ context.Context, key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, string(key))
	return nil
}

func (k *mapKV) Scan(_ context.Context, prefix []byte, fn func(key, value []byte) error) error {
	k.mu.Lock()
	var keys []string
	for s := range k.m {
		if bytes.HasPrefix([]byte(s), prefix) {
			keys = append(keys, s)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, s := range keys {
		vals[i] = bytes.Clone(k.m[s])
	}
	k.mu.Unlock()
	for i, s := range keys {
		if err := fn([]byte(s), vals[i]); err != nil {
			return err
		}
	}
	return nil
}
