package drive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// fakeInboxes holds every user's inbox, keyed by cryptree.InboxID.
type fakeInboxes struct {
	mu    sync.Mutex
	boxes map[[32]byte]map[[32]byte][]byte
}

type userInbox struct {
	f  *fakeInboxes
	me [32]byte
}

func (f *fakeInboxes) of(kr *cryptree.Keyring) *userInbox {
	return &userInbox{f: f, me: cryptree.InboxID(kr.SigningKey().Public().(ed25519.PublicKey))}
}

func (f *fakeInboxes) put(box [32]byte, msg []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.boxes[box] == nil {
		f.boxes[box] = map[[32]byte][]byte{}
	}
	f.boxes[box][sha256.Sum256(msg)] = bytes.Clone(msg)
}

func (u *userInbox) Send(ctx context.Context, to ed25519.PublicKey, msg []byte) error {
	u.f.put(cryptree.InboxID(to), msg)
	return nil
}

func (u *userInbox) Fetch(ctx context.Context) ([]InboxMessage, error) {
	u.f.mu.Lock()
	defer u.f.mu.Unlock()
	var out []InboxMessage
	for id, m := range u.f.boxes[u.me] {
		out = append(out, InboxMessage{ID: id, Data: bytes.Clone(m)})
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].ID[:], out[j].ID[:]) < 0 })
	return out, nil
}

func (u *userInbox) Delete(ctx context.Context, id [32]byte) error {
	u.f.mu.Lock()
	defer u.f.mu.Unlock()
	delete(u.f.boxes[u.me], id)
	return nil
}

func (u *userInbox) count() int {
	u.f.mu.Lock()
	defer u.f.mu.Unlock()
	return len(u.f.boxes[u.me])
}

type user struct {
	kr    *cryptree.Keyring
	id    string
	tree  *Tree
	inbox *userInbox
}

type shareEnv struct {
	*treeEnv
	inboxes *fakeInboxes
	alice   *user
	bob     *user
	carol   *user
}

// newShareEnv makes three users over one network of peers, one record
// store and one set of inboxes.
func newShareEnv(t testing.TB) *shareEnv {
	t.Helper()
	e := &shareEnv{treeEnv: newTreeEnv(t), inboxes: &fakeInboxes{boxes: map[[32]byte]map[[32]byte][]byte{}}}
	e.alice = e.user(t, cryptree.KeyringFromRoot([32]byte{101}), memstore.NewKV())
	e.bob = e.user(t, cryptree.KeyringFromRoot([32]byte{102}), memstore.NewKV())
	e.carol = e.user(t, cryptree.KeyringFromRoot([32]byte{103}), memstore.NewKV())
	return e
}

func (e *shareEnv) user(t testing.TB, kr *cryptree.Keyring, cache storage.KV) *user {
	t.Helper()
	keys, w := kr.RootFolder()
	priv, _ := kr.BoxKey()
	u := &user{kr: kr, id: kr.UserID(), inbox: e.inboxes.of(kr)}
	tr, err := NewTree(context.Background(), TreeConfig{Objects: e.objects, Records: e.recs, Cache: cache,
		Root: w.ID(), RootKeys: keys, RootWriter: &w,
		Sharing: &Sharing{Sign: kr.SigningKey(), Box: priv, Inbox: u.inbox}})
	if err != nil {
		t.Fatal(err)
	}
	u.tree = tr
	return u
}

func put(t *testing.T, tr *Tree, p, content string) {
	t.Helper()
	if _, err := tr.Commit(context.Background(), p, inline(content), time.Time{}); err != nil {
		t.Fatalf("commit %s: %v", p, err)
	}
}

func read(t *testing.T, tr *Tree, p string) string {
	t.Helper()
	st, err := tr.Stat(context.Background(), p)
	if err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return string(st.Manifest.Inline)
}

// receive fetches u's inbox and accepts whatever waits in the pending
// list: want shares must have been added or updated in all.
func receive(t *testing.T, u *user, want int) {
	t.Helper()
	ctx := context.Background()
	n, err := u.tree.Receive(ctx)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	ps, err := u.tree.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) > 0 {
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		got, err := u.tree.Accept(ctx, names, "")
		if err != nil {
			t.Fatalf("accept %v: %v", names, err)
		}
		n += len(got)
	}
	if n != want {
		t.Fatalf("receive: %d shares, want %d", n, want)
	}
}

// checkRevoked wants a clear "revoked" error of kind NotExist or
// CannotDecrypt.
func checkRevoked(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.NotExist) && !errors.Is(err, storage.CannotDecrypt) {
		t.Fatalf("%s: %v (kind %v), want NotExist or CannotDecrypt", what, err, kindOf(err))
	}
	if !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("%s: %q does not say access was revoked", what, err)
	}
}

func TestShareRead(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/photos/a.jpg", "A")
	put(t, a.tree, "/photos/sub/b.jpg", "B")
	put(t, a.tree, "/secret/x", "X")
	if err := a.tree.Share(ctx, "/photos", b.id, false); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1)
	if b.inbox.count() != 0 {
		t.Fatal("Receive left the message in the inbox")
	}
	if ls, err := b.tree.List(ctx, "/"); err != nil || names(ls) != "shared/" {
		t.Fatalf("bob's root: %q, %v", names(ls), err)
	}
	if ls, err := b.tree.List(ctx, "/shared"); err != nil || names(ls) != "photos/" {
		t.Fatalf("bob's /shared: %q, %v", names(ls), err)
	}
	if got := walkTrash(t, b.tree); got != "" {
		t.Fatalf("Walk of / covers received shares: %q", got)
	}
	var walked []string
	if err := b.tree.Walk(ctx, "/shared", func(en Entry) error { walked = append(walked, en.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(walked, " "); got != "/shared/photos /shared/photos/a.jpg /shared/photos/sub /shared/photos/sub/b.jpg" {
		t.Fatalf("walk of /shared: %q", got)
	}
	if read(t, b.tree, "/shared/photos/sub/b.jpg") != "B" {
		t.Fatal("bob reads the wrong content")
	}
	// The capability opens the folder and its subtree, never the
	// owner's root (its other children).
	o := b.tree.newOp()
	ph, err := o.dir(ctx, "/shared/photos")
	if err != nil {
		t.Fatal(err)
	}
	if ph.f.Parent == nil || ph.f.Parent.ID != a.tree.cfg.Root {
		t.Fatalf("backlink: %+v", ph.f.Parent)
	}
	rootRec, err := e.recs.Lookup(ctx, a.tree.cfg.Root)
	if err != nil {
		t.Fatal(err)
	}
	body, err := b.tree.body(ctx, rootRec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cryptree.OpenFolder(body, a.tree.cfg.Root, ph.keys.SK, nil); !errors.Is(err, cryptree.ErrCannotDecrypt) {
		t.Fatalf("the share's key opens the owner's root: %v", err)
	}
	if _, err := cryptree.OpenFiles(body, a.tree.cfg.Root, ph.keys.FK); !errors.Is(err, cryptree.ErrCannotDecrypt) {
		t.Fatalf("the share's FK opens the root's files: %v", err)
	}
	if name, _, err := cryptree.OpenFolderInfo(body, a.tree.cfg.Root, ph.f.Parent.DK); err != nil || name != "" {
		t.Fatalf("the backlink opens the parent's name: %q, %v", name, err)
	}
	// Read-only: every write is refused with Permission.
	_, err = b.tree.Commit(ctx, "/shared/photos/new", inline("n"), time.Time{})
	checkKind(t, "reader commit", err, storage.Permission)
	_, err = b.tree.Commit(ctx, "/shared/photos/a.jpg", inline("n"), time.Time{})
	checkKind(t, "reader overwrite", err, storage.Permission)
	checkKind(t, "reader mkdir", b.tree.Mkdir(ctx, "/shared/photos/d", false), storage.Permission)
	_, err = b.tree.Remove(ctx, "/shared/photos/a.jpg", false)
	checkKind(t, "reader remove", err, storage.Permission)
	checkKind(t, "reader rename", b.tree.Rename(ctx, "/shared/photos/a.jpg", "/shared/photos/c.jpg"), storage.Permission)
	checkKind(t, "mkdir in /shared", b.tree.Mkdir(ctx, "/shared/x", false), storage.Permission)
	checkKind(t, "move into a share", b.tree.Rename(ctx, "/shared/photos/a.jpg", "/a.jpg"), storage.Invalid)
	if !strings.Contains(b.tree.Mkdir(ctx, "/shared/photos/d", false).Error(), "read-only share") {
		t.Fatal("the refusal does not say read-only share")
	}
	// The owner's list.
	gs, err := a.tree.Shares(ctx)
	if err != nil || len(gs) != 1 || gs[0].Path != "/photos" || gs[0].To != b.id || gs[0].Write || !gs[0].IsDir {
		t.Fatalf("shares: %+v, %v", gs, err)
	}
	if ls, err := a.tree.List(ctx, "/"); err != nil || names(ls) != "photos/ secret/" {
		t.Fatalf("alice's root shows %q, %v", names(ls), err)
	}
	// Sharing again does not add a grant; a second share of another
	// folder gets a name of its own, as does a folder of the same name.
	if err := a.tree.Share(ctx, "/photos", b.id, false); err != nil {
		t.Fatal(err)
	}
	put(t, a.tree, "/other/photos/c", "C")
	if err := a.tree.Share(ctx, "/other/photos", b.id, false); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1) // the repeat is a duplicate
	if ls, err := b.tree.List(ctx, "/shared"); err != nil || names(ls) != "photos/ photos-2/" {
		t.Fatalf("bob's /shared: %q, %v", names(ls), err)
	}
	if gs, _ := a.tree.Shares(ctx); len(gs) != 2 {
		t.Fatalf("shares: %+v", gs)
	}
	// Renaming and forgetting received shares.
	if err := b.tree.Rename(ctx, "/shared/photos-2", "/shared/more"); err != nil {
		t.Fatal(err)
	}
	if read(t, b.tree, "/shared/more/c") != "C" {
		t.Fatal("renamed share")
	}
	if _, err := b.tree.Remove(ctx, "/shared/more", true); err != nil {
		t.Fatal(err)
	}
	if ls, err := b.tree.List(ctx, "/shared"); err != nil || names(ls) != "photos/" {
		t.Fatalf("after forgetting: %q, %v", names(ls), err)
	}
}

func TestShareRefusals(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/f", "F")
	checkKind(t, "share the root", a.tree.Share(ctx, "/", b.id, false), storage.Invalid)
	if err := a.tree.Share(ctx, "/", b.id, false); !strings.Contains(err.Error(), "root") {
		t.Fatalf("no reason: %v", err)
	}
	checkKind(t, "bad user id", a.tree.Share(ctx, "/f", "cu1nope", false), storage.Invalid)
	checkKind(t, "missing", a.tree.Share(ctx, "/nope", b.id, false), storage.NotExist)
	checkKind(t, "write on a file", a.tree.Share(ctx, "/f", b.id, true), storage.Invalid)
	checkKind(t, "share the lists", a.tree.Share(ctx, CairnDir, b.id, false), storage.Invalid)
	_, err := a.tree.Commit(ctx, CairnDir+"/shares", inline("x"), time.Time{})
	checkKind(t, "write the lists", err, storage.Invalid)
	checkKind(t, "unshare both", a.tree.Unshare(ctx, "/f", b.id, "cairn://x"), storage.Invalid)
	checkKind(t, "unshare neither", a.tree.Unshare(ctx, "/f", "", ""), storage.Invalid)
	checkKind(t, "unshare nothing", a.tree.Unshare(ctx, "/f", b.id, ""), storage.NotExist)
	_, err = a.tree.Link(ctx, "/")
	checkKind(t, "link the root", err, storage.Invalid)
	// A tree without Sharing.
	_, err = e.tree.Receive(ctx)
	checkKind(t, "receive without sharing", err, storage.Invalid)
	put(t, e.tree, "/g", "G")
	checkKind(t, "share without sharing", e.tree.Share(ctx, "/g", b.id, false), storage.Invalid)
	// Garbage in the inbox is deleted and ignored.
	e.inboxes.put(b.inbox.me, []byte("garbage"))
	box := cryptree.FormatUserID(b.kr.SigningKey().Public().(ed25519.PublicKey), func() [32]byte { _, p := b.kr.BoxKey(); return p }())
	_, pub, _ := cryptree.ParseUserID(box)
	notShare, _ := cryptree.SealTo(pub, a.kr.SigningKey(), []byte("hello"))
	e.inboxes.put(b.inbox.me, notShare)
	receive(t, b, 0)
	if b.inbox.count() != 0 {
		t.Fatal("garbage left in the inbox")
	}
}

func TestShareWrite(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/proj/readme", "R")
	if err := a.tree.Share(ctx, "/proj", b.id, true); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1)
	put(t, b.tree, "/shared/proj/doc", "by bob")
	put(t, b.tree, "/shared/proj/deep/er/x", "deep")
	if read(t, a.tree, "/proj/doc") != "by bob" || read(t, a.tree, "/proj/deep/er/x") != "deep" {
		t.Fatal("alice does not see bob's writes")
	}
	put(t, a.tree, "/proj/doc", "by alice")
	if read(t, b.tree, "/shared/proj/doc") != "by alice" {
		t.Fatal("bob does not see alice's write")
	}
	if vs, err := b.tree.Versions(ctx, "/shared/proj/doc"); err != nil || len(vs) != 2 {
		t.Fatalf("versions through the share: %+v, %v", vs, err)
	}
	if err := b.tree.Rename(ctx, "/shared/proj/deep", "/shared/proj/shallow"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tree.Remove(ctx, "/shared/proj/readme", false); err != nil {
		t.Fatal(err)
	}
	if got := walkTrash(t, a.tree); got != "/proj/ /proj/.trash/ /proj/.trash/readme /proj/doc /proj/shallow/ /proj/shallow/er/ /proj/shallow/er/x" {
		t.Fatalf("alice sees %q", got)
	}
	// Taking write away needs unshare.
	checkKind(t, "downgrade", a.tree.Share(ctx, "/proj", b.id, false), storage.Invalid)
}

func TestUnshareReader(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b, c := e.alice, e.bob, e.carol
	put(t, a.tree, "/team/plan", "P")
	put(t, a.tree, "/team/sub/notes", "N")
	for _, u := range []*user{b, c} {
		if err := a.tree.Share(ctx, "/team", u.id, false); err != nil {
			t.Fatal(err)
		}
		receive(t, u, 1)
	}
	oldSK := func() cryptree.Key {
		n, err := b.tree.newOp().dir(ctx, "/shared/team")
		if err != nil {
			t.Fatal(err)
		}
		return n.keys.SK
	}()
	if err := a.tree.Unshare(ctx, "/team", b.id, ""); err != nil {
		t.Fatal(err)
	}
	put(t, a.tree, "/team/new", "after")
	put(t, a.tree, "/team/sub/notes", "N2")
	// Bob: the old folder is a tombstone; the new one does not open with
	// his old key.
	_, err := b.tree.Stat(ctx, "/shared/team/new")
	checkRevoked(t, "bob after revocation", err)
	_, err = b.tree.List(ctx, "/shared/team")
	checkRevoked(t, "bob lists", err)
	receive(t, b, 0)
	n, err := a.tree.newOp().dir(ctx, "/team")
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.tree.body(ctx, n.rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cryptree.OpenFolder(body, n.id, oldSK, nil); !errors.Is(err, cryptree.ErrCannotDecrypt) {
		t.Fatalf("the re-keyed folder opens with the old key: %v", err)
	}
	// Carol fails too until she receives the re-delivered capability.
	_, err = c.tree.Stat(ctx, "/shared/team/new")
	checkRevoked(t, "carol before receive", err)
	receive(t, c, 1)
	if read(t, c.tree, "/shared/team/new") != "after" || read(t, c.tree, "/shared/team/sub/notes") != "N2" ||
		read(t, c.tree, "/shared/team/plan") != "P" {
		t.Fatal("carol lost access")
	}
	if ls, _ := c.tree.List(ctx, "/shared"); names(ls) != "team/" {
		t.Fatalf("carol's /shared: %q", names(ls))
	}
	// The share list: carol only, with the new identity.
	gs, err := a.tree.Shares(ctx)
	if err != nil || len(gs) != 1 || gs[0].To != c.id {
		t.Fatalf("shares: %+v, %v", gs, err)
	}
	// Files not shared alone are dirty: a new DK at the next write.
	n, _ = a.tree.newOp().dir(ctx, "/team")
	for _, f := range n.f.Files {
		if f.Meta.Name == "plan" && !f.Dirty || f.Meta.Name == "new" && f.Dirty {
			t.Fatalf("dirty flags: %s %v", f.Meta.Name, f.Dirty)
		}
	}
	// Revoking twice in a row: carol follows both re-keys.
	if err := a.tree.Share(ctx, "/team", b.id, false); err != nil {
		t.Fatal(err)
	}
	if err := a.tree.Unshare(ctx, "/team", b.id, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.tree.Share(ctx, "/team", b.id, false); err != nil {
		t.Fatal(err)
	}
	if err := a.tree.Unshare(ctx, "/team", b.id, ""); err != nil {
		t.Fatal(err)
	}
	receive(t, c, 2)
	if read(t, c.tree, "/shared/team/new") != "after" {
		t.Fatal("carol after two re-keys")
	}
	receive(t, b, 2) // both re-shares, both revoked since
	for _, p := range []string{"/shared/team/new", "/shared/team-2/new", "/shared/team-3/new"} {
		_, err = b.tree.Stat(ctx, p)
		checkRevoked(t, "bob after the second revocation", err)
	}
}

func TestUnshareWriter(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/w/sub/f", "F")
	if err := a.tree.Share(ctx, "/w", b.id, true); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1)
	rs, err := b.tree.newOp().received(ctx)
	if err != nil || len(rs) != 1 || rs[0].cap.Writer == nil {
		t.Fatalf("bob's capability: %+v, %v", rs, err)
	}
	oldCap := rs[0].cap
	oldDir, _ := a.tree.newOp().dir(ctx, "/w/sub")
	if err := a.tree.Unshare(ctx, "/w", b.id, ""); err != nil {
		t.Fatal(err)
	}
	n, err := a.tree.newOp().dir(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := a.tree.newOp().dir(ctx, "/w/sub")
	if err != nil {
		t.Fatal(err)
	}
	if n.id == oldCap.ID || sub.id == oldDir.id {
		t.Fatal("the revoked writer's folders kept their IDs")
	}
	// Bob's writes through his old capability fail...
	_, err = b.tree.Commit(ctx, "/shared/w/evil", inline("evil"), time.Time{})
	checkRevoked(t, "bob writes", err)
	// ...and a record he signs with the old key reaches nobody.
	body, err := cryptree.SealFolder(&cryptree.Folder{Name: "w", Files: []cryptree.FileEntry{{Label: [16]byte{9}, DK: cryptree.Key{1},
		Meta: cryptree.FileMeta{Name: "evil", Versions: []cryptree.Version{{N: 1, Manifest: mustMarshal(t, inline("evil")), Inline: true}}}}}},
		oldCap.ID, cryptree.FolderKeys{SK: oldCap.SK}, &oldCap.Writer.WK)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cryptree.SignRecord(*oldCap.Writer, 1000, append([]byte{valueInline}, body...))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.recs.Publish(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := walkTrash(t, a.tree); got != "/w/ /w/sub/ /w/sub/f" {
		t.Fatalf("alice sees %q", got)
	}
	if read(t, a.tree, "/w/sub/f") != "F" {
		t.Fatal("content after re-key")
	}
}

func TestShareMovedFolder(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/a/box/x", "X")
	if err := a.tree.Share(ctx, "/a/box", b.id, false); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1)
	if err := a.tree.Rename(ctx, "/a/box", "/b/moved"); err == nil {
		t.Fatal("rename into a missing folder")
	}
	if err := a.tree.Mkdir(ctx, "/b", false); err != nil {
		t.Fatal(err)
	}
	if err := a.tree.Rename(ctx, "/a/box", "/b/moved"); err != nil {
		t.Fatal(err)
	}
	put(t, a.tree, "/b/moved/y", "Y")
	if read(t, b.tree, "/shared/box/x") != "X" || read(t, b.tree, "/shared/box/y") != "Y" {
		t.Fatal("bob lost the moved folder")
	}
	if gs, err := a.tree.Shares(ctx); err != nil || len(gs) != 1 || gs[0].Path != "/b/moved" {
		t.Fatalf("shares after the move: %+v, %v", gs, err)
	}
	if err := a.tree.Unshare(ctx, "/b/moved", b.id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.tree.Remove(ctx, "/b/moved", true); err != nil {
		t.Fatal(err)
	}
}

func TestShareFile(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b, c := e.alice, e.bob, e.carol
	put(t, a.tree, "/docs/one.txt", "1")
	put(t, a.tree, "/docs/two.txt", "2")
	for _, u := range []*user{b, c} {
		if err := a.tree.Share(ctx, "/docs/one.txt", u.id, false); err != nil {
			t.Fatal(err)
		}
		receive(t, u, 1)
	}
	if ls, err := b.tree.List(ctx, "/shared"); err != nil || len(ls) != 1 || ls[0].Path != "/shared/one.txt" || ls[0].IsDir || ls[0].Size != 1 {
		t.Fatalf("bob's /shared: %+v, %v", ls, err)
	}
	if read(t, b.tree, "/shared/one.txt") != "1" {
		t.Fatal("bob reads the file")
	}
	_, err := b.tree.Stat(ctx, "/shared/one.txt/x")
	checkKind(t, "below a file", err, storage.NotExist)
	_, err = b.tree.Commit(ctx, "/shared/one.txt", inline("x"), time.Time{})
	checkKind(t, "write a shared file", err, storage.Permission)
	// The capability opens that entry and nothing else of the folder.
	rs, _ := b.tree.newOp().received(ctx)
	rec, _ := e.recs.Lookup(ctx, rs[0].cap.ID)
	body, _ := b.tree.body(ctx, rec.Value)
	if _, err := cryptree.OpenFiles(body, rs[0].cap.ID, rs[0].cap.DK); err == nil {
		t.Fatal("the file's DK opens its folder's files")
	}
	put(t, a.tree, "/docs/one.txt", "1 again")
	if read(t, b.tree, "/shared/one.txt") != "1 again" {
		t.Fatal("bob does not see the new version")
	}
	if vs, err := b.tree.Versions(ctx, "/shared/one.txt"); err != nil || len(vs) != 2 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	// Revoke bob: a new DK now; carol gets it again.
	if err := a.tree.Unshare(ctx, "/docs/one.txt", b.id, ""); err != nil {
		t.Fatal(err)
	}
	put(t, a.tree, "/docs/one.txt", "secret now")
	_, err = b.tree.Stat(ctx, "/shared/one.txt")
	checkRevoked(t, "bob's file", err)
	if ls, err := b.tree.List(ctx, "/shared"); err != nil || len(ls) != 0 {
		t.Fatalf("a revoked file share is listed: %+v, %v", ls, err)
	}
	receive(t, c, 1)
	if read(t, c.tree, "/shared/one.txt") != "secret now" {
		t.Fatal("carol lost the file")
	}
	// A file shared alone inside a re-keyed folder gets a new DK at once
	// and carol keeps it.
	if err := a.tree.Share(ctx, "/docs", b.id, false); err != nil {
		t.Fatal(err)
	}
	if err := a.tree.Unshare(ctx, "/docs", b.id, ""); err != nil {
		t.Fatal(err)
	}
	receive(t, c, 1)
	if read(t, c.tree, "/shared/one.txt") != "secret now" {
		t.Fatal("carol lost the file after the folder's re-key")
	}
}

func TestShareLink(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a := e.alice
	data := randBytes(7, 100<<10)
	d := driveOver(a.tree)
	if _, err := d.Put(ctx, "/pics/big.bin", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, a.tree, "/pics/sub/small", "S")
	put(t, a.tree, "/other", "O")
	link, err := a.tree.Link(ctx, "/pics")
	if err != nil || !strings.HasPrefix(link, "cairn://") {
		t.Fatalf("link %q, %v", link, err)
	}
	if again, _ := a.tree.Link(ctx, "/pics"); again != link {
		t.Fatal("a second link differs")
	}
	if gs, _ := a.tree.Shares(ctx); len(gs) != 1 || gs[0].Link != link || gs[0].To != "" {
		t.Fatalf("shares: %+v", gs)
	}
	c, err := cryptree.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh home: its own records cache, no keyring.
	v, err := OpenCapability(ctx, e.objects, e.recs, c)
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsDir() || v.Name() != "pics" {
		t.Fatalf("view of %q", v.Name())
	}
	if ls, err := v.List(ctx, "/"); err != nil || names(ls) != "big.bin sub/" {
		t.Fatalf("list: %q, %v", names(ls), err)
	}
	var walked []string
	if err := v.Walk(ctx, "/", func(en Entry) error { walked = append(walked, en.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(walked, " ") != "/big.bin /sub /sub/small" {
		t.Fatalf("walk: %q", walked)
	}
	r, en, err := v.Open(ctx, "/big.bin")
	if err != nil || en.Size != int64(len(data)) {
		t.Fatalf("open: %+v, %v", en, err)
	}
	got, err := io.ReadAll(io.NewSectionReader(r, 0, en.Size))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read through the link: %d bytes, %v", len(got), err)
	}
	_, err = v.Stat(ctx, "/../other")
	checkKind(t, "escape the link", err, storage.NotExist)
	_, _, err = v.Open(ctx, "/sub")
	checkKind(t, "open a folder", err, storage.IsDir)
	// A tampered link.
	bad := []byte(link)
	if bad[20] == 'a' {
		bad[20] = 'b'
	} else {
		bad[20] = 'a'
	}
	if _, err := cryptree.ParseLink(string(bad)); !errors.Is(err, cryptree.ErrCorruptLink) {
		t.Fatalf("tampered link: %v", err)
	}
	checkKind(t, "unshare a tampered link", a.tree.Unshare(ctx, "/pics", "", string(bad)), storage.Corrupt)
	// A file link.
	flink, err := a.tree.Link(ctx, "/pics/sub/small")
	if err != nil {
		t.Fatal(err)
	}
	fc, _ := cryptree.ParseLink(flink)
	fv, err := OpenCapability(ctx, e.objects, e.recs, fc)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := fv.Stat(ctx, "/"); err != nil || fv.IsDir() || string(st.Manifest.Inline) != "S" {
		t.Fatalf("file link: %+v, %v", st, err)
	}
	_, err = fv.List(ctx, "/")
	checkKind(t, "list a file link", err, storage.NotDir)
	// Unshare the folder link: it fails on the re-keyed folder.
	if err := a.tree.Unshare(ctx, "/pics", "", strings.ToUpper(link)); err != nil {
		t.Fatal(err)
	}
	put(t, a.tree, "/pics/after", "new")
	_, err = OpenCapability(ctx, e.objects, e.recs, c)
	checkRevoked(t, "revoked link", err)
	_, err = v.Stat(ctx, "/after")
	checkRevoked(t, "open view after revocation", err)
	// The file link inside was re-keyed with it: dropped from the list.
	if gs, _ := a.tree.Shares(ctx); len(gs) != 0 {
		t.Fatalf("shares after revoking the link: %+v", gs)
	}
}

// A recovered keyring (a new machine) finds the share list and the
// received list in the tree.
func TestShareRecovery(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/s/x", "X")
	if err := a.tree.Share(ctx, "/s", b.id, true); err != nil {
		t.Fatal(err)
	}
	link, err := a.tree.Link(ctx, "/s/x")
	if err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1)
	ka, err := cryptree.ParseRecoverySecret(a.kr.RecoverySecret())
	if err != nil {
		t.Fatal(err)
	}
	a2 := e.user(t, ka, memstore.NewKV())
	gs, err := a2.tree.Shares(ctx)
	if err != nil || len(gs) != 2 || gs[0].To != b.id || !gs[0].Write || gs[1].Link != link {
		t.Fatalf("recovered shares: %+v, %v", gs, err)
	}
	kb, _ := cryptree.ParseRecoverySecret(b.kr.RecoverySecret())
	b2 := e.user(t, kb, memstore.NewKV())
	put(t, b2.tree, "/shared/s/from-b2", "B2")
	if read(t, a.tree, "/s/from-b2") != "B2" {
		t.Fatal("the recovered recipient cannot write")
	}
	// The recovered owner can revoke.
	if err := a2.tree.Unshare(ctx, "/s", b.id, ""); err != nil {
		t.Fatal(err)
	}
	_, err = b2.tree.Stat(ctx, "/shared/s/x")
	checkRevoked(t, "after revocation from the recovered owner", err)
}

// FuzzShareLists feeds arbitrary bytes to the decoders of the share
// list, the received list and inbox messages: errors, never panics;
// what decodes encodes back the same.
func FuzzShareLists(f *testing.F) {
	kr := cryptree.KeyringFromRoot([32]byte{1})
	_, w := kr.RootFolder()
	g := []grant{
		{Grant: Grant{Path: "/a/b", To: kr.UserID(), Write: true, IsDir: true, Time: time.Unix(1700000000, 5)}, id: w.ID()},
		{Grant: Grant{Path: "/f", Link: "cairn://abc", Time: time.Unix(1, 0)}, id: w.ID(), label: [16]byte{3}},
	}
	c := &cryptree.Capability{Kind: cryptree.CapFolder, Name: "n", ID: w.ID(), SK: cryptree.Key{1}, Writer: &w}
	fc := &cryptree.Capability{Kind: cryptree.CapFile, Name: "", ID: w.ID(), Label: [16]byte{1}, DK: cryptree.Key{2}}
	r := []received{{name: "n", from: [32]byte{4}, time: time.Unix(5, 6), cap: c}, {name: "m", cap: fc}}
	f.Add(encodeGrants(g))
	f.Add(encodeGrants(nil))
	f.Add(encodeReceived(r))
	f.Add(encodeMessage(w.ID(), c))
	f.Add(encodeMessage(cryptree.FolderID{}, fc))
	f.Fuzz(func(t *testing.T, b []byte) {
		if gs, err := decodeGrants(b); err == nil {
			// Lengths may be written in a longer varint than ours.
			gs2, err := decodeGrants(encodeGrants(gs))
			if err != nil || !bytes.Equal(encodeGrants(gs2), encodeGrants(gs)) {
				t.Fatalf("grants do not round-trip: %v", err)
			}
		}
		if rs, err := decodeReceived(b); err == nil {
			if _, err := decodeReceived(encodeReceived(rs)); err != nil {
				t.Fatalf("received list does not round-trip: %v", err)
			}
		}
		if rep, c, err := decodeMessage(b); err == nil {
			if rep2, c2, err := decodeMessage(encodeMessage(rep, c)); err != nil || rep2 != rep || !bytes.Equal(c2.Marshal(), c.Marshal()) {
				t.Fatalf("message does not round-trip: %v", err)
			}
		}
	})
}

// BenchmarkShare: sharing a folder with 1,100 descendants (100 folders
// of 10 files) with a user, and revoking it (re-keying the 101 folders),
// in memory.
func BenchmarkShare(b *testing.B) {
	ctx := context.Background()
	e := newShareEnv(b)
	a := e.alice
	for i := 0; i < 100; i++ {
		for j := 0; j < 10; j++ {
			if _, err := a.tree.Commit(ctx, fmt.Sprintf("/big/d%03d/f%02d", i, j), inline("data"), time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("share", func(b *testing.B) {
		for b.Loop() {
			if err := a.tree.Share(ctx, "/big", e.bob.id, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := a.tree.Unshare(ctx, "/big", e.bob.id, ""); err != nil {
		b.Fatal(err)
	}
	b.Run("revoke", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := a.tree.Share(ctx, "/big", e.bob.id, false); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := a.tree.Unshare(ctx, "/big", e.bob.id, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Sharing and receiving through the Drive façade, as the daemon's API
// and the FUSE drive call them.
func TestDriveSharing(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	alice, bob := driveOver(e.alice.tree), driveOver(e.bob.tree)
	for _, p := range []string{"/docs/a", "/pics/b"} {
		if _, err := alice.Put(ctx, p, strings.NewReader("content of "+p), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/docs", "/pics"} {
		if err := alice.Share(ctx, p, e.bob.id, false); err != nil {
			t.Fatalf("share %s: %v", p, err)
		}
	}
	link, err := alice.Link(ctx, "/docs")
	if err != nil || !strings.HasPrefix(link, "cairn://") {
		t.Fatalf("link: %q, %v", link, err)
	}
	if gs, err := alice.Shares(ctx); err != nil || len(gs) != 3 {
		t.Fatalf("shares: %+v, %v", gs, err)
	}
	if n, err := bob.Receive(ctx); err != nil || n != 0 {
		t.Fatalf("receive from a stranger: %d, %v", n, err)
	}
	ps, err := bob.PendingShares(ctx)
	if err != nil || len(ps) != 2 {
		t.Fatalf("pending: %+v, %v", ps, err)
	}
	if n, err := bob.Decline(ctx, []string{ps[1].Name}, ""); err != nil || n != 1 {
		t.Fatalf("decline: %d, %v", n, err)
	}
	got, err := bob.Accept(ctx, []string{ps[0].Name}, "")
	if err != nil || len(got) != 1 {
		t.Fatalf("accept: %v, %v", got, err)
	}
	if rs, err := bob.Received(ctx); err != nil || len(rs) != 1 || rs[0].Name != got[0] {
		t.Fatalf("received: %+v, %v", rs, err)
	}
	if ps, err := bob.PendingShares(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("pending after: %+v, %v", ps, err)
	}
	f := "/docs/a"
	if ps[0].Name != "docs" {
		f = "/pics/b"
	}
	readBack(t, bob, SharedDir+"/"+got[0]+"/"+baseOf(f), []byte("content of "+f))
	if err := alice.Unshare(ctx, "/docs", "", link); err != nil {
		t.Fatalf("unshare the link: %v", err)
	}
	if n, err := alice.Republish(ctx); err != nil || n == 0 {
		t.Fatalf("republish: %d, %v", n, err)
	}
}
