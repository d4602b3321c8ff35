package fuse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/chunker"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/drive/drivetest"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// small chunking makes many chunks from little data.
var small = chunker.Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

const testK, testM = 4, 2

// env is a real *drive.Drive over in-memory peers whose fragment traffic
// is counted and can be cut (down).
type env struct {
	t    testing.TB
	d    *drive.Drive
	down atomic.Bool
	gets atomic.Int64
	puts atomic.Int64
}

type peer struct {
	*memstore.Store
	e *env
}

func (p peer) Put(ctx context.Context, ref storage.Ref, data []byte) error {
	if p.e.down.Load() {
		return storage.E("put fragment", storage.Unavailable, errors.New("peer down (test)"))
	}
	p.e.puts.Add(1)
	return p.Store.Put(ctx, ref, data)
}

func (p peer) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	if p.e.down.Load() {
		return nil, storage.E("get fragment", storage.Unavailable, errors.New("peer down (test)"))
	}
	p.e.gets.Add(1)
	return p.Store.Get(ctx, ref)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t}
	net := blob.Stores{}
	for i := 0; i < 8; i++ {
		net[storage.PeerID(fmt.Sprintf("peer-%02d", i))] = peer{memstore.New(), e}
	}
	bc, err := blob.New(blob.Config{Network: net, Secret: cryptree.ChunkSecret{1, 2, 3},
		K: testK, M: testM, Extra: -1, Chunking: small})
	if err != nil {
		t.Fatal(err)
	}
	kr := cryptree.KeyringFromRoot([32]byte{9})
	keys, w := kr.RootFolder()
	d, err := drive.Open(context.Background(), drive.Config{
		Tree: drive.TreeConfig{Objects: bc, Records: drivetest.NewRecords(), Cache: memstore.NewKV(),
			Root: w.ID(), RootKeys: keys, RootWriter: &w},
		Journal: memstore.NewKV(), MetaKey: kr.MetadataKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.WaitOpen(ctxT(t, 10*time.Second)); err != nil {
		// WaitOpen does not open; a first call does.
		if _, err := d.Stat(ctxT(t, 10*time.Second), "/"); err != nil {
			t.Fatal(err)
		}
	}
	e.d = d
	return e
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logs collects an FS's log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// newFS returns an FS over r, closed when the test ends.
func newFS(t testing.TB, r Reader, o Options) (*FS, *logs) {
	t.Helper()
	lg := &logs{}
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	if o.Retry == 0 {
		o.Retry = 20 * time.Millisecond
		o.MaxRetry = 100 * time.Millisecond
	}
	o.Logf = lg.logf
	f, err := New(context.Background(), r, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Close(ctx)
	})
	return f, lg
}

// errnoOfT is the errno an error carries (0 for nil), for comparing the
// FS with a local folder.
func errnoOfT(f *FS, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	if f != nil {
		return f.Errno(err)
	}
	return syscall.EIO
}

// canMount reports why a kernel mount cannot be tested here, or "".
func canMount() string {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse"
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return "no fusermount3 (apt-get install fuse3)"
	}
	return ""
}

// mountFS mounts f on a temporary folder, unmounted when the test ends
// (lazily if a test left a file open).
func mountFS(t testing.TB, f *FS) string {
	t.Helper()
	if why := canMount(); why != "" {
		t.Skip(why)
	}
	dir := t.TempDir()
	m, err := f.Mount(dir)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Logf("unmount: %v; unmounting lazily", err)
			exec.Command("fusermount3", "-u", "-z", m.Dir()).Run()
			<-m.Done()
		}
	})
	return m.Dir()
}
