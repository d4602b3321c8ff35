package erasure

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func FuzzParseHeader(f *testing.F) {
	for _, h := range []Header{{K: 1, M: 0, Index: 0, DataLen: 1}, {K: 10, M: 6, Index: 15, DataLen: 1 << 20}, {K: 256, M: 0, Index: 255, DataLen: MaxData}} {
		b := make([]byte, HeaderSize)
		putHeader(b, h)
		f.Add(b)
	}
	f.Add([]byte("CEF\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// A parsed header is in range and re-encodes to the same bytes.
		if h.K < 1 || h.M < 0 || h.K+h.M > MaxShards || h.Index < 0 || h.Index >= h.K+h.M || h.DataLen < 1 || h.DataLen > MaxData {
			t.Fatalf("out of range header accepted: %+v", h)
		}
		out := make([]byte, HeaderSize)
		putHeader(out, h)
		if !bytes.Equal(out, b[:HeaderSize]) {
			t.Fatalf("header %+v re-encodes to %x, parsed %x", h, out, b[:HeaderSize])
		}
		if _, err := CheckFragment(b); (err == nil) != (len(b) == h.FragmentSize()) {
			t.Fatalf("CheckFragment of %d bytes for %+v: %v", len(b), h, err)
		}
	})
}

func FuzzParseProof(f *testing.F) {
	for _, pi := range [][2]int{{0, 0}, {1, 0}, {LeafSize + 1, 1}, {3*LeafSize + 1, 3}, {5*LeafSize + 3, 5}, {100, 0}} {
		p, err := Prove(vectorData(pi[0]), pi[1])
		if err != nil {
			f.Fatal(err)
		}
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		_ = p.Verify([32]byte{})
		// Only the data the seeds came from can make a parsed proof verify.
		if p.Size <= 5*LeafSize+3 && p.Verify(Root(vectorData(int(p.Size)))) {
			q, _ := Prove(vectorData(int(p.Size)), p.Index)
			if !bytes.Equal(q.Leaf, p.Leaf) {
				t.Fatal("a wrong leaf verifies")
			}
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed proof does not marshal: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip differs: %x -> %x", b, out)
		}
	})
}

// FuzzDecode damages fragments of a small code as ops say. Decode must never
// panic; with refs it returns the original data or an error, never wrong data.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("hello, fragments"), []byte{})
	f.Add([]byte("x"), []byte{0, 0, 0, 0})
	f.Add(vectorData(300), []byte{1, 1, 2, 0, 3, 2, 0, 0, 0, 3, 9, 9})
	f.Add(vectorData(1000), []byte{4, 4, 0, 0, 2, 5, 1, 1, 0, 0, 16, 0})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		if len(data) == 0 || len(data) > 1<<14 {
			return
		}
		c, err := New(3, 2)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := c.Encode(data)
		if err != nil {
			t.Fatal(err)
		}
		refs := rootsOf(orig)
		frags := cloneFrags(orig)
		for len(ops) >= 4 {
			i, kind, pos := int(ops[0])%len(frags), ops[1]%6, int(binary.LittleEndian.Uint16(ops[2:4]))
			ops = ops[4:]
			fr := frags[i]
			switch kind {
			case 0: // flip a bit
				if len(fr) > 0 {
					fr[(pos/8)%len(fr)] ^= 1 << (pos % 8)
				}
			case 1: // truncate
				if len(fr) > 0 {
					frags[i] = fr[:pos%len(fr)]
				}
			case 2: // extend
				frags[i] = append(fr, byte(pos))
			case 3: // drop
				frags[i] = nil
			case 4: // replace by another fragment
				frags[i] = append([]byte{}, frags[pos%len(frags)]...)
			case 5: // overwrite a header byte
				if len(fr) > 0 {
					fr[(pos>>8)%min(len(fr), HeaderSize)] = byte(pos)
				}
			}
		}
		got, err := c.Decode(frags, refs)
		if err == nil && !bytes.Equal(got, data) {
			t.Fatal("wrong data with refs")
		}
		if err != nil && !errors.Is(err, ErrTooFew) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error %v", err)
		}
		_, _ = c.Decode(frags, nil) // must not panic; may be wrong without refs
	})
}
