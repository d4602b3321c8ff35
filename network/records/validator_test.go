package records

import (
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

func TestValidator(t *testing.T) {
	w, other := newWriter(t), newWriter(t)
	key := cryptree.RecordKey(w.ID())
	r1, r2 := sign(t, w, 1, "one"), sign(t, w, 2, "two")
	forged := *r2
	forged.Sig[0] ^= 1
	var v Validator
	if err := v.Validate(key, r1.Marshal()); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for name, c := range map[string]struct {
		key string
		val []byte
	}{
		"garbage":        {key, []byte("garbage")},
		"forged":         {key, forged.Marshal()},
		"another folder": {key, sign(t, other, 5, "x").Marshal()},
		"bad key":        {"/cairn-folder/short", r1.Marshal()},
		"empty":          {key, nil},
	} {
		wantKind(t, name, v.Validate(c.key, c.val), storage.Invalid)
	}
	jump := sign(t, w, 2+cryptree.MaxSeqStep+1, "far")
	for name, c := range map[string]struct {
		vals [][]byte
		want int
	}{
		"higher seq":          {[][]byte{r1.Marshal(), r2.Marshal()}, 1},
		"garbage skipped":     {[][]byte{[]byte("x"), r1.Marshal()}, 1},
		"too far ahead loses": {[][]byte{jump.Marshal(), r1.Marshal(), r2.Marshal()}, 2},
		"forged skipped":      {[][]byte{forged.Marshal(), r1.Marshal()}, 1},
	} {
		got, err := v.Select(key, c.vals)
		if err != nil || got != c.want {
			t.Errorf("%s: Select = %d, %v; want %d", name, got, err, c.want)
		}
	}
	if _, err := v.Select(key, [][]byte{[]byte("x")}); err == nil {
		t.Error("Select among garbage succeeded")
	}
}

func TestCache(t *testing.T) {
	w := newWriter(t)
	var c cache
	if c.get(w.ID()) != nil {
		t.Fatal("empty cache answered")
	}
	c.put(sign(t, w, 2, "two"))
	c.put(sign(t, w, 1, "one"))
	if r := c.get(w.ID()); r == nil || r.Seq != 2 {
		t.Fatalf("a lower seq replaced a higher one: %v", r)
	}
	c.drop(w.ID())
	if c.get(w.ID()) != nil {
		t.Fatal("dropped record answered")
	}
}
