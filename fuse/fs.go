package fuse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

// Options set up an FS. Zero values mean the defaults.
type Options struct {
	// CacheDir holds the local copies of files being written (one file
	// per file with changes not uploaded yet, and a snapshot per upload
	// in flight). Required unless the FS is read-only. It should be on a
	// local disk under the home; nothing in it is encrypted.
	CacheDir string
	// CacheMax bounds the bytes of the copies in CacheDir (default
	// 1 GiB). A write that would pass it waits, as its deadline allows,
	// for uploads to free space, then fails with ENOSPC. The snapshot of
	// an upload in flight may pass it by one file.
	CacheMax int64
	// Timeout is every FUSE request's deadline (default 30 s): past it
	// the request fails with EIO and a log line, and the drive call it
	// made is cancelled.
	Timeout time.Duration
	// ReadOnly refuses every change with EROFS (a link mount). A Reader
	// that is not a Drive is always read-only.
	ReadOnly bool
	// Capacity is the size statfs reports (the quota); 0 means used
	// space plus 1 TiB.
	Capacity int64
	// Retry is the first pause before a failed upload is tried again; it
	// doubles up to MaxRetry (defaults 1 s and 1 min).
	Retry, MaxRetry time.Duration
	// Uploaders is how many uploads run at once (default 2).
	Uploaders int
	// AttrValid is how long the kernel may keep attributes and names
	// (default 1 s). Changes made through the mount are always seen at
	// once; this bounds how late others' changes to shared folders show.
	AttrValid time.Duration
	// Logf receives the notes the kernel cannot carry: what an EIO was,
	// failed uploads and their retries. Nil means none.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.CacheMax <= 0 {
		o.CacheMax = 1 << 30
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = time.Minute
	}
	if o.MaxRetry < o.Retry {
		o.MaxRetry = o.Retry
	}
	if o.Uploaders <= 0 {
		o.Uploaders = 2
	}
	if o.AttrValid <= 0 {
		o.AttrValid = time.Second
	}
}

// FS is the drive as a file system with os semantics, by path: the
// operations the kernel asks for (Mount serves them), callable directly
// too (the tests do). Metadata changes (mkdir, rename, unlink, rmdir) go
// to the drive at once; file content is written back: it lands in a
// local copy under Options.CacheDir and is uploaded with Drive.Put when
// the file is flushed, closed or fsynced, in the background, retried
// with backoff while the network is away. Until an upload has committed,
// the file reads, lists and stats from its local copy.
//
// Errors are syscall.Errno values, or *storage.Error whose Kind Errno
// maps. Safe for concurrent use.
type FS struct {
	r   Reader
	d   Drive // nil: read-only
	o   Options
	ctx context.Context
	end context.CancelFunc
	wg  sync.WaitGroup // uploaders
	ns  chan struct{}  // held (one token) while the namespace changes
	seq atomic.Uint64  // names of cache files

	mu      sync.Mutex        // guards what follows and inode.path, .mode, .mtime, .attr
	inodes  map[string]*inode // by path: the live inodes
	root    *inode
	queue   []*inode            // uploads to run
	dirty   map[*inode]struct{} // changes not uploaded: Pending
	used    int64               // bytes of the copies in CacheDir
	changed chan struct{}       // closed and replaced when an upload ends or space is freed
	kick    chan struct{}       // wakes an uploader
	usage   struct {
		at    time.Time
		files int
		size  int64
	}
}

// inode is a file or folder the FS knows: one the kernel holds, one with
// local content, one with a mode or mtime set.
type inode struct {
	f       *FS
	isDir   bool
	deleted atomic.Bool // unlinked, replaced or forgotten: never uploaded again

	// guarded by FS.mu
	path   string
	mode   os.FileMode // permission bits set by chmod; 0: the default
	mtime  time.Time   // set by utimes, for an inode without local content
	attr   Attr        // last read from the drive, at attrAt
	attrAt time.Time

	mu      sync.Mutex // guards what follows and the local copy's bytes
	w       *cache     // local content, or nil: the drive's
	opens   int
	version uint64  // bumped when an upload committed: handles reopen the drive's file
	up      *upload // in flight, or nil
	hold    int     // stops (rename, unlink) under way: no upload starts
}

// cache is an inode's local content.
type cache struct {
	file      *os.File
	name      string
	size      int64
	mtime     time.Time
	gen, done uint64 // changes made; changes uploaded
	queued    bool   // in the queue, or waiting to be retried
	failures  int    // uploads failed in a row
	lost      bool   // refused for good: kept until closed, never uploaded
}

func (w *cache) dirty() bool { return w.done < w.gen && !w.lost }

type upload struct {
	cancel   context.CancelFunc
	done     chan struct{}
	canceled bool // by a rename or unlink, which queues it again
}

// Attr is what stat shows of a file or folder.
type Attr struct {
	IsDir bool
	Size  int64
	Mode  os.FileMode // permission bits, with os.ModeDir for a folder
	Mtime time.Time
}

// DirEntry is one name in a folder.
type DirEntry struct {
	Name  string
	IsDir bool
}

// New returns the FS over r, writable if r is a Drive and o.ReadOnly is
// not set. Its uploaders run until ctx ends or Close. Errors:
// storage.Invalid without a CacheDir for a writable FS, storage.IO if
// CacheDir cannot be made.
func New(ctx context.Context, r Reader, o Options) (*FS, error) {
	o.defaults()
	f := &FS{r: r, o: o, ns: make(chan struct{}, 1), inodes: map[string]*inode{},
		dirty: map[*inode]struct{}{}, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
	if d, ok := r.(Drive); ok && !o.ReadOnly {
		f.d = d
		if o.CacheDir == "" {
			return nil, storage.E("mount", storage.Invalid, errors.New("a writable mount needs a cache folder"))
		}
		abs, err := filepath.Abs(o.CacheDir)
		if err != nil {
			return nil, storage.E("mount", storage.Invalid, err)
		}
		f.o.CacheDir = abs
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, storage.E("mount", storage.IO, err)
		}
	}
	f.root = &inode{f: f, isDir: true, path: "/"}
	f.inodes["/"] = f.root
	f.ctx, f.end = context.WithCancel(ctx)
	if f.d != nil {
		for i := 0; i < o.Uploaders; i++ {
			f.wg.Add(1)
			go f.uploader()
		}
	}
	return f, nil
}

// ReadOnly reports whether every change is refused with EROFS.
func (f *FS) ReadOnly() bool { return f.d == nil }

// Pending returns how many files have changes not uploaded yet (queued,
// uploading, or waiting to be retried): the daemon's pending_uploads.
func (f *FS) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dirty)
}

// Drain waits until nothing is pending, or ctx ends (storage.Canceled).
func (f *FS) Drain(ctx context.Context) error {
	for {
		f.mu.Lock()
		n, ch := len(f.dirty), f.changed
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return storage.E("drain uploads", storage.Canceled, fmt.Errorf("%d files still to upload: %w", n, ctx.Err()))
		}
	}
}

// Close waits for pending uploads as ctx allows (Drain), then stops the
// uploaders. What is still pending stays in CacheDir. Unmount first.
func (f *FS) Close(ctx context.Context) error {
	err := f.Drain(ctx)
	f.end()
	f.wg.Wait()
	return err
}

func (f *FS) logf(format string, args ...any) {
	if f.o.Logf != nil {
		f.o.Logf(format, args...)
	}
}

// Errno maps an error of the FS (or of the drive) to the errno the
// kernel gets, through the one table (errno.go).
func (f *FS) Errno(err error) syscall.Errno {
	e, _ := errnoOf(err, f.ReadOnly())
	return e
}

// lock takes the namespace lock as ctx allows.
func (f *FS) lock(ctx context.Context) error {
	select {
	case f.ns <- struct{}{}:
		return nil
	case <-ctx.Done():
		return storage.E("wait for another change", storage.Canceled, ctx.Err())
	}
}

func (f *FS) unlock() { <-f.ns }

// clean checks a path given to the FS: absolute, each name at most
// MaxName bytes (ENAMETOOLONG) and valid in the drive (EINVAL).
func clean(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", syscall.EINVAL
	}
	c := path.Clean(p)
	if c == "/" {
		return c, nil
	}
	for _, n := range strings.Split(c[1:], "/") {
		if len(n) > drive.MaxName {
			return "", syscall.ENAMETOOLONG
		}
		if cryptree.ValidName(n) != nil {
			return "", syscall.EINVAL
		}
	}
	if len(c) > drive.MaxPath {
		return "", syscall.ENAMETOOLONG
	}
	return c, nil
}

func isKind(err error, k storage.Kind) bool { return err != nil && errors.Is(err, k) }

// pathOf returns ino's current path.
func (f *FS) pathOf(ino *inode) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ino.path
}

// local returns the inode at p if it has local content.
func (f *FS) local(p string) *inode {
	f.mu.Lock()
	ino := f.inodes[p]
	f.mu.Unlock()
	if ino == nil || ino.isDir {
		return nil
	}
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if ino.w == nil {
		return nil
	}
	return ino
}

// lookup returns the inode at clean path p and its attributes: from its
// local content if it has any, else from the drive.
func (f *FS) lookup(ctx context.Context, p string) (*inode, Attr, error) {
	if ino := f.local(p); ino != nil {
		a, err := f.attr(ctx, ino)
		return ino, a, err
	}
	e, err := f.r.Stat(ctx, p)
	if err != nil {
		if isKind(err, storage.NotExist) {
			if f.throughFile(ctx, p) {
				return nil, Attr{}, syscall.ENOTDIR
			}
			f.mu.Lock()
			if ino := f.inodes[p]; ino != nil && ino != f.root {
				f.dropLocked(ino)
			}
			f.mu.Unlock()
		}
		return nil, Attr{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ino := f.inodes[p]
	if ino == nil || ino.isDir != e.IsDir {
		if ino != nil {
			f.dropLocked(ino)
		}
		ino = &inode{f: f, isDir: e.IsDir, path: p}
		f.inodes[p] = ino
	}
	ino.attr, ino.attrAt = attrOf(e), time.Now()
	return ino, f.withMode(ino, ino.attr), nil
}

// throughFile reports whether a path the drive does not have goes
// through a file (POSIX says ENOTDIR, the drive NotExist).
func (f *FS) throughFile(ctx context.Context, p string) bool {
	for q := path.Dir(p); q != "/"; q = path.Dir(q) {
		if f.local(q) != nil {
			return true
		}
		e, err := f.r.Stat(ctx, q)
		if err == nil {
			return !e.IsDir
		}
		if !isKind(err, storage.NotExist) {
			return false
		}
	}
	return false
}

// dropLocked forgets ino: it is no longer at its path. f.mu is held.
func (f *FS) dropLocked(ino *inode) {
	if f.inodes[ino.path] == ino {
		delete(f.inodes, ino.path)
	}
	ino.deleted.Store(true)
	delete(f.dirty, ino)
}

func attrOf(e drive.Entry) Attr {
	return Attr{IsDir: e.IsDir, Size: e.Size, Mtime: e.Mtime}
}

// withMode fills in ino's mode and mtime overrides. f.mu is held.
func (f *FS) withMode(ino *inode, a Attr) Attr {
	a.IsDir = ino.isDir
	a.Mode = ino.mode
	if a.Mode == 0 {
		a.Mode = 0o644
		if ino.isDir {
			a.Mode = 0o755
		}
	}
	if ino.isDir {
		a.Mode |= os.ModeDir
	}
	if !ino.mtime.IsZero() {
		a.Mtime = ino.mtime
	}
	return a
}

// attr returns ino's attributes: its local content's, or the drive's
// (reusing what a lookup read within the last 200 ms).
func (f *FS) attr(ctx context.Context, ino *inode) (Attr, error) {
	ino.mu.Lock()
	if w := ino.w; w != nil {
		a := Attr{Size: w.size, Mtime: w.mtime}
		ino.mu.Unlock()
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.withMode(ino, a), nil
	}
	ino.mu.Unlock()
	f.mu.Lock()
	p, a, fresh := ino.path, ino.attr, time.Since(ino.attrAt) < 200*time.Millisecond
	f.mu.Unlock()
	if !fresh {
		if ino.deleted.Load() {
			return Attr{}, syscall.ENOENT
		}
		e, err := f.r.Stat(ctx, p)
		if err != nil {
			return Attr{}, err
		}
		a = attrOf(e)
		f.mu.Lock()
		if ino.path == p {
			ino.attr, ino.attrAt = a, time.Now()
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.withMode(ino, a), nil
}

// stale forgets what a lookup read of ino.
func (f *FS) stale(ino *inode) {
	f.mu.Lock()
	ino.attrAt = time.Time{}
	f.mu.Unlock()
}

// Stat returns the attributes of p.
func (f *FS) Stat(ctx context.Context, p string) (Attr, error) {
	p, err := clean(p)
	if err != nil {
		return Attr{}, err
	}
	_, a, err := f.lookup(ctx, p)
	return a, err
}

// ReadDir lists folder p: the drive's entries and the files made here
// and not uploaded yet, sorted by name.
func (f *FS) ReadDir(ctx context.Context, p string) ([]DirEntry, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	return f.readDir(ctx, p)
}

func (f *FS) readDir(ctx context.Context, p string) ([]DirEntry, error) {
	if f.local(p) != nil {
		return nil, syscall.ENOTDIR
	}
	// The local copies first, the drive's listing second: an upload that
	// commits in between drops its local copy only after the drive has
	// the file, so it is in one list or the other, never in neither.
	local := f.children(p)
	es, err := f.r.List(ctx, p)
	if isKind(err, storage.NotExist) && f.throughFile(ctx, p) {
		return nil, syscall.ENOTDIR
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []DirEntry
	for _, e := range es {
		n := e.Name()
		seen[n] = true
		out = append(out, DirEntry{Name: n, IsDir: e.IsDir})
	}
	for _, ino := range local {
		n := path.Base(f.pathOf(ino))
		if !seen[n] {
			out = append(out, DirEntry{Name: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// children returns the inodes directly in folder p with local content.
func (f *FS) children(p string) []*inode {
	f.mu.Lock()
	var cand []*inode
	for q, ino := range f.inodes {
		if !ino.isDir && q != "/" && path.Dir(q) == p {
			cand = append(cand, ino)
		}
	}
	f.mu.Unlock()
	var out []*inode
	for _, ino := range cand {
		ino.mu.Lock()
		if ino.w != nil {
			out = append(out, ino)
		}
		ino.mu.Unlock()
	}
	return out
}

// below returns the inodes at p and below it.
func (f *FS) below(p string) []*inode {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*inode
	for q, ino := range f.inodes {
		if q == p || strings.HasPrefix(q, p+"/") || p == "/" {
			out = append(out, ino)
		}
	}
	return out
}

// parentDir checks that the parent of p is a folder (ENOENT, ENOTDIR).
func (f *FS) parentDir(ctx context.Context, p string) error {
	_, a, err := f.lookup(ctx, path.Dir(p))
	if err != nil {
		return err
	}
	if !a.IsDir {
		return syscall.ENOTDIR
	}
	return nil
}

// Mkdir makes folder p; mode is kept in memory.
func (f *FS) Mkdir(ctx context.Context, p string, mode os.FileMode) error {
	_, err := f.mkdir(ctx, p, mode)
	return err
}

func (f *FS) mkdir(ctx context.Context, p string, mode os.FileMode) (*inode, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	if f.d == nil {
		return nil, syscall.EROFS
	}
	if err := f.lock(ctx); err != nil {
		return nil, err
	}
	defer f.unlock()
	if p == "/" || f.local(p) != nil {
		return nil, syscall.EEXIST
	}
	if f.local(path.Dir(p)) != nil {
		return nil, syscall.ENOTDIR
	}
	if err := f.d.Mkdir(ctx, p, false); err != nil {
		if isKind(err, storage.NotExist) && f.throughFile(ctx, p) {
			return nil, syscall.ENOTDIR
		}
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.inodes[p]; old != nil {
		f.dropLocked(old)
	}
	ino := &inode{f: f, isDir: true, path: p, mode: mode.Perm()}
	f.inodes[p] = ino
	return ino, nil
}

// Unlink removes file p (into the drive's trash). EISDIR for a folder.
func (f *FS) Unlink(ctx context.Context, p string) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	if f.d == nil {
		return syscall.EROFS
	}
	if err := f.lock(ctx); err != nil {
		return err
	}
	defer f.unlock()
	ino, a, err := f.lookup(ctx, p)
	if err != nil {
		return err
	}
	if a.IsDir {
		return syscall.EISDIR
	}
	return f.removeFile(ctx, ino, p)
}

// removeFile removes file ino at p: stops its upload, removes it from
// the drive (it may never have reached it) and forgets its local
// content once no handle has it open. The namespace lock is held.
func (f *FS) removeFile(ctx context.Context, ino *inode, p string) error {
	if err := f.stop(ctx, ino); err != nil {
		return err
	}
	ino.mu.Lock()
	if ino.opens > 0 { // an open file stays readable and writable: keep a copy
		if err := f.materialize(ctx, ino, -1); err != nil {
			ino.mu.Unlock()
			return err
		}
	}
	hasLocal := ino.w != nil
	ino.mu.Unlock()
	if _, err := f.d.Remove(ctx, p, false); err != nil && !(hasLocal && isKind(err, storage.NotExist)) {
		f.requeue(ino)
		return err
	}
	f.mu.Lock()
	f.dropLocked(ino)
	f.mu.Unlock()
	ino.mu.Lock()
	f.settle(ino)
	ino.mu.Unlock()
	return nil
}

// Rmdir removes empty folder p. ENOTDIR for a file, ENOTEMPTY if it has
// children, EBUSY for the root.
func (f *FS) Rmdir(ctx context.Context, p string) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	if f.d == nil {
		return syscall.EROFS
	}
	if p == "/" {
		return syscall.EBUSY
	}
	if err := f.lock(ctx); err != nil {
		return err
	}
	defer f.unlock()
	ino, a, err := f.lookup(ctx, p)
	if err != nil {
		return err
	}
	if !a.IsDir {
		return syscall.ENOTDIR
	}
	return f.removeDir(ctx, ino, p)
}

// removeDir removes folder ino at p if it is empty (ENOTEMPTY if not),
// from the drive and from the inodes. The namespace lock is held.
func (f *FS) removeDir(ctx context.Context, ino *inode, p string) error {
	if es, err := f.readDir(ctx, p); err != nil {
		return err
	} else if len(es) > 0 {
		return syscall.ENOTEMPTY
	}
	if _, err := f.d.Remove(ctx, p, false); err != nil {
		return err
	}
	f.mu.Lock()
	f.dropLocked(ino)
	f.mu.Unlock()
	return nil
}

// Rename moves src to dst as rename(2) does: over an existing file, or
// over an empty folder (not atomically: the one there is removed into the
// trash first). EINVAL to move a folder into itself; ENOTDIR, EISDIR,
// ENOTEMPTY when the kinds do not fit.
func (f *FS) Rename(ctx context.Context, src, dst string) error {
	src, err := clean(src)
	if err != nil {
		return err
	}
	if dst, err = clean(dst); err != nil {
		return err
	}
	if f.d == nil {
		return syscall.EROFS
	}
	if src == "/" || dst == "/" {
		return syscall.EBUSY
	}
	if err := f.lock(ctx); err != nil {
		return err
	}
	defer f.unlock()
	// In the order Linux checks: both parents, then the source.
	if err := f.parentDir(ctx, src); err != nil {
		return err
	}
	if err := f.parentDir(ctx, dst); err != nil {
		return err
	}
	sino, sa, err := f.lookup(ctx, src)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(dst, src+"/"):
		return syscall.EINVAL
	case strings.HasPrefix(src, dst+"/"):
		return syscall.ENOTEMPTY // onto its own ancestor, as Linux says
	}
	dino, da, err := f.lookup(ctx, dst)
	switch {
	case isKind(err, storage.NotExist):
		dino = nil
	case err != nil:
		return err
	case dino == sino || src == dst:
		return nil
	case sa.IsDir && !da.IsDir:
		return syscall.ENOTDIR
	case !sa.IsDir && da.IsDir:
		return syscall.EISDIR
	}
	moved := f.below(src)
	for i, ino := range moved {
		if err := f.stop(ctx, ino); err != nil {
			f.requeueAll(moved[:i+1])
			return err
		}
	}
	defer f.requeueAll(moved)
	if dino != nil {
		if da.IsDir {
			if err := f.removeDir(ctx, dino, dst); err != nil {
				return err
			}
		} else if err := f.removeFile(ctx, dino, dst); err != nil {
			return err
		}
	}
	sino.mu.Lock()
	hasLocal := sino.w != nil
	sino.mu.Unlock()
	if err := f.d.Rename(ctx, src, dst); err != nil && !(hasLocal && isKind(err, storage.NotExist)) {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ino := range moved {
		if ino.deleted.Load() || f.inodes[ino.path] != ino {
			continue
		}
		delete(f.inodes, ino.path)
		ino.path = dst + strings.TrimPrefix(ino.path, src)
		ino.attrAt = time.Time{}
		if old := f.inodes[ino.path]; old != nil && old != ino {
			f.dropLocked(old)
		}
		f.inodes[ino.path] = ino
	}
	return nil
}

// SetAttr says which attributes Setattr changes (nil: unchanged).
type SetAttr struct {
	Size     *int64
	Mode     *os.FileMode
	Mtime    *time.Time
	Uid, Gid *uint32
}

// Setattr changes p's attributes: the size (truncate, written back like
// a write), the permission bits and mtime (kept in memory, but a file's
// mtime is uploaded with its content when it has changes). Changing the
// owner to anyone but the mounting user is EPERM. It returns the new
// attributes.
func (f *FS) Setattr(ctx context.Context, p string, s SetAttr) (Attr, error) {
	p, err := clean(p)
	if err != nil {
		return Attr{}, err
	}
	ino, _, err := f.lookup(ctx, p)
	if err != nil {
		return Attr{}, err
	}
	return f.setattr(ctx, ino, s)
}

func (f *FS) setattr(ctx context.Context, ino *inode, s SetAttr) (Attr, error) {
	if f.d == nil && (s.Size != nil || s.Mode != nil || s.Mtime != nil) {
		return Attr{}, syscall.EROFS
	}
	if (s.Uid != nil && *s.Uid != uint32(os.Getuid())) || (s.Gid != nil && *s.Gid != uint32(os.Getgid())) {
		return Attr{}, syscall.EPERM
	}
	if s.Size != nil {
		if ino.isDir {
			return Attr{}, syscall.EISDIR
		}
		if err := f.truncate(ctx, ino, *s.Size, true); err != nil {
			return Attr{}, err
		}
	}
	if s.Mode != nil {
		f.mu.Lock()
		ino.mode = s.Mode.Perm()
		f.mu.Unlock()
	}
	if s.Mtime != nil {
		ino.mu.Lock()
		if w := ino.w; w != nil {
			w.mtime = *s.Mtime
			f.changedLocked(ino, false)
			if ino.opens == 0 {
				f.enqueue(ino)
			}
		} else {
			f.mu.Lock()
			ino.mtime = *s.Mtime
			f.mu.Unlock()
		}
		ino.mu.Unlock()
	}
	return f.attr(ctx, ino)
}

// forget drops ino from the table once the kernel forgot it, unless it
// has local content or a mode or mtime set (kept in memory only here).
func (f *FS) forget(ino *inode) {
	if ino == f.root {
		return
	}
	ino.mu.Lock()
	busy := ino.w != nil || ino.opens > 0
	ino.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if busy || ino.mode != 0 || !ino.mtime.IsZero() {
		return
	}
	if f.inodes[ino.path] == ino {
		delete(f.inodes, ino.path)
	}
}

// Statfs is what statfs(2) shows.
type Statfs struct {
	Capacity, Used int64 // bytes
	Files          int
}

// Statfs returns the drive's usage (read at most every 10 s) against
// Options.Capacity.
func (f *FS) Statfs(ctx context.Context) (Statfs, error) {
	f.mu.Lock()
	u := f.usage
	f.mu.Unlock()
	if f.d != nil && time.Since(u.at) > 10*time.Second {
		files, size, _, err := f.d.Usage(ctx)
		if err != nil {
			return Statfs{}, err
		}
		u.at, u.files, u.size = time.Now(), files, size
		f.mu.Lock()
		f.usage = u
		f.mu.Unlock()
	}
	s := Statfs{Capacity: f.o.Capacity, Used: u.size, Files: u.files}
	if s.Capacity <= 0 {
		s.Capacity = s.Used + 1<<40
	}
	return s, nil
}
