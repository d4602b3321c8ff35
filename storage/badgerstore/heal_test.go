package badgerstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// A PUT of a fragment whose held copy is damaged replaces it: an owner's
// repair that lands on this holder again heals the copy, durable or not.
func TestPutHealsDamagedCopy(t *testing.T) {
	for _, o := range []Options{{}, {NoSync: true}} {
		ctx := context.Background()
		db, err := Open(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		f := db.Fragments()
		ref, data := storetest.Fragment(7, 20<<10)
		other, odata := storetest.Fragment(8, 10<<10)
		for _, p := range []struct {
			r storage.Ref
			d []byte
		}{{ref, data}, {other, odata}} {
			if err := f.Put(ctx, p.r, p.d); err != nil {
				t.Fatal(err)
			}
		}
		bytesBefore := f.Bytes()
		if err := f.Corrupt(ref, func(b []byte) []byte { b[100] ^= 1; return b }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Get(ctx, ref); storage.KindOf(err) != storage.Corrupt {
			t.Fatalf("%+v: damaged copy read: %v", o, err)
		}
		if err := f.Put(ctx, ref, data); err != nil {
			t.Fatal(err)
		}
		got, err := f.Get(ctx, ref)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%+v: after a PUT of the good bytes: %v", o, err)
		}
		if f.Bytes() != bytesBefore {
			t.Fatalf("%+v: healing changed Bytes from %d to %d", o, bytesBefore, f.Bytes())
		}
		if got, err := f.Get(ctx, other); err != nil || !bytes.Equal(got, odata) {
			t.Fatalf("%+v: the other fragment: %v", o, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
