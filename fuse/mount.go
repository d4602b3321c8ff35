package fuse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bfuse "bazil.org/fuse"
	bfs "bazil.org/fuse/fs"

	"github.com/cairn-storage/cairn/storage"
)

// The kernel side: bazil.org/fuse calls the methods below, one goroutine
// per request; each calls the FS under the request's deadline (serve)
// and maps its error through the one table.

// Mount is the FS mounted on a folder.
type Mount struct {
	dir  string
	conn *bfuse.Conn
	done chan struct{}
	err  error
}

// Mount mounts f on dir, an existing empty folder, and serves it until
// it is unmounted (Close, or fusermount3 -u from outside: Done). Errors:
// storage.NotExist for a missing mountpoint, storage.NotDir for a file,
// storage.Exist when something is mounted there already, storage.IO when
// the kernel refuses (no /dev/fuse or fusermount3).
func (f *FS) Mount(dir string) (*Mount, error) {
	const op = "mount"
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, storage.Ef(op, storage.Invalid, dir, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, storage.Ef(op, storage.NotExist, abs, errors.New("mountpoint does not exist"))
	case err != nil:
		return nil, storage.Ef(op, storage.IO, abs, err)
	case !st.IsDir():
		return nil, storage.Ef(op, storage.NotDir, abs, errors.New("mountpoint is not a folder"))
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if mounted(abs) {
		return nil, storage.Ef(op, storage.Exist, abs, errors.New("something is mounted there already"))
	}
	opts := []bfuse.MountOption{bfuse.FSName("cairn"), bfuse.Subtype("cairn"), bfuse.MaxReadahead(1 << 20)}
	if f.ReadOnly() {
		opts = append(opts, bfuse.ReadOnly())
	}
	c, err := bfuse.Mount(abs, opts...)
	if err != nil {
		return nil, storage.Ef(op, storage.IO, abs, err)
	}
	m := &Mount{dir: abs, conn: c, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.err = bfs.New(c, nil).Serve(kernelFS{f})
	}()
	return m, nil
}

// Dir is the mountpoint (absolute, symlinks resolved).
func (m *Mount) Dir() string { return m.dir }

// Done is closed once the mount is gone (Close, or unmounted from
// outside).
func (m *Mount) Done() <-chan struct{} { return m.done }

// Close unmounts (fusermount3 -u) and waits for the kernel to let go.
// Pending uploads are not lost: they go on in the FS (FS.Close ends
// them). storage.Exist ("busy") when files are open in the mount: it
// stays mounted then.
func (m *Mount) Close() error {
	select {
	case <-m.done:
	default:
		if err := bfuse.Unmount(m.dir); err != nil {
			select {
			case <-m.done: // gone meanwhile
			default:
				if mounted(m.dir) {
					return storage.Ef("unmount", storage.Exist, m.dir, fmt.Errorf("busy (files open in it?): %v", err))
				}
			}
		}
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			return storage.Ef("unmount", storage.IO, m.dir, errors.New("the kernel did not let go in 10 s"))
		}
	}
	m.conn.Close()
	if m.err != nil && !errors.Is(m.err, os.ErrClosed) {
		return storage.Ef("serve", storage.IO, m.dir, m.err)
	}
	return nil
}

// mounted reports whether dir is a mount point (/proc/self/mountinfo).
func mounted(dir string) bool {
	fh, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && unescape(fs[4]) == dir {
			return true
		}
	}
	return false
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// serve runs fn under the request's deadline. Past it, it returns at
// once (EIO with a log line) and fn goes on with its ctx cancelled;
// undo, if set, then receives what fn returns, to release it.
func serve[T any](ctx context.Context, f *FS, op string, p string, fn func(ctx context.Context) (T, error), undo func(T)) (T, error) {
	// The kernel's interrupts (a signal to the caller, even the Go
	// runtime's own preemption signals) do not end a request: EINTR from
	// stat or rename surprises programs, and a change may be half done
	// on the drive. Only the deadline ends it.
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		ch <- result{v, err}
	}()
	var zero T
	select {
	case r := <-ch:
		if r.err == nil {
			return r.v, nil
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			f.logf("fuse: %s %s: no answer within %v (%v): EIO", op, p, f.o.Timeout, r.err)
			return zero, syscall.EIO
		}
		e, loud := errnoOf(r.err, f.ReadOnly())
		if loud {
			f.logf("fuse: %s %s: %v (%v)", op, p, r.err, e)
		}
		return zero, e
	case <-ctx.Done():
		if undo != nil {
			go func() {
				if r := <-ch; r.err == nil {
					undo(r.v)
				}
			}()
		}
		f.logf("fuse: %s %s: no answer within %v: EIO", op, p, f.o.Timeout)
		return zero, syscall.EIO
	}
}

// serve0 is serve for calls that return only an error.
func serve0(ctx context.Context, f *FS, op, p string, fn func(ctx context.Context) error) error {
	_, err := serve(ctx, f, op, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }, nil)
	return err
}

type kernelFS struct{ f *FS }

func (k kernelFS) Root() (bfs.Node, error) { return k.f.root, nil }

func (k kernelFS) Statfs(ctx context.Context, req *bfuse.StatfsRequest, resp *bfuse.StatfsResponse) error {
	s, err := serve(ctx, k.f, "statfs", "/", k.f.Statfs, nil)
	if err != nil {
		return err
	}
	const bs = 4096
	resp.Bsize, resp.Frsize, resp.Namelen = bs, bs, 255
	resp.Blocks = uint64(s.Capacity+bs-1) / bs
	used := uint64(s.Used+bs-1) / bs
	if used > resp.Blocks {
		used = resp.Blocks
	}
	resp.Bfree = resp.Blocks - used
	resp.Bavail = resp.Bfree
	resp.Files = uint64(s.Files) + 1<<20
	resp.Ffree = 1 << 20
	return nil
}

func (ino *inode) child(name string) (string, error) {
	if len(name) > 255 {
		return "", syscall.ENAMETOOLONG
	}
	return path.Join(ino.f.pathOf(ino), name), nil
}

func (ino *inode) fill(a *bfuse.Attr, at Attr) {
	a.Valid = ino.f.o.AttrValid
	a.Size = uint64(at.Size)
	a.Blocks = (a.Size + 511) / 512
	a.Mode = at.Mode
	a.Mtime, a.Ctime, a.Atime = at.Mtime, at.Mtime, at.Mtime
	a.Nlink = 1
	if at.IsDir {
		a.Nlink = 2
	}
	a.Uid, a.Gid = uint32(os.Getuid()), uint32(os.Getgid())
	a.BlockSize = 1 << 20
}

func (ino *inode) Attr(ctx context.Context, a *bfuse.Attr) error {
	f := ino.f
	at, err := serve(ctx, f, "getattr", f.pathOf(ino), func(ctx context.Context) (Attr, error) { return f.attr(ctx, ino) }, nil)
	if err != nil {
		return err
	}
	ino.fill(a, at)
	return nil
}

func (ino *inode) Lookup(ctx context.Context, req *bfuse.LookupRequest, resp *bfuse.LookupResponse) (bfs.Node, error) {
	p, err := ino.child(req.Name)
	if err != nil {
		return nil, err
	}
	f := ino.f
	n, err := serve(ctx, f, "lookup", p, func(ctx context.Context) (*inode, error) {
		c, err := clean(p)
		if err != nil {
			return nil, err
		}
		n, _, err := f.lookup(ctx, c)
		return n, err
	}, nil)
	if err != nil {
		return nil, err
	}
	resp.EntryValid = f.o.AttrValid
	return n, nil
}

func (ino *inode) Open(ctx context.Context, req *bfuse.OpenRequest, resp *bfuse.OpenResponse) (bfs.Handle, error) {
	if req.Dir {
		return &dirHandle{ino}, nil
	}
	f := ino.f
	p := f.pathOf(ino)
	h, err := serve(ctx, f, "open", p, func(ctx context.Context) (*Handle, error) {
		return f.open(ctx, p, int(req.Flags), 0)
	}, func(h *Handle) { h.Release() })
	if err != nil {
		return nil, err
	}
	return fileHandle{h}, nil
}

func (ino *inode) Create(ctx context.Context, req *bfuse.CreateRequest, resp *bfuse.CreateResponse) (bfs.Node, bfs.Handle, error) {
	p, err := ino.child(req.Name)
	if err != nil {
		return nil, nil, err
	}
	f := ino.f
	h, err := serve(ctx, f, "create", p, func(ctx context.Context) (*Handle, error) {
		return f.Open(ctx, p, int(req.Flags)|syscall.O_CREAT, req.Mode&^req.Umask)
	}, func(h *Handle) { h.Release() })
	if err != nil {
		return nil, nil, err
	}
	resp.EntryValid = f.o.AttrValid
	return h.ino, fileHandle{h}, nil
}

func (ino *inode) Mkdir(ctx context.Context, req *bfuse.MkdirRequest) (bfs.Node, error) {
	p, err := ino.child(req.Name)
	if err != nil {
		return nil, err
	}
	f := ino.f
	n, err := serve(ctx, f, "mkdir", p, func(ctx context.Context) (*inode, error) {
		return f.mkdir(ctx, p, req.Mode&^req.Umask)
	}, nil)
	if err != nil {
		return nil, err
	}
	return n, nil
}

func (ino *inode) Remove(ctx context.Context, req *bfuse.RemoveRequest) error {
	p, err := ino.child(req.Name)
	if err != nil {
		return err
	}
	f := ino.f
	if req.Dir {
		return serve0(ctx, f, "rmdir", p, func(ctx context.Context) error { return f.Rmdir(ctx, p) })
	}
	return serve0(ctx, f, "unlink", p, func(ctx context.Context) error { return f.Unlink(ctx, p) })
}

func (ino *inode) Rename(ctx context.Context, req *bfuse.RenameRequest, newDir bfs.Node) error {
	src, err := ino.child(req.OldName)
	if err != nil {
		return err
	}
	nd, ok := newDir.(*inode)
	if !ok {
		return syscall.EXDEV
	}
	dst, err := nd.child(req.NewName)
	if err != nil {
		return err
	}
	f := ino.f
	return serve0(ctx, f, "rename", src+" → "+dst, func(ctx context.Context) error { return f.Rename(ctx, src, dst) })
}

func (ino *inode) Setattr(ctx context.Context, req *bfuse.SetattrRequest, resp *bfuse.SetattrResponse) error {
	var s SetAttr
	v := req.Valid
	if v.Size() {
		n := int64(req.Size)
		s.Size = &n
	}
	if v.Mode() {
		m := req.Mode
		s.Mode = &m
	}
	if v.Mtime() || v.MtimeNow() {
		t := req.Mtime
		if v.MtimeNow() || t.IsZero() {
			t = time.Now()
		}
		s.Mtime = &t
	}
	if v.Uid() {
		u := req.Uid
		s.Uid = &u
	}
	if v.Gid() {
		g := req.Gid
		s.Gid = &g
	}
	f := ino.f
	at, err := serve(ctx, f, "setattr", f.pathOf(ino), func(ctx context.Context) (Attr, error) { return f.setattr(ctx, ino, s) }, nil)
	if err != nil {
		return err
	}
	ino.fill(&resp.Attr, at)
	return nil
}

func (ino *inode) Fsync(ctx context.Context, req *bfuse.FsyncRequest) error {
	if req.Dir {
		return nil
	}
	f := ino.f
	return serve0(ctx, f, "fsync", f.pathOf(ino), func(ctx context.Context) error { return f.sync(ctx, ino) })
}

func (ino *inode) Forget() { ino.f.forget(ino) }

// dirHandle lists a folder.
type dirHandle struct{ ino *inode }

func (d *dirHandle) ReadDirAll(ctx context.Context) ([]bfuse.Dirent, error) {
	f := d.ino.f
	p := f.pathOf(d.ino)
	es, err := serve(ctx, f, "readdir", p, func(ctx context.Context) ([]DirEntry, error) { return f.readDir(ctx, p) }, nil)
	if err != nil {
		return nil, err
	}
	out := make([]bfuse.Dirent, len(es))
	for i, e := range es {
		out[i] = bfuse.Dirent{Name: e.Name, Type: bfuse.DT_File}
		if e.IsDir {
			out[i].Type = bfuse.DT_Dir
		}
	}
	return out, nil
}

// fileHandle is a Handle as the kernel sees it.
type fileHandle struct{ h *Handle }

func (k fileHandle) Read(ctx context.Context, req *bfuse.ReadRequest, resp *bfuse.ReadResponse) error {
	h := k.h
	f := h.f
	b, err := serve(ctx, f, "read", f.pathOf(h.ino), func(ctx context.Context) ([]byte, error) {
		b := make([]byte, req.Size) // its own: an abandoned read may still fill it
		n, err := h.ReadAt(ctx, b, req.Offset)
		return b[:n], err
	}, nil)
	if err != nil {
		return err
	}
	resp.Data = b
	return nil
}

func (k fileHandle) Write(ctx context.Context, req *bfuse.WriteRequest, resp *bfuse.WriteResponse) error {
	h := k.h
	f := h.f
	data := append([]byte(nil), req.Data...) // bazil reuses req.Data once answered; an abandoned write may not be done
	n, err := serve(ctx, f, "write", f.pathOf(h.ino), func(ctx context.Context) (int, error) {
		return h.WriteAt(ctx, data, req.Offset)
	}, nil)
	if err != nil {
		return err
	}
	resp.Size = n
	return nil
}

func (k fileHandle) Flush(ctx context.Context, req *bfuse.FlushRequest) error {
	return serve0(ctx, k.h.f, "flush", k.h.f.pathOf(k.h.ino), k.h.Flush)
}

func (k fileHandle) Release(ctx context.Context, req *bfuse.ReleaseRequest) error {
	return k.h.Release()
}
