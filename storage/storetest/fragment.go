package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/cairn-storage/cairn/storage"
)

// TestFragmentStore runs the FragmentStore conformance suite. open returns
// a fresh, empty store for one subtest and arranges its cleanup with
// t.Cleanup. reopen, if not nil, closes old and returns a store opened on
// the same data (again arranging its cleanup); nil means the store does not
// persist and the reopen tests are skipped.
//
// Optional behaviour is tested when the store has it: storage.Lister,
// Corrupter, and a Bytes() int64 method giving the total size held.
func TestFragmentStore(t *testing.T, open func(t *testing.T) storage.FragmentStore, reopen func(t *testing.T, old storage.FragmentStore) storage.FragmentStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.FragmentStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"Missing", testMissing},
		{"WrongRef", testWrongRef},
		{"PutTwice", testPutTwice},
		{"CallerOwnsSlices", testFragmentOwnership},
		{"Large", testLarge},
		{"List", testList},
		{"Corrupt", testCorrupt},
		{"Canceled", testFragmentCanceled},
		{"Concurrent", testFragmentConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	t.Run("Reopen", func(t *testing.T) {
		if reopen == nil {
			t.Skip("store does not persist")
		}
		testFragmentReopen(t, open(t), reopen)
	})
}

type byteser interface{ Bytes() int64 }

func mustPut(t *testing.T, s storage.FragmentStore, ref storage.Ref, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), ref, data); err != nil {
		t.Fatalf("Put(%s, %d bytes): %v", ref.Short(), len(data), err)
	}
}

func mustGet(t *testing.T, s storage.FragmentStore, ref storage.Ref, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), ref)
	if err != nil {
		t.Fatalf("Get(%s): %v", ref.Short(), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%s) = %d bytes, want the %d bytes put", ref.Short(), len(got), len(want))
	}
}

func mustHave(t *testing.T, s storage.FragmentStore, ref storage.Ref, want bool) {
	t.Helper()
	got, err := s.Has(t.Context(), ref)
	if err != nil {
		t.Fatalf("Has(%s): %v", ref.Short(), err)
	}
	if got != want {
		t.Fatalf("Has(%s) = %v, want %v", ref.Short(), got, want)
	}
}

func mustNotExist(t *testing.T, s storage.FragmentStore, ref storage.Ref) {
	t.Helper()
	b, err := s.Get(t.Context(), ref)
	if !errors.Is(err, storage.NotExist) {
		t.Fatalf("Get(%s) = %d bytes, %v; want a NotExist error", ref.Short(), len(b), err)
	}
	mustHave(t, s, ref, false)
}

func checkBytes(t *testing.T, s any, want int64) {
	t.Helper()
	if b, ok := s.(byteser); ok {
		if got := b.Bytes(); got != want {
			t.Fatalf("Bytes() = %d, want %d", got, want)
		}
	}
}

// listAll returns what s lists, or nil if s is not a Lister.
func listAll(t *testing.T, s storage.FragmentStore) map[storage.Ref]int64 {
	t.Helper()
	l, ok := s.(storage.Lister)
	if !ok {
		return nil
	}
	got := make(map[storage.Ref]int64)
	err := l.List(t.Context(), func(ref storage.Ref, size int64) error {
		if _, dup := got[ref]; dup {
			return fmt.Errorf("ref %s listed twice", ref.Short())
		}
		got[ref] = size
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func checkList(t *testing.T, s storage.FragmentStore, want map[storage.Ref]int64) {
	t.Helper()
	got := listAll(t, s)
	if got == nil {
		return
	}
	if !maps.Equal(got, want) {
		t.Fatalf("List gave %d fragments (%v), want %d (%v)", len(got), got, len(want), want)
	}
}

func testRoundTrip(t *testing.T, s storage.FragmentStore) {
	var total int64
	for i, n := range []int{0, 1, 100, 1023, 1024, 1025, 64<<10 + 7, 1 << 20} {
		ref, data := Fragment(uint64(i), n)
		mustHave(t, s, ref, false)
		mustPut(t, s, ref, data)
		mustHave(t, s, ref, true)
		mustGet(t, s, ref, data)
		total += int64(n)
		checkBytes(t, s, total)
	}
	for i, n := range []int{0, 1, 100, 1023, 1024, 1025, 64<<10 + 7, 1 << 20} {
		ref, _ := Fragment(uint64(i), n)
		if err := s.Delete(t.Context(), ref); err != nil {
			t.Fatalf("Delete(%s): %v", ref.Short(), err)
		}
		mustNotExist(t, s, ref)
		total -= int64(n)
		checkBytes(t, s, total)
	}
	checkList(t, s, map[storage.Ref]int64{})
}

func testMissing(t *testing.T, s storage.FragmentStore) {
	ref, _ := Fragment(1, 10)
	for _, r := range []storage.Ref{ref, {}} {
		mustNotExist(t, s, r)
		if err := s.Delete(t.Context(), r); err != nil {
			t.Fatalf("Delete of a missing ref: %v", err)
		}
	}
	checkList(t, s, map[storage.Ref]int64{})
	checkBytes(t, s, 0)
}

func testWrongRef(t *testing.T, s storage.FragmentStore) {
	ref, data := Fragment(1, 5000)
	_, other := Fragment(2, 5000)
	flipped := bytes.Clone(data)
	flipped[4321] ^= 0x10
	bad := []struct {
		name string
		data []byte
	}{
		{"other", other},
		{"bit flipped", flipped},
		{"truncated", data[:len(data)-1]},
		{"extended", append(bytes.Clone(data), 0)},
		{"empty", nil},
	}
	for _, b := range bad {
		err := s.Put(t.Context(), ref, b.data)
		if !errors.Is(err, storage.Invalid) {
			t.Fatalf("Put of %s data: %v, want an Invalid error", b.name, err)
		}
		mustNotExist(t, s, ref)
	}
	// The zero ref names no data.
	if err := s.Put(t.Context(), storage.Ref{}, data); !errors.Is(err, storage.Invalid) {
		t.Fatalf("Put under the zero ref: %v, want an Invalid error", err)
	}
	checkList(t, s, map[storage.Ref]int64{})
	checkBytes(t, s, 0)
}

func testPutTwice(t *testing.T, s storage.FragmentStore) {
	ref, data := Fragment(3, 3000)
	mustPut(t, s, ref, data)
	mustPut(t, s, ref, data)
	mustGet(t, s, ref, data)
	checkBytes(t, s, 3000)
	checkList(t, s, map[storage.Ref]int64{ref: 3000})
	for range 2 {
		if err := s.Delete(t.Context(), ref); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		mustNotExist(t, s, ref)
	}
	checkBytes(t, s, 0)
}

func testFragmentOwnership(t *testing.T, s storage.FragmentStore) {
	ref, data := Fragment(4, 4096)
	orig := bytes.Clone(data)
	mustPut(t, s, ref, data)
	for i := range data {
		data[i] = 0xaa
	}
	mustGet(t, s, ref, orig)
	got, err := s.Get(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] ^= 0xff
	}
	_ = append(got[:0], 1, 2, 3)
	mustGet(t, s, ref, orig)
}

func testLarge(t *testing.T, s storage.FragmentStore) {
	sizes := []int{4<<20 + 1, 16 << 20}
	var total int64
	for i, n := range sizes {
		ref, data := Fragment(uint64(100+i), n)
		mustPut(t, s, ref, data)
		mustGet(t, s, ref, data)
		total += int64(n)
	}
	checkBytes(t, s, total)
}

func testList(t *testing.T, s storage.FragmentStore) {
	l, ok := s.(storage.Lister)
	if !ok {
		t.Skip("store is not a storage.Lister")
	}
	calls := 0
	if err := l.List(t.Context(), func(storage.Ref, int64) error { calls++; return nil }); err != nil || calls != 0 {
		t.Fatalf("List of an empty store: %d calls, %v", calls, err)
	}
	want := make(map[storage.Ref]int64)
	var total int64
	for i := range 20 {
		n := i * 777
		ref, data := Fragment(uint64(200+i), n)
		mustPut(t, s, ref, data)
		want[ref] = int64(n)
		total += int64(n)
	}
	for i := range 3 {
		ref, _ := Fragment(uint64(200+i), i*777)
		if err := s.Delete(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
		delete(want, ref)
		total -= int64(i * 777)
	}
	checkList(t, s, want)
	checkBytes(t, s, total)

	calls = 0
	err := l.List(t.Context(), func(storage.Ref, int64) error { calls++; return errStop })
	if !errors.Is(err, errStop) || calls != 1 {
		t.Fatalf("List with fn failing: %d calls, %v; want 1 call and fn's error", calls, err)
	}
	// fn may delete what it is given.
	err = l.List(t.Context(), func(ref storage.Ref, _ int64) error { return s.Delete(t.Context(), ref) })
	if err != nil {
		t.Fatalf("List deleting each fragment: %v", err)
	}
	checkList(t, s, map[storage.Ref]int64{})
	checkBytes(t, s, 0)
}

func testCorrupt(t *testing.T, s storage.FragmentStore) {
	c, ok := s.(Corrupter)
	if !ok {
		t.Skip("store is not a storetest.Corrupter")
	}
	ref, data := Fragment(5, 10000)
	missing, _ := Fragment(6, 10)
	if err := c.Corrupt(missing, func(b []byte) []byte { return b }); !errors.Is(err, storage.NotExist) {
		t.Fatalf("Corrupt of a missing ref: %v, want a NotExist error", err)
	}
	damage := []struct {
		name string
		f    func([]byte) []byte
	}{
		{"bit flip", func(b []byte) []byte { b[7777] ^= 1; return b }},
		{"truncate", func(b []byte) []byte { return b[:len(b)-1] }},
		{"extend", func(b []byte) []byte { return append(b, 0) }},
		{"empty", func([]byte) []byte { return nil }},
		{"other", func([]byte) []byte { _, o := Fragment(7, 10000); return o }},
	}
	for _, d := range damage {
		mustPut(t, s, ref, data)
		if err := c.Corrupt(ref, d.f); err != nil {
			t.Fatalf("Corrupt (%s): %v", d.name, err)
		}
		got, err := s.Get(t.Context(), ref)
		if !errors.Is(err, storage.Corrupt) {
			t.Fatalf("Get after %s = %d bytes, %v; want a Corrupt error", d.name, len(got), err)
		}
		mustHave(t, s, ref, true)
		// Repair: delete, put again.
		if err := s.Delete(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
		mustNotExist(t, s, ref)
		mustPut(t, s, ref, data)
		mustGet(t, s, ref, data)
		checkBytes(t, s, int64(len(data)))
		if err := s.Delete(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
	}
	// The corruption hook is what the store holds: an identity f keeps it whole.
	mustPut(t, s, ref, data)
	if err := c.Corrupt(ref, func(b []byte) []byte { return b }); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, ref, data)
}

func testFragmentCanceled(t *testing.T, s storage.FragmentStore) {
	ref, data := Fragment(8, 100)
	mustPut(t, s, ref, data)
	ctx := canceled()
	check := func(what string, err error) {
		t.Helper()
		if storage.KindOf(err) != storage.Canceled {
			t.Fatalf("%s with a canceled context: %v, want a Canceled error", what, err)
		}
	}
	_, err := s.Get(ctx, ref)
	check("Get", err)
	_, err = s.Has(ctx, ref)
	check("Has", err)
	ref2, data2 := Fragment(9, 100)
	check("Put", s.Put(ctx, ref2, data2))
	check("Delete", s.Delete(ctx, ref))
	if l, ok := s.(storage.Lister); ok {
		check("List", l.List(ctx, func(storage.Ref, int64) error { return nil }))
	}
	mustGet(t, s, ref, data)
	mustHave(t, s, ref2, false)
}

func testFragmentConcurrent(t *testing.T, s storage.FragmentStore) {
	const workers, each = 8, 12
	shared := make([]storage.Ref, 4)
	sharedData := make([][]byte, 4)
	for i := range shared {
		shared[i], sharedData[i] = Fragment(uint64(300+i), 20000+i)
	}
	own := func(w, i int) (storage.Ref, []byte) {
		return Fragment(uint64(1000+w*each+i), 1+(w*each+i)*997%(64<<10))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := t.Context()
			for i := range each {
				j := (w + i) % len(shared)
				if err := s.Put(ctx, shared[j], sharedData[j]); err != nil {
					t.Errorf("worker %d: Put shared: %v", w, err)
					return
				}
				ref, data := own(w, i)
				if err := s.Put(ctx, ref, data); err != nil {
					t.Errorf("worker %d: Put: %v", w, err)
					return
				}
				if got, err := s.Get(ctx, shared[j]); err != nil || !bytes.Equal(got, sharedData[j]) {
					t.Errorf("worker %d: Get shared: %d bytes, %v", w, len(got), err)
					return
				}
				if got, err := s.Get(ctx, ref); err != nil || !bytes.Equal(got, data) {
					t.Errorf("worker %d: Get: %d bytes, %v", w, len(got), err)
					return
				}
				if ok, err := s.Has(ctx, ref); err != nil || !ok {
					t.Errorf("worker %d: Has = %v, %v", w, ok, err)
					return
				}
				if i%2 == 1 {
					if err := s.Delete(ctx, ref); err != nil {
						t.Errorf("worker %d: Delete: %v", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	want := make(map[storage.Ref]int64)
	var total int64
	for i, ref := range shared {
		mustGet(t, s, ref, sharedData[i])
		want[ref] = int64(len(sharedData[i]))
		total += int64(len(sharedData[i]))
	}
	for w := range workers {
		for i := range each {
			ref, data := own(w, i)
			if i%2 == 1 {
				mustNotExist(t, s, ref)
				continue
			}
			mustGet(t, s, ref, data)
			want[ref] = int64(len(data))
			total += int64(len(data))
		}
	}
	checkList(t, s, want)
	checkBytes(t, s, total)
}

func testFragmentReopen(t *testing.T, s storage.FragmentStore, reopen func(*testing.T, storage.FragmentStore) storage.FragmentStore) {
	sizes := []int{0, 1, 1000, 1025, 300 << 10, 1 << 20, 2<<20 + 3}
	want := make(map[storage.Ref]int64)
	datas := make(map[storage.Ref][]byte)
	var total int64
	for i, n := range sizes {
		ref, data := Fragment(uint64(400+i), n)
		mustPut(t, s, ref, data)
		want[ref], datas[ref] = int64(n), data
		total += int64(n)
	}
	gone, _ := Fragment(400+2, sizes[2])
	if err := s.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	delete(want, gone)
	total -= int64(sizes[2])

	s = reopen(t, s)
	check := func() {
		t.Helper()
		for ref := range want {
			mustGet(t, s, ref, datas[ref])
		}
		mustNotExist(t, s, gone)
		checkList(t, s, want)
		checkBytes(t, s, total)
	}
	check()

	ref, data := Fragment(499, 5555)
	mustPut(t, s, ref, data)
	want[ref], datas[ref] = int64(len(data)), data
	total += int64(len(data))
	check()
	s = reopen(t, s)
	check()
}
