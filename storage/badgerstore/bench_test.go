package badgerstore

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// BenchmarkBadgerPut measures Fragments.Put of fresh fragments into an
// on-disk database with sync off, verification (erasure.Root) included.
// Making each fragment is outside the timer.
func BenchmarkBadgerPut(b *testing.B) {
	for _, size := range []int{100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			db, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			f := db.Fragments()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				ref, data := storetest.Fragment(uint64(i), size)
				b.StartTimer()
				if err := f.Put(b.Context(), ref, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBadgerPutVerified measures the store alone: PutVerified of the
// same bytes under fresh refs (no hashing, nothing made per fragment).
func BenchmarkBadgerPutVerified(b *testing.B) {
	for _, size := range []int{100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			db, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			f := db.Fragments()
			_, data := storetest.Fragment(1, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				var ref storage.Ref
				binary.BigEndian.PutUint64(ref[:], uint64(i))
				if err := f.PutVerified(b.Context(), ref, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBadgerGet measures Fragments.GetTo of fragments held in an
// on-disk database (page-cached), into a reused buffer, verification
// included.
func BenchmarkBadgerGet(b *testing.B) {
	for _, size := range []int{100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			db, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			f := db.Fragments()
			refs := make([]storage.Ref, 64)
			for i := range refs {
				var data []byte
				refs[i], data = storetest.Fragment(uint64(i), size)
				if err := f.Put(b.Context(), refs[i], data); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.GetTo(b.Context(), buf, refs[i%len(refs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
