package fragment

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// BenchmarkPutGet moves 128 KiB fragments between two real hosts on
// 127.0.0.1 (TCP+TLS+yamux), a PUT then a GET of each, into a memstore.
// Bytes counted: each fragment once per direction. par is the number of
// concurrent streams.
func BenchmarkPutGet(b *testing.B) {
	const size = 128 << 10
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("par=%d", par), func(b *testing.B) {
			e := newEnv(b, realHosts(b, 2), ServiceConfig{Logf: b.Logf})
			rs := e.remote()
			type frag struct {
				ref  storage.Ref
				data []byte
			}
			frags := make([]frag, 64)
			for i := range frags {
				frags[i].ref, frags[i].data = storetest.Fragment(uint64(i), size)
			}
			ctx := b.Context()
			b.SetBytes(2 * size)
			b.ResetTimer()
			var wg sync.WaitGroup
			next := make(chan int)
			for range par {
				wg.Go(func() {
					for i := range next {
						f := frags[i%len(frags)]
						if err := rs.Put(ctx, f.ref, f.data); err != nil {
							b.Error(err)
							return
						}
						got, err := rs.Get(ctx, f.ref)
						if err != nil || !bytes.Equal(got, f.data) {
							b.Errorf("Get: %d bytes, %v", len(got), err)
							return
						}
						// Delete keeps the store small; it costs one more stream.
						if i%len(frags) == len(frags)-1 {
							_ = e.store.Delete(ctx, f.ref)
						}
					}
				})
			}
			for i := 0; i < b.N; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
		})
	}
}
