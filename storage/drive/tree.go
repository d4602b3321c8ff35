package drive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// Records stores and finds signed folder records. The daemon implements it
// with the DHT and the pointer protocol on storage peers; tests use an
// in-memory fake. Implementations are safe for concurrent use, do not
// retain the records they are given, and return records the caller owns.
type Records interface {
	// Publish stores rec where Lookup finds it. A record whose Seq is not
	// above the one held (a stale write, another writer was first) is
	// refused with storage.Exist.
	Publish(ctx context.Context, rec *cryptree.Record) error
	// Lookup returns the best valid record found for folder id, or
	// storage.NotExist. Tree verifies what it gets all the same.
	Lookup(ctx context.Context, id cryptree.FolderID) (*cryptree.Record, error)
}

// TreeConfig sets up a Tree. Every field but Logf is required.
type TreeConfig struct {
	// Objects stores folder bodies too large to sit in their record and
	// manifests too large to sit in their file's metadata, as small
	// objects. File content is placed by Drive.Put, not here.
	Objects *blob.Client
	// Records publishes and finds folder records.
	Records Records
	// Cache is local: the latest record seen of every folder (a record
	// with a lower Seq from the network is refused as a rollback) and
	// small objects by ref. It holds nothing secret (records and objects
	// are sealed) and can be dropped at any time but for the rollback
	// protection it gives.
	Cache storage.KV
	// Root, RootKeys and RootWriter are the user's root folder, from
	// Keyring.RootFolder (RootWriter.ID() must be Root).
	Root       cryptree.FolderID
	RootKeys   cryptree.FolderKeys
	RootWriter *cryptree.Writer
	// Logf, if set, receives notes (refused records, republishing).
	Logf func(format string, args ...any)
	// Sharing, if set, lets the Tree share with other users and receive
	// their shares (Share, Unshare's re-delivery, Receive). Without it
	// those return storage.Invalid; Link, Shares and /shared work.
	Sharing *Sharing
}

// Tree is the Cryptree namespace behind a Drive: every folder a sealed Cryptree node
// (cryptree.SealFolder) whose current version is named by a signed,
// sequence-numbered record (cryptree.Record) kept by Records; each file an
// entry of its folder with its versions. Its Value is the sealed body
// itself when small, else a Locator of the body stored as a small object.
// Folders keep their identity (their ID) across renames, so shares of
// them keep working.
//
// Reads resolve a path from the root, looking up each folder's record
// every time (so changes by other writers show) and opening bodies from
// the local cache by ref; a body opened before from the same record value
// with the same keys is not opened again (opened.go). Writes seal the changed folders again and
// publish their records with Seq+1. Remove moves into TrashDir, Commit
// keeps versions (Versions, Version).
//
// Crash safety: each folder changes in one record write. A new folder's
// first record is published before its parent names it; a move across
// folders adds the item to the destination before removing it from the
// source, so a crash leaves it in both, never in neither.
//
// Tree is safe for concurrent use: writes through one Tree are serialized;
// reads take no lock. Two Trees (two devices) writing the same folder at
// once race: the second write of one Seq is refused by Records and
// reported as storage.Unavailable ("changed by another writer"), to be
// retried.
type Tree struct {
	cmu        sync.Mutex // guards queue and committing (group commit)
	queue      []*pendingCommit
	committing bool
	cfg        TreeConfig
	mu         sync.Mutex // serializes writes

	seenMu sync.Mutex
	seen   map[cryptree.FolderID]*cryptree.Record // verified, as in the cache; read-only

	opened openedCache // folders opened lately, by record value (opened.go)

	// view: a CapView's tree, rooted at a shared folder; no /shared,
	// no /.cairn, no writes.
	view bool
}

// Tree limits and names.
const (
	// TrashDir is where Remove moves things.
	TrashDir = "/.trash"
	// KeepVersions is how many of the latest versions of a file are kept,
	// besides the first, which is always kept.
	KeepVersions = 10
	// InlineManifest is the largest serialized manifest kept inside its
	// version; larger ones are sealed as small objects.
	InlineManifest = 2 << 10
)

// Record values and cache keys.
//
//	record Value: 0x01 ‖ sealed body          (body small enough)
//	              0x02 ‖ blob.Locator          (body stored as a small object)
//	              0x03                         (tombstone: the folder was re-keyed)
//	version Manifest (not Inline): key [16] ‖ blob.Locator of
//	              cryptree.SealRecord(key, cryptree.Pad(manifest), manifestAD)
//	cache:        tree/r/ ‖ folder id → the latest record seen (Marshal)
//	              tree/o/ ‖ ref       → a small object's bytes
const (
	valueInline    = 0x01
	valueLocator   = 0x02
	valueTombstone = 0x03 // the folder's last record: re-keyed under a new ID (share.go)

	cacheRecord = "tree/r/"
	cacheObject = "tree/o/"

	manifestAD = "cairn drive manifest v1"
)

// errConflict marks a write refused because another writer was first.
var errConflict = errors.New("folder was changed by another writer; try again")

// NewTree opens the drive whose root folder cfg names. If no record of the
// root exists anywhere (a fresh user), it creates an empty root folder;
// otherwise it checks that the root opens with the keys given (the drive
// of a recovered keyring, or another device). Errors: storage.Invalid for
// a bad cfg, storage.CannotDecrypt if the root does not open with the
// keys, and the kinds of the record and object layers.
func NewTree(ctx context.Context, cfg TreeConfig) (*Tree, error) {
	const op = "open tree"
	switch {
	case cfg.Objects == nil || cfg.Records == nil || cfg.Cache == nil || cfg.RootWriter == nil:
		return nil, storage.E(op, storage.Invalid, errors.New("missing objects, records, cache or root writer"))
	case cfg.RootWriter.ID() != cfg.Root:
		return nil, storage.E(op, storage.Invalid, errors.New("root writer does not write the root folder"))
	}
	t := &Tree{cfg: cfg, seen: map[cryptree.FolderID]*cryptree.Record{}}
	t.mu.Lock()
	defer t.mu.Unlock()
	for try := 0; ; try++ {
		o := t.newOp()
		_, err := o.root(ctx)
		if !errors.Is(err, storage.NotExist) {
			if err != nil {
				return nil, storage.E(op, storage.Other, err)
			}
			return t, nil
		}
		root := &node{id: cfg.Root, keys: cfg.RootKeys, w: cfg.RootWriter,
			f: &cryptree.Folder{Mtime: time.Now()}}
		err = o.save(ctx, root)
		if errors.Is(err, errConflict) && try == 0 {
			continue // another device created it just now
		}
		if err != nil {
			return nil, storage.E(op, storage.Other, err)
		}
		t.logf("tree: created the root folder %s", cfg.Root.String()[:8])
		return t, nil
	}
}

func (t *Tree) logf(format string, args ...any) {
	if t.cfg.Logf != nil {
		t.cfg.Logf(format, args...)
	}
}

// node is one opened folder, as one operation sees it.
type node struct {
	id   cryptree.FolderID
	keys cryptree.FolderKeys
	w    *cryptree.Writer // nil: read-only
	rec  *cryptree.Record // nil: not published yet
	f    *cryptree.Folder
	// shared marks the virtual /shared folder (shared.go): its entries
	// are the received shares; it is never saved.
	shared bool
	// foreign marks a folder of someone else's tree (a received share or
	// anything below one, or a CapView's): a tombstone there means
	// access was revoked.
	foreign bool
	// For the virtual /shared folder: the file shares not opened yet (a
	// listing opens them; a path through /shared only the one it names),
	// and why those that were opened failed.
	unopened map[string]*cryptree.Capability
	shareErr map[string]error
	// bad: the network's newest record of this folder does not open (a
	// co-writer published garbage); rec and f are the last good ones seen
	// here. Writes to it are refused until the owner re-keys it.
	bad bool
}

// op is one operation: it loads each folder at most once, so that every
// change to a folder within the operation lands on the same node.
type op struct {
	t     *Tree
	nodes map[cryptree.FolderID]*node
	// ro: the op only reads, so its nodes may share their Folder with
	// the cache of opened folders (newReadOp); an op that may change a
	// folder gets its own copy.
	ro bool

	// Received shares, as this op sees them (shared.go).
	recv      *[]received
	sharedDir *cryptree.DirEntry // the virtual entry of /shared in the root
	sharedN   *node              // the virtual /shared folder
}

func (t *Tree) newOp() *op { return &op{t: t, nodes: map[cryptree.FolderID]*node{}} }

// newReadOp is newOp for an operation that changes no folder: its nodes'
// Folders (n.f and everything it points to) are shared and read only.
func (t *Tree) newReadOp() *op { return &op{t: t, nodes: map[cryptree.FolderID]*node{}, ro: true} }

func (o *op) root(ctx context.Context) (*node, error) {
	return o.load(ctx, o.t.cfg.Root, o.t.cfg.RootKeys.SK, o.t.cfg.RootWriter, o.t.view)
}

// child opens subfolder d of parent. A subfolder whose record is nowhere
// to be found is storage.Unavailable (it exists: its parent names it).
func (o *op) child(ctx context.Context, parent *node, d *cryptree.DirEntry) (*node, error) {
	if d == o.sharedDir && d != nil {
		return o.sharedNode(ctx)
	}
	foreign := parent.foreign || parent.shared || o.t.view
	n, err := o.load(ctx, d.ID, d.SK, d.Writer, foreign)
	if err != nil && parent.shared {
		return nil, revokedErr(d.Name, err)
	}
	if errors.Is(err, storage.NotExist) && !errors.Is(err, errTombstone) {
		err = storage.Ef("look up folder", storage.Unavailable, d.Name, err)
	}
	return n, err
}

// load opens folder id: its current record, its body, then the body with
// sk (and w's WK if w is set). foreign marks someone else's folder.
func (o *op) load(ctx context.Context, id cryptree.FolderID, sk cryptree.Key, w *cryptree.Writer, foreign bool) (*node, error) {
	if n := o.nodes[id]; n != nil {
		return n, nil
	}
	var wk *cryptree.Key
	if w != nil {
		wk = &w.WK
	}
	var f *cryptree.Folder
	var keys cryptree.FolderKeys
	rec, bad, err := o.t.current(ctx, id, foreign, func(r *cryptree.Record) error {
		// The record was chosen (verified, no rollback) before this: a
		// body opened before from the same value with the same keys
		// opens the same way again.
		if f, keys = o.t.opened.get(id, r.Value, sk, wk); f != nil {
			return nil
		}
		body, err := o.t.body(ctx, r.Value)
		if err != nil {
			return err
		}
		if f, keys, err = cryptree.OpenFolder(body, id, sk, wk); err != nil {
			return cryptoErr("open folder", id, err)
		}
		o.t.opened.put(id, r.Value, sk, wk, f, keys, len(body))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !o.ro {
		f = cloneFolder(f) // the cache's copy stays as it was opened
	}
	n := &node{id: id, keys: keys, w: w, rec: rec, f: f, foreign: foreign, bad: bad}
	o.nodes[id] = n
	return n, nil
}

// current returns the record of folder id whose body open accepts: the
// network's newest (record), or, when that one is unusable — its body does
// not open, it jumps further ahead than cryptree.Follows allows, or it is a
// tombstone of a folder of the user's own tree (foreign false) — the last
// good record seen here, with bad true. Only a holder of the folder's
// signing key can make such a record (a co-writer of a share, or a
// malicious owner), so falling back cannot be abused by peers to roll a
// folder back; and a record that does not open never wins over one that
// does. The newest is remembered only once it opened. open reads the body
// of the record it is given (t.body) and opens it.
func (t *Tree) current(ctx context.Context, id cryptree.FolderID, foreign bool, open func(r *cryptree.Record) error) (*cryptree.Record, bool, error) {
	rec, cached, err := t.record(ctx, id)
	if err != nil {
		return nil, false, err
	}
	try := open
	if cached != nil && rec != cached && rec.Seq > cached.Seq && !cryptree.Follows(cached, rec) {
		err = storage.Ef("look up folder", storage.Corrupt, "folder "+id.String()[:8],
			fmt.Errorf("record seq %d jumps too far past seq %d", rec.Seq, cached.Seq))
	} else if err = try(rec); err == nil {
		if rec != cached {
			t.remember(ctx, rec, cached)
		}
		return rec, false, nil
	}
	unusable := errors.Is(err, storage.Corrupt) || errors.Is(err, storage.CannotDecrypt) ||
		!foreign && errors.Is(err, errTombstone)
	if !unusable || cached == nil || rec == cached {
		return nil, false, err
	}
	if err2 := try(cached); err2 != nil {
		return nil, false, err
	}
	t.logf("tree: folder %s: the newest record (seq %d) is unusable (%v); using seq %d, the last good one",
		id.String()[:8], rec.Seq, err, cached.Seq)
	return cached, true, nil
}

// cryptoErr maps cryptree's errors on bytes from the network to kinds.
func cryptoErr(op string, id cryptree.FolderID, err error) error {
	kind := storage.Corrupt
	if errors.Is(err, cryptree.ErrCannotDecrypt) {
		kind = storage.CannotDecrypt
	}
	return storage.Ef(op, kind, "folder "+id.String()[:8], err)
}

// record returns folder id's newest record — the network's, verified, and
// not older than the latest good one seen here — and that cached one (nil
// if none). If the network has none but the cache does (the record
// expired), the cached one is republished and returned as both. The
// caller remembers the newest once it has opened it (current).
func (t *Tree) record(ctx context.Context, id cryptree.FolderID) (rec, cached *cryptree.Record, err error) {
	const op = "look up folder"
	subject := "folder " + id.String()[:8]
	cached = t.cachedRecord(ctx, id)
	got, err := t.cfg.Records.Lookup(ctx, id)
	if errors.Is(err, storage.NotExist) && cached != nil {
		t.logf("tree: %s has no record on the network; republishing seq %d", subject, cached.Seq)
		if err := t.cfg.Records.Publish(ctx, cached); err != nil {
			t.logf("tree: republishing %s: %v", subject, err)
		}
		return cached, cached, nil
	}
	if err != nil {
		return nil, nil, storage.Ef(op, storage.Other, subject, err)
	}
	if got == nil {
		return nil, nil, storage.Ef(op, storage.Corrupt, subject, errors.New("no record returned"))
	}
	if cached != nil && sameRecord(got, cached) {
		return cached, cached, nil // verified before
	}
	// Do not trust the record layer: check the signature ourselves.
	rec, err = cryptree.ParseRecord(got.Marshal())
	if err != nil || rec.ID != id {
		t.logf("tree: refused a forged record of %s", subject)
		return nil, nil, storage.Ef(op, storage.Corrupt, subject, errors.New("forged record: bad signature or wrong folder"))
	}
	if cached != nil {
		if rec.Seq < cached.Seq {
			t.logf("tree: refused record seq %d of %s: seq %d was seen before (rollback)", rec.Seq, subject, cached.Seq)
			return nil, nil, storage.Ef(op, storage.Corrupt, subject,
				fmt.Errorf("rollback: record seq %d is older than seq %d seen before", rec.Seq, cached.Seq))
		}
		if rec.Seq == cached.Seq && (bytes.Equal(rec.Value, cached.Value) || !cryptree.Follows(cached, rec)) {
			return cached, cached, nil // the same, or ours wins the tie
		}
	}
	return rec, cached, nil
}

// sameRecord reports whether a and b marshal to the same bytes (the same
// folder, seq, value and signature), without marshalling them.
func sameRecord(a, b *cryptree.Record) bool {
	return a == b || a.ID == b.ID && a.Seq == b.Seq && a.Sig == b.Sig && bytes.Equal(a.Value, b.Value)
}

// cachedRecord returns the latest record seen of folder id, or nil. The
// record is shared: read only.
func (t *Tree) cachedRecord(ctx context.Context, id cryptree.FolderID) *cryptree.Record {
	t.seenMu.Lock()
	rec := t.seen[id]
	t.seenMu.Unlock()
	if rec != nil {
		return rec
	}
	b, err := t.cfg.Cache.Get(ctx, append([]byte(cacheRecord), id[:]...))
	if err != nil {
		return nil
	}
	rec, err = cryptree.ParseRecord(b)
	if err != nil || rec.ID != id {
		return nil
	}
	t.see(rec)
	return rec
}

// see keeps rec in memory as the latest of its folder unless a higher Seq
// is there already.
func (t *Tree) see(rec *cryptree.Record) {
	t.seenMu.Lock()
	defer t.seenMu.Unlock()
	if old := t.seen[rec.ID]; old == nil || cryptree.SelectRecord([]*cryptree.Record{old, rec}) == 1 {
		t.seen[rec.ID] = rec
	}
}

// remember caches rec as the latest of its folder and drops the body of
// old from the object cache.
func (t *Tree) remember(ctx context.Context, rec, old *cryptree.Record) {
	t.see(rec)
	if err := t.cfg.Cache.Set(ctx, append([]byte(cacheRecord), rec.ID[:]...), rec.Marshal()); err != nil {
		t.logf("tree: caching a record: %v", err)
	}
	if old != nil && len(old.Value) > 0 && old.Value[0] == valueLocator && !bytes.Equal(old.Value, rec.Value) {
		if l, err := blob.ParseLocator(old.Value[1:]); err == nil {
			_ = t.cfg.Cache.Delete(ctx, append([]byte(cacheObject), l.Ref[:]...))
		}
	}
}

// body returns the sealed body a record value names.
func (t *Tree) body(ctx context.Context, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, storage.E("read folder", storage.Corrupt, errors.New("empty record value"))
	}
	switch v[0] {
	case valueInline:
		return v[1:], nil
	case valueLocator:
		l, err := blob.ParseLocator(v[1:])
		if err != nil {
			return nil, err
		}
		return t.object(ctx, l)
	case valueTombstone:
		return nil, storage.E("read folder", storage.NotExist, errTombstone)
	}
	return nil, storage.E("read folder", storage.Corrupt, fmt.Errorf("unknown record value type %d", v[0]))
}

// object returns a small object from the cache or the network.
func (t *Tree) object(ctx context.Context, l blob.Locator) ([]byte, error) {
	key := append([]byte(cacheObject), l.Ref[:]...)
	if b, err := t.cfg.Cache.Get(ctx, key); err == nil {
		return b, nil
	}
	b, err := t.cfg.Objects.GetObject(ctx, l)
	if err != nil {
		return nil, err
	}
	if err := t.cfg.Cache.Set(ctx, key, b); err != nil {
		t.logf("tree: caching an object: %v", err)
	}
	return b, nil
}

// putObject stores b as a small object and caches it.
func (t *Tree) putObject(ctx context.Context, b []byte) (blob.Locator, error) {
	l, err := t.cfg.Objects.PutObject(ctx, b)
	if err != nil {
		return l, err
	}
	if err := t.cfg.Cache.Set(ctx, append([]byte(cacheObject), l.Ref[:]...), b); err != nil {
		t.logf("tree: caching an object: %v", err)
	}
	return l, nil
}

// save seals n.f and publishes it as n's next record.
func (o *op) save(ctx context.Context, n *node) error {
	const op = "write folder"
	subject := "folder " + n.id.String()[:8]
	if n.w == nil {
		return storage.Ef(op, storage.Permission, subject, errReadOnly)
	}
	if n.bad {
		return storage.Ef(op, storage.Corrupt, subject, errDamaged)
	}
	body, err := cryptree.SealFolder(n.f, n.id, n.keys, &n.w.WK)
	if err != nil {
		return storage.Ef(op, storage.Invalid, subject, err)
	}
	var value []byte
	if 1+len(body) <= cryptree.MaxRecordValue {
		value = append([]byte{valueInline}, body...)
	} else {
		l, err := o.t.putObject(ctx, body)
		if err != nil {
			return storage.Ef(op, storage.Other, subject, err)
		}
		value = append([]byte{valueLocator}, l.Marshal()...)
	}
	var seq uint64
	if n.rec != nil {
		seq = n.rec.Seq
	}
	rec, err := cryptree.SignRecord(*n.w, seq+1, value)
	if err != nil {
		return storage.Ef(op, storage.Invalid, subject, err)
	}
	if err := o.t.cfg.Records.Publish(ctx, rec); err != nil {
		if errors.Is(err, storage.Exist) {
			return storage.Ef(op, storage.Unavailable, subject, fmt.Errorf("%w (%v)", errConflict, err))
		}
		return storage.Ef(op, storage.Other, subject, err)
	}
	o.t.remember(ctx, rec, n.rec)
	n.rec = rec
	o.nodes[n.id] = n
	// What the body opens to is what was sealed (opened.go): the next
	// read of the folder need not open it.
	o.t.opened.put(n.id, value, n.keys.SK, &n.w.WK, sealedAs(n.f), n.keys, len(body))
	return nil
}

// find returns the subfolder or file named name in n.
func (n *node) find(name string) (*cryptree.DirEntry, *cryptree.FileEntry) {
	for i := range n.f.Dirs {
		if n.f.Dirs[i].Name == name {
			return &n.f.Dirs[i], nil
		}
	}
	for i := range n.f.Files {
		if n.f.Files[i].Meta.Name == name {
			return nil, &n.f.Files[i]
		}
	}
	return nil, nil
}

// drop removes the entry named name from n (in memory).
func (n *node) drop(name string) {
	for i := range n.f.Dirs {
		if n.f.Dirs[i].Name == name {
			n.f.Dirs = append(n.f.Dirs[:i:i], n.f.Dirs[i+1:]...)
			return
		}
	}
	for i := range n.f.Files {
		if n.f.Files[i].Meta.Name == name {
			n.f.Files = append(n.f.Files[:i:i], n.f.Files[i+1:]...)
			return
		}
	}
}

// hasLabel reports whether an entry of n has label l.
func (n *node) hasLabel(l [16]byte) bool {
	for i := range n.f.Dirs {
		if n.f.Dirs[i].Label == l {
			return true
		}
	}
	for i := range n.f.Files {
		if n.f.Files[i].Label == l {
			return true
		}
	}
	return false
}

// dir returns folder p: storage.NotExist if a component is missing,
// storage.NotDir if one is a file.
func (o *op) dir(ctx context.Context, p string) (*node, error) {
	cur, err := o.root(ctx)
	if err != nil {
		return nil, err
	}
	parts := split(p)
	for i, name := range parts {
		d, f, err := o.find(ctx, cur, name)
		if err != nil {
			return nil, err
		}
		sub := "/" + strings.Join(parts[:i+1], "/")
		switch {
		case f != nil:
			return nil, storage.Ef("lookup", storage.NotDir, sub, errors.New("not a folder"))
		case d == nil:
			return nil, storage.Ef("lookup", storage.NotExist, sub, nil)
		}
		if cur, err = o.child(ctx, cur, d); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// lookup returns the parent folder of clean path p (not "/") and p's entry
// in it, if any. A missing ancestor or a file among them is
// storage.NotExist.
func (o *op) lookup(ctx context.Context, p string) (*node, *cryptree.DirEntry, *cryptree.FileEntry, error) {
	parent, err := o.dir(ctx, parentOf(p))
	if errors.Is(err, storage.NotDir) || errors.Is(err, storage.Invalid) {
		err = storage.Ef("lookup", storage.NotExist, p, err)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	d, f, err := o.find(ctx, parent, baseOf(p))
	if err != nil {
		return nil, nil, nil, err
	}
	return parent, d, f, nil
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseOf(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// children returns n's entries sorted by name, folders without Mtime and
// files without Manifest, plus, by name, the DirEntry of each folder.
func children(dir string, n *node) ([]Entry, map[string]*cryptree.DirEntry, map[string]*cryptree.FileEntry) {
	out := make([]Entry, 0, len(n.f.Dirs)+len(n.f.Files))
	dirs := make(map[string]*cryptree.DirEntry, len(n.f.Dirs))
	files := make(map[string]*cryptree.FileEntry, len(n.f.Files))
	for i := range n.f.Dirs {
		d := &n.f.Dirs[i]
		dirs[d.Name] = d
		out = append(out, Entry{Path: join(dir, d.Name), IsDir: true})
	}
	for i := range n.f.Files {
		f := &n.f.Files[i]
		files[f.Meta.Name] = f
		out = append(out, fileInfo(join(dir, f.Meta.Name), f))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, dirs, files
}

// fileInfo is the entry of file f's current version, without Manifest.
func fileInfo(p string, f *cryptree.FileEntry) Entry {
	v := f.Meta.Versions[len(f.Meta.Versions)-1]
	return Entry{Path: p, Size: v.Size, Mtime: v.Mtime}
}

// fileEntry is the entry of version v of file p, with its Manifest.
func (t *Tree) fileEntry(ctx context.Context, p string, v *cryptree.Version) (Entry, error) {
	m, err := t.manifest(ctx, v)
	if err != nil {
		return Entry{}, storage.Ef("read file", storage.Other, p, err)
	}
	return Entry{Path: p, Size: v.Size, Mtime: v.Mtime, Manifest: m}, nil
}

// manifest reads the manifest of version v: inline, or a sealed small
// object.
func (t *Tree) manifest(ctx context.Context, v *cryptree.Version) (*blob.Manifest, error) {
	if v.Inline {
		return blob.ParseManifest(v.Manifest)
	}
	if len(v.Manifest) < 16 {
		return nil, storage.E("read manifest", storage.Corrupt, errors.New("short manifest reference"))
	}
	key := cryptree.Key(v.Manifest[:16])
	l, err := blob.ParseLocator(v.Manifest[16:])
	if err != nil {
		return nil, err
	}
	sealed, err := t.object(ctx, l)
	if err != nil {
		return nil, err
	}
	padded, err := cryptree.OpenRecord(key, sealed, []byte(manifestAD))
	if err != nil {
		return nil, storage.E("read manifest", storage.CannotDecrypt, err)
	}
	raw, err := cryptree.Unpad(padded)
	if err != nil {
		return nil, storage.E("read manifest", storage.Corrupt, err)
	}
	return blob.ParseManifest(raw)
}

// version makes a Version of m: inline when small, else sealed under a new
// key and stored as a small object.
func (t *Tree) version(ctx context.Context, m *blob.Manifest, n uint64, mtime time.Time) (cryptree.Version, error) {
	raw, err := m.MarshalBinary()
	if err != nil {
		return cryptree.Version{}, err
	}
	v := cryptree.Version{N: n, Size: m.Size, Mtime: mtime}
	if len(raw) <= InlineManifest {
		v.Manifest, v.Inline = raw, true
		return v, nil
	}
	key, err := cryptree.NewKey()
	if err != nil {
		return v, storage.E("seal manifest", storage.IO, err)
	}
	sealed, err := cryptree.SealRecord(key, cryptree.Pad(raw), []byte(manifestAD))
	if err != nil {
		return v, storage.E("seal manifest", storage.IO, err)
	}
	l, err := t.putObject(ctx, sealed)
	if err != nil {
		return v, err
	}
	v.Manifest = append(key[:], l.Marshal()...)
	return v, nil
}
