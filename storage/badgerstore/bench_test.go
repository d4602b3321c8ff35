package badgerstore

import (
	"fmt"
	"testing"

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
