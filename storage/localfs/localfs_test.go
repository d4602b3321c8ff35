package localfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/localfs/localfstest"
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

func TestSafeJoin(t *testing.T) {
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

func fetchString(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

func TestCreateFile(t *testing.T) {
	fx := localfstest.NewFixture(t)
	p, n, err := createFile(fx.Dest, "a/b/c.txt", fetchString("hello"))
	if err != nil || n != 5 || p != filepath.Join(fx.Dest, "a", "b", "c.txt") {
		t.Fatalf("createFile = %q, %d, %v", p, n, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	// A regular file is replaced.
	if _, _, err := createFile(fx.Dest, "a/b/c.txt", fetchString("again")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "again" {
		t.Fatalf("content %q after replacing", b)
	}
	// A failed fetch leaves the old file and no temporary one.
	boom := errors.New("boom")
	if _, _, err := createFile(fx.Dest, "a/b/c.txt", func(io.Writer) (int64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing fetch: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "again" {
		t.Fatalf("content %q after a failed fetch", b)
	}
	for _, c := range unsafeRel {
		if _, _, err := createFile(fx.Dest, c.rel, fetchString("x")); err == nil {
			t.Errorf("%s: createFile(%q) wrote", c.why, c.rel)
		}
	}
	fx.Untouched(t)
}

// Links already in the destination are never followed or written through:
// not as a folder on the way, not as the file itself, dangling or not.
func TestCreateFileRefusesLinks(t *testing.T) {
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
			fx := localfstest.NewFixture(t)
			if err := os.Mkdir(filepath.Join(fx.Dest, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			target := strings.NewReplacer("OUTSIDE", fx.Outside, "SECRET", fx.Secret, "DEST", fx.Dest).Replace(c.target)
			fx.Link(t, target, c.name)
			_, _, err := createFile(fx.Dest, c.rel, fetchString("evil"))
			if err == nil {
				t.Fatalf("createFile(%q) through a link succeeded", c.rel)
			}
			if !errors.Is(err, storage.Exist) || !strings.Contains(err.Error(), "symbolic link") || Hint(err) == "" {
				t.Errorf("error %v (hint %q), want Exist about a symbolic link, with a hint", err, Hint(err))
			}
			if fi, err := os.Lstat(filepath.Join(fx.Dest, c.name)); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link itself changed: %v, %v", fi, err)
			}
			if es, _ := os.ReadDir(filepath.Join(fx.Dest, "real")); len(es) != 0 {
				t.Errorf("wrote through an inside link: %v", es)
			}
			fx.Untouched(t)
			// mkdirUnder refuses the same way.
			if dir := filepath.Dir(filepath.FromSlash(c.rel)); dir != "." {
				if err := mkdirUnder(fx.Dest, filepath.ToSlash(dir)); !errors.Is(err, storage.Exist) {
					t.Errorf("mkdirUnder(%q) = %v, want Exist", dir, err)
				}
				fx.Untouched(t)
			}
		})
	}
}

// fakeRemote is a remote folder that lists whatever entries the test
// gives, as a forged share would, and serves "bytes of PATH" for a file.
// It also takes uploads, recording them.
type fakeRemote struct {
	entries []Entry

	mu   sync.Mutex
	dirs []string
	puts map[string]string // remote → local
}

func (f *fakeRemote) List(ctx context.Context, dir string) ([]Entry, error) {
	return slices.Clone(f.entries), nil
}

func (f *fakeRemote) Get(ctx context.Context, p string, w io.Writer) (int64, error) {
	n, err := io.WriteString(w, "bytes of "+p)
	return int64(n), err
}

func (f *fakeRemote) IsDir(ctx context.Context, p string) bool { return p == "/" }

func (f *fakeRemote) Mkdir(ctx context.Context, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs = append(f.dirs, p)
	return nil
}

func (f *fakeRemote) PutFile(ctx context.Context, local, remote string, p storage.Progress) (Entry, error) {
	fi, err := os.Lstat(local)
	if err != nil {
		return Entry{}, err
	}
	if !fi.Mode().IsRegular() {
		return Entry{}, errors.New("asked to upload a special file: " + local)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.puts == nil {
		f.puts = map[string]string{}
	}
	f.puts[remote] = local
	p.Add(fi.Size())
	return Entry{Path: remote, Size: fi.Size()}, nil
}

func entries(es []localfstest.Entry) []Entry {
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = Entry{Path: e.Path, Size: e.Size, IsDir: e.IsDir}
	}
	return out
}

// Get of a folder whose entries' paths lead elsewhere, carry unsafe names
// or meet links in the destination: it fails, the error prints no control
// character, and nothing is written outside the destination or through a
// link.
func TestGetHostileEntries(t *testing.T) {
	for _, c := range localfstest.HostileGets() {
		t.Run(c.Why, func(t *testing.T) {
			fx := localfstest.NewFixture(t)
			if c.Setup != nil {
				c.Setup(t, fx)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			top := Entry{Path: c.Top.Path, Size: c.Top.Size, IsDir: c.Top.IsDir}
			res, err := Get(ctx, &fakeRemote{entries: entries(c.Entries)}, top, c.Top.Name, fx.Dest, Options{})
			if err == nil {
				t.Errorf("Get succeeded: %+v", res)
			} else if msg := err.Error() + Hint(err); strings.ContainsAny(msg, "\x00\x1b\x07") || strings.Contains(Hint(err), "\n") {
				t.Errorf("error %q, hint %q", err, Hint(err))
			}
			fx.Untouched(t)
		})
	}
}

// A well-formed folder still arrives whole, counted.
func TestGetFolder(t *testing.T) {
	fx := localfstest.NewFixture(t)
	from := &fakeRemote{entries: []Entry{
		{Path: "/share/a", IsDir: true}, {Path: "/share/a/b", IsDir: true}, {Path: "/share/empty", IsDir: true},
		{Path: "/share/a/b/c.txt", Size: 25}, {Path: "/share/top.txt", Size: 23},
	}}
	p := &countProgress{}
	res, err := Get(context.Background(), from, Entry{Path: "/share", IsDir: true}, "share", fx.Dest, Options{Progress: p, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 2 || res.Dirs != 4 || res.Path != filepath.Join(fx.Dest, "share") || res.Bytes != 48 {
		t.Errorf("result %+v", res)
	}
	if p.total != 48 || p.done != 48 {
		t.Errorf("progress %d of %d, want 48 of 48", p.done, p.total)
	}
	for p, want := range map[string]string{"share/a/b/c.txt": "bytes of /share/a/b/c.txt", "share/top.txt": "bytes of /share/top.txt"} {
		if b, err := os.ReadFile(filepath.Join(fx.Dest, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(fx.Dest, "share", "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty folder: %v", err)
	}
	fx.Untouched(t)
}

// A file goes into an existing folder under its name, else to the path
// given; a folder's contents go straight into a path that is not a
// folder yet.
func TestGetPlaces(t *testing.T) {
	fx := localfstest.NewFixture(t)
	from := &fakeRemote{entries: []Entry{{Path: "/d/x", Size: 12}}}
	ctx := context.Background()
	for _, c := range []struct {
		e           Entry
		name, local string
		want        string // the file written, under Dest
	}{
		{Entry{Path: "/f", Size: 7}, "f", fx.Dest, "f"},
		{Entry{Path: "/f", Size: 7}, "f", filepath.Join(fx.Dest, "new", "g"), "new/g"},
		{Entry{Path: "/d", IsDir: true}, "d", fx.Dest, "d/x"},
		{Entry{Path: "/d", IsDir: true}, "d", filepath.Join(fx.Dest, "other"), "other/x"},
	} {
		if _, err := Get(ctx, from, c.e, c.name, c.local, Options{}); err != nil {
			t.Errorf("Get(%s, %s): %v", c.e.Path, c.local, err)
			continue
		}
		if _, err := os.Stat(filepath.Join(fx.Dest, filepath.FromSlash(c.want))); err != nil {
			t.Errorf("Get(%s, %s): %v", c.e.Path, c.local, err)
		}
	}
	fx.Untouched(t)
}

type countProgress struct {
	mu          sync.Mutex
	total, done int64
}

func (p *countProgress) SetTotal(n int64) { p.mu.Lock(); p.total = n; p.mu.Unlock() }
func (p *countProgress) Add(n int64)      { p.mu.Lock(); p.done += n; p.mu.Unlock() }

func TestPlanTreeSkipsSpecialFiles(t *testing.T) {
	root, special := localfstest.SpecialTree(t)
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
		wantWarn = append(wantWarn, "skipping "+kind+" "+filepath.Join(root, name))
	}
	for _, w := range wantWarn {
		if !slices.Contains(warnings, w) {
			t.Errorf("no warning %q in %q", w, warnings)
		}
	}
	if len(warnings) != len(wantWarn)+1 {
		t.Errorf("%d warnings, want %d: %q", len(warnings), len(wantWarn)+1, warnings)
	}
	bad := "skipping " + filepath.Join(root, `back\slash`) + ": the drive cannot hold its name"
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, bad) }) {
		t.Errorf("no warning for the backslash name in %q", warnings)
	}
}

// Put of a tree sends the folders and the regular files only, and warns
// about the rest.
func TestPutTree(t *testing.T) {
	root, special := localfstest.SpecialTree(t)
	to := &fakeRemote{}
	var warnings []string
	p := &countProgress{}
	res, err := Put(context.Background(), to, root, "/", Options{Progress: p, Warn: func(s string) { warnings = append(warnings, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "/tree" || res.Files != 2 || res.Dirs != 2 || res.Bytes != 12 || p.total != 12 || p.done != 12 {
		t.Errorf("result %+v, progress %d of %d", res, p.done, p.total)
	}
	if want := []string{"/tree", "/tree/sub"}; !slices.Equal(to.dirs, want) {
		t.Errorf("folders made %q, want %q", to.dirs, want)
	}
	wantPuts := map[string]string{"/tree/file.txt": filepath.Join(root, "file.txt"), "/tree/sub/inner.txt": filepath.Join(root, "sub", "inner.txt")}
	if len(to.puts) != len(wantPuts) {
		t.Errorf("uploaded %q, want %q", to.puts, wantPuts)
	}
	for r, l := range wantPuts {
		if to.puts[r] != l {
			t.Errorf("uploaded %q, want %q", to.puts, wantPuts)
		}
	}
	if len(warnings) != len(special)+1 {
		t.Errorf("warnings %q", warnings)
	}
}

// Put of a single named pipe or device is a clear error, at once: the
// Sender is never asked to open it.
func TestPutSpecialSource(t *testing.T) {
	root, special := localfstest.SpecialTree(t)
	to := &fakeRemote{}
	for name, kind := range special {
		if kind == "symlink" {
			continue
		}
		done := make(chan error, 1)
		go func() {
			_, err := Put(context.Background(), to, filepath.Join(root, name), "/x", Options{})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("put of a %s did not return", kind)
		}
		if !errors.Is(err, storage.Invalid) || !strings.Contains(err.Error(), "put "+filepath.Join(root, name)+": is a "+kind) || Hint(err) == "" {
			t.Errorf("put of a %s: %v (hint %q)", kind, err, Hint(err))
		}
	}
	// A link to a named pipe is followed to it, and refused the same way.
	if err := os.Symlink("fifo", filepath.Join(root, "link-to-fifo")); err != nil {
		t.Fatal(err)
	}
	_, err := Put(context.Background(), to, filepath.Join(root, "link-to-fifo"), "/x", Options{})
	if !errors.Is(err, storage.Invalid) {
		t.Errorf("put of a link to a named pipe: %v", err)
	}
	if len(to.puts) != 0 || len(to.dirs) != 0 {
		t.Errorf("the Sender was asked to upload: %q %q", to.puts, to.dirs)
	}
}

// A transfer whose context ends between items fails: items were skipped.
func TestInParallelCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	items := make([]int, 100)
	var done atomic.Int64
	err := inParallel(ctx, 2, items, func(int) string { return "x" }, func(ctx context.Context, _ int) error {
		if done.Add(1) == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, storage.Canceled) || done.Load() == int64(len(items)) {
		t.Fatalf("cancelled after %d of %d: %v", done.Load(), len(items), err)
	}
}

// Counting passes the bytes on and counts them.
func TestCounting(t *testing.T) {
	var b strings.Builder
	p := &countProgress{}
	w := Counting(&b, p)
	for _, s := range []string{"abc", "", "defg"} {
		if n, err := io.WriteString(w, s); err != nil || n != len(s) {
			t.Fatalf("write %q: %d, %v", s, n, err)
		}
	}
	if b.String() != "abcdefg" || p.done != 7 {
		t.Fatalf("wrote %q, counted %d", b.String(), p.done)
	}
}
