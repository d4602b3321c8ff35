package cryptree

import (
	"bytes"
	"errors"
	"testing"
)

func TestPaddedSize(t *testing.T) {
	for _, c := range [][2]int{
		{0, 1024}, {1023, 1024}, {1024, 2048}, {2047, 2048}, {2048, 4096},
		{1<<20 - 1, 1 << 20}, {1 << 20, 2 << 20}, {2<<20 - 1, 2 << 20}, {2 << 20, 3 << 20}, {5<<20 + 7, 6 << 20},
	} {
		if got := PaddedSize(c[0]); got != c[1] {
			t.Errorf("PaddedSize(%d) = %d, want %d", c[0], got, c[1])
		}
	}
}

func TestPad(t *testing.T) {
	for _, n := range []int{0, 1, 100, 1023, 1024, 3000, 1<<20 - 1, 1 << 20} {
		b := pattern(n, 1, 1)
		p := Pad(b)
		if len(p) != PaddedSize(n) {
			t.Fatalf("Pad(%d) is %d bytes", n, len(p))
		}
		got, err := Unpad(p)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Unpad(Pad(%d)): %v", n, err)
		}
		// Trailing zeros in the content survive.
		z := make([]byte, n)
		if got, err := Unpad(Pad(z)); err != nil || !bytes.Equal(got, z) {
			t.Fatalf("Unpad(Pad(%d zeros)): %v", n, err)
		}
	}
	good := Pad([]byte("hello"))
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"all zero", make([]byte, 1024)},
		{"no marker", append(bytes.Repeat([]byte{1}, 5), make([]byte, 1019)...)},
		{"short", good[:1023]},
		{"long", append(bytes.Clone(good), 0)},
		{"not a bucket", append(bytes.Clone(good), make([]byte, 1024)...)},
		{"marker only, small", []byte{0x80}},
	} {
		if _, err := Unpad(c.b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
