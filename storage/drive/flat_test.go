package drive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/memstore"
)

var testKey = cryptree.Key{7, 7, 7}

func kindOf(err error) storage.Kind {
	if err == nil {
		return storage.Other
	}
	return storage.KindOf(err)
}

// okKind is the Kind a test step expects: Other means success.
func checkKind(t *testing.T, what string, err error, want storage.Kind) {
	t.Helper()
	if want == storage.Other {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v (kind %v), want kind %v", what, err, kindOf(err), want)
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("x", MaxName)
	for _, tc := range []struct {
		in, want string // want "" means Invalid
	}{
		{"/", "/"},
		{"/a", "/a"},
		{"/a/", "/a"},
		{"//a//b/", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/..", "/"},
		{"/../../a", "/a"},
		{"/" + long, "/" + long},
		{"/" + long + "y", ""},
		{"/" + strings.Repeat("a/", MaxPath/2-1) + "a", "/" + strings.Repeat("a/", MaxPath/2-1) + "a"},
		{"/" + strings.Repeat("a/", MaxPath/2) + "a", ""},
		{"", ""},
		{"a", ""},
		{"./a", ""},
		{"/a\x00b", ""},
		{"/sp ace/ünïcode", "/sp ace/ünïcode"},
		{"/sp ace/ünï\\code", ""}, // no '\' in names (cryptree.ValidName)
	} {
		got, err := Clean(tc.in)
		if tc.want == "" {
			if !errors.Is(err, storage.Invalid) {
				t.Errorf("Clean(%.40q) = %q, %v; want Invalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Clean(%.40q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if n := (Entry{Path: "/a/b.txt"}).Name(); n != "b.txt" {
		t.Errorf("Name = %q", n)
	}
	if n := (Entry{Path: "/"}).Name(); n != "/" {
		t.Errorf("root Name = %q", n)
	}
}

func inline(s string) *blob.Manifest { return &blob.Manifest{Size: int64(len(s)), Inline: []byte(s)} }

func names(es []Entry) string {
	var b []string
	for _, e := range es {
		n := e.Name()
		if e.IsDir {
			n += "/"
		}
		b = append(b, n)
	}
	return strings.Join(b, " ")
}

func walkAll(t *testing.T, ns Namespace, dir string) string {
	t.Helper()
	var b []string
	err := ns.Walk(context.Background(), dir, func(e Entry) error {
		if inTrash(e.Path) {
			return nil // Tree's Remove moves things there; Flat has none
		}
		if !e.IsDir && e.Manifest == nil {
			t.Errorf("walk: %s without manifest", e.Path)
		}
		p := e.Path
		if e.IsDir {
			p += "/"
		}
		b = append(b, p)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return strings.Join(b, " ")
}

// namespaces runs test against a fresh instance of every Namespace.
func namespaces(t *testing.T, test func(t *testing.T, ns Namespace)) {
	t.Run("flat", func(t *testing.T) { test(t, NewFlat(memstore.NewKV(), testKey)) })
	t.Run("tree", func(t *testing.T) { test(t, newTreeEnv(t).tree) })
}

// TestNamespace runs a script of operations against each Namespace; each
// step states the error kind it expects and, after it, the whole tree
// (Tree's trash left out).
func TestNamespace(t *testing.T) { namespaces(t, testNamespace) }

func testNamespace(t *testing.T, ns Namespace) {
	ctx := context.Background()
	const ok = storage.Other
	mtime := time.Unix(1700000000, 123456789)
	steps := []struct {
		op   string // "mkdir", "mkdir -p", "commit", "rm", "rm -r", "mv"
		a, b string
		want storage.Kind
		tree string // Walk("/") after the step; "" = unchanged
	}{
		{"mkdir", "/a", "", ok, "/a/"},
		{"mkdir", "/a", "", storage.Exist, ""},
		{"mkdir -p", "/a", "", ok, ""},
		{"mkdir", "/x/y", "", storage.NotExist, ""},
		{"mkdir", "/", "", storage.Exist, ""},
		{"mkdir -p", "/", "", ok, ""},
		{"mkdir -p", "/a/b/c", "", ok, "/a/ /a/b/ /a/b/c/"},
		{"commit", "/d/e/f.txt", "hello", ok, "/a/ /a/b/ /a/b/c/ /d/ /d/e/ /d/e/f.txt"},
		{"commit", "/d/e/f.txt", "hello again", ok, ""},
		{"commit", "/a/b", "x", storage.Invalid, ""},
		{"commit", "/d/e/f.txt/g", "x", storage.Invalid, ""},
		{"commit", "/", "x", storage.Invalid, ""},
		{"mkdir", "/d/e/f.txt", "", storage.Exist, ""},
		{"mkdir -p", "/d/e/f.txt", "", storage.Exist, ""},
		{"mkdir -p", "/d/e/f.txt/g", "", storage.Invalid, ""},
		{"mkdir", "/d/e/f.txt/g", "", storage.Invalid, ""},
		{"commit", "/z.txt", "z", ok, "/a/ /a/b/ /a/b/c/ /d/ /d/e/ /d/e/f.txt /z.txt"},
		{"rm", "/", "", storage.Invalid, ""},
		{"rm", "/nope", "", storage.NotExist, ""},
		{"rm", "/a", "", storage.Invalid, ""},
		{"rm", "/a/b/c", "", ok, "/a/ /a/b/ /d/ /d/e/ /d/e/f.txt /z.txt"},
		{"rm", "/z.txt", "", ok, "/a/ /a/b/ /d/ /d/e/ /d/e/f.txt"},
		{"mv", "/d/e/f.txt", "/a/b/g.txt", ok, "/a/ /a/b/ /a/b/g.txt /d/ /d/e/"},
		{"mv", "/a/b/g.txt", "/a/b/h.txt", ok, "/a/ /a/b/ /a/b/h.txt /d/ /d/e/"},
		{"mv", "/a", "/d/e/a2", ok, "/d/ /d/e/ /d/e/a2/ /d/e/a2/b/ /d/e/a2/b/h.txt"},
		{"mv", "/d", "/d/e/d", storage.Invalid, ""},
		{"mv", "/d", "/d", storage.Exist, ""},
		{"mv", "/", "/r", storage.Invalid, ""},
		{"mv", "/d/e", "/", storage.Exist, ""},
		{"mv", "/nope", "/n2", storage.NotExist, ""},
		{"mv", "/d", "/missing/d", storage.NotExist, ""},
		{"mv", "/d/e", "/d/e/a2/b/h.txt/x", storage.Invalid, ""},
		{"commit", "/k.txt", "k", ok, "/d/ /d/e/ /d/e/a2/ /d/e/a2/b/ /d/e/a2/b/h.txt /k.txt"},
		{"mv", "/d/e/a2/b/h.txt", "/k.txt", storage.Exist, ""},
		{"mv", "/k.txt", "/k.txt/y", storage.Invalid, ""},
		{"mv", "/d/e", "/e", ok, "/d/ /e/ /e/a2/ /e/a2/b/ /e/a2/b/h.txt /k.txt"},
		{"rm -r", "/e", "", ok, "/d/ /k.txt"},
		{"rm", "/d", "", ok, "/k.txt"},
		{"rm -r", "/k.txt", "", ok, ""},
	}
	tree := ""
	for i, s := range steps {
		what := fmt.Sprintf("step %d: %s %s %s", i, s.op, s.a, s.b)
		var err error
		switch s.op {
		case "mkdir":
			err = ns.Mkdir(ctx, s.a, false)
		case "mkdir -p":
			err = ns.Mkdir(ctx, s.a, true)
		case "commit":
			var e Entry
			e, err = ns.Commit(ctx, s.a, inline(s.b), mtime)
			if err == nil && (e.Size != int64(len(s.b)) || !e.Mtime.Equal(mtime) || e.Manifest == nil) {
				t.Fatalf("%s: entry %+v", what, e)
			}
		case "rm":
			_, err = ns.Remove(ctx, s.a, false)
		case "rm -r":
			_, err = ns.Remove(ctx, s.a, true)
		case "mv":
			err = ns.Rename(ctx, s.a, s.b)
		}
		checkKind(t, what, err, s.want)
		if s.tree != "" {
			tree = s.tree
		}
		if i == len(steps)-1 {
			tree = ""
		}
		if got := walkAll(t, ns, "/"); got != tree {
			t.Fatalf("%s: tree\n got %q\nwant %q", what, got, tree)
		}
	}
}

func TestStatListWalk(t *testing.T) { namespaces(t, testStatListWalk) }

func testStatListWalk(t *testing.T, ns Namespace) {
	ctx := context.Background()
	mtime := time.Unix(1600000000, 5)
	for _, p := range []string{"/b/2", "/b/1", "/a", "/c/d/e", "/B"} {
		if _, err := ns.Commit(ctx, p, inline("data of "+p), mtime); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := ns.List(ctx, "/")
	if err != nil || names(ls) != "B a b/ c/" {
		t.Fatalf("List / = %q, %v", names(ls), err)
	}
	for _, e := range ls {
		if e.Manifest != nil {
			t.Errorf("List gave a manifest for %s", e.Path)
		}
	}
	if ls, err := ns.List(ctx, "/b/"); err != nil || names(ls) != "1 2" || ls[0].Path != "/b/1" || ls[0].Size != int64(len("data of /b/1")) {
		t.Fatalf("List /b = %+v, %v", ls, err)
	}
	_, err = ns.List(ctx, "/a")
	checkKind(t, "list a file", err, storage.Invalid)
	_, err = ns.List(ctx, "/nope")
	checkKind(t, "list missing", err, storage.NotExist)
	_, err = ns.List(ctx, "nope")
	checkKind(t, "list relative", err, storage.Invalid)

	e, err := ns.Stat(ctx, "/c/d/e")
	if err != nil || e.IsDir || !e.Mtime.Equal(mtime) || string(e.Manifest.Inline) != "data of /c/d/e" {
		t.Fatalf("Stat = %+v, %v", e, err)
	}
	if e, err := ns.Stat(ctx, "/"); err != nil || !e.IsDir || e.Path != "/" {
		t.Fatalf("Stat / = %+v, %v", e, err)
	}
	if e, err := ns.Stat(ctx, "/c/d"); err != nil || !e.IsDir || e.Manifest != nil {
		t.Fatalf("Stat dir = %+v, %v", e, err)
	}
	_, err = ns.Stat(ctx, "/a/x")
	checkKind(t, "stat below a file", err, storage.NotExist)

	if got := walkAll(t, ns, "/c"); got != "/c/d/ /c/d/e" {
		t.Fatalf("walk /c = %q", got)
	}
	// SkipDir and a stopping error.
	var seen []string
	err = ns.Walk(ctx, "/", func(e Entry) error {
		seen = append(seen, e.Path)
		if e.Path == "/b" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil || strings.Join(seen, " ") != "/B /a /b /c /c/d /c/d/e" {
		t.Fatalf("walk with SkipDir: %v %v", seen, err)
	}
	stop := errors.New("stop")
	n := 0
	err = ns.Walk(ctx, "/", func(Entry) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("walk stop: %v after %d", err, n)
	}
	checkKind(t, "walk a file", ns.Walk(ctx, "/a", func(Entry) error { return nil }), storage.Invalid)

	// Remove returns the files, with manifests.
	rm, err := ns.Remove(ctx, "/c", true)
	if err != nil || len(rm) != 1 || rm[0].Path != "/c/d/e" || rm[0].Manifest == nil {
		t.Fatalf("Remove -r = %+v, %v", rm, err)
	}
}

// TestSealed checks that the KV reveals no names and no file bytes.
func TestSealed(t *testing.T) {
	ctx := context.Background()
	kv := memstore.NewKV()
	ns := NewFlat(kv, testKey)
	secrets := []string{"Holiday", "passwords.txt", "secretcontent"}
	if _, err := ns.Commit(ctx, "/Holiday/passwords.txt", inline("secretcontent"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := ns.Rename(ctx, "/Holiday", "/Holiday2"); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := kv.Scan(ctx, nil, func(k, v []byte) error {
		n++
		for _, s := range secrets {
			if bytes.Contains(k, []byte(s)) || bytes.Contains(v, []byte(s)) {
				t.Errorf("%q found in the KV", s)
			}
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("scan: %d records, %v", n, err)
	}
	// Another user's namespace in the same KV sees nothing of it.
	other := NewFlat(kv, cryptree.Key{8})
	if ls, err := other.List(ctx, "/"); err != nil || len(ls) != 0 {
		t.Fatalf("other user lists %v, %v", names(ls), err)
	}
	// A tampered value does not open.
	_ = kv.Scan(ctx, nil, func(k, v []byte) error {
		v[len(v)-1] ^= 1
		return kv.Set(ctx, k, v)
	})
	_, err = ns.List(ctx, "/")
	checkKind(t, "list tampered", err, storage.CannotDecrypt)
}

// TestRenameCrash leaves a rename at each point a crash could stop it and
// checks that the next Flat finishes it.
func TestRenameCrash(t *testing.T) {
	ctx := context.Background()
	for stage := 0; stage < 3; stage++ {
		t.Run(fmt.Sprint(stage), func(t *testing.T) {
			kv := memstore.NewKV()
			f := NewFlat(kv, testKey)
			if _, err := f.Commit(ctx, "/src/dir/file", inline("x"), time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := f.Mkdir(ctx, "/dst", false); err != nil {
				t.Fatal(err)
			}
			srcParent, e, _, err := f.lookup(ctx, "/src/dir")
			if err != nil {
				t.Fatal(err)
			}
			dstParent, err := f.lookupDir(ctx, "/dst")
			if err != nil {
				t.Fatal(err)
			}
			in := intent{src: srcParent, srcName: "dir", dst: dstParent, dstName: "moved"}
			if err := setSealed(ctx, kv, testKey, f.intentKey(), encodeIntent(in)); err != nil {
				t.Fatal(err)
			}
			if stage >= 1 {
				e2 := e
				e2.name = "moved"
				if err := f.putChild(ctx, dstParent, e2); err != nil {
					t.Fatal(err)
				}
			}
			if stage >= 2 {
				if err := f.delChild(ctx, srcParent, "dir"); err != nil {
					t.Fatal(err)
				}
			}
			// "Restart".
			g := NewFlat(kv, testKey)
			if got := walkAll(t, g, "/"); got != "/dst/ /dst/moved/ /dst/moved/file /src/" {
				t.Fatalf("after repair: %q", got)
			}
			if _, err := kv.Get(ctx, g.intentKey()); !errors.Is(err, storage.NotExist) {
				t.Fatalf("intent still there: %v", err)
			}
		})
	}
}

func TestConcurrentNamespace(t *testing.T) { namespaces(t, testConcurrentNamespace) }

func testConcurrentNamespace(t *testing.T, ns Namespace) {
	ctx := context.Background()
	done := make(chan error)
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; i < 25; i++ {
				p := fmt.Sprintf("/w%d/sub/f%02d", w, i)
				if _, err := ns.Commit(ctx, p, inline(p), time.Time{}); err != nil {
					done <- err
					return
				}
				if _, err := ns.List(ctx, "/"); err != nil {
					done <- err
					return
				}
			}
			done <- ns.Rename(ctx, fmt.Sprintf("/w%d", w), fmt.Sprintf("/v%d", w))
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := ns.Walk(ctx, "/", func(e Entry) error {
		if !e.IsDir {
			n++
		}
		return nil
	}); err != nil || n != 100 {
		t.Fatalf("walk: %d files, %v", n, err)
	}
	if ls, _ := ns.List(ctx, "/"); !reflect.DeepEqual(names(ls), "v0/ v1/ v2/ v3/") {
		t.Fatalf("root: %q", names(ls))
	}
}
