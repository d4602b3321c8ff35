package blob

import (
	"bytes"
	"testing"
)

func FuzzParseManifest(f *testing.F) {
	c := newClient(f, newNet(16), Config{})
	for _, n := range []int{0, 5, 20 << 10} {
		m := put(f, c, randBytes(uint64(n), n))
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("CMF\x01"))
	f.Add([]byte("CMF\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		// A manifest that parses re-encodes to the same bytes and has
		// consistent sizes.
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs")
		}
		var total int64
		for _, ck := range m.Chunks {
			total += int64(ck.Size)
			for _, fr := range ck.Frags {
				if fr.Index >= ck.N {
					t.Fatalf("fragment index %d >= N %d", fr.Index, ck.N)
				}
			}
		}
		if len(m.Chunks) > 0 && total != m.Size {
			t.Fatalf("chunk sizes %d != size %d", total, m.Size)
		}
		if len(m.Chunks) > 0 {
			m.chunkAt(m.Size - 1)
		}
	})
}
