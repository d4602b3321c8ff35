package drive

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// The folders opened lately (opened.go) change nothing of which record
// counts: a forged record carrying the value of a folder opened just
// before, an older record and another folder's record are refused as
// without them, and another writer's change shows at the next read.
func TestOpenedFoldersKeepChecks(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	tr := e.tree
	if _, err := tr.Commit(ctx, "/d/a", inline("a"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, err := tr.newReadOp().dir(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	d := n.id
	old := e.recs.Current(d)
	if _, err := tr.Commit(ctx, "/d/b", inline("b"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Stat(ctx, "/d/b"); err != nil { // opens /d's newest body
		t.Fatal(err)
	}
	cur := e.recs.Current(d)
	if f, _ := tr.opened.get(d, cur.Value, n.keys.SK, &n.w.WK); f == nil {
		t.Fatal("the body of /d was not kept")
	}

	forged := *cur
	forged.Seq++ // the kept value, under a signature that does not cover it
	w, _ := cryptree.NewWriter()
	other, _ := cryptree.SignRecord(w, cur.Seq+1, cur.Value)
	for name, rec := range map[string]*cryptree.Record{"rollback": old, "bad signature": &forged, "other folder": other} {
		e.recs.Serve(func(id cryptree.FolderID) *cryptree.Record {
			if id == d {
				return rec
			}
			return nil
		})
		_, err := tr.Stat(ctx, "/d/b")
		checkKind(t, name, err, storage.Corrupt)
		if name == "rollback" && !strings.Contains(err.Error(), "rollback") {
			t.Fatalf("rollback error says %v", err)
		}
	}
	e.recs.Serve(nil)

	// Another device writes /d: the next read here shows it.
	dev := e.open(t, e.kr, memstore.NewKV())
	if _, err := dev.Commit(ctx, "/d/c", inline("c"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ls, err := tr.List(ctx, "/d"); err != nil || names(ls) != "a b c" {
		t.Fatalf("after another device wrote: %q, %v", names(ls), err)
	}
}

// A write starts from its own copy of a kept folder: what a read holds
// does not change under it.
func TestOpenedFoldersCopiedForWrites(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	tr := e.tree
	if _, err := tr.Commit(ctx, "/d/a", inline("a"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, err := tr.newReadOp().dir(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Commit(ctx, "/d/a", inline("a2"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Commit(ctx, "/d/b", inline("b"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Rename(ctx, "/d/a", "/d/z"); err != nil {
		t.Fatal(err)
	}
	if len(n.f.Files) != 1 || n.f.Files[0].Meta.Name != "a" || len(n.f.Files[0].Meta.Versions) != 1 {
		t.Fatalf("the folder a read held changed: %+v", n.f.Files)
	}
	if got := walkAll(t, tr, "/"); got != "/d/ /d/b /d/z" {
		t.Fatalf("walk: %q", got)
	}
}

func TestOpenedCacheBounds(t *testing.T) {
	var c openedCache
	sk, wk := cryptree.Key{1}, cryptree.Key{2}
	f := &cryptree.Folder{}
	for i := 0; i < maxOpenedFolders+10; i++ {
		c.put(cryptree.FolderID{byte(i), byte(i >> 8)}, []byte{1, byte(i)}, sk, &wk, f, cryptree.FolderKeys{}, 100)
	}
	if len(c.m) > maxOpenedFolders || c.bytes != 100*len(c.m) {
		t.Fatalf("%d folders, %d bytes", len(c.m), c.bytes)
	}
	id := cryptree.FolderID{9, 9}
	c.put(id, []byte{1}, sk, &wk, f, cryptree.FolderKeys{}, maxOpenedBytes/4+1)
	if got, _ := c.get(id, []byte{1}, sk, &wk); got != nil {
		t.Fatal("kept a body over the bound")
	}
	for i := 0; i < 8; i++ {
		c.put(cryptree.FolderID{7, byte(i)}, []byte{1}, sk, &wk, f, cryptree.FolderKeys{}, maxOpenedBytes/4)
	}
	if c.bytes > maxOpenedBytes {
		t.Fatalf("%d bytes kept", c.bytes)
	}
	// Only the same value with the same keys finds it.
	c.put(id, []byte{1, 2}, sk, &wk, f, cryptree.FolderKeys{}, 10)
	other := cryptree.Key{3}
	for name, ok := range map[string]bool{
		"same":     c.getOK(id, []byte{1, 2}, sk, &wk),
		"value":    !c.getOK(id, []byte{1, 3}, sk, &wk),
		"no wk":    !c.getOK(id, []byte{1, 2}, sk, nil),
		"other wk": !c.getOK(id, []byte{1, 2}, sk, &other),
		"other sk": !c.getOK(id, []byte{1, 2}, other, &wk),
	} {
		if !ok {
			t.Errorf("%s: wrong answer", name)
		}
	}
}

func (c *openedCache) getOK(id cryptree.FolderID, v []byte, sk cryptree.Key, wk *cryptree.Key) bool {
	f, _ := c.get(id, v, sk, wk)
	return f != nil
}

// What save keeps of a folder is what its body opens to.
func TestSealedAs(t *testing.T) {
	ctx := context.Background()
	e := newTreeEnv(t)
	tr := e.tree
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("x", 3600))
	steps := []func() error{
		func() error { _, err := tr.Commit(ctx, "/z/b", inline("b"), mtime); return err },
		func() error { _, err := tr.Commit(ctx, "/z/a", bigManifest(3), time.Time{}); return err },
		func() error { return tr.Mkdir(ctx, "/z/c/d", true) },
		func() error { return tr.Mkdir(ctx, "/z/0", false) },
		func() error { _, err := tr.Commit(ctx, "/z/a", inline("a2"), time.Time{}); return err },
		func() error { return tr.Rename(ctx, "/z/b", "/z/y") },
		func() error { return tr.Rename(ctx, "/z/c", "/c") },
		func() error { _, err := tr.Remove(ctx, "/z/0", false); return err },
	}
	for i := 0; i < 14; i++ {
		steps = append(steps, func() error { _, err := tr.Commit(ctx, "/z/v", inline(fmt.Sprint(i)), time.Time{}); return err })
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	checked := 0
	for id, k := range tr.opened.m {
		body, err := tr.body(ctx, k.value)
		if err != nil {
			t.Fatal(err)
		}
		f, keys, err := cryptree.OpenFolder(body, id, k.sk, k.wk)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f, k.f) || keys != k.keys {
			t.Errorf("folder %q kept as\n%+v\nopens as\n%+v", f.Name, k.f, f)
		}
		checked++
	}
	if checked < 4 {
		t.Fatalf("%d folders kept", checked)
	}
}
