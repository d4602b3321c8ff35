package badgerstore

import (
	"errors"
	"os"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// Puts record the payload's CRC-32C in the location (tag 2), and reads
// check it instead of the Merkle root; a location written before (tag 1,
// no checksum) is still read and verified against the root; a flipped
// payload byte reads as Corrupt under either.
func TestLocationChecksum(t *testing.T) {
	dir := t.TempDir()
	db := openTiny(t, dir)
	f := db.Fragments()
	refs, datas := putMany(t, f, 900, 4, 20000)
	for i, ref := range refs {
		l := locationOf(t, db, ref)
		if !l.hasSum || l.sum != checksum(datas[i]) {
			t.Fatalf("fragment %d: location %+v, want the payload's CRC-32C %08x", i, l, checksum(datas[i]))
		}
		mustGetBytes(t, f, ref, datas[i])
	}
	// Rewrite the location of fragments 2 and 3 as an older store did.
	for i := 2; i < len(refs); i++ {
		ref := refs[i]
		l := locationOf(t, db, ref)
		l.hasSum = false
		if len(l.encode()) != locSize1 {
			t.Fatalf("tag-1 location of %d bytes", len(l.encode()))
		}
		err := db.b.Update(func(txn *badger.Txn) error { return txn.Set(dataKey(ref), l.encode()) })
		if err != nil {
			t.Fatal(err)
		}
		mustGetBytes(t, f, ref, datas[i])
	}
	// Flip a byte of fragment 0 (checksum) and of fragment 2 (root).
	for _, i := range []int{0, 2} {
		l := locationOf(t, db, refs[i])
		fh, err := os.OpenFile(f.segs.path(l.seg), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt([]byte{datas[i][1234] ^ 0x10}, l.off+1234); err != nil {
			t.Fatal(err)
		}
		_ = fh.Close()
		if _, err := f.Get(t.Context(), refs[i]); !errors.Is(err, storage.Corrupt) {
			t.Fatalf("Get of fragment %d with a flipped byte: %v, want Corrupt", i, err)
		}
	}
	mustGetBytes(t, f, refs[1], datas[1])
	mustGetBytes(t, f, refs[3], datas[3])
	// Corrupt (the tests' damage) keeps the checksum of the good bytes.
	if err := f.Corrupt(refs[1], func(b []byte) []byte { b[0] ^= 1; return b }); err != nil {
		t.Fatal(err)
	}
	if l := locationOf(t, db, refs[1]); !l.hasSum || l.sum != checksum(datas[1]) {
		t.Fatalf("after Corrupt: location %+v, want the good bytes' checksum", l)
	}
	if _, err := f.Get(t.Context(), refs[1]); !errors.Is(err, storage.Corrupt) {
		t.Fatalf("Get after Corrupt: %v, want Corrupt", err)
	}
	// PutVerified records no checksum (reads check the root, which
	// catches a caller that lied, TestPutVerifiedGetTo); PutVerifiedSum
	// does.
	ref5, data5 := storetest.Fragment(905, 3000)
	ref6, data6 := storetest.Fragment(906, 3000)
	if err := f.PutVerified(t.Context(), ref5, data5); err != nil {
		t.Fatal(err)
	}
	if err := f.PutVerifiedSum(t.Context(), ref6, data6); err != nil {
		t.Fatal(err)
	}
	if l := locationOf(t, db, ref5); l.hasSum {
		t.Fatalf("PutVerified recorded a checksum: %+v", l)
	}
	if l := locationOf(t, db, ref6); !l.hasSum || l.sum != checksum(data6) {
		t.Fatalf("PutVerifiedSum: location %+v, want checksum %08x", l, checksum(data6))
	}
	mustGetBytes(t, f, ref5, data5)
	mustGetBytes(t, f, ref6, data6)
	// A PUT of the good bytes heals the damaged copy, with a checksum.
	if err := f.Put(t.Context(), refs[1], datas[1]); err != nil {
		t.Fatal(err)
	}
	mustGetBytes(t, f, refs[1], datas[1])
}
