package drive

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Inbox is where capabilities are delivered: the storage peers chosen by
// rendezvous on the recipient's cryptree.InboxID in the daemon, a fake in
// tests. Implementations are safe for concurrent use and do not retain
// the slices they are given; messages returned are the caller's.
type Inbox interface {
	// Send puts msg (a sealed message) in the inbox of the user whose
	// signing key is to.
	Send(ctx context.Context, to ed25519.PublicKey, msg []byte) error
	// Fetch returns the messages in this user's inbox.
	Fetch(ctx context.Context) ([]InboxMessage, error)
	// Delete removes message id from this user's inbox; deleting a
	// missing message is not an error.
	Delete(ctx context.Context, id [32]byte) error
}

// InboxMessage is one message of an inbox.
type InboxMessage struct {
	ID   [32]byte
	Data []byte
}

// Sharing is what a Tree needs to share with other users and receive
// their shares (TreeConfig.Sharing).
type Sharing struct {
	// Sign is the user's identity key (Keyring.SigningKey): it signs the
	// messages sent, so recipients know who shared.
	Sign ed25519.PrivateKey
	// Box is the user's X25519 private key (the first result of
	// Keyring.BoxKey): it opens the messages received.
	Box [32]byte
	// Inbox delivers and fetches messages.
	Inbox Inbox
}

// Grant is one entry of the user's share list: something shared with a
// user or as a link.
type Grant struct {
	// Path is where the shared item is in the user's drive (kept up to
	// date by Rename and Remove).
	Path string `json:"path"`
	// To is the recipient's user id, "" for a link.
	To string `json:"to,omitempty"`
	// Link is the cairn:// link of a link grant, "" for a user.
	Link  string `json:"link,omitempty"`
	Write bool   `json:"write"`
	IsDir bool   `json:"is_dir"`
	// Time is when the grant was made or last re-keyed (UTC).
	Time time.Time `json:"time"`
}

// sharer returns t's sharing configuration or storage.Invalid.
func (t *Tree) sharer(op string) (*Sharing, error) {
	sh := t.cfg.Sharing
	if t.view || sh == nil || sh.Inbox == nil || len(sh.Sign) != ed25519.PrivateKeySize {
		return nil, storage.E(op, storage.Invalid, errNotSharing)
	}
	return sh, nil
}

// canonicalUser returns the canonical form of a user id, or
// storage.Invalid.
func canonicalUser(op, id string) (string, error) {
	sign, box, err := cryptree.ParseUserID(id)
	if err != nil {
		return "", storage.E(op, storage.Invalid, err)
	}
	return cryptree.FormatUserID(sign, box), nil
}

// sharable cleans p and refuses what cannot be shared.
func (t *Tree) sharable(op, p string) (string, error) {
	p, err := clean(op, p)
	if err != nil {
		return "", err
	}
	switch {
	case t.view:
		return "", storage.Ef(op, storage.Invalid, p, errors.New("a link's view cannot be shared"))
	case p == "/":
		return "", storage.Ef(op, storage.Invalid, p,
			errors.New("the root folder cannot be shared (its keys never rotate); share a folder in it"))
	case treeOf(p) != "/":
		return "", storage.Ef(op, storage.Invalid, p, errors.New("re-sharing a received share is not supported"))
	case p == CairnDir || strings.HasPrefix(p, CairnDir+"/"):
		return "", storage.Ef(op, storage.Invalid, p, errReserved)
	}
	return p, nil
}

// target resolves p in the user's own tree to what a capability names:
// a folder (g.id = its ID) or a file (g.id = its folder, g.label = its
// entry). It returns the capability (read-only) and the parent. For a
// revocation (revoke true) a folder that does not open still resolves, so
// the owner can take it back.
func (o *op) target(ctx context.Context, op, p string, revoke bool) (*cryptree.Capability, grant, *node, error) {
	parent, d, f, err := o.lookup(ctx, p)
	g := grant{Grant: Grant{Path: p}}
	switch {
	case err != nil:
		return nil, g, nil, storage.Ef(op, storage.Other, p, err)
	case d != nil:
		var c *node
		if revoke {
			c, err = o.openOrEmpty(ctx, parent, d)
		} else {
			c, err = o.child(ctx, parent, d)
		}
		if err != nil {
			return nil, g, nil, storage.Ef(op, storage.Other, p, err)
		}
		g.id, g.IsDir = c.id, true
		return &cryptree.Capability{Kind: cryptree.CapFolder, Name: baseOf(p), ID: c.id, SK: c.keys.SK}, g, c, nil
	case f != nil:
		g.id, g.label = parent.id, f.Label
		return &cryptree.Capability{Kind: cryptree.CapFile, Name: baseOf(p), ID: parent.id, Label: f.Label, DK: f.DK}, g, parent, nil
	}
	return nil, g, nil, storage.Ef(op, storage.NotExist, p, nil)
}

// sameTarget reports whether two grants name the same folder or file.
func sameTarget(a, b *grant) bool { return a.id == b.id && a.label == b.label }

// Share gives user toUserID access to folder or file p: a folder's
// capability (its ID and SK, its Writer if write) opens its subtree and
// nothing else; a file's (its folder's ID, its entry label, its DK) opens
// that file alone. Write access to a single file is not supported
// (storage.Invalid: share its folder). The grant is recorded in the share
// list, then the capability is sealed to the recipient's box key and
// sent to their inbox; it appears under their /shared after Receive.
// Sharing again re-sends (and may add write access; taking write away
// needs Unshare).
//
// Errors: storage.Invalid for no Sharing configured, a bad user id, the
// root folder (its keys never rotate), a path under /shared or /.cairn;
// storage.NotExist if p is missing; the Inbox's errors (the grant stays
// recorded: share again to re-send).
func (t *Tree) Share(ctx context.Context, p string, toUserID string, write bool) error {
	const op = "share"
	sh, err := t.sharer(op)
	if err != nil {
		return err
	}
	to, err := canonicalUser(op, toUserID)
	if err != nil {
		return err
	}
	if p, err = t.sharable(op, p); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	c, g, n, err := o.target(ctx, op, p, false)
	if err != nil {
		return err
	}
	if c.Kind == cryptree.CapFile {
		if write {
			return storage.Ef(op, storage.Invalid, p, errors.New("write access to a single file is not supported; share its folder"))
		}
		// A file left dirty by a revocation changes its DK now rather
		// than at its next write, which would cut this grantee off.
		if _, f := n.find(baseOf(p)); f != nil && f.Dirty {
			if f.DK, err = cryptree.NewKey(); err != nil {
				return storage.Ef(op, storage.IO, p, err)
			}
			f.Dirty = false
			if err := o.save(ctx, n); err != nil {
				return storage.Ef(op, storage.Other, p, err)
			}
			c.DK = f.DK
		}
	}
	if write {
		c.Writer = n.w
	}
	gs, err := o.grants(ctx)
	if err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	g.To, g.Write, g.Time = to, write, time.Now()
	found := false
	for i := range gs {
		if sameTarget(&gs[i], &g) && gs[i].To == to {
			if gs[i].Write && !write {
				return storage.Ef(op, storage.Invalid, p, errors.New("already shared with write access; unshare first to take it away"))
			}
			gs[i].Write, gs[i].Path, found = write, p, true
		}
	}
	if !found {
		gs = append(gs, g)
	}
	if err := o.setGrants(ctx, gs); err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	return wrap(op, p, t.deliver(ctx, sh, to, cryptree.FolderID{}, c))
}

// deliver seals c (replacing folder replaces, for a re-delivery) to user
// to and sends it.
func (t *Tree) deliver(ctx context.Context, sh *Sharing, to string, replaces cryptree.FolderID, c *cryptree.Capability) error {
	sign, box, err := cryptree.ParseUserID(to)
	if err != nil {
		return storage.E("deliver", storage.Invalid, err)
	}
	sealed, err := cryptree.SealTo(box, sh.Sign, encodeMessage(replaces, c))
	if err != nil {
		return storage.E("deliver", storage.Invalid, err)
	}
	if err := sh.Inbox.Send(ctx, sign, sealed); err != nil {
		return storage.E("deliver", storage.Other, err)
	}
	return nil
}

// Link returns a read-only cairn:// link to folder or file p and records
// it in the share list (so Unshare can revoke it). The link carries its
// own key: whoever holds it reads p (OpenCapability). Linking the same
// item again returns the same link. Errors as for Share, without the
// Inbox's; Sharing need not be configured.
func (t *Tree) Link(ctx context.Context, p string) (string, error) {
	const op = "link"
	p, err := t.sharable(op, p)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	c, g, n, err := o.target(ctx, op, p, false)
	if err != nil {
		return "", err
	}
	if c.Kind == cryptree.CapFile {
		if _, f := n.find(baseOf(p)); f != nil && f.Dirty {
			if f.DK, err = cryptree.NewKey(); err != nil {
				return "", storage.Ef(op, storage.IO, p, err)
			}
			f.Dirty = false
			if err := o.save(ctx, n); err != nil {
				return "", storage.Ef(op, storage.Other, p, err)
			}
			c.DK = f.DK
		}
	}
	link := cryptree.FormatLink(c)
	gs, err := o.grants(ctx)
	if err != nil {
		return "", storage.Ef(op, storage.Other, p, err)
	}
	for i := range gs {
		if gs[i].Link == link {
			return link, nil
		}
	}
	g.Link, g.Time = link, time.Now()
	if err := o.setGrants(ctx, append(gs, g)); err != nil {
		return "", storage.Ef(op, storage.Other, p, err)
	}
	return link, nil
}

// Shares returns the share list: what this user has shared, with whom or
// as which link, in the order granted. The Grants are the caller's.
func (t *Tree) Shares(ctx context.Context) ([]Grant, error) {
	if t.view {
		return nil, nil
	}
	gs, err := t.newOp().grants(ctx)
	if err != nil {
		return nil, storage.E("shares", storage.Other, err)
	}
	out := make([]Grant, len(gs))
	for i := range gs {
		out[i] = gs[i].Grant
		out[i].Time = out[i].Time.UTC()
	}
	return out, nil
}

// Unshare revokes the grants of p to user fromUserID, or the link grant
// link: exactly one of them is set. Afterwards the revoked party reads
// nothing written to p.
//
// A folder: the folder and every folder below it get new keys (SK, FK,
// DK, BK) and new identities (signing key, WK, ID) at once, written
// bottom-up before the parent switches to the new folder in one write;
// each old ID then gets a tombstone record, so an old capability finds
// storage.NotExist (or storage.CannotDecrypt). Files keep their data key
// until their next write (marked dirty: lazy), but those shared on their
// own get a new one now. A file: it gets a new data key now. Every
// remaining user grant on the re-keyed items is re-delivered (a new
// message replacing the old capability); remaining link grants on them
// stop working and leave the share list.
//
// New identities also for a read grant (the design asks them only for a
// write grant): it makes the switch one write, so a crash leaves either
// the old tree or the new one, never a folder whose parent holds a key it
// was not sealed with.
//
// Errors: storage.Invalid for both or neither of fromUserID and link, a
// bad user id, the root; storage.Corrupt for a tampered link;
// storage.NotExist if p is missing or has no such grant; the record and
// object layers' kinds; after the revocation is done, the first failure
// of a tombstone or a re-delivery (storage.Unavailable and the like).
func (t *Tree) Unshare(ctx context.Context, p string, fromUserID string, link string) error {
	const op = "unshare"
	if (fromUserID == "") == (link == "") {
		return storage.Ef(op, storage.Invalid, p, errors.New("give exactly one of a user id and a link"))
	}
	var to string
	var err error
	if fromUserID != "" {
		if to, err = canonicalUser(op, fromUserID); err != nil {
			return err
		}
	} else {
		c, err := cryptree.ParseLink(link)
		switch {
		case errors.Is(err, cryptree.ErrCorruptLink):
			return storage.E(op, storage.Corrupt, err)
		case err != nil:
			return storage.E(op, storage.Invalid, err)
		}
		link = cryptree.FormatLink(c)
	}
	if p, err = t.sharable(op, p); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	_, tg, n, err := o.target(ctx, op, p, true)
	if err != nil {
		return err
	}
	gs, err := o.grants(ctx)
	if err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	var keep []grant
	revoked := 0
	for _, g := range gs {
		if sameTarget(&g, &tg) && (to != "" && g.To == to || link != "" && g.Link == link) {
			revoked++
			continue
		}
		keep = append(keep, g)
	}
	if revoked == 0 {
		return storage.Ef(op, storage.NotExist, p, errors.New("no such share"))
	}

	// Re-key: moved maps old folder IDs to their new nodes; for a file,
	// file is its entry with the new DK.
	moved := map[cryptree.FolderID]*node{}
	var file *cryptree.FileEntry
	var late error // a failure after the switch
	if tg.IsDir {
		parent, d, _, err := o.lookup(ctx, p)
		if err != nil {
			return storage.Ef(op, storage.Other, p, err)
		}
		if late, err = o.revokeFolder(ctx, parent, d, keep, moved); err != nil {
			return storage.Ef(op, storage.Other, p, err)
		}
	} else {
		_, file = n.find(baseOf(p))
		if file.DK, err = cryptree.NewKey(); err != nil {
			return storage.Ef(op, storage.IO, p, err)
		}
		file.Dirty = false
		if err := o.save(ctx, n); err != nil {
			return storage.Ef(op, storage.Other, p, err)
		}
	}

	// The share list with new IDs and keys, and what to re-deliver.
	type delivery struct {
		to       string
		replaces cryptree.FolderID
		c        *cryptree.Capability
	}
	var out []grant
	var send []delivery
	for _, g := range keep {
		var c *cryptree.Capability
		replaces := g.id
		switch nn := moved[g.id]; {
		case g.IsDir && nn != nil:
			c = &cryptree.Capability{Kind: cryptree.CapFolder, Name: baseOf(g.Path), ID: nn.id, SK: nn.keys.SK}
			if g.Write {
				c.Writer = nn.w
			}
		case !g.IsDir && nn != nil:
			for i := range nn.f.Files {
				if nn.f.Files[i].Label == g.label {
					c = &cryptree.Capability{Kind: cryptree.CapFile, Name: baseOf(g.Path), ID: nn.id, Label: g.label, DK: nn.f.Files[i].DK}
				}
			}
		case file != nil && sameTarget(&g, &tg):
			c = &cryptree.Capability{Kind: cryptree.CapFile, Name: baseOf(g.Path), ID: g.id, Label: g.label, DK: file.DK}
		}
		if c == nil {
			out = append(out, g) // not re-keyed
			continue
		}
		if g.Link != "" {
			t.logf("tree: the link to %s stopped working with the re-key", g.Path)
			continue
		}
		g.id, g.Time = c.ID, time.Now()
		out = append(out, g)
		send = append(send, delivery{g.To, replaces, c})
	}
	if err := o.setGrants(ctx, out); err != nil {
		return storage.Ef(op, storage.Other, p, err)
	}
	if len(send) > 0 {
		sh, err := t.sharer(op)
		if err != nil {
			return storage.Ef(op, storage.Invalid, p, fmt.Errorf("revoked, but cannot re-deliver to %d remaining grantees: %w", len(send), err))
		}
		for _, d := range send {
			if err := t.deliver(ctx, sh, d.to, d.replaces, d.c); err != nil {
				t.logf("tree: re-delivering %s: %v", p, err)
				if late == nil {
					late = err
				}
			}
		}
	}
	if late != nil {
		return storage.Ef(op, storage.Other, p, fmt.Errorf("revoked, but: %w", late))
	}
	return nil
}

// revokeFolder re-keys the folder of entry d of parent and its subtree
// (new keys and identities, children first), switches parent's entry to
// it, then tombstones the old IDs. Files of keep's user grants get a new
// DK at once. moved receives old ID → new node. The error late is a
// tombstone that failed after the switch (the revocation holds).
func (o *op) revokeFolder(ctx context.Context, parent *node, d *cryptree.DirEntry, keep []grant, moved map[cryptree.FolderID]*node) (late, err error) {
	old, err := o.openOrEmpty(ctx, parent, d)
	if err != nil {
		return nil, err
	}
	type fileKey struct {
		id    cryptree.FolderID
		label [16]byte
	}
	hot := map[fileKey]bool{}
	for _, g := range keep {
		if !g.IsDir && g.To != "" {
			hot[fileKey{g.id, g.label}] = true
		}
	}
	var olds []*node
	// A writer of the subtree may have made it list its own ancestors, the
	// same folder twice, or folders that do not open: the re-key must
	// still go through (it is how the owner takes the folder back). An
	// entry that lists an ancestor is dropped; a folder listed twice is
	// re-keyed once and listed twice; a folder that does not open is
	// re-keyed from the last good version seen here, or empty.
	onPath := map[cryptree.FolderID]bool{}
	var rekey func(n *node, up *cryptree.ParentLink) (*node, error)
	rekey = func(n *node, up *cryptree.ParentLink) (*node, error) {
		onPath[n.id] = true
		defer delete(onPath, n.id)
		keys, err := cryptree.NewFolderKeys()
		if err != nil {
			return nil, storage.E("re-key", storage.IO, err)
		}
		w, err := cryptree.NewWriter()
		if err != nil {
			return nil, storage.E("re-key", storage.IO, err)
		}
		nn := &node{id: w.ID(), keys: keys, w: &w, f: &cryptree.Folder{Name: n.f.Name, Mtime: n.f.Mtime, Parent: up}}
		for _, fe := range n.f.Files {
			if hot[fileKey{n.id, fe.Label}] {
				if fe.DK, err = cryptree.NewKey(); err != nil {
					return nil, storage.E("re-key", storage.IO, err)
				}
				fe.Dirty = false
			} else {
				fe.Dirty = true
			}
			nn.f.Files = append(nn.f.Files, fe)
		}
		for i := range n.f.Dirs {
			de := n.f.Dirs[i]
			switch nc := moved[de.ID]; {
			case onPath[de.ID]:
				o.t.logf("tree: re-key: dropping the entry %q of folder %q: %v", de.Name, n.f.Name, errCycle)
				continue
			case len(onPath) >= MaxDepth:
				o.t.logf("tree: re-key: dropping the entry %q of folder %q: more than %d folders deep", de.Name, n.f.Name, MaxDepth)
				continue
			case nc != nil:
				nn.f.Dirs = append(nn.f.Dirs, cryptree.DirEntry{Label: de.Label, Name: de.Name, ID: nc.id, SK: nc.keys.SK, Writer: nc.w})
				continue
			}
			c, err := o.openOrEmpty(ctx, n, &de)
			if err != nil {
				return nil, err
			}
			nc, err := rekey(c, link(nn))
			if err != nil {
				return nil, err
			}
			nn.f.Dirs = append(nn.f.Dirs, cryptree.DirEntry{Label: de.Label, Name: de.Name, ID: nc.id, SK: nc.keys.SK, Writer: nc.w})
		}
		if err := o.save(ctx, nn); err != nil {
			return nil, err
		}
		moved[n.id] = nn
		olds = append(olds, n)
		return nn, nil
	}
	nn, err := rekey(old, link(parent))
	if err != nil {
		return nil, err // only new, unreferenced folders were written
	}
	d.ID, d.SK, d.Writer = nn.id, nn.keys.SK, nn.w
	if err := o.save(ctx, parent); err != nil {
		return nil, err
	}
	for _, n := range olds {
		if err := o.tombstone(ctx, n); err != nil && late == nil {
			late = err
		}
	}
	return late, nil
}

// openOrEmpty opens subfolder d of parent for a re-key; a folder that
// does not open at all (damaged by a writer, no good version seen here)
// comes back as an empty folder marked bad, with a log line: its content
// is lost either way, and the owner must still be able to re-key.
func (o *op) openOrEmpty(ctx context.Context, parent *node, d *cryptree.DirEntry) (*node, error) {
	c, err := o.child(ctx, parent, d)
	if err == nil || !damaged(err) {
		return c, err
	}
	o.t.logf("tree: re-key: folder %q does not open (%v); its new version is empty", d.Name, err)
	return &node{id: d.ID, keys: cryptree.FolderKeys{SK: d.SK}, w: d.Writer, bad: true,
		f: &cryptree.Folder{Name: d.Name, Mtime: time.Now()}}, nil
}

// tombstone publishes the last record of folder n: no body, only the
// tombstone value, so old capabilities of it find storage.NotExist. A
// folder whose newest record is a writer's garbage (n.bad) cannot be
// tombstoned (that record stays on top); it is left as it is.
func (o *op) tombstone(ctx context.Context, n *node) error {
	if n.bad {
		o.t.logf("tree: folder %s was damaged by a writer of it and is left as it is", n.id.String()[:8])
		return nil
	}
	var seq uint64
	if n.rec != nil {
		seq = n.rec.Seq
	}
	rec, err := cryptree.SignRecord(*n.w, seq+1, []byte{valueTombstone})
	if err != nil {
		return storage.E("tombstone", storage.Invalid, err)
	}
	if err := o.t.cfg.Records.Publish(ctx, rec); err != nil {
		return storage.E("tombstone", storage.Other, err)
	}
	o.t.remember(ctx, rec, n.rec)
	return nil
}

// Receive fetches this user's inbox. A capability from a sender the user
// has accepted (one with a share in the received list) is added to the
// received list under a unique name (its display name, "-2" and so on
// when taken) in /shared; a re-delivery after a re-key replaces the
// capability it names (same sender, same folder) and keeps its name. A
// capability from anyone else waits in the pending list (pending.go)
// within its caps, for Accept or Decline. Messages are deleted once the
// lists are saved; those that do not open or parse, or are over the caps,
// are deleted and ignored. It returns how many shares were added or
// updated under /shared. Errors: storage.Invalid if Sharing is not
// configured, the Inbox's and the tree's.
func (t *Tree) Receive(ctx context.Context) (int, error) {
	const op = "receive"
	sh, err := t.sharer(op)
	if err != nil {
		return 0, err
	}
	msgs, err := sh.Inbox.Fetch(ctx)
	if err != nil {
		return 0, storage.E(op, storage.Other, err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	type item struct {
		from     [32]byte
		replaces cryptree.FolderID
		c        *cryptree.Capability
	}
	var items []item
	var del [][32]byte
	for _, m := range msgs {
		del = append(del, m.ID)
		plain, from, err := cryptree.OpenFrom(sh.Box, m.Data)
		if err != nil {
			t.logf("tree: ignoring an inbox message that does not open: %v", err)
			continue
		}
		replaces, c, err := decodeMessage(plain)
		if err != nil {
			t.logf("tree: ignoring an inbox message: %v", err)
			continue
		}
		items = append(items, item{[32]byte(from), replaces, c})
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	rs, err := o.received(ctx)
	if err != nil {
		return 0, storage.E(op, storage.Other, err)
	}
	ps, err := o.pending(ctx)
	if err != nil {
		return 0, storage.E(op, storage.Other, err)
	}
	rs = append([]received(nil), rs...)
	accepted := map[[32]byte]bool{}
	for _, r := range rs {
		accepted[r.from] = true
	}
	now := time.Now()
	count, offered := 0, 0
	add := func(it item) {
		if findSame(rs, it.from, it.c) >= 0 {
			return // delivered twice
		}
		n := 0
		for _, r := range rs {
			if r.from == it.from {
				n++
			}
		}
		if n >= MaxReceivedPerSender || len(rs) >= MaxReceived {
			t.logf("tree: dropping a share from %s: %d shares of theirs and %d in all are received already",
				cryptree.SenderOf(it.from[:]), n, len(rs))
			return
		}
		rs = append(rs, received{name: uniqueName(rs, it.c), from: it.from, time: now, cap: it.c})
		count++
	}
	// New grants first; a replacement applies once what it replaces is
	// there (two re-keys in a row may arrive in any order).
	var waiting []item
	for _, it := range items {
		if accepted[it.from] {
			waiting = append(waiting, it)
			continue
		}
		changed, err := offer(&ps, it.from, it.replaces, it.c, now)
		if err != nil {
			t.logf("tree: dropping a share from %s, who is not accepted: %v", cryptree.SenderOf(it.from[:]), err)
		} else if changed {
			offered++
		}
	}
	for progress := true; progress && len(waiting) > 0; {
		progress = false
		var next []item
		for _, it := range waiting {
			if it.replaces == (cryptree.FolderID{}) {
				add(it)
				progress = true
				continue
			}
			at := -1
			for i, r := range rs {
				if r.from == it.from && r.cap.Kind == it.c.Kind && r.cap.ID == it.replaces &&
					(it.c.Kind == cryptree.CapFolder || r.cap.Label == it.c.Label) {
					at = i
				}
			}
			if at < 0 {
				next = append(next, it)
				continue
			}
			rs[at].cap, rs[at].time = it.c, now
			count++
			progress = true
		}
		waiting = next
	}
	for _, it := range waiting {
		add(it) // its original is gone (forgotten): the owner still grants it
	}
	if count > 0 {
		if err := o.setReceived(ctx, rs); err != nil {
			return 0, storage.E(op, storage.Other, err)
		}
	}
	if offered > 0 {
		if err := o.setPending(ctx, ps); err != nil {
			return 0, storage.E(op, storage.Other, err)
		}
		t.logf("tree: %d new shares from users not accepted yet wait in the pending list ('cairn shares')", offered)
	}
	for _, id := range del {
		if err := sh.Inbox.Delete(ctx, id); err != nil {
			t.logf("tree: deleting an inbox message: %v", err)
		}
	}
	return count, nil
}

// uniqueName returns c's display name ("share" if none), with "-2", "-3"
// ... if a received share already has it.
func uniqueName(rs []received, c *cryptree.Capability) string {
	base := c.Name
	if base == "" || len(base) > MaxName-8 {
		base = "share"
	}
	taken := make(map[string]bool, len(rs))
	for _, r := range rs {
		taken[r.name] = true
	}
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}
