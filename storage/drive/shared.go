package drive

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Errors behind the kinds of refused writes and lost shares.
var (
	errReadOnly   = errors.New("read-only share: no write access")
	errSharedDir  = errors.New("received shares appear in /shared; nothing can be created there")
	errTombstone  = errors.New("the folder was re-keyed: access revoked or key rotated")
	errRevoked    = errors.New("access revoked or key rotated (ask the owner to share it again)")
	errReserved   = errors.New("reserved for the drive's own lists (/.cairn)")
	errNotSharing = errors.New("sharing is not configured on this tree")
	errDamaged    = errors.New("a writer of this folder published a version of it that does not open; " +
		"revoke their write access ('cairn unshare') to take the folder back")
	errCycle = errors.New("the folder lists one of its own ancestors (a cycle made by a writer of it)")
)

// revokedErr is what a received share that no longer opens reports: its
// kind (NotExist for a tombstone or a removed file, CannotDecrypt for a
// re-keyed body) with a clear reason.
func revokedErr(name string, err error) error {
	kind := storage.KindOf(err)
	switch {
	case errors.Is(err, storage.NotExist) || errors.Is(err, cryptree.ErrNoEntry):
		kind = storage.NotExist
	case errors.Is(err, storage.CannotDecrypt) || errors.Is(err, cryptree.ErrCannotDecrypt):
		kind = storage.CannotDecrypt
	default:
		return err // unreachable peers and the like: not a revocation
	}
	return storage.Ef("open share", kind, SharedDir+"/"+name, fmt.Errorf("%w: %v", errRevoked, err))
}

// writable refuses writes to CairnDir and, in a CapView, to anything.
func (t *Tree) writable(op, p string) error {
	if t.view {
		return storage.Ef(op, storage.Permission, p, errReadOnly)
	}
	if p == CairnDir || strings.HasPrefix(p, CairnDir+"/") {
		return storage.Ef(op, storage.Invalid, p, errReserved)
	}
	if p == SharedDir {
		return storage.Ef(op, storage.Invalid, p, errSharedDir)
	}
	return nil
}

// children is children() without CairnDir in the root.
func (t *Tree) children(dir string, n *node) ([]Entry, map[string]*cryptree.DirEntry, map[string]*cryptree.FileEntry) {
	out, dirs, files := children(dir, n)
	if dir == "/" && !t.view {
		for i := range out {
			if out[i].Path == CairnDir {
				out = append(out[:i:i], out[i+1:]...)
				break
			}
		}
	}
	return out, dirs, files
}

// find returns the subfolder or file named name in n, as the op sees it:
// in the root, "shared" is the virtual /shared folder; in /shared, a
// file share that does not open is an error.
func (o *op) find(ctx context.Context, n *node, name string) (*cryptree.DirEntry, *cryptree.FileEntry, error) {
	switch {
	case n.shared:
		o.t.openShare(ctx, n, name)
		if err := n.shareErr[name]; err != nil {
			return nil, nil, err
		}
	case !o.t.view && n.id == o.t.cfg.Root && name == SharedDir[1:]:
		if o.sharedDir == nil {
			o.sharedDir = &cryptree.DirEntry{Name: name}
		}
		return o.sharedDir, nil, nil
	}
	d, f := n.find(name)
	return d, f, nil
}

// sharedNode returns the virtual /shared folder: a read-only node whose
// subfolders are the received folder shares (with their SK and Writer)
// and whose files are the received file shares, each with its DK and
// label, opened when first named (openShare) or listed (openShares). So a
// path through /shared costs the lookups of the share it names, not one
// per received share.
func (o *op) sharedNode(ctx context.Context) (*node, error) {
	if o.sharedN != nil {
		return o.sharedN, nil
	}
	rs, err := o.received(ctx)
	if err != nil {
		return nil, err
	}
	n := &node{shared: true, f: &cryptree.Folder{Name: SharedDir[1:]},
		unopened: map[string]*cryptree.Capability{}, shareErr: map[string]error{}}
	for i, r := range rs {
		label := [16]byte{1, byte(i >> 8), byte(i)} // unique, never saved
		switch r.cap.Kind {
		case cryptree.CapFolder:
			n.f.Dirs = append(n.f.Dirs, cryptree.DirEntry{Label: label, Name: r.name,
				ID: r.cap.ID, SK: r.cap.SK, Writer: r.cap.Writer})
		case cryptree.CapFile:
			n.unopened[r.name] = r.cap
		}
	}
	o.sharedN = n
	return n, nil
}

// openShare opens file share name of the virtual /shared folder n, if it
// is one not opened yet: it becomes a file of n, or its error is kept.
func (t *Tree) openShare(ctx context.Context, n *node, name string) {
	c := n.unopened[name]
	if c == nil {
		return
	}
	delete(n.unopened, name)
	meta, err := t.openFileShare(ctx, c)
	if err != nil {
		n.shareErr[name] = revokedErr(name, err)
		return
	}
	meta.Name = name
	n.f.Files = append(n.f.Files, cryptree.FileEntry{Label: c.Label, DK: c.DK, Meta: *meta})
}

// openShares opens every file share of the virtual /shared folder n not
// opened yet, a few at a time: for a listing.
func (t *Tree) openShares(ctx context.Context, n *node) {
	if len(n.unopened) == 0 {
		return
	}
	type opened struct {
		name string
		meta *cryptree.FileMeta
		err  error
	}
	caps := n.unopened
	n.unopened = map[string]*cryptree.Capability{}
	res := make(chan opened, len(caps))
	sem := make(chan struct{}, 8)
	for name, c := range caps {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			meta, err := t.openFileShare(ctx, c)
			res <- opened{name, meta, err}
		}()
	}
	for range caps {
		r := <-res
		if r.err != nil {
			n.shareErr[r.name] = revokedErr(r.name, r.err)
			continue
		}
		c := caps[r.name]
		r.meta.Name = r.name
		n.f.Files = append(n.f.Files, cryptree.FileEntry{Label: c.Label, DK: c.DK, Meta: *r.meta})
	}
}

// openFileShare reads the metadata of a shared single file: its folder's
// current record and body, then the entry with the file's label and DK.
//
// It never falls back to an older record, unlike folders: revoking a
// single file gives it a new DK in the same folder, so an entry that no
// longer opens with the DK held is a revocation.
func (t *Tree) openFileShare(ctx context.Context, c *cryptree.Capability) (*cryptree.FileMeta, error) {
	rec, cached, err := t.record(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	body, err := t.body(ctx, rec.Value)
	if err != nil {
		return nil, err
	}
	meta, err := cryptree.OpenFileEntry(body, c.ID, c.Label, c.DK)
	if err != nil {
		if errors.Is(err, cryptree.ErrNoEntry) {
			return nil, storage.E("open file share", storage.NotExist, err)
		}
		return nil, cryptoErr("open file share", c.ID, err)
	}
	if rec != cached {
		t.remember(ctx, rec, cached)
	}
	return meta, nil
}

// forget drops received share name (Remove of /shared/<name>).
func (o *op) forget(ctx context.Context, name string) error {
	rs, err := o.received(ctx)
	if err != nil {
		return err
	}
	for i := range rs {
		if rs[i].name == name {
			return o.setReceived(ctx, append(rs[:i:i], rs[i+1:]...))
		}
	}
	return storage.Ef("remove", storage.NotExist, SharedDir+"/"+name, nil)
}

// renameReceived renames received share from to to (Rename within
// /shared).
func (o *op) renameReceived(ctx context.Context, from, to string) error {
	rs, err := o.received(ctx)
	if err != nil {
		return err
	}
	at := -1
	for i := range rs {
		switch rs[i].name {
		case to:
			return storage.Ef("rename", storage.Exist, SharedDir+"/"+to, nil)
		case from:
			at = i
		}
	}
	if at < 0 {
		return storage.Ef("rename", storage.NotExist, SharedDir+"/"+from, nil)
	}
	rs = append([]received(nil), rs...)
	rs[at].name = to
	return o.setReceived(ctx, rs)
}

// moveGrants rewrites the paths of the share list after a move of from
// to to, in the user's own tree.
func (o *op) moveGrants(ctx context.Context, from, to string) error {
	if treeOf(from) != "/" {
		return nil
	}
	gs, err := o.grants(ctx)
	if err != nil || len(gs) == 0 {
		return err
	}
	changed := false
	for i := range gs {
		p := gs[i].Path
		if p == from || strings.HasPrefix(p, from+"/") {
			gs[i].Path = to + p[len(from):]
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return o.setGrants(ctx, gs)
}
