package blob

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// getLog counts the GETs each ref gets.
type getLog struct {
	mu   sync.Mutex
	refs map[storage.Ref]int
	n    atomic.Int64
}

func (l *getLog) add(ref storage.Ref) {
	l.n.Add(1)
	l.mu.Lock()
	if l.refs == nil {
		l.refs = map[storage.Ref]int{}
	}
	l.refs[ref]++
	l.mu.Unlock()
}

type loggedStore struct {
	storage.FragmentStore
	log  *getLog
	slow map[storage.Ref]bool // GETs of these wait a minute, unless ctx ends first
}

func (s loggedStore) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	s.log.add(ref)
	if s.slow[ref] {
		select {
		case <-time.After(time.Minute):
		case <-ctx.Done():
			return nil, storage.E("get fragment", storage.Canceled, ctx.Err())
		}
	}
	return s.FragmentStore.Get(ctx, ref)
}

// A whole read with every holder answering asks exactly K holders per
// chunk, the data fragments: nothing is fetched to be thrown away.
func TestFetchAsksExactlyK(t *testing.T) {
	net := newNet(16)
	var log getLog
	logged := Stores{}
	for id, s := range net.Stores {
		logged[id] = loggedStore{FragmentStore: s, log: &log}
	}
	c := newClient(t, logged, Config{})
	data := randBytes(21, 600<<10)
	m := put(t, c, data)
	mustRead(t, c, m, data)
	want := int64(0)
	for _, ck := range m.Chunks {
		want += int64(ck.K)
		for _, f := range ck.Frags {
			n := log.refs[f.Ref]
			if f.Index < ck.K && n != 1 || f.Index >= ck.K && n != 0 {
				t.Fatalf("fragment %d of a chunk (k=%d) fetched %d times", f.Index, ck.K, n)
			}
		}
	}
	if g := log.n.Load(); g != want {
		t.Fatalf("%d GETs for %d chunks, want %d", g, len(m.Chunks), want)
	}
}

// A holder that does not answer is hedged: the read completes long
// before its delay, from the other holders.
func TestFetchHedgesStragglers(t *testing.T) {
	net := newNet(16)
	c := newClient(t, net, Config{})
	data := randBytes(22, 200<<10)
	m := put(t, c, data)
	// Data fragment 0 of every chunk takes a minute to come.
	refs := map[storage.Ref]bool{}
	for _, ck := range m.Chunks {
		for _, f := range ck.Frags {
			if f.Index == 0 {
				refs[f.Ref] = true
			}
		}
	}
	var log getLog
	slow := Stores{}
	for id, s := range net.Stores {
		slow[id] = loggedStore{FragmentStore: s, log: &log, slow: refs}
	}
	r := newClient(t, slow, Config{})
	t0 := time.Now()
	got, err := readAll(t, r, m)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with stragglers: %v", err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Fatalf("read took %v: stragglers were not hedged", d)
	}
}

// verifyingStore has GetToVerified, checking the root itself as the
// fragment client does, and copies into the buffer it is given.
type verifyingStore struct {
	storage.FragmentStore
	calls *atomic.Int64
}

func (v verifyingStore) GetToVerified(ctx context.Context, dst []byte, ref storage.Ref) ([]byte, error) {
	v.calls.Add(1)
	b, err := v.FragmentStore.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if storage.Ref(erasure.Root(b)) != ref {
		return nil, storage.E("get fragment", storage.Corrupt, nil)
	}
	return append(dst[:0], b...), nil
}

// Reads through a store with GetToVerified use it, into recycled
// buffers, and many reads in a row (buffers recycled between chunks and
// reads) return the right bytes.
func TestFetchVerifiedGetterRecycles(t *testing.T) {
	net := newNet(16)
	var calls atomic.Int64
	vs := Stores{}
	for id, s := range net.Stores {
		vs[id] = verifyingStore{s, &calls}
	}
	c := newClient(t, vs, Config{})
	var ms []*Manifest
	var datas [][]byte
	for i := range 4 {
		d := randBytes(uint64(30+i), (100+50*i)<<10)
		datas = append(datas, d)
		ms = append(ms, put(t, c, d))
	}
	for round := range 3 {
		for i, m := range ms {
			mustRead(t, c, m, datas[i])
			// Random access (the cache path) alongside.
			p := make([]byte, 1000)
			if _, err := c.Open(context.Background(), m).ReadAt(p, int64(len(datas[i])/2)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p, datas[i][len(datas[i])/2:len(datas[i])/2+1000]) {
				t.Fatalf("round %d file %d: ReadAt differs", round, i)
			}
		}
	}
	if calls.Load() == 0 {
		t.Fatal("GetToVerified never called")
	}
}
