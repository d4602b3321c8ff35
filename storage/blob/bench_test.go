package blob

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/chunker"
)

// nullStore accepts every fragment and keeps nothing: it isolates the
// encode path (read → chunk → derive → seal → RS → hash) from storage.
type nullStore struct{}

func (nullStore) Put(context.Context, storage.Ref, []byte) error { return nil }
func (nullStore) Get(context.Context, storage.Ref) ([]byte, error) {
	return nil, storage.E("get", storage.NotExist, nil)
}
func (nullStore) Has(context.Context, storage.Ref) (bool, error) { return false, nil }
func (nullStore) Delete(context.Context, storage.Ref) error      { return nil }

func nullNet(n int) Stores {
	s := Stores{}
	for _, id := range newNet(n).ids {
		s[id] = nullStore{}
	}
	return s
}

// BenchmarkPipeline measures the encode path of Put with default
// parameters (1 MiB average chunks, 10+6 code + 2 spare) into stores that
// discard: MB/s of file data. Run with -cpu 1 for the one-core figure.
func BenchmarkPipeline(b *testing.B) {
	const size = 64 << 20
	data := randBytes(1, size)
	c := newClient(b, nullNet(18), Config{Chunking: chunker.Default})
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Put(context.Background(), bytes.NewReader(data), PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineDecode measures the read path (fetch k fragments from
// in-memory stores, verify, RS-decode, open) with 4 data fragments of
// every chunk lost, so every chunk is reconstructed.
func BenchmarkPipelineDecode(b *testing.B) {
	const size = 64 << 20
	data := randBytes(2, size)
	net := newNet(18)
	c := newClient(b, net, Config{Chunking: chunker.Default})
	m := put(b, c, data)
	for _, ck := range m.Chunks {
		for _, f := range ck.Frags[:4] {
			_ = net.mem[f.Holder].Corrupt(f.Ref, func([]byte) []byte { return nil })
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Open(context.Background(), m).WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	n, off int64
	block  []byte
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := int64(0); i < k; {
		j := (p.off + i) % int64(len(p.block))
		i += int64(copy(b[i:k], p.block[j:]))
	}
	p.off += k
	// perturb so chunks differ
	b[0] ^= byte(p.off >> 20)
	return int(k), nil
}

// TestStreamingMemory streams 1 GiB (256 MiB with -short) through Put and
// checks the peak heap stays bounded by a few chunks per worker, not the
// input size. It reports the peak.
func TestStreamingMemory(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 256 << 20
	}
	c := newClient(t, nullNet(18), Config{Chunking: chunker.Default})
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	r := &patternReader{n: size, block: randBytes(5, 9<<20+13)}
	m, err := c.Put(context.Background(), r, PutOptions{})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != size {
		t.Fatalf("size %d", m.Size)
	}
	t.Logf("streamed %d MiB in %d chunks: peak heap in use %.1f MiB", size>>20, len(m.Chunks), float64(peak.Load())/(1<<20))
	if p := peak.Load(); p > 128<<20 {
		t.Fatalf("peak heap %d MiB for a streamed %d MiB input: want < 128 MiB", p>>20, size>>20)
	}
}
