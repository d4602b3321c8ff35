package drive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// Stat returns the entry at p; a file's with the Manifest of its current
// version.
func (t *Tree) Stat(ctx context.Context, p string) (Entry, error) {
	const op = "stat"
	p, err := clean(op, p)
	if err != nil {
		return Entry{}, err
	}
	o := t.newReadOp()
	if p == "/" {
		r, err := o.root(ctx)
		if err != nil {
			return Entry{}, storage.Ef(op, storage.Other, p, err)
		}
		return Entry{Path: "/", IsDir: true, Mtime: r.f.Mtime}, nil
	}
	parent, d, f, err := o.lookup(ctx, p)
	switch {
	case err != nil:
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	case f != nil:
		return t.fileEntry(ctx, p, &f.Meta.Versions[len(f.Meta.Versions)-1])
	case d == nil:
		return Entry{}, storage.Ef(op, storage.NotExist, p, nil)
	}
	c, err := o.child(ctx, parent, d)
	if err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	return Entry{Path: p, IsDir: true, Mtime: c.f.Mtime}, nil
}

// List returns the children of folder dir sorted by name, without
// Manifests. Folders in it have a zero Mtime (reading it would cost a
// lookup per folder; Stat and Walk fill it in). List of "/" leaves out
// CairnDir and shows SharedDir when shares were received.
func (t *Tree) List(ctx context.Context, dir string) ([]Entry, error) {
	const op = "list"
	dir, err := clean(op, dir)
	if err != nil {
		return nil, err
	}
	o := t.newReadOp()
	n, err := o.dir(ctx, dir)
	if err != nil {
		return nil, storage.Ef(op, storage.Other, dir, err)
	}
	if n.shared {
		t.openShares(ctx, n)
	}
	out, _, _ := t.children(dir, n)
	if dir == "/" && !t.view {
		// The received shares, if any, as the folder /shared.
		if rs, err := o.received(ctx); err != nil {
			t.logf("tree: reading the received list: %v", err)
		} else if len(rs) > 0 {
			out = append(out, Entry{Path: SharedDir, IsDir: true})
			sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
		}
	}
	return out, nil
}

// Walk calls fn for everything below dir, depth first in name order, files
// with the Manifest of their current version. No lock is held while fn
// runs. Walk of "/" covers the user's own drive: not CairnDir, not the
// received shares (walk SharedDir for those).
func (t *Tree) Walk(ctx context.Context, dir string, fn func(Entry) error) error {
	const op = "walk"
	dir, err := clean(op, dir)
	if err != nil {
		return err
	}
	n, err := t.newReadOp().dir(ctx, dir)
	if err != nil {
		return storage.Ef(op, storage.Other, dir, err)
	}
	return t.walk(ctx, n, dir, false, fn)
}

// Walk limits. Clean bounds the paths a user creates, so only a hostile
// writer of a shared folder (or a malicious owner of a share or link) can
// make a tree that reaches them; a walk that would go past them stops with
// storage.Corrupt.
const (
	// MaxDepth is how many folders deep below its start a walk goes.
	MaxDepth = 1024
	// MaxWalkEntries is how many entries one walk yields.
	MaxWalkEntries = 1 << 22
)

// walker is one walk over a tree that may be foreign and hostile: folders
// are told apart by ID, so a folder that lists one of its ancestors (a
// cycle) is refused, and a folder reached a second time (the same folder
// listed in two places, as a crash in the middle of a move can leave it)
// is yielded but not entered again. Depth, path length and the number of
// entries are bounded.
type walker struct {
	t  *Tree
	fn func(Entry) error
	// lenient walks (those inside Remove) skip a cycle or a folder that
	// does not open, with a log line, instead of failing.
	lenient bool
	path    map[cryptree.FolderID]bool // the folders from the start down to here
	seen    map[cryptree.FolderID]bool // every folder entered
	entries int
}

// walk calls fn for everything below n, which is folder dir.
func (t *Tree) walk(ctx context.Context, n *node, dir string, lenient bool, fn func(Entry) error) error {
	w := &walker{t: t, fn: fn, lenient: lenient,
		path: map[cryptree.FolderID]bool{}, seen: map[cryptree.FolderID]bool{}}
	return w.walk(ctx, n, dir, 0)
}

func (w *walker) walk(ctx context.Context, n *node, dir string, depth int) error {
	t := w.t
	if n.shared {
		t.openShares(ctx, n)
	} else {
		w.path[n.id], w.seen[n.id] = true, true
		defer delete(w.path, n.id)
	}
	list, dirs, files := t.children(dir, n)
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return storage.E("walk", storage.Canceled, err)
		}
		if w.entries++; w.entries > MaxWalkEntries {
			return storage.Ef("walk", storage.Corrupt, dir, fmt.Errorf("more than %d entries: refusing to go on", MaxWalkEntries))
		}
		if len(e.Path) > 4*MaxPath {
			return storage.Ef("walk", storage.Corrupt, fmt.Sprintf("%.128s…", e.Path), errors.New("path too long: refusing to go on"))
		}
		var sub *node
		if e.IsDir {
			d := dirs[e.Name()]
			switch {
			case w.path[d.ID] && w.lenient:
				t.logf("tree: skipping %s: %v", e.Path, errCycle)
				continue
			case w.path[d.ID]:
				return storage.Ef("walk", storage.Corrupt, e.Path, errCycle)
			case depth+1 > MaxDepth:
				return storage.Ef("walk", storage.Corrupt, dir, fmt.Errorf("more than %d folders deep: refusing to go on", MaxDepth))
			}
			if !w.seen[d.ID] {
				// A fresh op: fn may have changed things.
				c, err := t.newReadOp().child(ctx, n, d)
				if err != nil && w.lenient && damaged(err) {
					t.logf("tree: skipping %s: %v", e.Path, err)
					continue
				}
				if err != nil {
					return storage.Ef("walk", storage.Other, e.Path, err)
				}
				sub, e.Mtime = c, c.f.Mtime
			} else {
				t.logf("tree: %s is a folder listed a second time; not entering it again", e.Path)
			}
		} else {
			f := files[e.Name()]
			full, err := t.fileEntry(ctx, e.Path, &f.Meta.Versions[len(f.Meta.Versions)-1])
			if err != nil {
				return err
			}
			e = full
		}
		err := w.fn(e)
		if e.IsDir && errors.Is(err, fs.SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if sub != nil {
			if err := w.walk(ctx, sub, e.Path, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// damaged reports whether err says that a folder does not open (it does
// not decrypt or parse, or was tombstoned), as opposed to being out of
// reach for now.
func damaged(err error) bool {
	return errors.Is(err, storage.Corrupt) || errors.Is(err, storage.CannotDecrypt) || errors.Is(err, errTombstone)
}

// Mkdir creates folder p: a new folder identity (keys and signing key),
// its first record, then its entry in the parent.
func (t *Tree) Mkdir(ctx context.Context, p string, parents bool) error {
	const op = "mkdir"
	p, err := clean(op, p)
	if err != nil {
		return err
	}
	if err := t.writable(op, p); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	now := time.Now()
	if parents {
		if p != "/" {
			if _, _, f, err := o.lookup(ctx, p); err == nil && f != nil {
				return storage.Ef(op, storage.Exist, p, nil)
			}
		}
		_, err := o.mkdirAll(ctx, p, now)
		return wrap(op, p, err)
	}
	if p == "/" {
		return storage.Ef(op, storage.Exist, p, nil)
	}
	parent, err := o.dir(ctx, parentOf(p))
	if err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	if d, f, err := o.find(ctx, parent, baseOf(p)); err != nil || d != nil || f != nil {
		if err != nil {
			return storage.Ef(op, storage.Other, p, err)
		}
		return storage.Ef(op, storage.Exist, p, nil)
	}
	_, err = o.mkdirIn(ctx, parent, baseOf(p), now)
	return wrap(op, p, err)
}

// mkdirAll makes sure folder p exists, creating what is missing.
// storage.NotDir if a component is a file.
func (o *op) mkdirAll(ctx context.Context, p string, now time.Time) (*node, error) {
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
		switch {
		case f != nil:
			sub := "/" + strings.Join(parts[:i+1], "/")
			return nil, storage.Ef("mkdir", storage.NotDir, sub, errors.New("a file is in the way"))
		case d != nil:
			cur, err = o.child(ctx, cur, d)
		default:
			cur, err = o.mkdirIn(ctx, cur, name, now)
		}
		if err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// mkdirIn creates folder name in parent: the child's first record, then
// the parent's entry for it.
func (o *op) mkdirIn(ctx context.Context, parent *node, name string, now time.Time) (*node, error) {
	if parent.shared {
		return nil, storage.E("mkdir", storage.Permission, errSharedDir)
	}
	if parent.w == nil {
		return nil, storage.E("mkdir", storage.Permission, errReadOnly)
	}
	if err := cryptree.ValidName(name); err != nil {
		return nil, storage.E("mkdir", storage.Invalid, err)
	}
	keys, err := cryptree.NewFolderKeys()
	if err != nil {
		return nil, storage.E("mkdir", storage.IO, err)
	}
	w, err := cryptree.NewWriter()
	if err != nil {
		return nil, storage.E("mkdir", storage.IO, err)
	}
	label, err := newLabel(parent)
	if err != nil {
		return nil, err
	}
	c := &node{id: w.ID(), keys: keys, w: &w, f: &cryptree.Folder{
		Name: name, Mtime: now, Parent: link(parent),
	}}
	if err := o.save(ctx, c); err != nil {
		return nil, err
	}
	parent.f.Dirs = append(parent.f.Dirs, cryptree.DirEntry{Label: label, Name: name, ID: c.id, SK: keys.SK, Writer: &w})
	if err := o.save(ctx, parent); err != nil {
		return nil, err
	}
	return c, nil
}

// link is the backlink a child of n holds.
func link(n *node) *cryptree.ParentLink {
	return &cryptree.ParentLink{ID: n.id, DK: n.keys.DK, BK: n.keys.BK}
}

// newLabel returns a random label no entry of n has.
func newLabel(n *node) ([16]byte, error) {
	for {
		l, err := cryptree.NewLabel()
		if err != nil {
			return l, storage.E("new label", storage.IO, err)
		}
		if !n.hasLabel(l) && l != ([16]byte{}) {
			return l, nil
		}
	}
}

// Commit adds a version to file p (creating it and missing parent
// folders): version n+1 of its metadata, keeping the first and the last
// KeepVersions. A file marked Dirty (after a revocation) gets a new data
// key at this write.
func (t *Tree) Commit(ctx context.Context, p string, m *blob.Manifest, mtime time.Time) (Entry, error) {
	const op = "commit"
	p, err := clean(op, p)
	if err != nil {
		return Entry{}, err
	}
	if m == nil || p == "/" {
		return Entry{}, storage.Ef(op, storage.Invalid, p, errors.New("no manifest, or the root"))
	}
	if err := cryptree.ValidName(baseOf(p)); err != nil {
		return Entry{}, storage.Ef(op, storage.Invalid, p, err)
	}
	if err := t.writable(op, p); err != nil {
		return Entry{}, err
	}
	// A manifest too large to sit in its version is sealed and stored
	// now, before the commit queues: not one after another under the
	// lock, where every commit waits.
	v, err := t.version(ctx, m, 0, time.Time{})
	if err != nil {
		return Entry{}, storage.Ef(op, storage.Other, p, err)
	}
	return t.groupCommit(ctx, &pendingCommit{p: p, m: m, v: &v, mtime: mtime, done: make(chan commitResult, 1)})
}

// commit is Commit of clean path p within op o (the lock held).
func (o *op) commit(ctx context.Context, p string, m *blob.Manifest, mtime time.Time) (Entry, error) {
	e, parent, err := o.stage(ctx, p, m, nil, mtime)
	if err != nil {
		return Entry{}, err
	}
	if err := o.save(ctx, parent); err != nil {
		return Entry{}, storage.Ef("commit", storage.Other, p, err)
	}
	return e, nil
}

// stage applies a commit of clean path p to its parent folder in memory
// (within op o, the lock held) and returns that folder, which the caller
// saves: several commits into one folder then cost one write. pre, if
// set, is m as a version made beforehand (Tree.version; its N and Mtime
// are set here).
func (o *op) stage(ctx context.Context, p string, m *blob.Manifest, pre *cryptree.Version, mtime time.Time) (Entry, *node, error) {
	const op = "commit"
	t := o.t
	now := time.Now()
	if mtime.IsZero() {
		mtime = now
	}
	mtime = clampTime(mtime)
	parent, err := o.mkdirAll(ctx, parentOf(p), now)
	if err != nil {
		return Entry{}, nil, storage.Ef(op, storage.Other, p, err)
	}
	d, f, err := o.find(ctx, parent, baseOf(p))
	switch {
	case err != nil:
		return Entry{}, nil, storage.Ef(op, storage.Other, p, err)
	case d != nil:
		return Entry{}, nil, storage.Ef(op, storage.IsDir, p, errors.New("is a folder"))
	case parent.shared:
		return Entry{}, nil, storage.Ef(op, storage.Permission, p, errSharedDir)
	case parent.w == nil:
		return Entry{}, nil, storage.Ef(op, storage.Permission, p, errReadOnly)
	}
	n := uint64(1)
	if f != nil {
		n = f.Meta.Versions[len(f.Meta.Versions)-1].N + 1
	}
	var v cryptree.Version
	if pre != nil {
		v = *pre
		v.N, v.Mtime = n, mtime
	} else if v, err = t.version(ctx, m, n, mtime); err != nil {
		return Entry{}, nil, storage.Ef(op, storage.Other, p, err)
	}
	if f == nil {
		label, err := newLabel(parent)
		if err != nil {
			return Entry{}, nil, err
		}
		dk, err := cryptree.NewKey()
		if err != nil {
			return Entry{}, nil, storage.Ef(op, storage.IO, p, err)
		}
		parent.f.Files = append(parent.f.Files, cryptree.FileEntry{Label: label, DK: dk,
			Meta: cryptree.FileMeta{Name: baseOf(p), Versions: []cryptree.Version{v}}})
	} else {
		if f.Dirty {
			if f.DK, err = cryptree.NewKey(); err != nil {
				return Entry{}, nil, storage.Ef(op, storage.IO, p, err)
			}
			f.Dirty = false
		}
		f.Meta.Versions = keepVersions(append(f.Meta.Versions, v))
	}
	return Entry{Path: p, Size: m.Size, Mtime: mtime, Manifest: m}, parent, nil
}

// keepVersions drops versions from the middle: the first and the last
// KeepVersions stay.
func keepVersions(vs []cryptree.Version) []cryptree.Version {
	if len(vs) <= KeepVersions+1 {
		return vs
	}
	out := make([]cryptree.Version, 0, KeepVersions+1)
	out = append(out, vs[0])
	return append(out, vs[len(vs)-KeepVersions:]...)
}

// inTrash reports whether clean path p is its tree's trash or inside it.
func inTrash(p string) bool {
	trash := trashOf(p)
	return p == trash || strings.HasPrefix(p, trash+"/")
}

// trashOf returns the trash of the tree clean path p is in: TrashDir, or
// the .trash folder of a received share (/shared/<name>/.trash).
func trashOf(p string) string {
	if r := treeOf(p); r != "/" {
		return r + TrashDir
	}
	return TrashDir
}

// treeOf returns the top of the tree clean path p is in: "/" for the
// user's own drive, SharedDir itself, or /shared/<name> for a received
// share.
func treeOf(p string) string {
	if p == SharedDir {
		return SharedDir
	}
	if !strings.HasPrefix(p, SharedDir+"/") {
		return "/"
	}
	rest := p[len(SharedDir)+1:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return SharedDir + "/" + rest
}

// Remove moves p into TrashDir (created on demand; the name gets
// "~<unix seconds>" if the trash has one like it) and returns the file
// entries that left p, with Manifests: they still exist in the trash.
// Removing something inside TrashDir, or TrashDir itself, deletes it for
// good. Errors as for Drive.Remove; storage.NotDir if a file named
// TrashDir is in the way.
//
// Inside a received share (/shared/<name>/...) the trash is the share's
// own /shared/<name>/.trash (its owner sees it); removing /shared/<name>
// itself forgets the received share (nothing of the owner's changes).
func (t *Tree) Remove(ctx context.Context, p string, recursive bool) ([]Entry, error) {
	const op = "remove"
	p, err := clean(op, p)
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, storage.Ef(op, storage.Invalid, p, errors.New("cannot remove the root"))
	}
	if err := t.writable(op, p); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	if parentOf(p) == SharedDir && !t.view {
		return nil, wrap(op, p, o.forget(ctx, baseOf(p)))
	}
	parent, d, f, err := o.lookup(ctx, p)
	if err != nil {
		return nil, storage.Ef(op, storage.Other, p, err)
	}
	var removed []Entry
	switch {
	case f != nil:
		e, err := t.fileEntry(ctx, p, &f.Meta.Versions[len(f.Meta.Versions)-1])
		if err != nil {
			return nil, err
		}
		removed = append(removed, e)
	case d != nil:
		c, err := o.child(ctx, parent, d)
		if err != nil {
			return nil, storage.Ef(op, storage.Other, p, err)
		}
		if len(c.f.Dirs)+len(c.f.Files) > 0 && !recursive {
			return nil, storage.Ef(op, storage.NotEmpty, p, errors.New("folder not empty"))
		}
		err = t.walk(ctx, c, p, true, func(e Entry) error {
			if !e.IsDir {
				removed = append(removed, e)
			}
			return nil
		})
		if err != nil {
			return nil, storage.Ef(op, storage.Other, p, err)
		}
	default:
		return nil, storage.Ef(op, storage.NotExist, p, nil)
	}
	if inTrash(p) {
		parent.drop(baseOf(p))
		return removed, wrap(op, p, o.save(ctx, parent))
	}
	trash, err := o.mkdirAll(ctx, trashOf(p), time.Now())
	if err != nil {
		return nil, storage.Ef(op, storage.Other, p, err)
	}
	name := baseOf(p)
	if td, tf := trash.find(name); td != nil || tf != nil {
		stamp := fmt.Sprintf("~%d", time.Now().Unix())
		base := name
		if len(base)+len(stamp)+8 > MaxName {
			base = base[:MaxName-len(stamp)-8]
		}
		name = base + stamp
		for i := 2; ; i++ {
			if td, tf := trash.find(name); td == nil && tf == nil {
				break
			}
			name = fmt.Sprintf("%s%s-%d", base, stamp, i)
		}
	}
	// The parent was loaded in this op: if it is the root, it has seen
	// the trash being created.
	if err := o.move(ctx, parent, baseOf(p), trash, name); err != nil {
		return nil, storage.Ef(op, storage.Other, p, err)
	}
	if err := o.moveGrants(ctx, p, join(trashOf(p), name)); err != nil {
		t.logf("tree: updating the share list: %v", err)
	}
	return removed, nil
}

// Rename moves a file or a whole folder; a folder keeps its identity, so
// shares of it keep working. Within one folder it is one write; across
// folders the destination is written first, then the source, then the
// moved folder's backlink.
func (t *Tree) Rename(ctx context.Context, src, dst string) error {
	const op = "rename"
	src, dst, err := cleanMove(op, src, dst)
	if err != nil {
		return err
	}
	if err := cryptree.ValidName(baseOf(dst)); err != nil {
		return storage.Ef(op, storage.Invalid, dst, err)
	}
	if err := t.writable(op, src); err != nil {
		return err
	}
	if err := t.writable(op, dst); err != nil {
		return err
	}
	if treeOf(src) != treeOf(dst) && !(parentOf(src) == SharedDir && parentOf(dst) == SharedDir) {
		return storage.Ef(op, storage.Invalid, src, errors.New("cannot move between your drive and a share, or between shares"))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	if parentOf(src) == SharedDir && !t.view {
		return wrap(op, src, o.renameReceived(ctx, baseOf(src), baseOf(dst)))
	}
	sp, d, f, err := o.lookup(ctx, src)
	if err != nil {
		return storage.Ef(op, storage.Other, src, err)
	}
	if d == nil && f == nil {
		return storage.Ef(op, storage.NotExist, src, nil)
	}
	dp, err := o.dir(ctx, parentOf(dst))
	if err != nil {
		return storage.Ef(op, storage.Other, dst, err)
	}
	if d, f, err := o.find(ctx, dp, baseOf(dst)); err != nil || d != nil || f != nil {
		if err != nil {
			return storage.Ef(op, storage.Other, dst, err)
		}
		return storage.Ef(op, storage.Exist, dst, nil)
	}
	if err := o.move(ctx, sp, baseOf(src), dp, baseOf(dst)); err != nil {
		return wrap(op, src, err)
	}
	if err := o.moveGrants(ctx, src, dst); err != nil {
		t.logf("tree: updating the share list: %v", err)
	}
	return nil
}

// move moves entry name of sp to dp as newName: in one write when sp is
// dp, else destination first, then source; then a moved folder's own name
// and backlink.
func (o *op) move(ctx context.Context, sp *node, name string, dp *node, newName string) error {
	if sp.w == nil || dp.w == nil {
		return storage.E("move", storage.Permission, errReadOnly)
	}
	d, f := sp.find(name)
	var moved *cryptree.DirEntry
	if sp == dp {
		if d != nil {
			d.Name, moved = newName, d
		} else {
			f.Meta.Name = newName
		}
		if err := o.save(ctx, sp); err != nil {
			return err
		}
	} else {
		label := [16]byte{}
		if d != nil {
			label = d.Label
		} else {
			label = f.Label
		}
		if dp.hasLabel(label) {
			var err error
			if label, err = newLabel(dp); err != nil {
				return err
			}
		}
		if d != nil {
			e := *d
			e.Label, e.Name = label, newName
			dp.f.Dirs = append(dp.f.Dirs, e)
			moved = &dp.f.Dirs[len(dp.f.Dirs)-1]
		} else {
			e := *f
			e.Label, e.Meta.Name = label, newName
			dp.f.Files = append(dp.f.Files, e)
		}
		if err := o.save(ctx, dp); err != nil {
			return err
		}
		sp.drop(name)
		if err := o.save(ctx, sp); err != nil {
			return err
		}
	}
	if moved == nil {
		return nil
	}
	// The folder's own name and backlink: needs its write keys. The move
	// itself is done; a failure here leaves a stale name or backlink,
	// which only holders of a share of it see.
	c, err := o.child(ctx, dp, moved)
	switch {
	case err != nil && damaged(err):
		o.t.logf("tree: the moved folder %s does not open (%v); its own name and backlink stay as they were", newName, err)
		return nil
	case err != nil:
		return err
	case c.w == nil:
		o.t.logf("tree: moved a read-only folder; its own name and backlink stay as they were")
		return nil
	case c.bad:
		o.t.logf("tree: the moved folder %s was damaged by a writer of it; its own name and backlink stay as they were", newName)
		return nil
	}
	c.f.Name, c.f.Parent = newName, link(dp)
	return o.save(ctx, c)
}

// VersionInfo describes one kept version of a file.
type VersionInfo struct {
	N     uint64    `json:"version"` // 1 for the first version, increasing
	Size  int64     `json:"size"`
	Mtime time.Time `json:"mtime"` // UTC
}

// Versions lists the kept versions of file p, oldest first (the last is
// current). storage.NotExist if missing, storage.IsDir for a folder.
func (t *Tree) Versions(ctx context.Context, p string) ([]VersionInfo, error) {
	const op = "versions"
	f, p, err := t.file(ctx, op, p)
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, len(f.Meta.Versions))
	for i, v := range f.Meta.Versions {
		out[i] = VersionInfo{N: v.N, Size: v.Size, Mtime: v.Mtime.UTC()}
	}
	return out, nil
}

// Version returns version n of file p, with its Manifest. storage.NotExist
// if the file or the version (dropped or never made) is missing.
func (t *Tree) Version(ctx context.Context, p string, n uint64) (Entry, error) {
	const op = "version"
	f, p, err := t.file(ctx, op, p)
	if err != nil {
		return Entry{}, err
	}
	for i := range f.Meta.Versions {
		if v := &f.Meta.Versions[i]; v.N == n {
			return t.fileEntry(ctx, p, v)
		}
	}
	return Entry{}, storage.Ef(op, storage.NotExist, fmt.Sprintf("%s version %d", p, n), nil)
}

// file returns the entry of file p.
func (t *Tree) file(ctx context.Context, op, p string) (*cryptree.FileEntry, string, error) {
	p, err := clean(op, p)
	if err != nil {
		return nil, p, err
	}
	if p == "/" {
		return nil, p, storage.Ef(op, storage.IsDir, p, errors.New("is a folder"))
	}
	_, d, f, err := t.newReadOp().lookup(ctx, p)
	switch {
	case err != nil:
		return nil, p, storage.Ef(op, storage.Other, p, err)
	case d != nil:
		return nil, p, storage.Ef(op, storage.IsDir, p, errors.New("is a folder"))
	case f == nil:
		return nil, p, storage.Ef(op, storage.NotExist, p, nil)
	}
	return f, p, nil
}

// Group commit: Commits that arrive while another is being written queue
// up, and the next writer takes the whole queue at once, writing each
// folder they touch once. With uploads running in parallel (a tree of
// small files) most commits then share a folder write instead of each
// paying a seal, a body store and a record publication of its own.

type pendingCommit struct {
	p     string
	m     *blob.Manifest
	v     *cryptree.Version // m as a version, made before queueing
	mtime time.Time
	done  chan commitResult // buffered, receives exactly one result
}

type commitResult struct {
	e   Entry
	err error
}

// maxBatch bounds how many commits one folder write takes.
const maxBatch = 256

func (t *Tree) groupCommit(ctx context.Context, pc *pendingCommit) (Entry, error) {
	t.cmu.Lock()
	t.queue = append(t.queue, pc)
	lead := !t.committing
	if lead {
		t.committing = true
	}
	t.cmu.Unlock()
	if lead {
		// The leader writes for everyone queued: its own cancellation
		// must not fail the others'.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		for {
			t.cmu.Lock()
			batch := t.queue
			if len(batch) > maxBatch {
				batch = batch[:maxBatch]
			}
			t.queue = t.queue[len(batch):]
			if len(batch) == 0 {
				t.committing = false
				t.cmu.Unlock()
				break
			}
			t.cmu.Unlock()
			t.commitBatch(wctx, batch)
		}
	}
	select {
	case r := <-pc.done:
		return r.e, r.err
	case <-ctx.Done():
	}
	// Cancelled: a commit not taken by a writer yet is withdrawn, so
	// that Canceled means nothing was committed; one being written is
	// waited for (its writer's context is bounded), and its outcome is
	// the answer. Returning early instead let a commit land after the
	// caller was told it failed (a FUSE unlink, say, resurrected by the
	// upload it had cancelled).
	t.cmu.Lock()
	if i := slices.Index(t.queue, pc); i >= 0 {
		t.queue = slices.Delete(t.queue, i, i+1)
		t.cmu.Unlock()
		return Entry{}, storage.E("commit", storage.Canceled, ctx.Err())
	}
	t.cmu.Unlock()
	r := <-pc.done
	return r.e, r.err
}

// commitBatch stages every commit of batch in one op and saves each folder
// they changed once.
func (t *Tree) commitBatch(ctx context.Context, batch []*pendingCommit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	type staged struct {
		pc *pendingCommit
		e  Entry
	}
	var order []*node
	byFolder := map[cryptree.FolderID][]staged{}
	for _, pc := range batch {
		e, parent, err := o.stage(ctx, pc.p, pc.m, pc.v, pc.mtime)
		if err != nil {
			pc.done <- commitResult{err: err}
			continue
		}
		if _, ok := byFolder[parent.id]; !ok {
			order = append(order, parent)
		}
		byFolder[parent.id] = append(byFolder[parent.id], staged{pc, e})
	}
	for _, parent := range order {
		err := o.save(ctx, parent)
		for _, s := range byFolder[parent.id] {
			if err != nil {
				s.pc.done <- commitResult{err: storage.Ef("commit", storage.Other, s.pc.p, err)}
			} else {
				s.pc.done <- commitResult{e: s.e}
			}
		}
	}
}
