package drive

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive/drivetest"
	"github.com/cairn-storage/cairn/storage/memstore"
)

type treeEnv struct {
	net     blob.Stores
	mem     []*memstore.Store
	objects *blob.Client
	recs    *drivetest.Records
	kr      *cryptree.Keyring
	cache   *memstore.KV
	tree    *Tree
}

func newTreeEnv(t testing.TB) *treeEnv {
	t.Helper()
	e := &treeEnv{net: blob.Stores{}, recs: drivetest.NewRecords(), cache: memstore.NewKV(),
		kr: cryptree.KeyringFromRoot([32]byte{42})}
	for i := 0; i < 8; i++ {
		s := memstore.New()
		e.net[storage.PeerID(fmt.Sprintf("peer-%02d", i))] = s
		e.mem = append(e.mem, s)
	}
	bc, err := blob.New(blob.Config{Network: e.net, Secret: e.kr.ChunkSecret(),
		K: testK, M: testM, Extra: -1, Chunking: small})
	if err != nil {
		t.Fatal(err)
	}
	e.objects = bc
	e.tree = e.open(t, e.kr, e.cache)
	return e
}

// open returns a Tree of kr's drive over the env's peers and records with
// its own cache (another device).
func (e *treeEnv) open(t testing.TB, kr *cryptree.Keyring, cache storage.KV) *Tree {
	t.Helper()
	tr, err := e.try(kr, cache)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (e *treeEnv) try(kr *cryptree.Keyring, cache storage.KV) (*Tree, error) {
	keys, w := kr.RootFolder()
	return NewTree(context.Background(), TreeConfig{Objects: e.objects, Records: e.recs, Cache: cache,
		Root: w.ID(), RootKeys: keys, RootWriter: &w})
}

// bigManifest is a manifest whose encoding is over InlineManifest.
func bigManifest(seed byte) *blob.Manifest {
	m := &blob.Manifest{}
	for i := 0; i < 20; i++ {
		c := blob.Chunk{Size: 1000, SealedLen: 1000 + cryptree.ChunkOverhead, K: 1, N: 1,
			ID: [32]byte{seed, byte(i)}, Key: cryptree.Key{seed}}
		c.Frags = []blob.Frag{{Index: 0, Ref: storage.Ref{seed, byte(i)}, Holder: "some-peer-with-a-long-id-0123456789"}}
		m.Chunks = append(m.Chunks, c)
		m.Size += 1000
	}
	return m
}

func TestTreeVersions(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	tr := e.tree
	base := time.Unix(1700000000, 0)
	for i := 1; i <= 12; i++ {
		m := inline(fmt.Sprintf("version %d", i))
		if i == 5 {
			m = bigManifest(5) // kept as a sealed small object
		}
		if _, err := tr.Commit(ctx, "/docs/f.txt", m, base.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	vs, err := tr.Versions(ctx, "/docs/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, v := range vs {
		ns = append(ns, fmt.Sprint(v.N))
	}
	if got := strings.Join(ns, " "); got != "1 3 4 5 6 7 8 9 10 11 12" {
		t.Fatalf("versions kept: %s", got)
	}
	for _, n := range []uint64{1, 3, 5, 12} {
		ve, err := tr.Version(ctx, "/docs/f.txt", n)
		if err != nil {
			t.Fatalf("version %d: %v", n, err)
		}
		if !ve.Mtime.Equal(base.Add(time.Duration(n) * time.Second)) {
			t.Fatalf("version %d: mtime %v", n, ve.Mtime)
		}
		if n == 5 {
			if len(ve.Manifest.Chunks) != 20 || ve.Manifest.Chunks[3].ID[1] != 3 {
				t.Fatalf("version 5: manifest %+v", ve.Manifest)
			}
			continue
		}
		if got := string(ve.Manifest.Inline); got != fmt.Sprintf("version %d", n) {
			t.Fatalf("version %d reads %q", n, got)
		}
	}
	_, err = tr.Version(ctx, "/docs/f.txt", 2)
	checkKind(t, "dropped version", err, storage.NotExist)
	_, err = tr.Version(ctx, "/docs/f.txt", 13)
	checkKind(t, "future version", err, storage.NotExist)
	_, err = tr.Versions(ctx, "/docs")
	checkKind(t, "versions of a folder", err, storage.IsDir)
	_, err = tr.Versions(ctx, "/docs/nope")
	checkKind(t, "versions of nothing", err, storage.NotExist)
	if st, err := tr.Stat(ctx, "/docs/f.txt"); err != nil || string(st.Manifest.Inline) != "version 12" {
		t.Fatalf("stat: %+v %v", st, err)
	}
	// A renamed file keeps its versions.
	if err := tr.Rename(ctx, "/docs/f.txt", "/g.txt"); err != nil {
		t.Fatal(err)
	}
	if vs, err := tr.Versions(ctx, "/g.txt"); err != nil || len(vs) != 11 {
		t.Fatalf("versions after rename: %d, %v", len(vs), err)
	}

	// Through Drive.
	d := driveOver(tr)
	if vs, err := d.Versions(ctx, "/g.txt"); err != nil || len(vs) != 11 {
		t.Fatalf("drive versions: %d, %v", len(vs), err)
	}
	r, ve, err := d.OpenVersion(ctx, "/g.txt", 4)
	if err != nil || ve.Size != int64(len("version 4")) {
		t.Fatalf("open version: %+v, %v", ve, err)
	}
	buf := make([]byte, ve.Size)
	if _, err := r.ReadAt(buf, 0); err != nil || string(buf) != "version 4" {
		t.Fatalf("read version: %q, %v", buf, err)
	}
}

func TestTreeTrash(t *testing.T) {
	ctx := context.Background()
	tr := newTreeEnv(t).tree
	commit := func(p, s string) {
		t.Helper()
		if _, err := tr.Commit(ctx, p, inline(s), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	commit("/a/f.txt", "one")
	commit("/a/b/g.txt", "g")
	rm, err := tr.Remove(ctx, "/a/f.txt", false)
	if err != nil || len(rm) != 1 || rm[0].Path != "/a/f.txt" || string(rm[0].Manifest.Inline) != "one" {
		t.Fatalf("remove: %+v, %v", rm, err)
	}
	commit("/a/f.txt", "two")
	if _, err := tr.Remove(ctx, "/a/f.txt", false); err != nil {
		t.Fatal(err)
	}
	ls, err := tr.List(ctx, TrashDir)
	if err != nil || len(ls) != 2 || ls[0].Name() != "f.txt" || !strings.HasPrefix(ls[1].Name(), "f.txt~") {
		t.Fatalf("trash: %q, %v", names(ls), err)
	}
	second := ls[1].Path
	_, err = tr.Remove(ctx, "/a", false)
	checkKind(t, "remove a non-empty folder", err, storage.NotEmpty)
	rm, err = tr.Remove(ctx, "/a", true)
	if err != nil || len(rm) != 1 || rm[0].Path != "/a/b/g.txt" {
		t.Fatalf("remove -r: %+v, %v", rm, err)
	}
	if got := walkTrash(t, tr); got != "/.trash/ /.trash/a/ /.trash/a/b/ /.trash/a/b/g.txt /.trash/f.txt "+second {
		t.Fatalf("after removes: %s", got)
	}
	// Restore by renaming out of the trash.
	if err := tr.Rename(ctx, "/.trash/a", "/a"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Rename(ctx, second, "/a/f.txt"); err != nil {
		t.Fatal(err)
	}
	if e, err := tr.Stat(ctx, "/a/f.txt"); err != nil || string(e.Manifest.Inline) != "two" {
		t.Fatalf("restored: %+v, %v", e, err)
	}
	// Removing from the trash deletes for good.
	rm, err = tr.Remove(ctx, "/.trash/f.txt", false)
	if err != nil || len(rm) != 1 {
		t.Fatalf("drop: %+v, %v", rm, err)
	}
	if got := walkTrash(t, tr); got != "/.trash/ /a/ /a/b/ /a/b/g.txt /a/f.txt" {
		t.Fatalf("after drop: %s", got)
	}
	if _, err := tr.Remove(ctx, "/a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Remove(ctx, TrashDir, true); err != nil {
		t.Fatal(err)
	}
	if got := walkTrash(t, tr); got != "" {
		t.Fatalf("after emptying the trash: %q", got)
	}
}

// walkTrash lists the whole tree, trash included.
func walkTrash(t *testing.T, ns walkable) string {
	t.Helper()
	var b []string
	err := ns.Walk(context.Background(), "/", func(e Entry) error {
		p := e.Path
		if e.IsDir {
			p += "/"
		}
		b = append(b, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(b, " ")
}

// Another device (or a recovered keyring) with an empty cache sees the
// same tree, and each sees the other's writes.
func TestTreeSecondDevice(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	mtime := time.Unix(1650000000, 0)
	for _, p := range []string{"/a/1", "/a/b/2", "/c"} {
		if _, err := e.tree.Commit(ctx, p, bigManifest(p[len(p)-1]), mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.tree.Rename(ctx, "/a/b", "/b"); err != nil {
		t.Fatal(err)
	}
	want := walkTrash(t, e.tree)
	kr, err := cryptree.ParseRecoverySecret(e.kr.RecoverySecret())
	if err != nil {
		t.Fatal(err)
	}
	other := e.open(t, kr, memstore.NewKV())
	if got := walkTrash(t, other); got != want {
		t.Fatalf("second device sees %q, want %q", got, want)
	}
	st, err := other.Stat(ctx, "/b/2")
	if err != nil || len(st.Manifest.Chunks) != 20 || !st.Mtime.Equal(mtime) {
		t.Fatalf("stat on the second device: %+v, %v", st, err)
	}
	if _, err := other.Commit(ctx, "/b/3", inline("3"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := e.tree.Mkdir(ctx, "/b/d", false); err != nil {
		t.Fatal(err)
	}
	if got, want := walkTrash(t, other), walkTrash(t, e.tree); got != want || !strings.Contains(got, "/b/3 /b/d/") {
		t.Fatalf("devices disagree:\n%q\n%q", got, want)
	}
	// The moved folder's backlink names its new parent (the root).
	o := other.newOp()
	n, err := o.dir(ctx, "/b")
	if err != nil || n.f.Parent == nil || n.f.Parent.ID != other.cfg.Root || n.f.Name != "b" {
		t.Fatalf("moved folder: %+v, %v", n, err)
	}
	// Someone else's keyring does not open this drive (its root is
	// another folder: a fresh empty drive).
	if got := walkTrash(t, e.open(t, cryptree.KeyringFromRoot([32]byte{43}), memstore.NewKV())); got != "" {
		t.Fatalf("another user sees %q", got)
	}
	// The right root with wrong read keys: cannot decrypt.
	keys, w := e.kr.RootFolder()
	keys.SK[0] ^= 1
	_, err = NewTree(ctx, TreeConfig{Objects: e.objects, Records: e.recs, Cache: memstore.NewKV(),
		Root: w.ID(), RootKeys: keys, RootWriter: &w})
	checkKind(t, "wrong root keys", err, storage.CannotDecrypt)
	_, err = NewTree(ctx, TreeConfig{Objects: e.objects, Records: e.recs, Cache: memstore.NewKV(),
		Root: cryptree.FolderID{1}, RootKeys: keys, RootWriter: &w})
	checkKind(t, "root writer mismatch", err, storage.Invalid)
}

// A record older than one seen before is refused (Corrupt) and the cache
// keeps the newer one; a forged record is refused.
func TestTreeRollbackAndForgery(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	tr := e.tree
	if _, err := tr.Commit(ctx, "/old.txt", inline("old"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	root := tr.cfg.Root
	old := e.recs.Current(root)
	if _, err := tr.Commit(ctx, "/new.txt", inline("new"), time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Rollback: the network serves the older root record.
	e.recs.Serve(func(id cryptree.FolderID) *cryptree.Record {
		if id == root {
			return old
		}
		return nil
	})
	_, err := tr.Stat(ctx, "/new.txt")
	checkKind(t, "rollback", err, storage.Corrupt)
	if !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("rollback error says %v", err)
	}
	_, err = tr.Commit(ctx, "/x.txt", inline("x"), time.Time{})
	checkKind(t, "write over a rollback", err, storage.Corrupt)
	// The network's record disappears: the cached one is used and
	// republished.
	e.recs.Serve(nil)
	e.recs.Forget(root)
	if ls, err := tr.List(ctx, "/"); err != nil || names(ls) != "new.txt old.txt" {
		t.Fatalf("after the network lost the record: %q, %v", names(ls), err)
	}
	if e.recs.Current(root) == nil {
		t.Fatal("cached record not republished")
	}

	// Forgeries: a changed value under the old signature, and a record of
	// another folder.
	cur, err := e.recs.Lookup(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	forged := *cur
	forged.Seq++
	forged.Value = append([]byte{valueInline}, bytes.Repeat([]byte{1}, 1024)...)
	if err := e.recs.Publish(ctx, &forged); err == nil {
		t.Fatal("fake records took a forged record")
	}
	w, _ := cryptree.NewWriter()
	wrong, _ := cryptree.SignRecord(w, cur.Seq+1, cur.Value)
	for name, rec := range map[string]*cryptree.Record{"bad signature": &forged, "other folder": wrong} {
		e.recs.Serve(func(cryptree.FolderID) *cryptree.Record { return rec })
		_, err = tr.List(ctx, "/")
		checkKind(t, name, err, storage.Corrupt)
	}
	e.recs.Serve(nil)
	if ls, err := tr.List(ctx, "/"); err != nil || names(ls) != "new.txt old.txt" {
		t.Fatalf("after forgeries: %q, %v", names(ls), err)
	}

	// A tampered body on every peer: the object's root does not match.
	if _, err := tr.Commit(ctx, "/big", bigManifest(1), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.mem {
		_ = s.List(ctx, func(ref storage.Ref, _ int64) error {
			return s.Corrupt(ref, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		})
	}
	fresh := e.open(t, e.kr, memstore.NewKV()) // no cached objects
	_, err = fresh.Stat(ctx, "/big")
	checkKind(t, "tampered manifest object", err, storage.Corrupt)
}

// Nothing a peer or the record layer stores holds a name or file content
// in the clear.
func TestTreeNoPlaintext(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	d := driveOver(e.tree)
	secrets := map[string][]byte{
		"/Holiday Photos/passwords.txt": []byte("hunter2-is-my-secret-password"),
		"/Holiday Photos/diary.md":      bytes.Repeat([]byte("dear diary, secretcontent "), 8000),
		"/Taxes/2024/return.pdf":        bytes.Repeat([]byte("taxable-income-figures "), 50),
	}
	for p, data := range secrets {
		if _, err := d.Put(ctx, p, bytes.NewReader(data), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Remove(ctx, "/Taxes/2024/return.pdf", false); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(ctx, "/Holiday Photos", "/Vacation"); err != nil {
		t.Fatal(err)
	}
	needles := []string{"Holiday", "Vacation", "passwords", "diary", "Taxes", "return.pdf", ".trash",
		"hunter2", "secretcontent", "taxable"}
	check := func(where string, b []byte) {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%q in the clear in %s", n, where)
			}
		}
	}
	objects := 0
	for i, s := range e.mem {
		_ = s.List(ctx, func(ref storage.Ref, _ int64) error {
			b, err := s.Get(ctx, ref)
			if err != nil {
				return err
			}
			objects++
			check(fmt.Sprintf("peer %d", i), b)
			return nil
		})
	}
	for _, b := range e.recs.History() {
		check("a record", b)
	}
	_ = e.cache.Scan(ctx, nil, func(k, v []byte) error { check("the cache", append(k, v...)); return nil })
	if objects == 0 {
		t.Fatal("nothing stored on the peers")
	}
	got := walkTrash(t, e.tree)
	if !strings.Contains(got, "/Vacation/passwords.txt") || !strings.Contains(got, "/.trash/return.pdf") {
		t.Fatalf("tree: %s", got)
	}
}

// TestTreeMetadataCost measures the metadata bytes per file: a folder of
// 1,000 files (one body) and a tree of 1,000 files in 20 folders made by
// Commit.
func TestTreeMetadataCost(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	ctx := context.Background()
	// One folder of 1,000 files with typical small inline manifests.
	m, _ := (&blob.Manifest{Size: 3000, Chunks: bigManifest(1).Chunks[:1]}).MarshalBinary()
	f := &cryptree.Folder{Name: "photos", Mtime: time.Now()}
	for i := 0; i < 1000; i++ {
		l, _ := cryptree.NewLabel()
		dk, _ := cryptree.NewKey()
		f.Files = append(f.Files, cryptree.FileEntry{Label: l, DK: dk, Meta: cryptree.FileMeta{
			Name:     fmt.Sprintf("IMG_%04d.jpg", i),
			Versions: []cryptree.Version{{N: 1, Size: 3000, Mtime: time.Now(), Manifest: m, Inline: true}},
		}})
	}
	keys, _ := cryptree.NewFolderKeys()
	w, _ := cryptree.NewWriter()
	body, err := cryptree.SealFolder(f, w.ID(), keys, &w.WK)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cryptree.Unpad(body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one folder of 1000 files: body %d bytes padded, %d unpadded (manifest %d bytes each): %.0f bytes per file padded, %.0f unpadded, %.0f beyond the manifest",
		len(body), len(raw), len(m), float64(len(body))/1000, float64(len(raw))/1000, float64(len(raw))/1000-float64(len(m)))

	// A tree made by Commit.
	e := newTreeEnv(t)
	start := time.Now()
	for i := 0; i < 1000; i++ {
		p := fmt.Sprintf("/dir%02d/file-%04d.txt", i%20, i)
		if _, err := e.tree.Commit(ctx, p, inline("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	var bodies int
	o := e.tree.newOp()
	root, err := o.root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append([]*node{root}, func() []*node {
		var ns []*node
		for i := range root.f.Dirs {
			c, _ := o.child(ctx, root, &root.f.Dirs[i])
			ns = append(ns, c)
		}
		return ns
	}()...) {
		b, err := e.tree.body(ctx, n.rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		bodies += len(b) + len(n.rec.Marshal()) - len(n.rec.Value)
	}
	t.Logf("tree of 1000 files in 20 folders by Commit: %v (%v per commit); current bodies+records %d bytes: %.0f bytes per file (inline manifests of %d bytes)",
		took.Round(time.Millisecond), (took / 1000).Round(time.Microsecond), bodies, float64(bodies)/1000, len(mustMarshal(t, inline("x"))))
}

func mustMarshal(t *testing.T, m *blob.Manifest) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Two writers of one folder at once: the second write of a Seq is refused
// by the records and reported as Unavailable (retry), nothing is lost.
func TestTreeConflict(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	if _, err := e.tree.Commit(ctx, "/a", inline("a"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	root := e.tree.cfg.Root
	stale := e.recs.Current(root)
	for _, p := range []string{"/b", "/b2"} {
		if _, err := e.tree.Commit(ctx, p, inline("b"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// The other device has not seen the latest root record yet (a lagging
	// record layer); its write is two Seqs behind.
	e.recs.Serve(func(id cryptree.FolderID) *cryptree.Record {
		if id == root {
			return stale
		}
		return nil
	})
	other := e.open(t, e.kr, memstore.NewKV())
	_, err := other.Commit(ctx, "/c", inline("c"), time.Time{})
	checkKind(t, "conflicting write", err, storage.Unavailable)
	e.recs.Serve(nil)
	if _, err := other.Commit(ctx, "/c", inline("c"), time.Time{}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ls, err := e.tree.List(ctx, "/"); err != nil || names(ls) != "a b b2 c" {
		t.Fatalf("after the conflict: %q, %v", names(ls), err)
	}
}

// FuzzTreeValue feeds arbitrary record values and version manifest
// references (bytes a writer of a folder controls) to the Tree's readers:
// errors, never panics.
func FuzzTreeValue(f *testing.F) {
	e := newTreeEnv(f)
	ctx := context.Background()
	if _, err := e.tree.Commit(ctx, "/big", bigManifest(1), time.Time{}); err != nil {
		f.Fatal(err)
	}
	fe, _, err := e.tree.file(ctx, "v", "/big")
	if err != nil {
		f.Fatal(err)
	}
	o := e.tree.newOp()
	root, err := o.root(ctx)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(root.rec.Value, fe.Meta.Versions[0].Manifest)
	f.Add([]byte{valueLocator}, []byte{})
	f.Add(append([]byte{valueLocator}, blob.Locator{Ref: storage.Ref{1}, Holders: []storage.PeerID{"peer-00"}}.Marshal()...), make([]byte, 16))
	f.Fuzz(func(t *testing.T, value, ref []byte) {
		if body, err := e.tree.body(ctx, value); err == nil {
			_, _, _ = cryptree.OpenFolder(body, root.id, root.keys.SK, &e.tree.cfg.RootWriter.WK)
		}
		_, _ = e.tree.manifest(ctx, &cryptree.Version{Manifest: ref})
	})
}

// BenchmarkTree: Commit of a new version into a folder of 100 files, and
// Stat of a file three folders deep (four record lookups and bodies from
// the cache), in memory.
func BenchmarkTree(b *testing.B) {
	ctx := context.Background()
	e := newTreeEnv(b)
	for i := 0; i < 100; i++ {
		if _, err := e.tree.Commit(ctx, fmt.Sprintf("/x/y/z/f%03d", i), inline("data"), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("commit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.tree.Commit(ctx, "/x/y/z/f050", inline("data"), time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.tree.Stat(ctx, "/x/y/z/f050"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
