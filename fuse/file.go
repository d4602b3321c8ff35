package fuse

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// Handle is an open file. Reads come from the file's local content if it
// has any (it is being written, or its upload has not committed), else
// from the drive, fetching only the chunks a read covers. Writes go to
// the local content, made on the first write (fetching the drive's
// version first unless the file is truncated to zero). Safe for
// concurrent use.
type Handle struct {
	f     *FS
	ino   *inode
	flags int
	ctx   context.Context // the drive file's reads; ends at Release
	end   context.CancelFunc

	mu   sync.Mutex
	r    File   // the drive's file, opened on the first read that needs it
	rver uint64 // inode version r was opened at
	done bool
}

func (h *Handle) readable() bool { return h.flags&syscall.O_ACCMODE != syscall.O_WRONLY }
func (h *Handle) writable() bool { return h.flags&syscall.O_ACCMODE != syscall.O_RDONLY }

// Open opens file p with open(2)'s flags (O_RDONLY, O_WRONLY, O_RDWR,
// O_CREAT, O_EXCL, O_TRUNC, O_APPEND; others are ignored). mode is the
// permission bits of a file it creates, kept in memory. EISDIR to open a
// folder for writing (folders are listed with ReadDir).
func (f *FS) Open(ctx context.Context, p string, flags int, mode os.FileMode) (*Handle, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	return f.open(ctx, p, flags, mode)
}

func (f *FS) open(ctx context.Context, p string, flags int, mode os.FileMode) (*Handle, error) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if f.d == nil && (write || flags&(syscall.O_CREAT|syscall.O_TRUNC) != 0) {
		return nil, syscall.EROFS
	}
	ino, a, err := f.lookup(ctx, p)
	switch {
	case isKind(err, storage.NotExist) && flags&syscall.O_CREAT != 0:
		if ino, err = f.create(ctx, p, mode); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case flags&syscall.O_CREAT != 0 && flags&syscall.O_EXCL != 0:
		return nil, syscall.EEXIST
	case a.IsDir && (write || flags&syscall.O_TRUNC != 0):
		return nil, syscall.EISDIR
	}
	h := &Handle{f: f, ino: ino, flags: flags}
	h.ctx, h.end = context.WithCancel(f.ctx)
	ino.mu.Lock()
	ino.opens++
	ino.mu.Unlock()
	if write && flags&syscall.O_TRUNC != 0 {
		if err := f.truncate(ctx, ino, 0, false); err != nil {
			h.Release()
			return nil, err
		}
	}
	return h, nil
}

// create makes file p, empty and local, to be uploaded when closed.
func (f *FS) create(ctx context.Context, p string, mode os.FileMode) (*inode, error) {
	if err := f.lock(ctx); err != nil {
		return nil, err
	}
	defer f.unlock()
	if ino := f.local(p); ino != nil { // made meanwhile
		return ino, nil
	}
	if p == "/" {
		return nil, syscall.EISDIR
	}
	if err := f.parentDir(ctx, p); err != nil {
		return nil, err
	}
	ino := &inode{f: f, path: p, mode: mode.Perm()}
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.newCache(ino, time.Now()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if old := f.inodes[p]; old != nil {
		f.dropLocked(old)
	}
	f.inodes[p] = ino
	f.mu.Unlock()
	f.changedLocked(ino, false)
	return ino, nil
}

// newCache gives ino an empty local copy. ino.mu is held.
func (f *FS) newCache(ino *inode, mtime time.Time) error {
	name := filepath.Join(f.o.CacheDir, fmt.Sprintf("w%d-%d", os.Getpid(), f.seq.Add(1)))
	file, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return storage.E("cache", storage.IO, err)
	}
	ino.w = &cache{file: file, name: name, mtime: mtime}
	return nil
}

// materialize makes ino's local copy if it has none: the first upto
// bytes of the drive's version (all of it if upto < 0). ino.mu is held.
func (f *FS) materialize(ctx context.Context, ino *inode, upto int64) error {
	if ino.w != nil {
		return nil
	}
	if ino.deleted.Load() {
		return syscall.ENOENT
	}
	p := f.pathOf(ino)
	var src File
	var mtime time.Time
	var n int64
	if upto != 0 {
		r, e, err := f.r.Open(ctx, p)
		if err != nil {
			return err
		}
		src, mtime, n = r, e.Mtime, e.Size
		if upto > 0 && upto < n {
			n = upto
		}
	} else {
		e, err := f.r.Stat(ctx, p)
		if err != nil {
			return err
		}
		mtime = e.Mtime
	}
	if err := f.reserve(ctx, n); err != nil {
		return err
	}
	if err := f.newCache(ino, mtime); err != nil {
		f.free(n)
		return err
	}
	if n > 0 {
		if _, err := io.Copy(ino.w.file, io.NewSectionReader(src, 0, n)); err != nil {
			f.dropCache(ino)
			f.free(n)
			return err
		}
	}
	ino.w.size = n
	return nil
}

// changedLocked records a change of ino's local content (a write,
// truncate or utimes; setMtime for the first two). ino.mu is held.
func (f *FS) changedLocked(ino *inode, setMtime bool) {
	w := ino.w
	w.gen++
	if setMtime {
		w.mtime = time.Now()
	}
	f.mu.Lock()
	if !ino.deleted.Load() && !w.lost {
		f.dirty[ino] = struct{}{}
	}
	ino.mtime = time.Time{}
	f.mu.Unlock()
}

// truncate sets ino's size; enqueue uploads it at once (a truncate(2)
// with no file open).
func (f *FS) truncate(ctx context.Context, ino *inode, size int64, enqueue bool) error {
	if f.d == nil {
		return syscall.EROFS
	}
	if size < 0 {
		return syscall.EINVAL
	}
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.materialize(ctx, ino, size); err != nil {
		return err
	}
	w := ino.w
	if size > w.size {
		if err := f.reserve(ctx, size-w.size); err != nil {
			return err
		}
	} else {
		f.free(w.size - size)
	}
	if err := w.file.Truncate(size); err != nil {
		return storage.E("cache", storage.IO, err)
	}
	w.size = size
	f.changedLocked(ino, true)
	if enqueue && ino.opens == 0 {
		f.enqueue(ino)
	}
	return nil
}

// ReadAt reads up to len(b) bytes at off; fewer only at the end of the
// file. EBADF on a handle not open for reading.
func (h *Handle) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	if !h.readable() {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	ino := h.ino
	ino.mu.Lock()
	if w := ino.w; w != nil {
		defer ino.mu.Unlock()
		if off >= w.size {
			return 0, nil
		}
		if int64(len(b)) > w.size-off {
			b = b[:w.size-off]
		}
		n, err := w.file.ReadAt(b, off)
		if err != nil && err != io.EOF {
			return n, storage.E("cache", storage.IO, err)
		}
		return n, nil
	}
	ver := ino.version
	ino.mu.Unlock()
	r, err := h.reader(ver)
	if err != nil {
		return 0, err
	}
	n, err := r.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// reader returns the drive's file, opened again if an upload of this
// file committed since.
func (h *Handle) reader(ver uint64) (File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.r != nil && h.rver == ver {
		return h.r, nil
	}
	if h.ino.deleted.Load() {
		return nil, syscall.ENOENT
	}
	// The File reads with the handle's ctx, past this request; the
	// request's deadline still bounds what the kernel waits (serve).
	r, _, err := h.f.r.Open(h.ctx, h.f.pathOf(h.ino))
	if err != nil {
		return nil, err
	}
	h.r, h.rver = r, ver
	return r, nil
}

// WriteAt writes b at off (at the end with O_APPEND) into the local
// copy. EBADF on a handle not open for writing; ENOSPC when the cache is
// full and no upload frees space in time.
func (h *Handle) WriteAt(ctx context.Context, b []byte, off int64) (int, error) {
	if !h.writable() {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	f, ino := h.f, h.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.materialize(ctx, ino, -1); err != nil {
		return 0, err
	}
	w := ino.w
	if h.flags&syscall.O_APPEND != 0 {
		off = w.size
	}
	if end := off + int64(len(b)); end > w.size {
		if err := f.reserve(ctx, end-w.size); err != nil {
			return 0, err
		}
		defer func() {
			if w.size < end { // a short write: give back what it did not use
				f.free(end - w.size)
			}
		}()
	}
	n, err := w.file.WriteAt(b, off)
	if end := off + int64(n); end > w.size {
		w.size = end
	}
	if n > 0 {
		f.changedLocked(ino, true)
	}
	if err != nil {
		return n, storage.E("cache", storage.IO, err)
	}
	return n, nil
}

// Truncate sets the file's size (ftruncate).
func (h *Handle) Truncate(ctx context.Context, size int64) error {
	if !h.writable() {
		return syscall.EBADF
	}
	return h.f.truncate(ctx, h.ino, size, false)
}

// Flush queues the file's changes for upload (close(2) of one
// descriptor); it does not wait.
func (h *Handle) Flush(ctx context.Context) error {
	ino := h.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if ino.w != nil && ino.w.dirty() {
		h.f.enqueue(ino)
	}
	return nil
}

// Sync uploads the file's changes and waits until they are committed
// (fsync), as ctx allows: EIO when it ends first (the upload stays
// queued). Sync of a file without changes returns at once.
func (h *Handle) Sync(ctx context.Context) error { return h.f.sync(ctx, h.ino) }

func (f *FS) sync(ctx context.Context, ino *inode) error {
	ino.mu.Lock()
	w := ino.w
	if w == nil || !w.dirty() || ino.deleted.Load() {
		ino.mu.Unlock()
		return nil
	}
	gen := w.gen
	f.enqueue(ino)
	ino.mu.Unlock()
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		ino.mu.Lock()
		ok, lost := ino.w != w || w.done >= gen || ino.deleted.Load(), w.lost
		ino.mu.Unlock()
		switch {
		case lost:
			return syscall.EIO
		case ok:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			f.logf("fuse: fsync %s: not uploaded in time (%v); it stays queued", f.pathOf(ino), ctx.Err())
			return syscall.EIO
		}
	}
}

// Release closes the handle: the file's changes, if any, are queued for
// upload; its local copy is dropped once uploaded and closed everywhere.
func (h *Handle) Release() error {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return nil
	}
	h.done = true
	h.mu.Unlock()
	h.end()
	ino := h.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	ino.opens--
	if ino.w != nil && ino.w.dirty() && !ino.deleted.Load() {
		h.f.enqueue(ino)
	}
	h.f.settle(ino)
	return nil
}

// settle drops ino's local copy if nothing needs it: closed everywhere,
// no upload in flight, and uploaded (or removed). ino.mu is held.
func (f *FS) settle(ino *inode) {
	w := ino.w
	if w == nil || ino.opens > 0 || ino.up != nil {
		return
	}
	if ino.deleted.Load() || !w.dirty() {
		f.mu.Lock()
		delete(f.dirty, ino)
		f.mu.Unlock()
		if !w.lost || ino.deleted.Load() {
			f.dropCache(ino)
			f.free(w.size)
		}
	}
}

// dropCache closes and deletes ino's local copy. ino.mu is held.
func (f *FS) dropCache(ino *inode) {
	if w := ino.w; w != nil {
		w.file.Close()
		os.Remove(w.name)
		ino.w = nil
		f.stale(ino)
	}
}

// reserve takes n bytes of cache space, waiting as ctx allows for
// uploads to free some: ENOSPC when none does.
func (f *FS) reserve(ctx context.Context, n int64) error {
	for {
		f.mu.Lock()
		if n <= 0 || f.used+n <= f.o.CacheMax {
			f.used += n
			f.mu.Unlock()
			return nil
		}
		waiting, ch := len(f.dirty), f.changed
		f.mu.Unlock()
		if waiting == 0 {
			return syscall.ENOSPC
		}
		select {
		case <-ch:
		case <-ctx.Done():
			f.logf("fuse: the cache is full (%d bytes) and uploads did not free space in time", f.o.CacheMax)
			return syscall.ENOSPC
		}
	}
}

// free gives back n bytes of cache space.
func (f *FS) free(n int64) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	f.used -= n
	f.broadcastLocked()
	f.mu.Unlock()
}

func (f *FS) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}
