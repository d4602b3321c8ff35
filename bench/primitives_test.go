package bench

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage/chunker"
)

// The pipeline's parameters: 1 MiB chunks (the chunker's average), the
// default 10+6 code plus 2 spare fragments on put (blob's Extra), 4 data
// fragments lost on the decode benchmark.
const (
	chunkSize = 1 << 20
	k, m      = 10, 8
	lost      = 4
)

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6265_6e63))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// BenchmarkPrimitives measures, on the current GOMAXPROCS, each stage of
// the data path over one 1 MiB chunk. Every sub-benchmark sets bytes to
// the chunk's 1 MiB of file data, whatever it processes, so that the time
// per byte of the stages adds up to the serial bound of the pipeline (see
// bench/pipeline.sh, which does the sum):
//
//	encode: chunker + derive + seal + rs-encode + root-encoded
//	decode: root-decode + rs-reconstruct + open
//
// memmove is listed for reference (the copies the stages make are inside
// their own numbers).
func BenchmarkPrimitives(b *testing.B) {
	data := randBytes(1, chunkSize)
	var secret cryptree.ChunkSecret
	copy(secret[:], randBytes(2, 32))
	var key cryptree.Key
	copy(key[:], randBytes(3, 16))
	sealed := cryptree.SealChunkPadded(nil, key, data)
	code, err := erasure.New(k, m)
	if err != nil {
		b.Fatal(err)
	}
	frags, err := code.Encode(sealed)
	if err != nil {
		b.Fatal(err)
	}
	refs := make([][32]byte, len(frags))
	for i, f := range frags {
		refs[i] = erasure.Root(f)
	}

	b.Run("memmove", func(b *testing.B) {
		dst := make([]byte, chunkSize)
		b.SetBytes(chunkSize)
		for b.Loop() {
			copy(dst, data)
		}
	})
	b.Run("chunker", func(b *testing.B) {
		// 64 MiB through the content-defined chunker from a bytes.Reader,
		// as BenchmarkPipeline feeds it (the read's copy included).
		const n = 64
		big := randBytes(4, n*chunkSize)
		ch, err := chunker.New(bytes.NewReader(big), chunker.Default)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(n * chunkSize)
		for b.Loop() {
			ch.Reset(bytes.NewReader(big))
			for {
				if _, err := ch.Next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("derive", func(b *testing.B) {
		b.SetBytes(chunkSize)
		for b.Loop() {
			secret.Derive(data)
		}
	})
	b.Run("seal", func(b *testing.B) {
		dst := make([]byte, 0, cryptree.PaddedChunkSize(len(data)))
		b.SetBytes(chunkSize)
		for b.Loop() {
			dst = cryptree.SealChunkPadded(dst[:0], key, data)
		}
	})
	b.Run("rs-encode", func(b *testing.B) {
		dst := make([]byte, code.EncodedSize(len(sealed)))
		b.SetBytes(chunkSize)
		for b.Loop() {
			if _, err := code.EncodeTo(dst, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("root-encoded", func(b *testing.B) {
		// Every fragment of the chunk: (k+m)/k = 1.8× the sealed bytes.
		b.SetBytes(chunkSize)
		for b.Loop() {
			for _, f := range frags {
				erasure.Root(f)
			}
		}
	})
	b.Run("root-decode", func(b *testing.B) {
		// The k fragments a read fetches and verifies: 1.0×.
		b.SetBytes(chunkSize)
		for b.Loop() {
			for _, f := range frags[lost : lost+k] {
				erasure.Root(f)
			}
		}
	})
	b.Run("rs-reconstruct", func(b *testing.B) {
		// The first 4 data fragments lost; their refs are known, so
		// DecodeTo does not hash (that is root-decode's share).
		in := make([][]byte, len(frags))
		dst := make([]byte, len(sealed))
		b.SetBytes(chunkSize)
		for b.Loop() {
			copy(in, frags)
			for i := range lost {
				in[i] = nil
			}
			for i := lost + k; i < len(in); i++ {
				in[i] = nil
			}
			if _, err := code.DecodeTo(dst, in, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		dst := make([]byte, 0, len(data))
		b.SetBytes(chunkSize)
		for b.Loop() {
			var err error
			if dst, err = cryptree.OpenChunk(dst[:0], key, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
