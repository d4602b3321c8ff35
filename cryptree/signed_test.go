package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	w := mustWriter(t, &stream{next: 7})
	for _, v := range [][]byte{nil, []byte("locator"), make([]byte, MaxRecordValue)} {
		r, err := SignRecord(w, 42, v)
		if err != nil {
			t.Fatal(err)
		}
		b := r.Marshal()
		if len(b) != 45+len(v)+64 {
			t.Errorf("record of a %d-byte value is %d bytes", len(v), len(b))
		}
		got, err := ParseRecord(b)
		if err != nil || got.ID != w.ID() || got.Seq != 42 || !bytes.Equal(got.Value, v) || got.Sig != r.Sig {
			t.Fatalf("ParseRecord: %+v, %v", got, err)
		}
	}
	if _, err := SignRecord(w, 1, make([]byte, MaxRecordValue+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized value: %v", err)
	}
	if _, err := SignRecord(Writer{}, 1, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero writer: %v", err)
	}
}

func TestRecordRefused(t *testing.T) {
	w := mustWriter(t, &stream{next: 7})
	mallory := mustWriter(t, &stream{next: 99})
	r, _ := SignRecord(w, 5, []byte("locator v5"))
	bad := func(what string, b []byte, want error) {
		t.Helper()
		if got, err := ParseRecord(b); !errors.Is(err, want) || got != nil {
			t.Errorf("%s: got %v, want %v", what, err, want)
		}
	}
	edit := func(f func(r *Record)) []byte {
		c := *r
		c.Value = bytes.Clone(r.Value)
		f(&c)
		return c.Marshal()
	}
	bad("higher seq", edit(func(c *Record) { c.Seq = 6 }), ErrBadSignature)
	bad("changed value", edit(func(c *Record) { c.Value[0] ^= 1 }), ErrBadSignature)
	bad("longer value", edit(func(c *Record) { c.Value = append(c.Value, 0) }), ErrBadSignature)
	bad("other folder id", edit(func(c *Record) { c.ID = mallory.ID() }), ErrBadSignature)
	forged, _ := SignRecord(mallory, 6, []byte("evil"))
	bad("signed by another key", edit(func(c *Record) { c.Seq, c.Value, c.Sig = 6, []byte("evil"), forged.Sig }), ErrBadSignature)
	bad("zero signature", edit(func(c *Record) { c.Sig = [64]byte{} }), ErrBadSignature)
	if !errors.Is(ErrBadSignature, ErrCannotDecrypt) {
		t.Error("ErrBadSignature is not ErrCannotDecrypt")
	}

	b := r.Marshal()
	for i := range b {
		for _, bit := range []byte{1, 0x80} {
			b[i] ^= bit
			if got, err := ParseRecord(b); err == nil || got != nil {
				t.Fatalf("byte %d bit %#x flipped: accepted", i, bit)
			}
			b[i] ^= bit
		}
	}
	for n := range len(b) {
		bad("truncated", b[:n], ErrInvalid)
	}
	bad("extended", append(bytes.Clone(b), 0), ErrInvalid)
	bad("oversized", make([]byte, MaxRecordLen+1), ErrInvalid)
}

func TestSelectRecord(t *testing.T) {
	rec := func(seq uint64, v string) *Record { return &Record{Seq: seq, Value: []byte(v)} }
	for _, c := range []struct {
		name string
		recs []*Record
		want int
	}{
		{"none", nil, -1},
		{"only nils", []*Record{nil, nil}, -1},
		{"one", []*Record{rec(1, "a")}, 0},
		{"highest seq", []*Record{rec(1, "z"), rec(3, "a"), rec(2, "zz")}, 1},
		{"tie: larger value", []*Record{rec(3, "ab"), rec(3, "b"), rec(3, "aa")}, 1},
		{"tie: longer value with same prefix", []*Record{rec(3, "a"), rec(3, "a\x00")}, 1},
		{"equal: first", []*Record{rec(2, "x"), rec(2, "x")}, 0},
		{"nils skipped", []*Record{nil, rec(1, ""), nil, rec(2, "")}, 3},
		{"jump past the step loses", []*Record{rec(^uint64(0), "evil"), rec(5, "good")}, 1},
		{"jump past the step loses, either order", []*Record{rec(5, "good"), rec(5+MaxSeqStep+1, "evil")}, 0},
		{"a step of MaxSeqStep is taken", []*Record{rec(5, "a"), rec(5+MaxSeqStep, "b")}, 1},
		{"a chain of steps is followed", []*Record{rec(5+2*MaxSeqStep, "c"), rec(5, "a"), rec(5+MaxSeqStep, "b")}, 0},
		{"a lone jump is all there is", []*Record{rec(^uint64(0), "x")}, 0},
	} {
		if got := SelectRecord(c.recs); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

func TestFollows(t *testing.T) {
	rec := func(seq uint64, v string) *Record { return &Record{Seq: seq, Value: []byte(v)} }
	for _, c := range []struct {
		cur, next *Record
		want      bool
	}{
		{rec(1, "a"), rec(2, "a"), true},
		{rec(1, "b"), rec(2, "a"), true},
		{rec(2, "a"), rec(1, "z"), false},
		{rec(2, "a"), rec(2, "b"), true},
		{rec(2, "b"), rec(2, "a"), false},
		{rec(2, "a"), rec(2, "a"), false},
		{rec(0, ""), rec(MaxSeqStep, ""), true},
		{rec(0, ""), rec(MaxSeqStep+1, ""), false},
		{rec(7, ""), rec(^uint64(0), ""), false},
	} {
		if got := Follows(c.cur, c.next); got != c.want {
			t.Errorf("Follows(seq %d %q, seq %d %q) = %v", c.cur.Seq, c.cur.Value, c.next.Seq, c.next.Value, got)
		}
	}
}

func TestRecordKey(t *testing.T) {
	id := FolderID(pattern(32, 0xf0, 1))
	k := RecordKey(id)
	if k != "/cairn-folder/"+string(id[:]) {
		t.Fatalf("RecordKey = %q", k)
	}
	if got, err := ParseRecordKey(k); err != nil || got != id {
		t.Fatalf("ParseRecordKey: %v", err)
	}
	for _, bad := range []string{"", "/cairn-folder/", k[:len(k)-1], k + "x", "/cairn-foldex/" + string(id[:])} {
		if _, err := ParseRecordKey(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRecordKey(%q): %v", bad, err)
		}
	}
}

func TestSenderOf(t *testing.T) {
	k := testKeyring(4)
	s := SenderOf(k.SigningKey().Public().(ed25519.PublicKey))
	if len(s) != SenderLen || !strings.HasPrefix(k.UserID(), s) {
		t.Fatalf("SenderOf = %q, not the start of %q", s, k.UserID())
	}
}
