// Package localfstest holds fixtures for tests of the local side of put
// and get, shared by storage/localfs and cmd/cairn so that the same
// hostile folders are tried against the library and through the daemon:
// a destination with a folder and a file outside it that links point to,
// a tree of special files, and remote folders that try to escape.
package localfstest

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Fixture is a destination folder and, outside it, a folder and a file
// (Secret) that links in the destination point to.
type Fixture struct {
	Dest, Outside, Secret string
}

// NewFixture makes a Fixture in a temporary folder of t.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	base := t.TempDir()
	fx := &Fixture{Dest: filepath.Join(base, "dest"), Outside: filepath.Join(base, "elsewhere")}
	for _, d := range []string{fx.Dest, fx.Outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fx.Secret = filepath.Join(fx.Outside, "passwd")
	if err := os.WriteFile(fx.Secret, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fx
}

// Link makes the link Dest/name -> target.
func (fx *Fixture) Link(t testing.TB, target, name string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(fx.Dest, name)); err != nil {
		t.Fatal(err)
	}
}

// MkdirLink makes Dest/dir and, in it, a link name -> target.
func (fx *Fixture) MkdirLink(t testing.TB, dir, name, target string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(fx.Dest, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(fx.Dest, dir, name)); err != nil {
		t.Fatal(err)
	}
}

// Untouched fails t unless the outside folder holds only the secret, as
// it was, and the destination holds no temporary file.
func (fx *Fixture) Untouched(t testing.TB) {
	t.Helper()
	es, err := os.ReadDir(fx.Outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != "passwd" {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("outside the destination: %q, want only passwd", names)
	}
	if b, err := os.ReadFile(fx.Secret); err != nil || string(b) != "root:x:0:0\n" {
		t.Errorf("the file a link points to changed: %q, %v", b, err)
	}
	// Nothing left behind in the destination either (no temporary files).
	_ = filepath.WalkDir(fx.Dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".cairn-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if _, err := os.Lstat(filepath.Join(filepath.Dir(fx.Dest), "x")); err == nil {
		t.Errorf("wrote beside the destination")
	}
}

// Entry is a remote entry as a (hostile) folder lists it.
type Entry struct {
	Name, Path string
	Size       int64
	IsDir      bool
}

// Hostile is a remote file or folder (Top, and for a folder its Entries
// at every depth) that get must refuse to write into Dest, after Setup has
// prepared the destination.
type Hostile struct {
	Why     string
	Top     Entry
	Entries []Entry
	Setup   func(t testing.TB, fx *Fixture)
}

// HostileGets returns folders whose entries' paths lead elsewhere, carry
// unsafe names or meet links in the destination.
func HostileGets() []Hostile {
	top := Entry{Name: "share", Path: "/share", IsDir: true}
	return []Hostile{
		{Why: "parent in a file path", Top: top, Entries: []Entry{{Path: "/share/../../elsewhere/x", Size: 1}}},
		{Why: "parent in a folder path", Top: top, Entries: []Entry{{Path: "/share/../..", IsDir: true}, {Path: "/share/../../x", Size: 1}}},
		{Why: "backslashes", Top: top, Entries: []Entry{{Path: `/share/a\..\..\x`, Size: 1}}},
		{Why: "NUL", Top: top, Entries: []Entry{{Path: "/share/a\x00b", Size: 1}}},
		{Why: "control characters", Top: top, Entries: []Entry{{Path: "/share/\x1b]0;pwned\x07", Size: 1}}},
		{Why: "entry outside the folder", Top: top, Entries: []Entry{{Path: "/other/x", Size: 1}}},
		{Why: "top named ..", Top: Entry{Name: "..", Path: "/share", IsDir: true}, Entries: []Entry{{Path: "/share/x", Size: 1}}},
		{Why: "top named with a slash", Top: Entry{Name: "../elsewhere", Path: "/share", IsDir: true}, Entries: []Entry{{Path: "/share/x", Size: 1}}},
		{Why: "a file named ..", Top: Entry{Name: "..", Path: "/share/x", Size: 1}},
		{
			Why: "a file onto a link", Top: Entry{Name: "passwd", Path: "/passwd", Size: 1},
			Setup: func(t testing.TB, fx *Fixture) { fx.Link(t, fx.Secret, "passwd") },
		},
		{
			Why: "link to a folder in the way", Top: top,
			Entries: []Entry{{Path: "/share/a", IsDir: true}, {Path: "/share/a/x", Size: 1}},
			Setup:   func(t testing.TB, fx *Fixture) { fx.MkdirLink(t, "share", "a", fx.Outside) },
		},
		{
			Why: "link to a file in the way", Top: top,
			Entries: []Entry{{Path: "/share/passwd", Size: 1}},
			Setup:   func(t testing.TB, fx *Fixture) { fx.MkdirLink(t, "share", "passwd", fx.Secret) },
		},
		{
			Why: "the folder itself is a link", Top: top,
			Entries: []Entry{{Path: "/share/x", Size: 1}},
			Setup:   func(t testing.TB, fx *Fixture) { fx.Link(t, fx.Outside, "share") },
		},
	}
}

// SpecialTree makes a folder with a regular file, a subfolder with one, a
// link to each, a named pipe, a Unix socket, a name the drive cannot hold
// and, when permitted (root), a character device. It returns the folder
// and the kinds of special entries made, by name.
func SpecialTree(t testing.TB) (string, map[string]string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "file.txt"), []byte("regular"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sub", "inner.txt"), []byte("inner"), 0o644))
	must(os.Symlink("file.txt", filepath.Join(root, "link-to-file")))
	must(os.Symlink("sub", filepath.Join(root, "link-to-dir")))
	must(os.Symlink("/nonexistent", filepath.Join(root, "dangling")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	must(os.WriteFile(filepath.Join(root, `back\slash`), []byte("x"), 0o644))
	special := map[string]string{
		"link-to-file": "symlink", "link-to-dir": "symlink", "dangling": "symlink",
		"fifo": "named pipe", "sock": "socket",
	}
	sock := filepath.Join(root, "sock")
	if len(sock) > 100 {
		t.Skipf("temporary folder %s too long for a Unix socket", root)
	}
	ln, err := net.Listen("unix", sock)
	must(err)
	t.Cleanup(func() { ln.Close() })
	// /dev/null's numbers (1, 3); needs CAP_MKNOD.
	if err := syscall.Mknod(filepath.Join(root, "null"), syscall.S_IFCHR|0o666, 1<<8|3); err == nil {
		special["null"] = "character device"
	} else {
		t.Logf("no character device in the tree: %v", err)
	}
	return root, special
}
