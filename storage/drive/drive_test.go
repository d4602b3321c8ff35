package drive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/chunker"
	"github.com/cairn-storage/cairn/storage/drive/drivetest"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// small chunking makes many chunks from little data.
var small = chunker.Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

// Test code: 4 data + 2 parity fragments, no spares, so every chunk sent
// costs exactly 6 fragment puts.
const testK, testM = 4, 2

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// countStore counts fragment puts; while down is set it refuses them.
type countStore struct {
	*memstore.Store
	e *env
}

func (c countStore) Put(ctx context.Context, ref storage.Ref, data []byte) error {
	if c.e.down.Load() {
		return storage.E("put fragment", storage.Unavailable, nil)
	}
	c.e.puts.Add(1)
	c.e.mu.Lock()
	c.e.sent[ref]++
	c.e.mu.Unlock()
	return c.Store.Put(ctx, ref, data)
}

// reset forgets what was sent so far.
func (e *env) reset() {
	e.mu.Lock()
	e.sent = map[storage.Ref]int{}
	e.mu.Unlock()
	e.puts.Store(0)
}

// checkSentOnly checks that of m's chunks exactly those from index from on
// were sent since the last reset. (Fragments of an interrupted upload
// still in flight when it "crashed" may land late, so this looks at which
// chunks were sent, not at how many puts there were.)
func (e *env) checkSentOnly(t *testing.T, m *blob.Manifest, from int) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, c := range m.Chunks {
		n := 0
		for _, f := range c.Frags {
			if e.sent[f.Ref] > 0 {
				n++
			}
		}
		if i < from && n != 0 {
			t.Errorf("chunk %d (journaled) was sent again: %d fragments", i, n)
		}
		if i >= from && n != len(c.Frags) {
			t.Errorf("chunk %d: %d of %d fragments sent", i, n, len(c.Frags))
		}
	}
}

// chunkPuts returns how many fragment puts since the last reset were of
// m's chunks (not of the folder bodies and manifests the Tree stores as
// small objects).
func (e *env) chunkPuts(m *blob.Manifest) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range m.Chunks {
		for _, f := range c.Frags {
			n += e.sent[f.Ref]
		}
	}
	return n
}

type env struct {
	t    testing.TB
	net  blob.Stores
	puts atomic.Int64
	down atomic.Bool // every peer refuses puts
	mu   sync.Mutex
	sent map[storage.Ref]int // puts per fragment since the last reset
	bc   *blob.Client
	recs *drivetest.Records // the network's folder records
	kr   *cryptree.Keyring
	ns   storage.KV // the Tree's cache
	jkv  storage.KV // journal KV (the real one, under any crash wrapper)
	dir  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, net: blob.Stores{}, recs: drivetest.NewRecords(), kr: cryptree.KeyringFromRoot([32]byte{9}),
		ns: memstore.NewKV(), jkv: memstore.NewKV(), dir: t.TempDir(), sent: map[storage.Ref]int{}}
	for i := 0; i < 16; i++ {
		e.net[storage.PeerID(fmt.Sprintf("peer-%02d", i))] = countStore{memstore.New(), e}
	}
	bc, err := blob.New(blob.Config{Network: e.net, Secret: cryptree.ChunkSecret{1, 2, 3},
		K: testK, M: testM, Extra: -1, Chunking: small})
	if err != nil {
		t.Fatal(err)
	}
	e.bc = bc
	return e
}

// drive opens the env's Drive afresh (a restarted daemon: a new Tree over
// the same cache and records), with the journal in jkv (nil: the env's
// own). It is closed when the test ends.
func (e *env) drive(jkv storage.KV) *Drive {
	if jkv == nil {
		jkv = e.jkv
	}
	keys, w := e.kr.RootFolder()
	d, err := Open(context.Background(), Config{
		Tree: TreeConfig{Objects: e.bc, Records: e.recs, Cache: e.ns,
			Root: w.ID(), RootKeys: keys, RootWriter: &w},
		Journal: jkv, MetaKey: e.kr.MetadataKey(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(d.Close)
	return d
}

func (e *env) file(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readBack(t testing.TB, d *Drive, p string, want []byte) {
	t.Helper()
	r, e, err := d.Open(context.Background(), p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	if e.Size != int64(len(want)) {
		t.Fatalf("%s: size %d, want %d", p, e.Size, len(want))
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("%s: content differs", p)
	}
}

func TestPutOpen(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.drive(nil)
	for _, n := range []int{0, 100, 300 << 10} {
		data := randBytes(uint64(n), n)
		p := fmt.Sprintf("/files/f%d", n)
		mt := time.Unix(1700000000+int64(n), 0)
		ent, err := d.Put(ctx, p, bytes.NewReader(data), PutOptions{Mtime: mt})
		if err != nil {
			t.Fatalf("put %d: %v", n, err)
		}
		if ent.Path != p || ent.Size != int64(n) || !ent.Mtime.Equal(mt) {
			t.Fatalf("entry %+v", ent)
		}
		readBack(t, d, p, data)
	}
	// Replace a file.
	data := randBytes(9, 50<<10)
	if _, err := d.Put(ctx, "/files/f100", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	readBack(t, d, "/files/f100", data)

	_, err := d.Put(ctx, "/files", bytes.NewReader(data), PutOptions{})
	checkKind(t, "put over a folder", err, storage.IsDir)
	_, err = d.Put(ctx, "/files/f0/x", bytes.NewReader(data), PutOptions{})
	checkKind(t, "put below a file", err, storage.NotDir)
	_, err = d.Put(ctx, "/", bytes.NewReader(data), PutOptions{})
	checkKind(t, "put to root", err, storage.Invalid)
	_, err = d.Put(ctx, "/y", bytes.NewReader(data), PutOptions{Source: "relative"})
	checkKind(t, "relative source", err, storage.Invalid)
	_, _, err = d.Open(ctx, "/files")
	checkKind(t, "open a folder", err, storage.IsDir)
	_, _, err = d.Open(ctx, "/nope")
	checkKind(t, "open missing", err, storage.NotExist)
	if ps, err := d.Pending(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("pending after puts: %+v, %v", ps, err)
	}
	// Delegates.
	if err := d.Mkdir(ctx, "/m", false); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(ctx, "/files", "/m/files"); err != nil {
		t.Fatal(err)
	}
	readBack(t, d, "/m/files/f100", data)
	if ls, err := d.List(ctx, "/m/files"); err != nil || names(ls) != "f0 f100 f307200" {
		t.Fatalf("list: %q %v", names(ls), err)
	}
	if rm, err := d.Remove(ctx, "/m", true); err != nil || len(rm) != 3 {
		t.Fatalf("remove: %d, %v", len(rm), err)
	}
}

func TestReputReuses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.drive(nil)
	data := randBytes(1, 1<<20)
	ent, err := d.Put(ctx, "/big", bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chunks := len(ent.Manifest.Chunks)
	if got := e.chunkPuts(ent.Manifest); got != chunks*(testK+testM) {
		t.Fatalf("first put: %d fragment puts for %d chunks", got, chunks)
	}
	// Edit a few bytes in the middle and insert some.
	edited := append([]byte(nil), data[:500<<10]...)
	edited = append(edited, []byte("an edit")...)
	edited = append(edited, data[500<<10+3:]...)
	e.reset()
	ent2, err := d.Put(ctx, "/big", bytes.NewReader(edited), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sent := e.chunkPuts(ent2.Manifest) / (testK + testM)
	t.Logf("%d chunks; re-put of an edited file sent %d", len(ent2.Manifest.Chunks), sent)
	if sent < 1 || sent > 3 {
		t.Fatalf("re-put sent %d chunks, want 1..3", sent)
	}
	readBack(t, d, "/big", edited)
}

// crashKV stands in for a process that dies: once die says so, no write
// reaches the KV below any more.
type crashKV struct {
	storage.KV
	die  func(op string, key []byte) bool
	dead atomic.Bool
}

var errCrashed = storage.E("kv", storage.IO, errors.New("crashed"))

func (c *crashKV) write(op string, key []byte) error {
	if c.dead.Load() || c.die(op, key) {
		c.dead.Store(true)
		return errCrashed
	}
	return nil
}

func (c *crashKV) Set(ctx context.Context, k, v []byte) error {
	if err := c.write("set", k); err != nil {
		return err
	}
	return c.KV.Set(ctx, k, v)
}

func (c *crashKV) Delete(ctx context.Context, k []byte) error {
	if err := c.write("delete", k); err != nil {
		return err
	}
	return c.KV.Delete(ctx, k)
}

// afterChunks dies when the journal is about to record chunk n+1.
func afterChunks(n int) func(string, []byte) bool {
	var seen int
	var mu sync.Mutex
	return func(op string, k []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if op == "set" && bytes.Contains(k, []byte("/c/")) {
			seen++
			return seen > n
		}
		return false
	}
}

// crashPut runs a Put that "crashes" after n chunks were journaled.
func crashPut(t *testing.T, e *env, p string, data []byte, source string, n int) {
	t.Helper()
	ck := &crashKV{KV: e.jkv, die: afterChunks(n)}
	_, err := e.drive(ck).Put(context.Background(), p, bytes.NewReader(data), PutOptions{Source: source})
	if err == nil {
		t.Fatal("put survived its crash")
	}
	if _, err := e.drive(nil).Stat(context.Background(), p); !errors.Is(err, storage.NotExist) {
		t.Fatalf("after the crash %s is visible: %v", p, err)
	}
}

func TestCrashResume(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := randBytes(2, 400<<10)
	src := e.file(t, "src", data)
	const landed = 10
	crashPut(t, e, "/docs/report.bin", data, src, landed)

	d := e.drive(nil) // the restarted daemon
	ps, err := d.Pending(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("pending: %+v, %v", ps, err)
	}
	if u := ps[0]; u.Path != "/docs/report.bin" || u.Source != src || u.Chunks != landed || u.Running || u.Bytes <= 0 {
		t.Fatalf("pending upload %+v", u)
	}
	e.reset()
	var log []string
	resumed, dropped, err := d.Resume(ctx, func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) })
	if err != nil || resumed != 1 || dropped != 0 {
		t.Fatalf("resume: %d resumed, %d dropped, %v", resumed, dropped, err)
	}
	t.Logf("log: %q", log)
	ent, err := d.Stat(ctx, "/docs/report.bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d chunks, %d journaled before the crash; resume made %d fragment puts", len(ent.Manifest.Chunks), landed, e.puts.Load())
	e.checkSentOnly(t, ent.Manifest, landed)
	readBack(t, d, "/docs/report.bin", data)
	if ps, _ := d.Pending(ctx); len(ps) != 0 {
		t.Fatalf("pending after resume: %+v", ps)
	}
	// Nothing of the journal is left in its KV.
	n := 0
	_ = e.jkv.Scan(ctx, nil, func(k, v []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d journal records left", n)
	}
}

func TestResumeDrops(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		after func(t *testing.T, src string)
		noSrc bool
	}{
		{"source gone", func(t *testing.T, src string) { os.Remove(src) }, false},
		{"source changed", func(t *testing.T, src string) {
			if err := os.WriteFile(src, []byte("new content"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"no source", func(*testing.T, string) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			data := randBytes(3, 100<<10)
			src := e.file(t, "src", data)
			source := src
			if tc.noSrc {
				source = ""
			}
			crashPut(t, e, "/x/y", data, source, 3)
			tc.after(t, src)
			d := e.drive(nil)
			resumed, dropped, err := d.Resume(ctx, t.Logf)
			if err != nil || resumed != 0 || dropped != 1 {
				t.Fatalf("resume: %d resumed, %d dropped, %v", resumed, dropped, err)
			}
			if _, err := d.Stat(ctx, "/x/y"); !errors.Is(err, storage.NotExist) {
				t.Fatalf("dropped upload visible: %v", err)
			}
			if ps, _ := d.Pending(ctx); len(ps) != 0 {
				t.Fatalf("pending: %+v", ps)
			}
		})
	}
}

// A crash between the commit and the journal's deletion: Resume finds
// the file there and only clears the journal.
func TestResumeAlreadyCommitted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := randBytes(4, 100<<10)
	src := e.file(t, "src", data)
	ck := &crashKV{KV: e.jkv, die: func(op string, k []byte) bool { return op == "delete" }}
	if _, err := e.drive(ck).Put(ctx, "/done", bytes.NewReader(data), PutOptions{Source: src}); err != nil {
		t.Fatal(err)
	}
	d := e.drive(nil)
	if ps, _ := d.Pending(ctx); len(ps) != 1 {
		t.Fatalf("pending: %+v", ps)
	}
	e.puts.Store(0)
	resumed, dropped, err := d.Resume(ctx, t.Logf)
	if err != nil || resumed != 1 || dropped != 0 || e.puts.Load() != 0 {
		t.Fatalf("resume: %d resumed, %d dropped, %d fragments sent, %v", resumed, dropped, e.puts.Load(), err)
	}
	readBack(t, d, "/done", data)
}

// A new Put of a path with an interrupted upload reuses its chunks and
// clears it.
func TestPutSupersedesInterrupted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := randBytes(5, 200<<10)
	const landed = 8
	crashPut(t, e, "/p", data, "", landed)
	d := e.drive(nil)
	// Another path first: the journal is scanned for leftovers once, at
	// the first Put; the later Put of /p must still find its leftover.
	if _, err := d.Put(ctx, "/other", bytes.NewReader(randBytes(9, 1<<10)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	e.reset()
	ent, err := d.Put(ctx, "/p", bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.checkSentOnly(t, ent.Manifest, landed)
	if ps, _ := d.Pending(ctx); len(ps) != 0 {
		t.Fatalf("pending: %+v", ps)
	}
	readBack(t, d, "/p", data)
}

// A failed Put (the caller sees the error) leaves no journal and no file.
func TestPutFailureClearsJournal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.down.Store(true)
	d := e.drive(nil)
	_, err := d.Put(ctx, "/f", bytes.NewReader(randBytes(6, 100<<10)), PutOptions{})
	checkKind(t, "put to a dead network", err, storage.Unavailable)
	if ps, _ := d.Pending(ctx); len(ps) != 0 {
		t.Fatalf("pending: %+v", ps)
	}
	if _, err := d.Stat(ctx, "/f"); !errors.Is(err, storage.NotExist) {
		t.Fatalf("failed file visible: %v", err)
	}
	// Resume keeps an upload whose network is down, and says so.
	e2 := newEnv(t)
	data := randBytes(7, 100<<10)
	src := e2.file(t, "src", data)
	crashPut(t, e2, "/g", data, src, 2)
	e2.down.Store(true)
	resumed, dropped, err := e2.drive(nil).Resume(ctx, t.Logf)
	if !errors.Is(err, storage.Unavailable) || resumed != 0 || dropped != 0 {
		t.Fatalf("resume on a dead network: %d, %d, %v", resumed, dropped, err)
	}
	if ps, _ := e2.drive(nil).Pending(ctx); len(ps) != 1 {
		t.Fatalf("pending: %+v", ps)
	}
}

// Listing while a Put runs shows the file either not at all or whole, and
// Pending shows the upload as running meanwhile.
func TestConcurrentPutList(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.drive(nil)
	data := randBytes(8, 1<<20)
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Put(ctx, fmt.Sprintf("/c/big%d", i), bytes.NewReader(data), PutOptions{})
			errc <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	sawRunning := false
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		default:
		}
		ls, err := d.List(ctx, "/c")
		if err != nil && !errors.Is(err, storage.NotExist) {
			t.Fatal(err)
		}
		for _, en := range ls {
			if en.Size != int64(len(data)) {
				t.Fatalf("%s visible with %d bytes", en.Path, en.Size)
			}
		}
		ps, err := d.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ps {
			if !u.Running || !strings.HasPrefix(u.Path, "/c/big") {
				t.Fatalf("pending %+v", u)
			}
			sawRunning = true
		}
	}
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !sawRunning {
		t.Log("never saw a running upload in Pending")
	}
	for i := 0; i < 3; i++ {
		readBack(t, d, fmt.Sprintf("/c/big%d", i), data)
	}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.drive(nil)
	var wantSize, wantStored int64
	for i, n := range []int{10, 200 << 10, 64 << 10} {
		ent, err := d.Put(ctx, fmt.Sprintf("/u/%d/f", i), bytes.NewReader(randBytes(uint64(i), n)), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantSize += int64(n)
		wantStored += ent.Manifest.StoredBytes()
	}
	files, size, stored, err := d.Usage(ctx)
	if err != nil || files != 3 || size != wantSize || stored != wantStored {
		t.Fatalf("usage: %d files, %d bytes, %d stored, %v; want 3, %d, %d", files, size, stored, err, wantSize, wantStored)
	}
	if r := float64(stored) / float64(size); r < 1.5 || r > 1.6 {
		t.Fatalf("stored/size = %.3f, want about (4+2)/4", r)
	}
}
