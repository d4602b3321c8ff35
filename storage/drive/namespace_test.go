package drive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// The namespace tables: scripts of operations against a Tree, each step
// with the error kind it expects (the kinds a filesystem maps to errno).

// TestNamespace runs a script of operations against a Tree; each step
// states the error kind it expects and, after it, the whole tree (the
// trash left out).
func TestNamespace(t *testing.T) {
	ctx := context.Background()
	ns := newTreeEnv(t).tree
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
		{"commit", "/a/b", "x", storage.IsDir, ""},
		{"commit", "/d/e/f.txt/g", "x", storage.NotDir, ""},
		{"commit", "/", "x", storage.Invalid, ""},
		{"mkdir", "/d/e/f.txt", "", storage.Exist, ""},
		{"mkdir -p", "/d/e/f.txt", "", storage.Exist, ""},
		{"mkdir -p", "/d/e/f.txt/g", "", storage.NotDir, ""},
		{"mkdir", "/d/e/f.txt/g", "", storage.NotDir, ""},
		{"commit", "/z.txt", "z", ok, "/a/ /a/b/ /a/b/c/ /d/ /d/e/ /d/e/f.txt /z.txt"},
		{"rm", "/", "", storage.Invalid, ""},
		{"rm", "/nope", "", storage.NotExist, ""},
		{"rm", "/a", "", storage.NotEmpty, ""},
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
		{"mv", "/d", "/k.txt/d", storage.NotDir, ""},
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

func TestStatListWalk(t *testing.T) {
	ctx := context.Background()
	ns := newTreeEnv(t).tree
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
	checkKind(t, "list a file", err, storage.NotDir)
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
	checkKind(t, "walk a file", ns.Walk(ctx, "/a", func(Entry) error { return nil }), storage.NotDir)

	// Remove returns the files, with manifests.
	rm, err := ns.Remove(ctx, "/c", true)
	if err != nil || len(rm) != 1 || rm[0].Path != "/c/d/e" || rm[0].Manifest == nil {
		t.Fatalf("Remove -r = %+v, %v", rm, err)
	}
}

func TestConcurrentNamespace(t *testing.T) {
	ctx := context.Background()
	ns := newTreeEnv(t).tree
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
