package storetest

import (
	"bytes"
	"testing"

	"github.com/cairn-storage/cairn/erasure"
)

func TestFragment(t *testing.T) {
	r1, a := Fragment(1, 1000)
	r2, b := Fragment(1, 1000)
	r3, c := Fragment(2, 1000)
	if r1 != r2 || !bytes.Equal(a, b) {
		t.Fatal("Fragment is not deterministic")
	}
	if r1 == r3 || bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same fragment")
	}
	if r1 != erasure.Root(a) {
		t.Fatal("ref is not erasure.Root of the bytes")
	}
	if r, d := Fragment(1, 0); len(d) != 0 || r != erasure.Root(nil) {
		t.Fatal("empty fragment")
	}
}
