package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

var _ storetest.Corrupter = (*Fragments)(nil)

// opener opens on-disk databases for the suite and remembers where each
// store lives, so that reopen can find it.
type opener struct {
	mu  sync.Mutex
	dbs map[any]*DB
	dir map[*DB]string
}

func newOpener() *opener { return &opener{dbs: map[any]*DB{}, dir: map[*DB]string{}} }

func (o *opener) open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	o.mu.Lock()
	o.dir[db] = dir
	o.mu.Unlock()
	return db
}

func (o *opener) remember(store any, db *DB) {
	o.mu.Lock()
	o.dbs[store] = db
	o.mu.Unlock()
}

// reopenDB closes the db behind store and opens its directory again.
func (o *opener) reopenDB(t *testing.T, store any) *DB {
	t.Helper()
	o.mu.Lock()
	db := o.dbs[store]
	dir := o.dir[db]
	o.mu.Unlock()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return o.open(t, dir)
}

func TestFragments(t *testing.T) {
	o := newOpener()
	storetest.TestFragmentStore(t,
		func(t *testing.T) storage.FragmentStore {
			db := o.open(t, t.TempDir())
			o.remember(db.Fragments(), db)
			return db.Fragments()
		},
		func(t *testing.T, old storage.FragmentStore) storage.FragmentStore {
			db := o.reopenDB(t, old)
			o.remember(db.Fragments(), db)
			return db.Fragments()
		})
}

func TestKV(t *testing.T) {
	o := newOpener()
	storetest.TestKV(t,
		func(t *testing.T) storage.KV {
			db := o.open(t, t.TempDir())
			// A neighbouring namespace and fragments must not show through.
			fill(t, db)
			kv := db.KV("test")
			o.remember(kv, db)
			return kv
		},
		func(t *testing.T, old storage.KV) storage.KV {
			db := o.reopenDB(t, old)
			kv := db.KV("test")
			o.remember(kv, db)
			return kv
		})
}

// fill puts keys around namespace "test" and a fragment into db.
func fill(t *testing.T, db *DB) {
	t.Helper()
	for _, ns := range []string{"tes", "test2", "tesu", "a", "z"} {
		if err := db.KV(ns).Set(t.Context(), []byte("x"), []byte(ns)); err != nil {
			t.Fatal(err)
		}
	}
	ref, data := storetest.Fragment(77, 100)
	if err := db.Fragments().Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
}

func TestInMemory(t *testing.T) {
	db, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := db.Fragments()
	for _, n := range []int{0, 100, 1<<20 - 1} {
		ref, data := storetest.Fragment(uint64(n), n)
		if err := f.Put(t.Context(), ref, data); err != nil {
			t.Fatalf("Put %d bytes: %v", n, err)
		}
		got, err := f.Get(t.Context(), ref)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
	ref, data := storetest.Fragment(1, 1<<20)
	if err := f.Put(t.Context(), ref, data); !errors.Is(err, storage.Invalid) {
		t.Fatalf("Put of 1 MiB in memory: %v, want Invalid", err)
	}
	if got := f.Bytes(); got != 100+1<<20-1 {
		t.Fatalf("Bytes = %d", got)
	}
	db.GC() // a no-op in memory
}

func TestClosed(t *testing.T) {
	db, err := Open(t.TempDir(), Options{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	f, kv := db.Fragments(), db.KV("n")
	ref, data := storetest.Fragment(1, 10)
	if err := f.Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db.GC()
	isIO := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.IO) {
			t.Errorf("%s after Close: %v, want an IO error", what, err)
		}
	}
	_, err = f.Get(t.Context(), ref)
	isIO("Get", err)
	_, err = f.Has(t.Context(), ref)
	isIO("Has", err)
	isIO("Put", f.Put(t.Context(), ref, data))
	isIO("Delete", f.Delete(t.Context(), ref))
	isIO("List", f.List(t.Context(), func(storage.Ref, int64) error { return nil }))
	isIO("Corrupt", f.Corrupt(ref, func(b []byte) []byte { return b }))
	_, err = kv.Get(t.Context(), []byte("a"))
	isIO("kv Get", err)
	isIO("kv Set", kv.Set(t.Context(), []byte("a"), nil))
	isIO("kv Delete", kv.Delete(t.Context(), []byte("a")))
	isIO("kv Scan", kv.Scan(t.Context(), nil, func(k, v []byte) error { return nil }))
}

func TestCloseWaits(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	kv := db.KV("n")
	for i := range 100 {
		if err := kv.Set(t.Context(), fmt.Appendf(nil, "%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// Close while a scan is in its callback: Close waits, later calls fail.
	inScan, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		n := 0
		done <- kv.Scan(t.Context(), nil, func(k, v []byte) error {
			if n++; n == 1 {
				close(inScan)
				<-release
			}
			return nil
		})
	}()
	<-inScan
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a Scan was running")
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestNamespace(t *testing.T) {
	db, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ns := range []string{"", "a/b", "/"} {
		kv := db.KV(ns)
		if err := kv.Set(t.Context(), []byte("k"), []byte("v")); !errors.Is(err, storage.Invalid) {
			t.Errorf("KV(%q).Set: %v, want Invalid", ns, err)
		}
		if _, err := kv.Get(t.Context(), []byte("k")); !errors.Is(err, storage.Invalid) {
			t.Errorf("KV(%q).Get: %v, want Invalid", ns, err)
		}
	}
	kv := db.KV("ok")
	if err := kv.Set(t.Context(), []byte(strings.Repeat("k", maxKeySize)), nil); !errors.Is(err, storage.Invalid) {
		t.Errorf("Set of a huge key: %v, want Invalid", err)
	}
	if err := kv.Set(t.Context(), []byte("v"), make([]byte, inMemoryMax)); !errors.Is(err, storage.Invalid) {
		t.Errorf("Set of a huge value in memory: %v, want Invalid", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := &logger{w: &buf}
	l.Infof("quiet")
	l.Warningf("careful %d\n", 1)
	l.Errorf("broken")
	if got, want := buf.String(), "badger warning: careful 1\nbadger error: broken\n"; got != want {
		t.Fatalf("log = %q, want %q", got, want)
	}
	db, err := Open(t.TempDir(), Options{Logger: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedSizeRecord(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := db.Fragments()
	ref, data := storetest.Fragment(1, 2000)
	orphan, _ := storetest.Fragment(2, 10)
	if err := f.Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
	err = db.b.Update(func(txn *badger.Txn) error {
		if err := txn.Set(sizeKey(ref), []byte{1, 2, 3}); err != nil {
			return err
		}
		if err := txn.Set(sizeKey(orphan), []byte{1}); err != nil {
			return err
		}
		return txn.Set([]byte("z/short"), encodeSize(5))
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(f *Fragments) {
		t.Helper()
		got := map[storage.Ref]int64{}
		if err := f.List(t.Context(), func(r storage.Ref, n int64) error { got[r] = n; return nil }); err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(got) != 2 || got[ref] != 2000 || got[orphan] != 0 {
			t.Fatalf("List = %v, want %s: 2000 and %s: 0", got, ref.Short(), orphan.Short())
		}
	}
	check(f)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open over damaged size records: %v", err)
	}
	defer db.Close()
	f = db.Fragments()
	check(f)
	if f.Bytes() != 2000 {
		t.Fatalf("Bytes = %d, want 2000", f.Bytes())
	}
	for _, r := range []storage.Ref{ref, orphan} {
		if err := f.Delete(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if f.Bytes() != 0 {
		t.Fatalf("Bytes after deleting = %d, want 0", f.Bytes())
	}
}

func FuzzDecodeSize(f *testing.F) {
	f.Add(encodeSize(0))
	f.Add(encodeSize(16 << 20))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeSize(b)
		if err != nil {
			return
		}
		if n < 0 || !bytes.Equal(encodeSize(int(n)), b) {
			t.Fatalf("decodeSize(%x) = %d, which encodes differently", b, n)
		}
	})
}

func TestPutVerifiedGetTo(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, ctx := db.Fragments(), t.Context()
	ref, data := storetest.Fragment(3, 5000)
	if err := f.PutVerified(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		dst   []byte
		alias bool
	}{
		{"nil", nil, false},
		{"small", make([]byte, 10), false},
		{"room", make([]byte, 3, 8000), true},
	} {
		got, err := f.GetTo(ctx, tc.dst, ref)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: GetTo = %d bytes, %v", tc.name, len(got), err)
		}
		if alias := cap(tc.dst) > 0 && &got[0] == &tc.dst[:1][0]; alias != tc.alias {
			t.Fatalf("%s: result aliases dst: %v, want %v", tc.name, alias, tc.alias)
		}
	}
	// PutVerified trusts its caller; Get still catches bytes that lie.
	bad, _ := storetest.Fragment(4, 5000)
	if err := f.PutVerified(ctx, bad, data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetTo(ctx, make([]byte, 0, 8000), bad); !errors.Is(err, storage.Corrupt) {
		t.Fatalf("GetTo of a mismatching fragment: %v, want Corrupt", err)
	}
	if f.Bytes() != 10000 {
		t.Fatalf("Bytes = %d, want 10000", f.Bytes())
	}
	_, err = f.GetTo(ctx, nil, storage.Ref{1})
	if !errors.Is(err, storage.NotExist) {
		t.Fatalf("GetTo of a missing ref: %v, want NotExist", err)
	}
}
