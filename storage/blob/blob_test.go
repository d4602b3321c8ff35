package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/chunker"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// small chunking keeps tests fast while still making many chunks.
var small = chunker.Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

type testNet struct {
	Stores
	mem map[storage.PeerID]*memstore.Store
	ids []storage.PeerID
}

func newNet(n int) *testNet {
	t := &testNet{Stores: Stores{}, mem: map[storage.PeerID]*memstore.Store{}}
	for i := 0; i < n; i++ {
		id := storage.PeerID(fmt.Sprintf("peer-%02d", i))
		s := memstore.New()
		t.Stores[id], t.mem[id] = s, s
		t.ids = append(t.ids, id)
	}
	return t
}

func newClient(t testing.TB, net storage.Network, cfg Config) *Client {
	t.Helper()
	cfg.Network = net
	if cfg.Chunking == (chunker.Params{}) {
		cfg.Chunking = small
	}
	cfg.Secret = cryptree.ChunkSecret{1, 2, 3}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t testing.TB, c *Client, data []byte) *Manifest {
	t.Helper()
	m, err := c.Put(context.Background(), bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	if m.Size != int64(len(data)) {
		t.Fatalf("manifest size %d, want %d", m.Size, len(data))
	}
	return m
}

func readAll(t testing.TB, c *Client, m *Manifest) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	_, err := c.Open(context.Background(), m).WriteTo(&buf)
	return buf.Bytes(), err
}

func mustRead(t testing.TB, c *Client, m *Manifest, want []byte) {
	t.Helper()
	got, err := readAll(t, c, m)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, differ from the %d put", len(got), len(want))
	}
}

func TestRoundTripSizes(t *testing.T) {
	net := newNet(18)
	c := newClient(t, net, Config{})
	sizes := []int{0, 1, DefaultInlineMax - 1, DefaultInlineMax, DefaultInlineMax + 1,
		small.Min - 1, small.Min, small.Min + 1, small.Max - 1, small.Max, small.Max + 1,
		3*small.Max + 7, 1 << 20}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randBytes(uint64(n), n)
			m := put(t, c, data)
			if n <= DefaultInlineMax && len(m.Chunks) != 0 {
				t.Fatalf("%d-byte file was chunked, want inline", n)
			}
			if n > DefaultInlineMax && m.Inline != nil {
				t.Fatalf("%d-byte file inline", n)
			}
			for _, ck := range m.Chunks {
				if len(ck.Frags) < ck.K+DefaultM {
					t.Fatalf("chunk has %d fragments placed, want >= %d", len(ck.Frags), ck.K+DefaultM)
				}
			}
			mustRead(t, c, m, data)
			// and through the manifest's encoding
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := ParseManifest(b)
			if err != nil {
				t.Fatal(err)
			}
			mustRead(t, c, m2, data)
		})
	}
}

func TestRoundTripLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB round trip")
	}
	net := newNet(16)
	c := newClient(t, net, Config{Chunking: chunker.Default})
	data := randBytes(100, 100<<20)
	m := put(t, c, data)
	t.Logf("100 MiB: %d chunks, %d holders, %.2fx stored", len(m.Chunks), len(m.Holders()), float64(m.StoredBytes())/float64(m.Size))
	mustRead(t, c, m, data)
}

// Every way of losing up to m fragments of a small code leaves the file
// readable; losing one more than the code can bear fails with Unavailable.
func TestLostFragmentCombinations(t *testing.T) {
	for _, km := range [][2]int{{2, 1}, {3, 2}, {4, 3}} {
		k, m := km[0], km[1]
		t.Run(fmt.Sprintf("%d+%d", k, m), func(t *testing.T) {
			net := newNet(k + m)
			c := newClient(t, net, Config{K: k, M: m, Extra: -1})
			data := randBytes(7, 40<<10)
			man := put(t, c, data)
			n := k + m
			for mask := 0; mask < 1<<n; mask++ {
				lost := 0
				down := Stores{}
				for i, id := range net.ids {
					if mask&(1<<i) != 0 {
						lost++
						down[id] = nil
					} else {
						down[id] = net.Stores[id]
					}
				}
				c2 := newClient(t, down, Config{K: k, M: m, Extra: -1})
				got, err := readAll(t, c2, man)
				if lost <= m {
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("lost peers %b: err %v, equal %v", mask, err, bytes.Equal(got, data))
					}
				} else if !errors.Is(err, storage.Unavailable) {
					t.Fatalf("lost peers %b (%d > m): err %v, want Unavailable", mask, lost, err)
				}
			}
		})
	}
}

// Fragments altered on their holders (flipped bit, truncated, replaced
// by another fragment) are detected and survived.
func TestCorruptFragments(t *testing.T) {
	net := newNet(16)
	c := newClient(t, net, Config{})
	data := randBytes(9, 200<<10)
	m := put(t, c, data)
	damage := []func([]byte) []byte{
		func(b []byte) []byte { b = append([]byte(nil), b...); b[len(b)/2] ^= 1; return b },
		func(b []byte) []byte { return append([]byte(nil), b[:len(b)-1]...) },
		func(b []byte) []byte { b = append([]byte(nil), b...); b[0] ^= 0x80; return b },
		func(b []byte) []byte { return append(append([]byte(nil), b...), 0) },
		func(b []byte) []byte { return nil },
		func(b []byte) []byte { return randBytes(3, len(b)) },
	}
	// Damage DefaultM fragments of every chunk, each a different way.
	for _, ck := range m.Chunks {
		for i := 0; i < DefaultM; i++ {
			f := ck.Frags[i]
			if err := net.mem[f.Holder].Corrupt(f.Ref, damage[i%len(damage)]); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustRead(t, c, m, data)
	// With all but K-1 damaged or gone, the read fails cleanly.
	for _, ck := range m.Chunks {
		for _, f := range ck.Frags[ck.K-1:] {
			_ = net.mem[f.Holder].Corrupt(f.Ref, damage[0])
		}
	}
	if _, err := readAll(t, c, m); !errors.Is(err, storage.Unavailable) {
		t.Fatalf("read with too many corrupt fragments: %v, want Unavailable", err)
	}
}

// A store that lies (returns other bytes without saying so) is caught by
// the check against the manifest's refs.
type lyingStore struct{ storage.FragmentStore }

func (l lyingStore) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	b, err := l.FragmentStore.Get(ctx, ref)
	if err == nil && len(b) > 20 {
		b[20] ^= 0xff
	}
	return b, err
}

func TestLyingStores(t *testing.T) {
	net := newNet(16)
	c := newClient(t, net, Config{})
	data := randBytes(11, 100<<10)
	m := put(t, c, data)
	liars := Stores{}
	for i, id := range net.ids {
		liars[id] = net.Stores[id]
		if i < DefaultM {
			liars[id] = lyingStore{net.Stores[id]}
		}
	}
	c2 := newClient(t, liars, Config{})
	mustRead(t, c2, m, data)
}

func TestWrongKey(t *testing.T) {
	net := newNet(16)
	c := newClient(t, net, Config{})
	data := randBytes(12, 50<<10)
	m := put(t, c, data)
	m.Chunks[0].Key[0] ^= 1
	got, err := readAll(t, c, m)
	if !errors.Is(err, storage.CannotDecrypt) {
		t.Fatalf("wrong key: err %v, want CannotDecrypt", err)
	}
	if len(got) != 0 {
		t.Fatalf("wrong key produced %d bytes of output", len(got))
	}
}

func TestRandomAccess(t *testing.T) {
	net := newNet(16)
	c := newClient(t, net, Config{})
	data := randBytes(13, 600<<10)
	m := put(t, c, data)
	r := c.Open(context.Background(), m)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		off := rng.Int64N(int64(len(data)) + 10)
		n := rng.IntN(100 << 10)
		buf := make([]byte, n)
		got, err := r.ReadAt(buf, off)
		want := 0
		if off < int64(len(data)) {
			want = copy(make([]byte, n), data[off:])
		}
		if got != want || !bytes.Equal(buf[:got], data[min(off, int64(len(data))):min(off, int64(len(data)))+int64(got)]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v; want %d bytes", n, off, got, err, want)
		}
		if got < n && err != io.EOF {
			t.Fatalf("short ReadAt without io.EOF: %v", err)
		}
	}
	// Seek + Read
	if _, err := r.Seek(int64(len(data))-5000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(tail, data[len(data)-5000:]) {
		t.Fatalf("Seek+ReadAll: %v", err)
	}
}

// Random access fetches only the chunks a read covers.
func TestReadAtFetchesOnlyCoveringChunks(t *testing.T) {
	net := newNet(16)
	counting := Stores{}
	var gets atomic.Int64
	for id, s := range net.Stores {
		counting[id] = countingStore{s, &gets}
	}
	c := newClient(t, counting, Config{})
	data := randBytes(14, 1<<20)
	m := put(t, c, data)
	if len(m.Chunks) < 10 {
		t.Fatalf("only %d chunks", len(m.Chunks))
	}
	gets.Store(0)
	r := c.Open(context.Background(), m)
	mid := m.offsets[5] + 10
	if _, err := r.ReadAt(make([]byte, 100), mid); err != nil {
		t.Fatal(err)
	}
	if g := gets.Load(); g > int64(DefaultK+DefaultFetchExtra) {
		t.Fatalf("one 100-byte read inside a chunk made %d fragment requests, want <= %d", g, DefaultK+DefaultFetchExtra)
	}
}

type countingStore struct {
	storage.FragmentStore
	n *atomic.Int64
}

func (c countingStore) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	c.n.Add(1)
	return c.FragmentStore.Get(ctx, ref)
}

func (c countingStore) Put(ctx context.Context, ref storage.Ref, b []byte) error {
	c.n.Add(1)
	return c.FragmentStore.Put(ctx, ref, b)
}

func TestTooFewPeers(t *testing.T) {
	net := newNet(DefaultK + DefaultM - 1)
	c := newClient(t, net, Config{})
	_, err := c.Put(context.Background(), bytes.NewReader(randBytes(1, 100<<10)), PutOptions{})
	if !errors.Is(err, storage.Unavailable) {
		t.Fatalf("put to %d peers: %v, want Unavailable", DefaultK+DefaultM-1, err)
	}
}

// slowStore delays Put until ctx ends or the delay passes.
type slowStore struct {
	storage.FragmentStore
	delay time.Duration
}

func (s slowStore) Put(ctx context.Context, ref storage.Ref, b []byte) error {
	select {
	case <-time.After(s.delay):
		return s.FragmentStore.Put(ctx, ref, b)
	case <-ctx.Done():
		return storage.E("put fragment", storage.Canceled, ctx.Err())
	}
}

// One very slow peer does not stall the upload: spare fragments land
// elsewhere and its transfer is cancelled.
func TestLongTailCancellation(t *testing.T) {
	for _, nslow := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d slow", nslow), func(t *testing.T) { testLongTail(t, nslow) })
	}
}

// testLongTail: 20 peers, nslow of them never finish. With 4 slow peers
// the 2 spare fragments are not enough: stragglers' own fragments are sent
// again to the remaining peers.
func testLongTail(t *testing.T, nslow int) {
	net := newNet(20)
	slow := Stores{}
	slowID := map[storage.PeerID]bool{}
	for i, id := range net.ids {
		slow[id] = net.Stores[id]
		if i < nslow {
			slowID[id] = true
			slow[id] = slowStore{net.Stores[id], 10 * time.Minute}
		}
	}
	c := newClient(t, slow, Config{})
	data := randBytes(15, 300<<10)
	start := time.Now()
	// Generous for a loaded machine (hedging waits three times what the
	// first half took); the slow peers take ten minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := c.Put(ctx, bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatalf("put with slow peers: %v after %v", err, time.Since(start))
	}
	for _, ck := range m.Chunks {
		for _, f := range ck.Frags {
			if slowID[f.Holder] {
				t.Fatalf("fragment recorded on a slow peer that never finished")
			}
		}
	}
	mustRead(t, c, m, data)
}

// failing peers: transfers that fail are retried on other peers.
type failStore struct{ storage.FragmentStore }

func (failStore) Put(context.Context, storage.Ref, []byte) error {
	return storage.E("put fragment", storage.Unavailable, errors.New("connection reset"))
}

func TestRetryOnFailure(t *testing.T) {
	net := newNet(24)
	f := Stores{}
	for i, id := range net.ids {
		f[id] = net.Stores[id]
		if i%4 == 0 {
			f[id] = failStore{net.Stores[id]}
		}
	}
	c := newClient(t, f, Config{})
	data := randBytes(16, 300<<10)
	m := put(t, c, data)
	mustRead(t, c, m, data)
}

// Re-putting the same bytes reuses every chunk: nothing is uploaded.
func TestReuse(t *testing.T) {
	net := newNet(16)
	counting := Stores{}
	var ops atomic.Int64
	for id, s := range net.Stores {
		counting[id] = countingStore{s, &ops}
	}
	c := newClient(t, counting, Config{})
	data := randBytes(17, 500<<10)
	m := put(t, c, data)
	known := map[[32]byte]Chunk{}
	for _, ck := range m.Chunks {
		known[ck.ID] = ck
	}
	ops.Store(0)
	// Edit one byte in the middle: only the chunks around it are new.
	data[len(data)/2] ^= 1
	var mu sync.Mutex
	reused := 0
	m2, err := c.Put(context.Background(), bytes.NewReader(data), PutOptions{Reuse: func(id [32]byte) (Chunk, bool) {
		ck, ok := known[id]
		if ok {
			mu.Lock()
			reused++
			mu.Unlock()
		}
		return ck, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fresh := len(m2.Chunks) - reused; fresh > 3 || fresh < 1 {
		t.Fatalf("after a 1-byte edit %d of %d chunks were uploaded again, want 1..3", fresh, len(m2.Chunks))
	}
	mustRead(t, c, m2, data)
}

func TestCancel(t *testing.T) {
	net := newNet(16)
	slow := Stores{}
	for id, s := range net.Stores {
		slow[id] = slowStore{s, time.Minute}
	}
	c := newClient(t, slow, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Put(ctx, bytes.NewReader(randBytes(1, 1<<20)), PutOptions{})
	if !errors.Is(err, storage.Canceled) {
		t.Fatalf("cancelled put: %v, want Canceled", err)
	}
}

func TestLandedInOrder(t *testing.T) {
	net := newNet(16)
	c := newClient(t, net, Config{})
	data := randBytes(18, 400<<10)
	var got []int
	m, err := c.Put(context.Background(), bytes.NewReader(data), PutOptions{Landed: func(i int, ck Chunk) error {
		got = append(got, i)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if g != i {
			t.Fatalf("Landed order %v", got)
		}
	}
	if len(got) != len(m.Chunks) {
		t.Fatalf("Landed called %d times for %d chunks", len(got), len(m.Chunks))
	}
	// A Landed error aborts the upload.
	_, err = c.Put(context.Background(), bytes.NewReader(data), PutOptions{Landed: func(int, Chunk) error {
		return storage.E("journal", storage.IO, errors.New("disk full"))
	}})
	if !errors.Is(err, storage.IO) {
		t.Fatalf("Landed error: %v, want IO", err)
	}
}

type errReader struct{ n int }

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errors.New("device gone")
	}
	k := min(len(p), e.n)
	e.n -= k
	return k, nil
}

func TestReadError(t *testing.T) {
	c := newClient(t, newNet(16), Config{})
	_, err := c.Put(context.Background(), &errReader{300 << 10}, PutOptions{})
	if err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
}

func TestPlacementSpread(t *testing.T) {
	var peers []storage.PeerInfo
	for i := 0; i < 30; i++ {
		peers = append(peers, storage.PeerInfo{ID: storage.PeerID(fmt.Sprint("p", i)), Net: fmt.Sprint("net", i%10)})
	}
	got, relaxed := spread(order([32]byte{1}, peers, nil), 10)
	if relaxed {
		t.Fatal("10 networks for 10 fragments: relaxed")
	}
	seen := map[string]bool{}
	for _, p := range got[:10] {
		if seen[p.Net] {
			t.Fatalf("network %s used twice among the first 10", p.Net)
		}
		seen[p.Net] = true
	}
	if _, relaxed := spread(order([32]byte{1}, peers, nil), 16); !relaxed {
		t.Fatal("16 fragments over 10 networks: not relaxed")
	}
	// Stability: removing one peer moves few chunk placements.
	moved := 0
	for k := 0; k < 200; k++ {
		key := [32]byte{byte(k), byte(k >> 8)}
		a := order(key, peers, nil)[:5]
		b := order(key, peers[1:], nil)[:5]
		inA := map[storage.PeerID]bool{}
		for _, p := range a {
			inA[p.ID] = true
		}
		for _, p := range b {
			if !inA[p.ID] {
				moved++
			}
		}
	}
	if moved > 200*5/len(peers)*2 {
		t.Fatalf("removing 1 of %d peers moved %d of %d placements", len(peers), moved, 200*5)
	}
}

type weights map[storage.PeerID]float64

func (w weights) Weight(p storage.PeerInfo) float64 { return w[p.ID] }

func TestPlacementWeights(t *testing.T) {
	peers := []storage.PeerInfo{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	w := weights{"a": 1, "b": 3, "c": 0}
	wins := map[storage.PeerID]int{}
	for k := 0; k < 4000; k++ {
		o := order([32]byte{byte(k), byte(k >> 8)}, peers, w)
		if len(o) != 2 {
			t.Fatalf("weight 0 peer not excluded: %v", o)
		}
		wins[o[0].ID]++
	}
	if r := float64(wins["b"]) / float64(wins["a"]); r < 2.4 || r > 3.6 {
		t.Fatalf("weight 3 vs 1 won %d vs %d times", wins["b"], wins["a"])
	}
}

// countStore counts the Puts running at once across all its peers.
type countStore struct {
	storage.FragmentStore
	cur, max *atomic.Int64
}

func (s countStore) Put(ctx context.Context, ref storage.Ref, b []byte) error {
	n := s.cur.Add(1)
	defer s.cur.Add(-1)
	for {
		m := s.max.Load()
		if n <= m || s.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	return s.FragmentStore.Put(ctx, ref, b)
}

// Many Puts at once (a tree of files) share the client's chunk slots:
// no more than 2×Workers+2 chunks are in flight in all.
func TestConcurrentPutsShareSlots(t *testing.T) {
	net := newNet(18)
	var cur, maxN atomic.Int64
	counted := Stores{}
	for _, id := range net.ids {
		counted[id] = countStore{net.Stores[id], &cur, &maxN}
	}
	c := newClient(t, counted, Config{Workers: 1})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Put(t.Context(), bytes.NewReader(randBytes(uint64(300+i), 200<<10)), PutOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	perChunk := int64(c.cfg.K + c.cfg.M + c.cfg.Extra)
	if limit := int64(2*1+2) * perChunk; maxN.Load() > limit {
		t.Fatalf("%d fragment transfers at once, want at most %d (%d chunks)", maxN.Load(), limit, 2*1+2)
	}
	t.Logf("at most %d fragment transfers at once", maxN.Load())
}

// cancelReader cancels its context after the first read and goes on
// giving data: a Put cancelled in the middle.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
	reads  int
}

func (c *cancelReader) Read(p []byte) (int, error) {
	c.reads++
	if c.reads == 2 {
		c.cancel()
	}
	return c.r.Read(p)
}

// A Put whose context ends in the middle fails with Canceled: it never
// returns a manifest of fewer bytes than were given.
func TestCancelMidwayNeverTruncates(t *testing.T) {
	net := newNet(8)
	c := newClient(t, net, Config{K: 4, M: 2, Extra: -1})
	data := randBytes(21, 600<<10)
	for i := 0; i < 40; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		m, err := c.Put(ctx, &cancelReader{r: bytes.NewReader(data), cancel: cancel}, PutOptions{})
		cancel()
		switch {
		case err == nil && m.Size != int64(len(data)):
			t.Fatalf("try %d: a cancelled Put succeeded with %d of %d bytes", i, m.Size, len(data))
		case err != nil && !errors.Is(err, storage.Canceled):
			t.Fatalf("try %d: %v, want Canceled", i, err)
		}
	}
}
