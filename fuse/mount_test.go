package fuse

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

func TestOpsMount(t *testing.T) {
	e := newEnv(t)
	f, _ := newFS(t, Own(e.d), Options{})
	c := newClient(t, mountFS(t, f))
	runOps(t, c)
	r, err := c.do(request{Op: "statfs", P: c.p("/")})
	if st := r.Stat; err != nil || st.Blocks == 0 || st.Namelen != 255 {
		t.Fatalf("statfs: %+v %v", st, err)
	}
	if _, err := c.do(request{Op: "chmod", P: c.p("/d/h"), Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.do(request{Op: "stat", P: c.p("/d/h")}); err != nil || r.Mode != 0o600 {
		t.Fatalf("after chmod: %o %v", r.Mode, err)
	}
	mt := time.Unix(1700000000, 0)
	if _, err := c.do(request{Op: "chtimes", P: c.p("/d/h"), Off: mt.UnixNano()}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.do(request{Op: "stat", P: c.p("/d/h")}); r.Mtime != mt.UnixNano() {
		t.Fatalf("after chtimes: %v", time.Unix(0, r.Mtime))
	}
	if _, err := c.do(request{Op: "chown", P: c.p("/d/h"), Off: 12345}); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("chown: %v, want EPERM", err)
	}
	if _, err := c.do(request{Op: "link", P: c.p("/d/h"), Q: c.p("/d/hl")}); err == nil {
		t.Fatal("a hard link was made")
	}
	if err := f.Drain(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestRandomMount(t *testing.T) {
	e := newEnv(t)
	f, _ := newFS(t, Own(e.d), Options{})
	randomOps(t, newClient(t, mountFS(t, f)), 1500, 2)
}

// A 4 KiB read at an offset of a big file fetches only the chunks that
// cover it, through the kernel too.
func TestReadFetchesOnlyCoveringChunks(t *testing.T) {
	e := newEnv(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: ~100 chunks
	for i := range data {
		data[i] ^= byte(i * 7 >> 3)
	}
	ent, err := e.d.Put(bg, "/big", bytes.NewReader(data), drive.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chunks := len(ent.Manifest.Chunks)
	f, _ := newFS(t, Own(e.d), Options{})
	check := func(what string, read func(b []byte, off int64) (int, error)) {
		t.Helper()
		before := e.gets.Load()
		b := make([]byte, 4096)
		off := int64(600_000)
		n, err := read(b, off)
		if err != nil || n != 4096 || !bytes.Equal(b, data[off:off+4096]) {
			t.Fatalf("%s: %d bytes, %v", what, n, err)
		}
		got := e.gets.Load() - before
		// The kernel reads ahead up to 1 MiB: allow a few chunks' worth,
		// never the whole file.
		if limit := int64(8 * (testK + 2)); got > limit || got >= int64(chunks*testK) {
			t.Fatalf("%s: %d fragment gets for 4 KiB of a %d-chunk file (limit %d)", what, got, chunks, limit)
		}
		t.Logf("%s: %d fragment gets (%d chunks in the file)", what, got, chunks)
	}
	h, err := f.Open(bg, "/big", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	check("direct", func(b []byte, off int64) (int, error) { return h.ReadAt(bg, b, off) })
	h.Release()
	if canMount() == "" {
		c := newClient(t, mountFS(t, f))
		fh, err := c.open("/big", os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		check("mount", fh.ReadAt)
	}
}

// Writes while every peer is down succeed locally, read back from the
// cache, stay pending, fsync fails with EIO past its deadline; once the
// peers are back the uploads drain.
func TestWriteBehind(t *testing.T) {
	e := newEnv(t)
	if err := e.d.Mkdir(bg, "/w", false); err != nil {
		t.Fatal(err)
	}
	f, lg := newFS(t, Own(e.d), Options{Timeout: 300 * time.Millisecond})
	e.down.Store(true)
	tg := fsTarget{f}
	data := bytes.Repeat([]byte("offline "), 4000)
	for _, p := range []string{"/w/a", "/w/b"} {
		if err := writeFile(tg, p, data); err != nil {
			t.Fatalf("write %s while down: %v", p, err)
		}
	}
	if got, err := readAll(tg, "/w/a"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back while down: %d bytes, %v", len(got), err)
	}
	if ls, _ := tg.list("/w"); strings.Join(ls, " ") != "a b" {
		t.Fatalf("list while down: %q", ls)
	}
	time.Sleep(200 * time.Millisecond) // a few failed attempts
	if n := f.Pending(); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
	if f.local("/w/a") == nil {
		t.Fatal("the local copy is gone while the upload is pending")
	}
	h, _ := f.Open(bg, "/w/a", os.O_RDWR, 0)
	h.WriteAt(bg, []byte("O"), 0)
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	if err := h.Sync(ctx); f.Errno(err) != syscall.EIO {
		t.Fatalf("fsync while down: %v, want EIO", err)
	}
	cancel()
	h.Release()
	data2 := append([]byte("O"), data[1:]...)
	e.down.Store(false)
	if err := f.Drain(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("drain once peers are back: %v", err)
	}
	for p, want := range map[string][]byte{"/w/a": data2, "/w/b": data} {
		r, _, err := e.d.Open(bg, p)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want)+1)
		n, _ := r.ReadAt(got, 0)
		if !bytes.Equal(got[:n], want) {
			t.Fatalf("the drive's %s: %d bytes", p, n)
		}
	}
	retried := false
	for _, l := range lg.all() {
		retried = retried || strings.Contains(l, "upload /w/a")
	}
	if !retried {
		t.Fatalf("no failed upload was logged: %q", lg.all())
	}
}

// slowDrive answers Stat and List only when its ctx ends, as a drive
// whose peers never answer.
type slowDrive struct{ Drive }

func (s slowDrive) Stat(ctx context.Context, p string) (drive.Entry, error) {
	if p == "/" {
		return s.Drive.Stat(ctx, p)
	}
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond) // and a little late
	return drive.Entry{}, storage.E("stat", storage.Unavailable, ctx.Err())
}

// Every request has a deadline: a drive that never answers costs EIO and
// a log line, never a hung kernel.
func TestDeadline(t *testing.T) {
	e := newEnv(t)
	f, lg := newFS(t, slowDrive{Own(e.d)}, Options{Timeout: 200 * time.Millisecond})
	c := newClient(t, mountFS(t, f))
	start := time.Now()
	_, _, err := c.stat("/anything")
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("stat through a drive that never answers: %v, want EIO", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	found := false
	for _, l := range lg.all() {
		found = found || strings.Contains(l, "no answer within")
	}
	if !found {
		t.Fatalf("no log line: %q", lg.all())
	}
}

// A read-only FS (a link mount) refuses every change with EROFS, and
// reads.
func TestReadOnly(t *testing.T) {
	e := newEnv(t)
	if _, err := e.d.Put(bg, "/f", strings.NewReader("read me"), drive.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	f, _ := newFS(t, Own(e.d), Options{ReadOnly: true})
	tg := fsTarget{f}
	if got, err := readAll(tg, "/f"); err != nil || string(got) != "read me" {
		t.Fatalf("read: %q %v", got, err)
	}
	for what, err := range map[string]error{
		"mkdir":    tg.mkdir("/d"),
		"unlink":   tg.unlink("/f"),
		"rename":   tg.rename("/f", "/g"),
		"truncate": tg.truncate("/f", 0),
		"create":   writeFile(tg, "/new", []byte("x")),
	} {
		if e := tg.errno(err); e != syscall.EROFS {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	if canMount() != "" {
		return
	}
	c := newClient(t, mountFS(t, f))
	if b, err := readAll(c, "/f"); err != nil || string(b) != "read me" {
		t.Fatalf("read through the mount: %q %v", b, err)
	}
	if err := writeFile(c, "/f", []byte("x")); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write through a read-only mount: %v", err)
	}
	if err := c.mkdir("/d"); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("mkdir through a read-only mount: %v", err)
	}
}

// Mounting twice on one folder, or on a missing one, is a clear error.
func TestMountErrors(t *testing.T) {
	if why := canMount(); why != "" {
		t.Skip(why)
	}
	e := newEnv(t)
	f, _ := newFS(t, Own(e.d), Options{})
	if _, err := f.Mount(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, storage.NotExist) {
		t.Fatalf("mount on a missing folder: %v", err)
	}
	dir := mountFS(t, f)
	if _, err := f.Mount(dir); !errors.Is(err, storage.Exist) {
		t.Fatalf("second mount: %v", err)
	}
}
