package cryptree

import (
	"bytes"
	"errors"
	"testing"
)

// wellFormed fails the fuzz run unless err is one of the package's kinds.
func wellFormed(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrCannotDecrypt) &&
		!errors.Is(err, ErrCorruptLink) && !errors.Is(err, ErrNoEntry) {
		t.Fatalf("unexpected error kind: %v", err)
	}
}

func FuzzOpenFolder(f *testing.F) {
	root, docs, deep := testTree(f)
	for _, n := range []*node{root, docs, deep} {
		c, _ := Unpad(n.body)
		f.Add(c, uint8(0))
	}
	f.Add([]byte{bodyVersion}, uint8(1))
	f.Fuzz(func(t *testing.T, content []byte, how uint8) {
		// Fuzz the content under valid padding, so the framing is reached;
		// and the raw bytes as a body too.
		for _, body := range [][]byte{Pad(content), content} {
			id, k := docs.id, docs.keys
			fo, keys, err := OpenFolder(body, id, k.SK, &docs.w.WK)
			wellFormed(t, err)
			if err == nil {
				// What opens must seal again and open to the same view.
				again, err := SealFolder(fo, id, keys, &docs.w.WK)
				if err != nil {
					t.Fatalf("opened folder does not seal: %v", err)
				}
				if _, _, err := OpenFolder(again, id, k.SK, &docs.w.WK); err != nil {
					t.Fatal(err)
				}
			}
			_, err = OpenFiles(body, id, k.FK)
			wellFormed(t, err)
			_, _, err = OpenFolderInfo(body, id, k.DK)
			wellFormed(t, err)
			_, err = OpenBacklink(body, id, k.BK)
			wellFormed(t, err)
			fe := docs.f.Files[int(how)%len(docs.f.Files)]
			_, err = OpenFileEntry(body, id, fe.Label, fe.DK)
			wellFormed(t, err)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	w := mustWriter(f, &stream{next: 7})
	for _, v := range []string{"", "locator", "\x00\x01"} {
		r, _ := SignRecord(w, uint64(len(v)), []byte(v))
		f.Add(r.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("record does not marshal back to its bytes")
		}
	})
}

func FuzzParseCapability(f *testing.F) {
	for _, c := range testCaps(f) {
		f.Add(c.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCapability(b)
		wellFormed(t, err)
		if err == nil && !bytes.Equal(c.Marshal(), b) {
			t.Fatal("capability does not marshal back to its bytes")
		}
	})
}

func FuzzParseLink(f *testing.F) {
	for _, c := range testCaps(f) {
		f.Add(FormatLink(c))
	}
	f.Add("cairn://")
	f.Add("CAIRN://AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseLink(s)
		wellFormed(t, err)
		if err == nil {
			if c.Writer != nil {
				t.Fatal("a link gave a Writer")
			}
			if _, err := ParseLink(FormatLink(c)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzOpenFrom(f *testing.F) {
	alice := KeyringFromRoot([32]byte(pattern(32, 1, 1)))
	priv, pub := KeyringFromRoot([32]byte(pattern(32, 2, 1))).BoxKey()
	for _, m := range []string{"", "capability"} {
		s, _ := sealTo(&stream{}, pub, alice.SigningKey(), []byte(m))
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := OpenFrom(priv, b)
		if err != nil && !errors.Is(err, ErrCannotDecrypt) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

func FuzzUnpad(f *testing.F) {
	f.Add(Pad(nil))
	f.Add(Pad([]byte("hello")))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unpad(b)
		if err != nil {
			wellFormed(t, err)
			return
		}
		if !bytes.Equal(Pad(c), b) {
			t.Fatal("Unpad accepted a non-canonical padding")
		}
	})
}
