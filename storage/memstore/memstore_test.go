package memstore_test

import (
	"testing"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
	"github.com/cairn-storage/cairn/storage/storetest"
)

var _ storetest.Corrupter = (*memstore.Store)(nil)

func TestStore(t *testing.T) {
	storetest.TestFragmentStore(t, func(*testing.T) storage.FragmentStore { return memstore.New() }, nil)
}

func TestKV(t *testing.T) {
	storetest.TestKV(t, func(*testing.T) storage.KV { return memstore.NewKV() }, nil)
}

func TestLenBytes(t *testing.T) {
	s := memstore.New()
	for i, n := range []int{0, 10, 1000} {
		ref, data := storetest.Fragment(uint64(i), n)
		if err := s.Put(t.Context(), ref, data); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), ref, data); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 3 || s.Bytes() != 1010 {
		t.Fatalf("Len, Bytes = %d, %d; want 3, 1010", s.Len(), s.Bytes())
	}
	ref, _ := storetest.Fragment(2, 1000)
	if err := s.Corrupt(ref, func(b []byte) []byte { return b[:10] }); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Bytes() != 20 {
		t.Fatalf("after truncating one: Len, Bytes = %d, %d; want 3, 20", s.Len(), s.Bytes())
	}
}
