package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// unsafeRel are remote paths (relative to a destination) that get must
// refuse, whatever the remote side says.
var unsafeRel = []struct{ why, rel string }{
	{"parent", "../x"},
	{"parent inside", "a/../../x"},
	{"parent at end", "a/.."},
	{"dot", "a/./b"},
	{"only dot", "."},
	{"absolute", "/etc/passwd"},
	{"empty", ""},
	{"empty component", "a//b"},
	{"trailing slash", "a/"},
	{"backslash parent", `a\..\x`},
	{"backslash", `a\b`},
	{"NUL", "a\x00b"},
	{"newline", "a\nb"},
	{"escape", "a/\x1b[2J"},
	{"DEL", "a\x7f"},
	{"C1", "a/\u009b"},
	{"invalid UTF-8", "a/\xff"},
	{"too long", strings.Repeat("x", 256)},
}

func TestLocalFSSafeJoin(t *testing.T) {
	dest := t.TempDir()
	for _, c := range []struct{ rel, want string }{
		{"a", "a"}, {"a/b", "a/b"}, {"ünï/名前.txt", "ünï/名前.txt"}, {"...", "..."}, {".hidden/x", ".hidden/x"},
	} {
		got, err := safeJoin(dest, c.rel)
		if err != nil || got != filepath.Join(dest, filepath.FromSlash(c.want)) {
			t.Errorf("safeJoin(%q) = %q, %v", c.rel, got, err)
		}
	}
	for _, c := range unsafeRel {
		got, err := safeJoin(dest, c.rel)
		if err == nil {
			t.Errorf("%s: safeJoin(%q) = %q, want an error", c.why, c.rel, got)
			continue
		}
		if !errors.Is(err, storage.Corrupt) {
			t.Errorf("%s: safeJoin(%q) = %v, want Corrupt", c.why, c.rel, err)
		}
		if strings.ContainsAny(err.Error(), "\x00\n\x1b\x7f\u009b") {
			t.Errorf("%s: the message prints the name raw: %q", c.why, err)
		}
	}
}

// fixture is a destination folder and, outside it, a folder and a file
// that links in the destination point to.
type fixture struct {
	dest, outside, secret string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	fx := &fixture{dest: filepath.Join(base, "dest"), outside: filepath.Join(base, "elsewhere")}
	for _, d := range []string{fx.dest, fx.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fx.secret = filepath.Join(fx.outside, "passwd")
	if err := os.WriteFile(fx.secret, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(fx.dest, name)); err != nil {
		t.Fatal(err)
	}
}

// untouched fails unless the outside folder holds only the secret, as it
// was.
func (fx *fixture) untouched(t *testing.T) {
	t.Helper()
	es, err := os.ReadDir(fx.outside)
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
	if b, err := os.ReadFile(fx.secret); err != nil || string(b) != "root:x:0:0\n" {
		t.Errorf("the file a link points to changed: %q, %v", b, err)
	}
	// Nothing left behind in the destination either (no temporary files).
	_ = filepath.WalkDir(fx.dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".cairn-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func fetchString(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

func TestLocalFSCreateFile(t *testing.T) {
	fx := newFixture(t)
	p, n, err := createFile(fx.dest, "a/b/c.txt", fetchString("hello"))
	if err != nil || n != 5 || p != filepath.Join(fx.dest, "a", "b", "c.txt") {
		t.Fatalf("createFile = %q, %d, %v", p, n, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	// A regular file is replaced.
	if _, _, err := createFile(fx.dest, "a/b/c.txt", fetchString("again")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "again" {
		t.Fatalf("content %q after replacing", b)
	}
	// A failed fetch leaves the old file and no temporary one.
	boom := errors.New("boom")
	if _, _, err := createFile(fx.dest, "a/b/c.txt", func(io.Writer) (int64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing fetch: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "again" {
		t.Fatalf("content %q after a failed fetch", b)
	}
	for _, c := range unsafeRel {
		if _, _, err := createFile(fx.dest, c.rel, fetchString("x")); err == nil {
			t.Errorf("%s: createFile(%q) wrote", c.why, c.rel)
		}
	}
	fx.untouched(t)
}

// Links already in the destination are never followed or written through:
// not as a folder on the way, not as the file itself, dangling or not.
func TestLocalFSCreateFileRefusesLinks(t *testing.T) {
	for _, c := range []struct {
		why, target, name, rel string
	}{
		{"link to a folder outside", "OUTSIDE", "a", "a/x"},
		{"link to a folder outside, deeper", "OUTSIDE", "a", "a/b/x"},
		{"link to a folder inside", "DEST/real", "a", "a/x"},
		{"link to a file outside", "SECRET", "f", "f"},
		{"dangling link", "OUTSIDE/new", "f", "f"},
		{"relative link up", "../elsewhere", "a", "a/x"},
	} {
		t.Run(c.why, func(t *testing.T) {
			fx := newFixture(t)
			if err := os.Mkdir(filepath.Join(fx.dest, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			target := strings.NewReplacer("OUTSIDE", fx.outside, "SECRET", fx.secret, "DEST", fx.dest).Replace(c.target)
			fx.link(t, target, c.name)
			_, _, err := createFile(fx.dest, c.rel, fetchString("evil"))
			if err == nil {
				t.Fatalf("createFile(%q) through a link succeeded", c.rel)
			}
			if !errors.Is(err, storage.Exist) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("error %v, want Exist about a symbolic link", err)
			}
			if fi, err := os.Lstat(filepath.Join(fx.dest, c.name)); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link itself changed: %v, %v", fi, err)
			}
			if es, _ := os.ReadDir(filepath.Join(fx.dest, "real")); len(es) != 0 {
				t.Errorf("wrote through an inside link: %v", es)
			}
			fx.untouched(t)
			// mkdirUnder refuses the same way.
			if dir := filepath.Dir(filepath.FromSlash(c.rel)); dir != "." {
				if err := mkdirUnder(fx.dest, filepath.ToSlash(dir)); !errors.Is(err, storage.Exist) {
					t.Errorf("mkdirUnder(%q) = %v, want Exist", dir, err)
				}
				fx.untouched(t)
			}
		})
	}
}

// fakeDaemon serves what a daemon answers for a folder get — stat, a
// recursive listing and file bytes — with whatever entries the test gives,
// as a daemon passing on a forged share would.
func fakeDaemon(t *testing.T, entries []entryJSON) string {
	t.Helper()
	home := t.TempDir()
	ln, err := net.Listen("unix", socketPath(home))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/ls", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, entries) })
	mux.HandleFunc("/v1/get", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "bytes of "+r.URL.Query().Get("path"))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return home
}

// getAny of a folder whose entries' paths lead elsewhere, carry unsafe
// names or meet links in the destination: it fails, and nothing is written
// outside the destination or through a link.
func TestLocalFSGetHostileEntries(t *testing.T) {
	top := entryJSON{Name: "share", Path: "/share", IsDir: true}
	for _, c := range []struct {
		why   string
		top   entryJSON
		es    []entryJSON
		setup func(t *testing.T, fx *fixture)
	}{
		{why: "parent in a file path", top: top, es: []entryJSON{{Path: "/share/../../elsewhere/x", Size: 1}}},
		{why: "parent in a folder path", top: top, es: []entryJSON{{Path: "/share/../..", IsDir: true}, {Path: "/share/../../x", Size: 1}}},
		{why: "backslashes", top: top, es: []entryJSON{{Path: `/share/a\..\..\x`, Size: 1}}},
		{why: "NUL", top: top, es: []entryJSON{{Path: "/share/a\x00b", Size: 1}}},
		{why: "control characters", top: top, es: []entryJSON{{Path: "/share/\x1b]0;pwned\x07", Size: 1}}},
		{why: "entry outside the folder", top: top, es: []entryJSON{{Path: "/other/x", Size: 1}}},
		{why: "top named ..", top: entryJSON{Name: "..", Path: "/share", IsDir: true}, es: []entryJSON{{Path: "/share/x", Size: 1}}},
		{why: "top named with a slash", top: entryJSON{Name: "../elsewhere", Path: "/share", IsDir: true}, es: []entryJSON{{Path: "/share/x", Size: 1}}},
		{why: "a file named ..", top: entryJSON{Name: "..", Path: "/share/x", Size: 1}},
		{
			why: "a file onto a link", top: entryJSON{Name: "passwd", Path: "/passwd", Size: 1},
			setup: func(t *testing.T, fx *fixture) { fx.link(t, fx.secret, "passwd") },
		},
		{
			why: "link to a folder in the way", top: top,
			es:    []entryJSON{{Path: "/share/a", IsDir: true}, {Path: "/share/a/x", Size: 1}},
			setup: func(t *testing.T, fx *fixture) { mkdirLink(t, fx, "share", "a", fx.outside) },
		},
		{
			why: "link to a file in the way", top: top,
			es:    []entryJSON{{Path: "/share/passwd", Size: 1}},
			setup: func(t *testing.T, fx *fixture) { mkdirLink(t, fx, "share", "passwd", fx.secret) },
		},
		{
			why: "the folder itself is a link", top: top,
			es:    []entryJSON{{Path: "/share/x", Size: 1}},
			setup: func(t *testing.T, fx *fixture) { fx.link(t, fx.outside, "share") },
		},
	} {
		t.Run(c.why, func(t *testing.T) {
			fx := newFixture(t)
			if c.setup != nil {
				c.setup(t, fx)
			}
			cl := newClient(fakeDaemon(t, c.es))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := getAny(ctx, cl, c.top, fx.dest, newBar(io.Discard, "get"))
			if err == nil {
				t.Errorf("getAny succeeded: %+v", res)
			} else {
				var out bytes.Buffer
				code := report(&out, err)
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				if code == exitOK || !strings.HasPrefix(lines[0], "cairn: ") || len(lines) > 2 ||
					strings.ContainsAny(out.String(), "\x00\x1b\x07") {
					t.Errorf("reported as %q (exit %d)", out.String(), code)
				}
			}
			fx.untouched(t)
			if _, err := os.Lstat(filepath.Join(filepath.Dir(fx.dest), "x")); err == nil {
				t.Errorf("wrote beside the destination")
			}
		})
	}
}

// mkdirLink makes dest/dir and, in it, a link name -> target.
func mkdirLink(t *testing.T, fx *fixture, dir, name, target string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(fx.dest, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(fx.dest, dir, name)); err != nil {
		t.Fatal(err)
	}
}

// A well-formed folder still arrives whole.
func TestLocalFSGetFolder(t *testing.T) {
	fx := newFixture(t)
	cl := newClient(fakeDaemon(t, []entryJSON{
		{Path: "/share/a", IsDir: true}, {Path: "/share/a/b", IsDir: true}, {Path: "/share/empty", IsDir: true},
		{Path: "/share/a/b/c.txt", Size: 21}, {Path: "/share/top.txt", Size: 19},
	}))
	res, err := getAny(context.Background(), cl, entryJSON{Name: "share", Path: "/share", IsDir: true}, fx.dest, newBar(io.Discard, "get"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 2 || res.Dirs != 4 || res.Path != filepath.Join(fx.dest, "share") {
		t.Errorf("result %+v", res)
	}
	for p, want := range map[string]string{"share/a/b/c.txt": "bytes of /share/a/b/c.txt", "share/top.txt": "bytes of /share/top.txt"} {
		if b, err := os.ReadFile(filepath.Join(fx.dest, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(fx.dest, "share", "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty folder: %v", err)
	}
	fx.untouched(t)
}

// specialTree makes a folder with a regular file, a subfolder with one, a
// link to each, a named pipe, a Unix socket, a name the drive cannot hold
// and, when permitted (root), a character device. It returns the folder
// and the kinds of special entries made, by name.
func specialTree(t *testing.T) (string, map[string]string) {
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

func TestLocalFSPlanTreeSkipsSpecialFiles(t *testing.T) {
	root, special := specialTree(t)
	var warnings []string
	done := make(chan struct{})
	var plan *putPlan
	var err error
	go func() {
		defer close(done)
		plan, err = planTree(root, "/up", func(s string) { warnings = append(warnings, s) })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("planTree did not return: it opened a named pipe or device")
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/up", "/up/sub"}; !slices.Equal(plan.dirs, want) {
		t.Errorf("dirs %q, want %q", plan.dirs, want)
	}
	want := []putJob{{filepath.Join(root, "file.txt"), "/up/file.txt"}, {filepath.Join(root, "sub", "inner.txt"), "/up/sub/inner.txt"}}
	if !slices.Equal(plan.files, want) || plan.bytes != int64(len("regular")+len("inner")) {
		t.Errorf("files %q (%d bytes), want %q", plan.files, plan.bytes, want)
	}
	var wantWarn []string
	for name, kind := range special {
		wantWarn = append(wantWarn, "cairn: skipping "+kind+" "+filepath.Join(root, name))
	}
	for _, w := range wantWarn {
		if !slices.Contains(warnings, w) {
			t.Errorf("no warning %q in %q", w, warnings)
		}
	}
	if len(warnings) != len(wantWarn)+1 {
		t.Errorf("%d warnings, want %d: %q", len(warnings), len(wantWarn)+1, warnings)
	}
	bad := "cairn: skipping " + filepath.Join(root, `back\slash`) + ": the drive cannot hold its name"
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, bad) }) {
		t.Errorf("no warning for the backslash name in %q", warnings)
	}
}

// put of a single named pipe or device is a clear error, at once: the
// daemon is never asked to open it (the client here has no daemon).
func TestLocalFSPutSpecialSource(t *testing.T) {
	root, special := specialTree(t)
	cl := newClient(t.TempDir())
	for name, kind := range special {
		if kind == "symlink" {
			continue
		}
		done := make(chan error, 1)
		go func() {
			_, err := putAny(context.Background(), cl, filepath.Join(root, name), "/x", newBar(io.Discard, "put"), nil, func(string) {})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("put of a %s did not return", kind)
		}
		var out bytes.Buffer
		code := report(&out, err)
		if code != exitUsage || !strings.Contains(out.String(), "cairn: put "+filepath.Join(root, name)+": is a "+kind) ||
			!strings.Contains(out.String(), "\nhint: ") {
			t.Errorf("put of a %s: exit %d, %q", kind, code, out.String())
		}
	}
	// A link to a named pipe is followed to it, and refused the same way.
	if err := os.Symlink("fifo", filepath.Join(root, "link-to-fifo")); err != nil {
		t.Fatal(err)
	}
	_, err := putAny(context.Background(), cl, filepath.Join(root, "link-to-fifo"), "/x", newBar(io.Discard, "put"), nil, func(string) {})
	if !errors.Is(err, storage.Invalid) {
		t.Errorf("put of a link to a named pipe: %v", err)
	}
}

// The daemon, asked to upload a named pipe or device by path (a file
// swapped for one after put looked at it), refuses at once instead of
// blocking in open.
func TestLocalFSDaemonPutRefusesSpecialSource(t *testing.T) {
	root, special := specialTree(t)
	for name, kind := range special {
		if kind == "symlink" || kind == "socket" { // a socket does not open at all
			continue
		}
		q := url.Values{"path": {"/x"}, "source": {filepath.Join(root, name)}}
		req := httptest.NewRequest("POST", "/v1/put?"+q.Encode(), nil)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			(&daemon{}).handlePut(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the daemon blocked opening a %s", kind)
		}
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not a regular file") {
			t.Errorf("%s: %d %s", kind, rec.Code, rec.Body)
		}
	}
}
