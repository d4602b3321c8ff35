package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

const tinySegment = 256 << 10

// openTiny opens an on-disk database in dir with 256 KiB segments and
// closes it at the end of the test.
func openTiny(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir, Options{SegmentSize: tinySegment})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// The conformance suite again with segments so small that it rotates
// many times (and the 4 and 16 MiB fragments get segments of their own).
func TestFragmentsSmallSegments(t *testing.T) {
	dirs := map[storage.FragmentStore]*DB{}
	var mu sync.Mutex
	storetest.TestFragmentStore(t,
		func(t *testing.T) storage.FragmentStore {
			dir := t.TempDir()
			db := openTiny(t, dir)
			mu.Lock()
			dirs[db.Fragments()] = db
			mu.Unlock()
			return db.Fragments()
		},
		func(t *testing.T, old storage.FragmentStore) storage.FragmentStore {
			mu.Lock()
			db := dirs[old]
			mu.Unlock()
			dir := filepath.Dir(db.frags.segs.dir)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openTiny(t, dir)
			mu.Lock()
			dirs[db.Fragments()] = db
			mu.Unlock()
			return db.Fragments()
		})
}

// segmentFiles returns the numbers of the segment files in dir and their
// total size.
func segmentFiles(t *testing.T, dir string) (nos []uint32, total int64) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, segmentDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		no, ok := parseSegmentName(e.Name())
		if !ok {
			t.Fatalf("stray file %s in segments", e.Name())
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		nos = append(nos, no)
		total += fi.Size()
	}
	return nos, total
}

// putMany puts n fragments of size bytes (seeds from seed on) and returns
// their refs and data.
func putMany(t *testing.T, f *Fragments, seed uint64, n, size int) ([]storage.Ref, [][]byte) {
	t.Helper()
	refs, datas := make([]storage.Ref, n), make([][]byte, n)
	for i := range n {
		refs[i], datas[i] = storetest.Fragment(seed+uint64(i), size)
		if err := f.Put(t.Context(), refs[i], datas[i]); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	return refs, datas
}

func mustGetBytes(t *testing.T, f *Fragments, ref storage.Ref, want []byte) {
	t.Helper()
	got, err := f.Get(t.Context(), ref)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Get %s = %d bytes, %v; want %d bytes", ref.Short(), len(got), err, len(want))
	}
}

func locationOf(t *testing.T, db *DB, ref storage.Ref) location {
	t.Helper()
	rec, err := db.frags.dataRecord(nil, ref)
	if err != nil {
		t.Fatal(err)
	}
	l, err := decodeLocation(rec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestReopenSegments(t *testing.T) {
	dir := t.TempDir()
	db := openTiny(t, dir)
	if nos, _ := segmentFiles(t, dir); len(nos) != 0 {
		t.Fatalf("Open made segment files %v before any write", nos)
	}
	refs, datas := putMany(t, db.Fragments(), 1, 40, 30000) // ~5 segments
	nos, _ := segmentFiles(t, dir)
	if len(nos) < 4 {
		t.Fatalf("40×30000 bytes in %d segments, want rotation", len(nos))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTiny(t, dir)
	f := db.Fragments()
	if got := f.Bytes(); got != 40*30000 {
		t.Fatalf("Bytes after reopen = %d, want %d", got, 40*30000)
	}
	if again, _ := segmentFiles(t, dir); len(again) != len(nos) {
		t.Fatalf("reopen: segments %v, before %v", again, nos)
	}
	for i, ref := range refs {
		mustGetBytes(t, f, ref, datas[i])
	}
	// The first write after Open starts a segment after the last one.
	ref, data := storetest.Fragment(99, 10)
	if err := f.Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
	if l := locationOf(t, db, ref); l.seg != nos[len(nos)-1]+1 || l.off != headerSize {
		t.Fatalf("first put after reopen at %+v, want the start of segment %d", l, nos[len(nos)-1]+1)
	}
}

// TestDamage: whatever happens to the files behind the database's back, Get
// gives NotExist or Corrupt, never a panic and never wrong bytes.
func TestDamage(t *testing.T) {
	dir := t.TempDir()
	db := openTiny(t, dir)
	refs, datas := putMany(t, db.Fragments(), 10, 12, 50000) // 3 segments
	// Reopen, so that no segment file is open when it is removed.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTiny(t, dir)
	f, ctx := db.Fragments(), t.Context()

	// A payload written without its index entry (a crash in between).
	lost, lostData := storetest.Fragment(1000, 5000)
	r, err := f.segs.write(lost, lostData)
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	if _, err := f.Get(ctx, lost); !errors.Is(err, storage.NotExist) {
		t.Fatalf("Get of an unindexed payload: %v, want NotExist", err)
	}
	if ok, err := f.Has(ctx, lost); ok || err != nil {
		t.Fatalf("Has of an unindexed payload = %v, %v", ok, err)
	}

	flip := locationOf(t, db, refs[0])
	trunc := locationOf(t, db, refs[5])
	gone := locationOf(t, db, refs[11])
	if flip.seg == trunc.seg || trunc.seg == gone.seg {
		t.Fatalf("want three segments, got %d %d %d", flip.seg, trunc.seg, gone.seg)
	}
	fh, err := os.OpenFile(f.segs.path(flip.seg), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte{datas[0][777] ^ 1}, flip.off+777); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := os.Truncate(f.segs.path(trunc.seg), trunc.off+trunc.n-1); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.segs.path(gone.seg)); err != nil {
		t.Fatal(err)
	}

	// Records that are no location: an inline payload from before
	// segments, a location past the end of its file, one into a segment
	// that never existed.
	inline, inlineData := storetest.Fragment(2000, 3000)
	past, _ := storetest.Fragment(2001, 100)
	nowhere, _ := storetest.Fragment(2002, 100)
	err = db.b.Update(func(txn *badger.Txn) error {
		for ref, rec := range map[storage.Ref][]byte{
			inline:  inlineData,
			past:    location{seg: flip.seg, off: 1 << 30, n: 100}.encode(),
			nowhere: location{seg: 999, off: headerSize, n: 100}.encode(),
		} {
			if err := txn.Set(dataKey(ref), rec); err != nil {
				return err
			}
			if err := txn.Set(sizeKey(ref), encodeSize(100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, ref := range map[string]storage.Ref{
		"flipped byte": refs[0], "truncated segment": refs[5], "removed segment": refs[11],
		"inline payload": inline, "past the end": past, "no such segment": nowhere,
	} {
		got, err := f.GetTo(ctx, make([]byte, 0, 60000), ref)
		if !errors.Is(err, storage.Corrupt) || got != nil {
			t.Errorf("Get (%s) = %d bytes, %v; want Corrupt", name, len(got), err)
		}
	}
	// Untouched neighbours still read.
	mustGetBytes(t, f, refs[1], datas[1])
	mustGetBytes(t, f, refs[4], datas[4])
	// Repair: delete, put again.
	if err := f.Delete(ctx, refs[5]); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, refs[5], datas[5]); err != nil {
		t.Fatal(err)
	}
	mustGetBytes(t, f, refs[5], datas[5])
	db.GC() // must cope with the missing file and the damage
	mustGetBytes(t, f, refs[5], datas[5])
	mustGetBytes(t, f, refs[1], datas[1])
	if _, err := f.Get(ctx, refs[0]); !errors.Is(err, storage.Corrupt) {
		t.Fatalf("Get of the flipped fragment after GC: %v, want Corrupt", err)
	}
}

func TestFormat(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, data := storetest.Fragment(1, 100)
	if err := db.Fragments().Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
	// Make it look like a database from before segments.
	if err := db.b.Update(func(txn *badger.Txn) error { return txn.Delete(formatKey) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, storage.Invalid) {
		t.Fatalf("Open of an old-format database: %v, want Invalid", err)
	}
	// A database with a format from the future is refused too, and an
	// empty one without a format gets one.
	empty := t.TempDir()
	db, err = Open(empty, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.b.Update(func(txn *badger.Txn) error { return txn.Set(formatKey, []byte{3}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, Options{}); !errors.Is(err, storage.Invalid) {
		t.Fatalf("Open of a format-3 database: %v, want Invalid", err)
	}
}

func TestOptionsSegments(t *testing.T) {
	for _, n := range []int64{-1, minSeg - 1, maxSeg + 1} {
		if _, err := Open(t.TempDir(), Options{SegmentSize: n}); !errors.Is(err, storage.Invalid) {
			t.Errorf("Open with SegmentSize %d: %v, want Invalid", n, err)
		}
	}
	db := openTiny(t, t.TempDir())
	big := make([]byte, maxFragment+1)
	if err := db.Fragments().PutVerified(t.Context(), storage.Ref{1}, big); !errors.Is(err, storage.Invalid) {
		t.Fatalf("Put of 64 MiB + 1: %v, want Invalid", err)
	}
}

func TestGCSegments(t *testing.T) {
	dir := t.TempDir()
	db := openTiny(t, dir)
	f, ctx := db.Fragments(), t.Context()
	const n, size = 60, 20000 // 12 records per 256 KiB segment: 5 segments
	refs, datas := putMany(t, f, 100, n, size)
	bySeg := map[uint32][]int{}
	for i, ref := range refs {
		l := locationOf(t, db, ref)
		bySeg[l.seg] = append(bySeg[l.seg], i)
	}
	if len(bySeg) != 5 {
		t.Fatalf("%d segments, want 5", len(bySeg))
	}
	// Segment 1: delete everything (removed). Segment 2: all but two
	// (compacted). Segment 3: a third (stays). 4 and 5: untouched; 5 is
	// active and is never collected.
	deleted := map[int]bool{}
	del := func(seg uint32, keep int) {
		for _, i := range bySeg[seg][keep:] {
			if err := f.Delete(ctx, refs[i]); err != nil {
				t.Fatal(err)
			}
			deleted[i] = true
		}
	}
	del(1, 0)
	del(2, 2)
	del(3, 8)
	del(5, 0)
	// A payload without index entry (garbage) in the active segment.
	junk, junkData := storetest.Fragment(999, 5000)
	r, err := f.segs.write(junk, junkData)
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	_, before := segmentFiles(t, dir)
	wantBytes := int64(n-len(deleted)) * size
	if f.Bytes() != wantBytes {
		t.Fatalf("Bytes = %d, want %d", f.Bytes(), wantBytes)
	}

	db.GC()
	nos, after := segmentFiles(t, dir)
	has := map[uint32]bool{}
	for _, no := range nos {
		has[no] = true
	}
	if len(nos) != 3 || has[1] || has[2] {
		t.Fatalf("segments after GC: %v; want 1 and 2 gone, 3, 4 and 5 kept", nos)
	}
	if after >= before {
		t.Fatalf("segments took %d bytes before GC, %d after", before, after)
	}
	check := func(f *Fragments) {
		t.Helper()
		for i, ref := range refs {
			if deleted[i] {
				if ok, err := f.Has(ctx, ref); ok || err != nil {
					t.Fatalf("Has deleted %d = %v, %v", i, ok, err)
				}
				continue
			}
			mustGetBytes(t, f, ref, datas[i])
		}
		if f.Bytes() != wantBytes {
			t.Fatalf("Bytes = %d, want %d", f.Bytes(), wantBytes)
		}
	}
	check(f)
	for _, i := range bySeg[2][:2] {
		if l := locationOf(t, db, refs[i]); l.seg != 5 {
			t.Fatalf("fragment %d of segment 2 at %+v after GC, want the active segment 5", i, l)
		}
	}
	// A second GC finds nothing more to do (5 is active).
	db.GC()
	if again, _ := segmentFiles(t, dir); len(again) != len(nos) {
		t.Fatalf("second GC: %v, want %v", again, nos)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTiny(t, dir)
	check(db.Fragments())
	// After a reopen 5 is sealed, with the two copies and garbage: it is
	// compacted into a new segment 6.
	db.GC()
	nos, _ = segmentFiles(t, dir)
	if len(nos) != 3 || nos[0] != 3 || nos[1] != 4 || nos[2] != 6 {
		t.Fatalf("GC after reopen: %v, want [3 4 6]", nos)
	}
	check(db.Fragments())
}

// TestConcurrentSegments puts, gets, deletes and collects at once: run it
// with -race.
func TestConcurrentSegments(t *testing.T) {
	dir := t.TempDir()
	db := openTiny(t, dir)
	f, ctx := db.Fragments(), t.Context()
	const workers, each, size = 6, 40, 9000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var gcs sync.WaitGroup
	gcs.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				db.GC()
			}
		}
	})
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ref, data := storetest.Fragment(uint64(10000+w*each+i), size+i)
				if err := f.Put(ctx, ref, data); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if got, err := f.Get(ctx, ref); err != nil || !bytes.Equal(got, data) {
					t.Errorf("Get: %d bytes, %v", len(got), err)
					return
				}
				if i%4 != 0 {
					if err := f.Delete(ctx, ref); err != nil {
						t.Errorf("Delete: %v", err)
						return
					}
				}
				// Read back an earlier survivor, possibly being moved.
				old := i / 4 * 4
				oref, odata := storetest.Fragment(uint64(10000+w*each+old), size+old)
				if got, err := f.Get(ctx, oref); err != nil || !bytes.Equal(got, odata) {
					t.Errorf("Get of an earlier fragment: %d bytes, %v", len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	gcs.Wait()
	var want int64
	for w := range workers {
		for i := 0; i < each; i += 4 {
			ref, data := storetest.Fragment(uint64(10000+w*each+i), size+i)
			mustGetBytes(t, f, ref, data)
			want += int64(len(data))
		}
	}
	if f.Bytes() != want {
		t.Fatalf("Bytes = %d, want %d", f.Bytes(), want)
	}
	if nos, _ := segmentFiles(t, dir); len(nos) >= int(nos[len(nos)-1]) {
		t.Fatalf("segments %v: GC collected none", nos)
	}
}

func TestSegmentName(t *testing.T) {
	for _, tc := range []struct {
		name string
		no   uint32
		ok   bool
	}{
		{"000001.seg", 1, true},
		{"123456.seg", 123456, true},
		{"1234567.seg", 1234567, true},
		{"4294967295.seg", 4294967295, true},
		{"000000.seg", 0, false},
		{"00001.seg", 0, false},
		{"0000001.seg", 0, false},
		{"4294967296.seg", 0, false},
		{"+00001.seg", 0, false},
		{"000001.seg.tmp", 0, false},
		{"abcdef.seg", 0, false},
	} {
		no, ok := parseSegmentName(tc.name)
		if no != tc.no || ok != tc.ok {
			t.Errorf("parseSegmentName(%q) = %d, %v; want %d, %v", tc.name, no, ok, tc.no, tc.ok)
		}
		if ok && segmentName(no) != tc.name {
			t.Errorf("segmentName(%d) = %q", no, segmentName(no))
		}
	}
}

func FuzzLocation(f *testing.F) {
	f.Add(location{seg: 1, off: headerSize, n: 0}.encode())
	f.Add(location{seg: 7, off: 123456, n: 105 << 10}.encode())
	f.Add(location{seg: 1<<32 - 1, off: maxOffset, n: maxFragment}.encode())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 1})
	f.Add([]byte("an old inline payload"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLocation(b)
		if err != nil {
			return
		}
		if l.seg == 0 || l.off < headerSize || l.off > maxOffset || l.n < 0 || l.n > maxFragment {
			t.Fatalf("decodeLocation(%x) = %+v, out of range", b, l)
		}
		if !bytes.Equal(l.encode(), b) {
			t.Fatalf("decodeLocation(%x) = %+v, which encodes as %x", b, l, l.encode())
		}
	})
}

// The Collector runs GC at its interval (a segment of deleted fragments
// disappears without anyone calling GC) and stops on Close.
func TestCollector(t *testing.T) {
	dir := t.TempDir()
	db := openTiny(t, dir)
	f, ctx := db.Fragments(), t.Context()
	refs, _ := putMany(t, f, 300, 30, 20000) // 3 segments; the last active
	for _, ref := range refs {
		if l := locationOf(t, db, ref); l.seg == 1 {
			if err := f.Delete(ctx, ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := NewCollector(ctx, db, 2*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		nos, _ := segmentFiles(t, dir)
		if len(nos) > 0 && nos[0] != 1 && c.runs.Load() >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment 1 still there after %d collector runs: %v", c.runs.Load(), nos)
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	n := c.runs.Load()
	time.Sleep(30 * time.Millisecond)
	if m := c.runs.Load(); m != n {
		t.Fatalf("%d GCs after Close", m-n)
	}
	c.Close() // again: a no-op
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The end of its context stops it too.
	cctx, cancel := context.WithCancel(context.Background())
	c = NewCollector(cctx, db, time.Millisecond)
	cancel()
	select {
	case <-c.loop.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the collector outlived its context")
	}
}
