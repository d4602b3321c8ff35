package drive

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage/blob"
)

// BenchmarkPut compares a Drive Put (journal records, commit) with the
// bare blob.Client Put it wraps, 4 MiB of small (8 KiB) chunks: the
// journal's cost per chunk shows most here.
func BenchmarkPut(b *testing.B) {
	data := randBytes(1, 4<<20)
	for _, mode := range []string{"blob", "drive"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			d := e.drive(nil)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				// Vary the data so no chunk is reused across iterations.
				data[0], data[len(data)/2] = byte(i), byte(i>>8)
				var err error
				if mode == "blob" {
					_, err = e.bc.Put(context.Background(), bytes.NewReader(data), blob.PutOptions{})
				} else {
					_, err = d.Put(context.Background(), fmt.Sprintf("/f%d", i), bytes.NewReader(data), PutOptions{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNamespace measures Stat of a file four folders deep and List
// of a folder of 1,000 files, in a Tree over in-memory peers and records.
func BenchmarkNamespace(b *testing.B) {
	ctx := context.Background()
	ns := newTreeEnv(b).tree
	for i := 0; i < 1000; i++ {
		if _, err := ns.Commit(ctx, fmt.Sprintf("/a/b/c/d/f%04d", i), inline("some bytes"), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Stat", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ns.Stat(ctx, "/a/b/c/d/f0500"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if ls, err := ns.List(ctx, "/a/b/c/d"); err != nil || len(ls) != 1000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("Commit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ns.Commit(ctx, "/a/b/c/d/f0001", inline("other bytes"), time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
