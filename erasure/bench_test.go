package erasure

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"
)

func benchData(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

func BenchmarkEncode(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("10+6/%dMiB", size>>20), func(b *testing.B) {
			c, err := New(10, 6)
			if err != nil {
				b.Fatal(err)
			}
			data := benchData(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeTo reuses one buffer: no allocation or zeroing per chunk.
func BenchmarkEncodeTo(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("10+6/%dMiB", size>>20), func(b *testing.B) {
			c, err := New(10, 6)
			if err != nil {
				b.Fatal(err)
			}
			data := benchData(size)
			dst := make([]byte, c.EncodedSize(size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.EncodeTo(dst, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeRaw is the reference: reedsolomon's own Encode over shards
// that are already split, the bound for Encode.
func BenchmarkEncodeRaw(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("10+6/%dMiB", size>>20), func(b *testing.B) {
			enc, err := reedsolomon.New(10, 6)
			if err != nil {
				b.Fatal(err)
			}
			shards, err := enc.Split(benchData(size))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := enc.Encode(shards); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("10+6/%dMiB/lost4data", size>>20), func(b *testing.B) {
			c, err := New(10, 6)
			if err != nil {
				b.Fatal(err)
			}
			data := benchData(size)
			frags, err := c.Encode(data)
			if err != nil {
				b.Fatal(err)
			}
			for i := range 4 {
				frags[i] = nil
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(frags, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeRefs is Decode with refs: it hashes the k fragments it uses.
func BenchmarkDecodeRefs(b *testing.B) {
	c, err := New(10, 6)
	if err != nil {
		b.Fatal(err)
	}
	size := 1 << 20
	frags, err := c.Encode(benchData(size))
	if err != nil {
		b.Fatal(err)
	}
	refs := make([][32]byte, len(frags))
	for i, f := range frags {
		refs[i] = Root(f)
	}
	for i := range 4 {
		frags[i] = nil
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(frags, refs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoot(b *testing.B) {
	data := benchData(1 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		Root(data)
	}
}

// BenchmarkRootLeafSize measures the leaf size choice against plain BLAKE3.
func BenchmarkRootLeafSize(b *testing.B) {
	data := benchData(1 << 20)
	b.Run("blake3", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			blake3.Sum256(data)
		}
	})
	for _, ls := range []int{1 << 10, 4 << 10, 8 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("leaf=%dKiB", ls>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				rootLeafSize(data, ls)
			}
		})
	}
}
