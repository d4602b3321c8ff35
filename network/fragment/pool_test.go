package fragment

import (
	"bytes"
	"testing"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/badgerstore"
	"github.com/cairn-storage/cairn/storage/storetest"
)

func TestBodyPool(t *testing.T) {
	var p bodyPool
	for _, n := range []int{0, 1, 1<<16 - 1, 1 << 16, 1<<16 + 1, 100_000, 1<<20 - 1, 1 << 20, 1<<20 + 1} {
		for round := range 3 { // the second and third come from the pool
			b := p.get(n)
			if len(*b) != n || cap(*b) < n {
				t.Fatalf("get(%d) round %d: len %d cap %d", n, round, len(*b), cap(*b))
			}
			p.put(b)
		}
	}
	// A buffer of an odd capacity goes to the largest class it covers.
	odd := make([]byte, 5, 100_000)
	p.put(&odd)
	for _, n := range []int{1 << 16, 70_000, 1 << 17} {
		if b := p.get(n); cap(*b) < n {
			t.Fatalf("get(%d) after an odd put: cap %d", n, cap(*b))
		}
	}
}

// badgerEnv serves a badgerstore, whose PutVerified and GetTo the service
// uses instead of Put and Get.
func badgerEnv(t *testing.T) (*env, *badgerstore.Fragments) {
	db, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return newEnv(t, mockHosts(t, 2), ServiceConfig{Store: db.Fragments()}), db.Fragments()
}

type corruptibleBadger struct {
	storage.FragmentStore
	held *badgerstore.Fragments
}

func (c corruptibleBadger) Corrupt(ref storage.Ref, f func([]byte) []byte) error {
	return c.held.Corrupt(ref, f)
}

func TestConformanceBadger(t *testing.T) {
	storetest.TestFragmentStore(t, func(t *testing.T) storage.FragmentStore {
		e, held := badgerEnv(t)
		return corruptibleBadger{e.remote(), held}
	}, nil)
}

func TestPutWrongRootBadger(t *testing.T) {
	e, held := badgerEnv(t)
	ctx := t.Context()
	for _, size := range []int{9000, 200_000} {
		ref, data := storetest.Fragment(uint64(size), size)
		data[100] ^= 1
		wantKind(t, "Put of data that does not match", e.remote().Put(ctx, ref, data), storage.Invalid)
		if ok, err := held.Has(ctx, ref); ok || err != nil {
			t.Fatalf("mismatching fragment of %d bytes stored (%v)", size, err)
		}
	}
}

// TestPooledBodies moves fragments of sizes around the pool's classes
// through one service, so recycled buffers are reused for other refs, and
// checks every one comes back intact.
func TestPooledBodies(t *testing.T) {
	e, _ := badgerEnv(t)
	ctx := t.Context()
	rs := e.remote()
	type frag struct {
		ref  storage.Ref
		data []byte
	}
	var frags []frag
	for i, size := range []int{1 << 16, 1<<16 + 1, 100_000, 70_000, 1 << 20, 1<<20 + 5, 3 << 20, 64, 1<<17 - 1} {
		ref, data := storetest.Fragment(uint64(100+i), size)
		if err := rs.Put(ctx, ref, data); err != nil {
			t.Fatalf("Put %d bytes: %v", size, err)
		}
		frags = append(frags, frag{ref, data})
	}
	for range 2 {
		for _, f := range frags {
			got, err := rs.Get(ctx, f.ref)
			if err != nil || !bytes.Equal(got, f.data) {
				t.Fatalf("Get of %d bytes: %d bytes, %v", len(f.data), len(got), err)
			}
		}
	}
}

// BenchmarkPutGetBadger is BenchmarkPutGet against a service backed by an
// on-disk badgerstore, as a storage peer runs it: fresh fragments of
// 105 KiB (a 1 MiB chunk sealed and cut 10 ways) PUT over 8 streams at
// once, then each read back. Bytes counted: each fragment once per
// direction. Run with a fixed -benchtime (say 1500x): every fragment is
// made up front.
func BenchmarkPutGetBadger(b *testing.B) {
	const size = 105 << 10
	db, err := badgerstore.Open(b.TempDir(), badgerstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := newEnv(b, realHosts(b, 2), ServiceConfig{Store: db.Fragments(), Logf: b.Logf})
	rs := e.remote()
	refs := make([]storage.Ref, b.N)
	datas := make([][]byte, b.N)
	for i := range b.N {
		refs[i], datas[i] = storetest.Fragment(uint64(i)+1<<32, size)
	}
	ctx := b.Context()
	b.SetBytes(2 * size)
	b.ResetTimer()
	next := make(chan int)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range next {
				if err := rs.Put(ctx, refs[i], datas[i]); err != nil {
					b.Error(err)
					return
				}
				if got, err := rs.Get(ctx, refs[i]); err != nil || len(got) != size {
					b.Errorf("Get: %d bytes, %v", len(got), err)
					return
				}
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	for range 8 {
		<-done
	}
}
