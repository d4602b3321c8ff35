package badgerstore

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// BenchmarkBadgerPut measures Fragments.Put of fresh fragments into an
// on-disk database with durable puts (the default, one put at a time, so
// every put waits for its own fsyncs), verification (erasure.Root) included.
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

// BenchmarkBadgerPutParallel measures PutVerified of fresh 100 KiB
// fragments from 16 goroutines, as the fragment service does with many
// peers uploading at once (it hashes each body itself and calls
// PutVerified): durable (the default, group commit) and with NoSync (as
// before durable acknowledgements). cpu-s/GB is the process's user+system CPU time per GB
// stored, read with getrusage.
func BenchmarkBadgerPutParallel(b *testing.B) {
	const size = 100 << 10
	b.Run("durable", func(b *testing.B) { benchPutParallel(b, Options{}, size) })
	b.Run("nosync", func(b *testing.B) { benchPutParallel(b, Options{NoSync: true}, size) })
}

func benchPutParallel(b *testing.B, o Options, size int) {
	db, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	f := db.Fragments()
	_, data := storetest.Fragment(1, size)
	var next atomic.Uint64
	b.SetBytes(int64(size))
	b.SetParallelism(8) // 16 goroutines on 2 cores
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var ref storage.Ref
			binary.BigEndian.PutUint64(ref[:], next.Add(1))
			if err := f.PutVerified(b.Context(), ref, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	gb := float64(b.N) * float64(size) / 1e9
	b.ReportMetric((cpuTime()-cpu0).Seconds()/gb, "cpu-s/GB")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
