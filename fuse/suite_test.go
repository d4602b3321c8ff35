package fuse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// target is a file system the suite runs against: the FS directly, the
// FS through a kernel mount, or a local folder (the reference). Paths
// are absolute within it.
type target interface {
	open(p string, flags int) (handle, error)
	stat(p string) (size int64, isDir bool, err error)
	list(p string) ([]string, error) // names, folders with a trailing /
	mkdir(p string) error
	rmdir(p string) error
	unlink(p string) error
	rename(a, b string) error
	truncate(p string, n int64) error
	errno(err error) syscall.Errno
}

type handle interface {
	ReadAt(b []byte, off int64) (int, error) // short only at the end, with nil
	WriteAt(b []byte, off int64) (int, error)
	Truncate(n int64) error
	Sync() error
	Close() error
}

// osTarget is a folder through the os package: a local temp dir, or a
// mount.
type osTarget struct{ root string }

func (o osTarget) p(p string) string { return filepath.Join(o.root, p) }

func (o osTarget) open(p string, flags int) (handle, error) {
	f, err := os.OpenFile(o.p(p), flags, 0o644)
	if err != nil {
		return nil, err
	}
	return osHandle{f}, nil
}

type osHandle struct{ *os.File }

func (h osHandle) ReadAt(b []byte, off int64) (int, error) {
	n, err := h.File.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (o osTarget) stat(p string) (int64, bool, error) {
	fi, err := os.Stat(o.p(p))
	if err != nil {
		return 0, false, err
	}
	if fi.IsDir() {
		return 0, true, nil
	}
	return fi.Size(), false, nil
}

func (o osTarget) list(p string) ([]string, error) {
	es, err := os.ReadDir(o.p(p))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out, nil
}

func (o osTarget) mkdir(p string) error             { return syscall.Mkdir(o.p(p), 0o755) }
func (o osTarget) rmdir(p string) error             { return syscall.Rmdir(o.p(p)) }
func (o osTarget) unlink(p string) error            { return syscall.Unlink(o.p(p)) }
func (o osTarget) rename(a, b string) error         { return syscall.Rename(o.p(a), o.p(b)) }
func (o osTarget) truncate(p string, n int64) error { return syscall.Truncate(o.p(p), n) }
func (o osTarget) errno(err error) syscall.Errno    { return errnoOfT(nil, err) }

// fsTarget is the FS called directly.
type fsTarget struct{ f *FS }

var bg = context.Background()

func (t fsTarget) open(p string, flags int) (handle, error) {
	h, err := t.f.Open(bg, p, flags, 0o644)
	if err != nil {
		return nil, err
	}
	return fsHandle{h}, nil
}

type fsHandle struct{ h *Handle }

func (h fsHandle) ReadAt(b []byte, off int64) (int, error)  { return h.h.ReadAt(bg, b, off) }
func (h fsHandle) WriteAt(b []byte, off int64) (int, error) { return h.h.WriteAt(bg, b, off) }
func (h fsHandle) Truncate(n int64) error                   { return h.h.Truncate(bg, n) }
func (h fsHandle) Sync() error                              { return h.h.Sync(bg) }
func (h fsHandle) Close() error {
	h.h.Flush(bg)
	return h.h.Release()
}

func (t fsTarget) stat(p string) (int64, bool, error) {
	a, err := t.f.Stat(bg, p)
	return a.Size, a.IsDir, err
}

func (t fsTarget) list(p string) ([]string, error) {
	es, err := t.f.ReadDir(bg, p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		n := e.Name
		if e.IsDir {
			n += "/"
		}
		out = append(out, n)
	}
	return out, nil
}

func (t fsTarget) mkdir(p string) error          { return t.f.Mkdir(bg, p, 0o755) }
func (t fsTarget) rmdir(p string) error          { return t.f.Rmdir(bg, p) }
func (t fsTarget) unlink(p string) error         { return t.f.Unlink(bg, p) }
func (t fsTarget) rename(a, b string) error      { return t.f.Rename(bg, a, b) }
func (t fsTarget) errno(err error) syscall.Errno { return errnoOfT(t.f, err) }
func (t fsTarget) truncate(p string, n int64) error {
	size := n
	_, err := t.f.Setattr(bg, p, SetAttr{Size: &size})
	return err
}

// readAll reads file p through a handle of its own.
func readAll(t target, p string) ([]byte, error) {
	h, err := t.open(p, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var out []byte
	buf := make([]byte, 48<<10)
	for off := int64(0); ; {
		n, err := h.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
	}
}

func writeFile(t target, p string, data []byte) error {
	h, err := t.open(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := h.WriteAt(data, 0); err != nil {
		h.Close()
		return err
	}
	return h.Close()
}

// runOps checks the operations one by one against a target, each step
// with the errno it must give.
func runOps(t *testing.T, tg target) {
	want := func(what string, err error, e syscall.Errno) {
		t.Helper()
		if got := tg.errno(err); got != e {
			t.Fatalf("%s: %v (errno %v), want %v", what, err, got, e)
		}
	}
	want("mkdir /d", tg.mkdir("/d"), 0)
	want("mkdir /d again", tg.mkdir("/d"), syscall.EEXIST)
	want("mkdir under a missing folder", tg.mkdir("/nope/x"), syscall.ENOENT)
	data := bytes.Repeat([]byte("cairn "), 20000) // 120 KB: several chunks
	want("create /d/f", writeFile(tg, "/d/f", data), 0)
	got, err := readAll(tg, "/d/f")
	want("read /d/f", err, 0)
	if !bytes.Equal(got, data) {
		t.Fatalf("read /d/f: %d bytes, want %d", len(got), len(data))
	}
	if n, dir, err := tg.stat("/d/f"); err != nil || dir || n != int64(len(data)) {
		t.Fatalf("stat /d/f: %d %v %v", n, dir, err)
	}
	want("mkdir over a file", tg.mkdir("/d/f"), syscall.EEXIST)
	want("mkdir under a file", tg.mkdir("/d/f/x"), syscall.ENOTDIR)
	_, err = tg.open("/d/f/x", os.O_RDWR|os.O_CREATE)
	want("create under a file", err, syscall.ENOTDIR)
	_, err = tg.open("/d/f", os.O_RDWR|os.O_CREATE|os.O_EXCL)
	want("create exclusive over a file", err, syscall.EEXIST)
	_, err = tg.open("/d", os.O_RDWR)
	want("open a folder for writing", err, syscall.EISDIR)
	_, err = tg.open("/missing", os.O_RDONLY)
	want("open missing", err, syscall.ENOENT)

	// Write at an offset, past the end (a hole), read back ranges.
	h, err := tg.open("/d/f", os.O_RDWR)
	want("open rw", err, 0)
	_, err = h.WriteAt([]byte("HELLO"), 1000)
	want("write at 1000", err, 0)
	_, err = h.WriteAt([]byte("END"), int64(len(data))+10)
	want("write past the end", err, 0)
	copy(data[1000:], "HELLO")
	data = append(data, make([]byte, 10)...)
	data = append(data, "END"...)
	b := make([]byte, 8)
	n, err := h.ReadAt(b, 998)
	want("read at 998", err, 0)
	if string(b[:n]) != string(data[998:1006]) {
		t.Fatalf("read at 998: %q, want %q", b[:n], data[998:1006])
	}
	want("fsync", h.Sync(), 0)
	want("ftruncate", h.Truncate(50000), 0)
	data = data[:50000]
	want("close", h.Close(), 0)
	got, _ = readAll(tg, "/d/f")
	if !bytes.Equal(got, data) {
		t.Fatalf("after writes: %d bytes, want %d", len(got), len(data))
	}
	want("truncate by path", tg.truncate("/d/f", 10), 0)
	if n, _, _ := tg.stat("/d/f"); n != 10 {
		t.Fatalf("after truncate: size %d", n)
	}
	want("truncate a folder", tg.truncate("/d", 0), syscall.EISDIR)

	// Rename: plain, over an existing file, folders, the refusals.
	want("create /d/g", writeFile(tg, "/d/g", []byte("gee")), 0)
	want("rename f → h", tg.rename("/d/f", "/d/h"), 0)
	want("rename g over h", tg.rename("/d/g", "/d/h"), 0)
	if got, _ := readAll(tg, "/d/h"); string(got) != "gee" {
		t.Fatalf("after rename over: %q", got)
	}
	_, _, err = tg.stat("/d/g")
	want("stat the renamed", err, syscall.ENOENT)
	want("mkdir /e", tg.mkdir("/e"), 0)
	want("mkdir /e/sub", tg.mkdir("/e/sub"), 0)
	want("create /e/sub/x", writeFile(tg, "/e/sub/x", []byte("x")), 0)
	want("rename a folder", tg.rename("/e", "/d/e2"), 0)
	if got, _ := readAll(tg, "/d/e2/sub/x"); string(got) != "x" {
		t.Fatalf("in the moved folder: %q", got)
	}
	want("rename into itself", tg.rename("/d", "/d/e2/in"), syscall.EINVAL)
	want("rename a folder over a file", tg.rename("/d/e2", "/d/h"), syscall.ENOTDIR)
	want("rename a file over a folder", tg.rename("/d/h", "/d/e2"), syscall.EISDIR)
	want("mkdir /empty", tg.mkdir("/empty"), 0)
	want("rename a folder over a non-empty folder", tg.rename("/empty", "/d/e2"), syscall.ENOTEMPTY)
	want("rename a folder over an empty folder", tg.rename("/d/e2", "/empty"), 0)
	want("rename missing", tg.rename("/nope", "/x"), syscall.ENOENT)

	// Unlink, rmdir.
	want("rmdir a non-empty folder", tg.rmdir("/empty"), syscall.ENOTEMPTY)
	want("rmdir a file", tg.rmdir("/d/h"), syscall.ENOTDIR)
	want("unlink a folder", tg.unlink("/d"), syscall.EISDIR)
	want("unlink /empty/sub/x", tg.unlink("/empty/sub/x"), 0)
	want("unlink again", tg.unlink("/empty/sub/x"), syscall.ENOENT)
	want("rmdir /empty/sub", tg.rmdir("/empty/sub"), 0)
	want("rmdir /empty", tg.rmdir("/empty"), 0)
	// An open file unlinked stays readable and writable.
	want("create /d/open", writeFile(tg, "/d/open", []byte("still here")), 0)
	h, err = tg.open("/d/open", os.O_RDWR)
	want("open /d/open", err, 0)
	want("unlink it", tg.unlink("/d/open"), 0)
	_, err = h.WriteAt([]byte("S"), 0)
	want("write after unlink", err, 0)
	n, err = h.ReadAt(b[:8], 0)
	want("read after unlink", err, 0)
	if string(b[:n]) != "Still he" {
		t.Fatalf("read after unlink: %q", b[:n])
	}
	want("close it", h.Close(), 0)
	ls, err := tg.list("/d")
	want("list /d", err, 0)
	if strings.Join(ls, " ") != "h" {
		t.Fatalf("list /d: %q", ls)
	}
	_, err = tg.list("/d/h")
	want("list a file", err, syscall.ENOTDIR)
	long := strings.Repeat("n", 256)
	_, err = tg.open("/d/"+long, os.O_RDWR|os.O_CREATE)
	want("a name too long", err, syscall.ENAMETOOLONG)
}

// randomOps applies a seeded random sequence of n operations to tg and
// to a local folder, comparing each result, then the whole trees.
func randomOps(t *testing.T, tg target, n int, seed uint64) {
	ref := osTarget{t.TempDir()}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e37))
	for _, x := range []target{tg, ref} {
		if err := x.mkdir("/r"); err != nil {
			t.Fatal(err)
		}
	}
	dirs := []string{"/r", "/r/a", "/r/b", "/r/a/c"}
	names := []string{"a", "b", "c", "x", "y"}
	pick := func() string {
		return path.Join(dirs[rng.IntN(len(dirs))], names[rng.IntN(len(names))])
	}
	type open struct{ a, b handle }
	var opens []open
	var trace []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last steps:\n%s", strings.Join(trace[max(0, len(trace)-60):], "\n"))
		}
	})
	check := func(i int, what string, ea, eb error) {
		t.Helper()
		trace = append(trace, fmt.Sprintf("%d %s: %v", i, what, ea))
		if ga, gb := tg.errno(ea), ref.errno(eb); ga != gb {
			t.Fatalf("step %d %s: %v (%v), local folder: %v (%v)", i, what, ga, ea, gb, eb)
		}
	}
	for i := 0; i < n; i++ {
		if debugTree && len(opens) == 0 {
			if a, b := tree(t, tg, "/r"), tree(t, ref, "/r"); a != b {
				t.Fatalf("before step %d, trees differ:\n%s\nlocal folder:\n%s", i, a, b)
			}
		}
		switch op := rng.IntN(100); {
		case op < 18: // write at an offset, in a file opened for it
			p := pick()
			data := make([]byte, 1+rng.IntN(12<<10))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			off := int64(rng.IntN(40 << 10))
			flags := os.O_RDWR | os.O_CREATE
			if rng.IntN(5) == 0 {
				flags |= os.O_TRUNC
			}
			ha, ea := tg.open(p, flags)
			hb, eb := ref.open(p, flags)
			check(i, "open "+p, ea, eb)
			if ea == nil && eb == nil {
				_, ea = ha.WriteAt(data, off)
				_, eb = hb.WriteAt(data, off)
				check(i, fmt.Sprintf("write %s at %d", p, off), ea, eb)
				check(i, "close "+p, ha.Close(), hb.Close())
			}
		case op < 24 && len(opens) < 3: // open and keep
			p := pick()
			ha, ea := tg.open(p, os.O_RDWR)
			hb, eb := ref.open(p, os.O_RDWR)
			check(i, "open and keep "+p, ea, eb)
			if ea == nil && eb == nil {
				opens = append(opens, open{ha, hb})
			}
		case op < 34 && len(opens) > 0: // use a kept handle
			k := rng.IntN(len(opens))
			o := opens[k]
			switch rng.IntN(4) {
			case 0, 1:
				data := []byte(fmt.Sprintf("<%d>", i))
				off := int64(rng.IntN(30 << 10))
				_, ea := o.a.WriteAt(data, off)
				_, eb := o.b.WriteAt(data, off)
				check(i, "write kept", ea, eb)
			case 2:
				off := int64(rng.IntN(30 << 10))
				ba, bb := make([]byte, 4096), make([]byte, 4096)
				na, ea := o.a.ReadAt(ba, off)
				nb, eb := o.b.ReadAt(bb, off)
				check(i, "read kept", ea, eb)
				if !bytes.Equal(ba[:na], bb[:nb]) {
					t.Fatalf("step %d: read kept at %d: %d bytes differ from the local folder's %d", i, off, na, nb)
				}
			case 3:
				sz := int64(rng.IntN(20 << 10))
				check(i, "ftruncate kept", o.a.Truncate(sz), o.b.Truncate(sz))
			}
		case op < 38 && len(opens) > 0: // close a kept handle
			k := rng.IntN(len(opens))
			check(i, "close kept", opens[k].a.Close(), opens[k].b.Close())
			opens = append(opens[:k], opens[k+1:]...)
		case op < 46:
			p, sz := pick(), int64(rng.IntN(50<<10))
			check(i, fmt.Sprintf("truncate %s %d", p, sz), tg.truncate(p, sz), ref.truncate(p, sz))
		case op < 58:
			p := pick()
			a, ea := readAll(tg, p)
			b, eb := readAll(ref, p)
			check(i, "read "+p, ea, eb)
			if !bytes.Equal(a, b) {
				t.Fatalf("step %d: read %s: %d bytes, the local folder has %d", i, p, len(a), len(b))
			}
		case op < 70:
			var a, b string
			if rng.IntN(3) == 0 {
				a, b = dirs[1+rng.IntN(len(dirs)-1)], pick()
			} else {
				a, b = pick(), pick()
			}
			check(i, "rename "+a+" "+b, tg.rename(a, b), ref.rename(a, b))
		case op < 78:
			p := pick()
			check(i, "unlink "+p, tg.unlink(p), ref.unlink(p))
		case op < 86:
			p := dirs[1+rng.IntN(len(dirs)-1)]
			if rng.IntN(2) == 0 {
				p = pick()
			}
			check(i, "mkdir "+p, tg.mkdir(p), ref.mkdir(p))
		case op < 92:
			p := dirs[1+rng.IntN(len(dirs)-1)]
			if rng.IntN(2) == 0 {
				p = pick()
			}
			check(i, "rmdir "+p, tg.rmdir(p), ref.rmdir(p))
		case op < 96:
			p := pick()
			sa, da, ea := tg.stat(p)
			sb, db, eb := ref.stat(p)
			check(i, "stat "+p, ea, eb)
			if sa != sb || da != db {
				t.Fatalf("step %d: stat %s: %d %v, the local folder %d %v", i, p, sa, da, sb, db)
			}
		default:
			p := dirs[rng.IntN(len(dirs))]
			la, ea := tg.list(p)
			lb, eb := ref.list(p)
			check(i, "list "+p, ea, eb)
			if strings.Join(la, " ") != strings.Join(lb, " ") {
				t.Fatalf("step %d: list %s: %q, the local folder %q", i, p, la, lb)
			}
		}
	}
	for _, o := range opens {
		o.a.Close()
		o.b.Close()
	}
	opens = nil
	if a, b := tree(t, tg, "/r"), tree(t, ref, "/r"); a != b {
		t.Fatalf("final trees differ:\n%s\nlocal folder:\n%s", a, b)
	}
}

var debugTree = os.Getenv("FUSE_DEBUG_TREE") != ""

// tree describes everything below p: names, sizes and a hash of contents.
func tree(t *testing.T, tg target, p string) string {
	var out []string
	var walk func(string)
	walk = func(d string) {
		ls, err := tg.list(d)
		if err != nil {
			t.Fatalf("list %s: %v", d, err)
		}
		for _, n := range ls {
			q := path.Join(d, strings.TrimSuffix(n, "/"))
			if strings.HasSuffix(n, "/") {
				out = append(out, q+"/")
				walk(q)
				continue
			}
			b, err := readAll(tg, q)
			if err != nil {
				t.Fatalf("read %s: %v", q, err)
			}
			out = append(out, fmt.Sprintf("%s %d %x", q, len(b), crc(b)))
		}
	}
	walk(p)
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func crc(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

func TestOpsDirect(t *testing.T) {
	e := newEnv(t)
	f, _ := newFS(t, Own(e.d), Options{})
	runOps(t, fsTarget{f})
	if err := f.Drain(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if f.Pending() != 0 {
		t.Fatalf("pending %d after drain", f.Pending())
	}
	// Everything reached the drive itself.
	r, _, err := e.d.Open(bg, "/d/h")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := r.ReadAt(b, 0); err != nil || string(b) != "gee" {
		t.Fatalf("the drive's /d/h: %q %v", b, err)
	}
}

func TestRandomDirect(t *testing.T) {
	e := newEnv(t)
	f, lg := newFS(t, Own(e.d), Options{})
	randomOps(t, fsTarget{f}, 2000, 1)
	if err := f.Drain(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A fresh FS over the same drive (nothing local) sees the same tree.
	g, _ := newFS(t, Own(e.d), Options{})
	if a, b := tree(t, fsTarget{f}, "/r"), tree(t, fsTarget{g}, "/r"); a != b {
		t.Fatalf("after upload, the drive differs:\n%s\nfrom the FS:\n%s", b, a)
	}
	for _, l := range lg.all() {
		t.Log(l)
	}
}
