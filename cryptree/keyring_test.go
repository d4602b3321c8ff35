package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"
)

func testKeyring(i byte) *Keyring { return KeyringFromRoot([32]byte(pattern(32, i, 1))) }

func TestKeyringDerivations(t *testing.T) {
	a, a2, b := testKeyring(1), testKeyring(1), testKeyring(2)
	if a.ChunkSecret() != a2.ChunkSecret() || a.MetadataKey() != a2.MetadataKey() ||
		!a.SigningKey().Equal(a2.SigningKey()) || a.UserID() != a2.UserID() {
		t.Fatal("same root, different keys")
	}
	if a.ChunkSecret() == b.ChunkSecret() || a.MetadataKey() == b.MetadataKey() || a.UserID() == b.UserID() {
		t.Fatal("different roots share keys")
	}
	// The derived secrets are distinct from one another and from the root.
	cs := a.ChunkSecret()
	bp, _ := a.BoxKey()
	mk := a.MetadataKey()
	seen := map[string]string{}
	for name, v := range map[string][]byte{
		"root": a.Root[:], "chunk": cs[:], "seed": a.SigningKey().Seed(), "box": bp[:], "meta": mk[:],
	} {
		p := string(v[:16])
		if other, ok := seen[p]; ok {
			t.Fatalf("%s and %s share bytes", name, other)
		}
		seen[p] = name
	}

	// Signing works and the key is a copy.
	sk := a.SigningKey()
	sig := ed25519.Sign(sk, []byte("hello"))
	if !ed25519.Verify(a.SigningKey().Public().(ed25519.PublicKey), []byte("hello"), sig) {
		t.Fatal("signature does not verify")
	}
	clear(sk)
	if a.SigningKey().Equal(sk) {
		t.Fatal("SigningKey returned the cached slice")
	}

	// Two users agree on an X25519 shared secret.
	ap, apub := a.BoxKey()
	bpriv, bpub := b.BoxKey()
	s1, err1 := curve25519.X25519(ap[:], bpub[:])
	s2, err2 := curve25519.X25519(bpriv[:], apub[:])
	if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
		t.Fatal("X25519 agreement failed", err1, err2)
	}
}

func TestNewKeyring(t *testing.T) {
	a, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeyring()
	if a.Root == b.Root || a.Root == ([32]byte{}) {
		t.Fatal("NewKeyring roots are not random")
	}
	if KeyringFromRoot(a.Root).UserID() != a.UserID() {
		t.Fatal("NewKeyring does not match KeyringFromRoot")
	}
}

func TestUserID(t *testing.T) {
	k := testKeyring(3)
	id := k.UserID()
	if len(id) != UserIDLen || !strings.HasPrefix(id, "cu1") || id != strings.ToLower(id) {
		t.Fatalf("bad user id %q", id)
	}
	for _, s := range []string{id, strings.ToUpper(id), "  " + id + "\n"} {
		sign, box, err := ParseUserID(s)
		_, wantBox := k.BoxKey()
		if err != nil || !sign.Equal(k.SigningKey().Public()) || box != wantBox {
			t.Fatalf("ParseUserID(%q): %v", s, err)
		}
	}
	bad := []string{"", "cu1", id[:len(id)-1], id + "a", "cu2" + id[3:], "xx1" + id[3:], id[:50] + "1" + id[51:], id[:50] + " " + id[51:]}
	// The last character carries one unused bit; setting it is not canonical.
	last := id[len(id)-1]
	if strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", last)%2 == 0 {
		bad = append(bad, id[:len(id)-1]+string("abcdefghijklmnopqrstuvwxyz234567"[strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", last)+1]))
	}
	// Unicode that lower-cases to ASCII (the Kelvin sign to 'k') is refused.
	if i := strings.IndexByte(id[3:], 'k'); i >= 0 {
		bad = append(bad, id[:3+i]+"\u212a"+id[3+i+1:])
	} else {
		t.Log("no 'k' in the id: Kelvin case not exercised")
	}
	for _, s := range bad {
		if _, _, err := ParseUserID(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseUserID(%q) = %v, want ErrInvalid", s, err)
		}
	}
	// Every single-character typo is caught.
	const alpha = "abcdefghijklmnopqrstuvwxyz234567"
	for i := 3; i < len(id); i++ {
		for _, c := range []byte(alpha) {
			if c == id[i] {
				continue
			}
			s := id[:i] + string(c) + id[i+1:]
			if _, _, err := ParseUserID(s); !errors.Is(err, ErrInvalid) {
				t.Fatalf("typo at %d not caught: %v", i, err)
			}
		}
	}
}

func TestRecoverySecret(t *testing.T) {
	k := testKeyring(4)
	rs := k.RecoverySecret()
	groups := strings.Split(rs, "-")
	if len(groups) != 14 {
		t.Fatalf("%q: %d groups, want 14", rs, len(groups))
	}
	for _, g := range groups {
		if len(g) != 4 || strings.ToUpper(g) != g {
			t.Fatalf("bad group %q in %q", g, rs)
		}
	}
	flat := strings.ReplaceAll(rs, "-", "")
	lookalike := strings.NewReplacer("O", "0", "I", "1", "B", "8").Replace(flat)
	spaced := strings.Join(groups, " ")
	for _, s := range []string{rs, strings.ToLower(rs), flat, spaced, "\t" + lookalike + "\n", strings.Join(groups, "\n")} {
		k2, err := ParseRecoverySecret(s)
		if err != nil || k2.Root != k.Root {
			t.Fatalf("ParseRecoverySecret(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", rs[:len(rs)-1], rs + "A", rs[:10] + "9" + rs[11:], rs[:10] + "!" + rs[11:], rs[:10] + "é" + rs[11:]} {
		if _, err := ParseRecoverySecret(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRecoverySecret(%q) = %v, want ErrInvalid", s, err)
		}
	}
	// Every single-character typo is caught, with the checksum hint.
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	for i := range len(flat) {
		for _, c := range []byte(alpha) {
			if c == flat[i] {
				continue
			}
			_, err := ParseRecoverySecret(flat[:i] + string(c) + flat[i+1:])
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "mistyped") {
				t.Fatalf("typo at %d not caught: %v", i, err)
			}
		}
	}
	// Swapped neighbours too.
	for i := range len(flat) - 1 {
		if flat[i] == flat[i+1] {
			continue
		}
		s := flat[:i] + string(flat[i+1]) + string(flat[i]) + flat[i+2:]
		if _, err := ParseRecoverySecret(s); !errors.Is(err, ErrInvalid) {
			t.Fatalf("swap at %d not caught", i)
		}
	}
}

func TestKeyringFile(t *testing.T) {
	k := testKeyring(5)
	pass := []byte("correct horse")
	f, err := k.MarshalFile(pass, TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != KeyringFileLen || !bytes.HasPrefix(f, []byte("CAIRNKR\x01")) {
		t.Fatalf("bad file %x", f)
	}
	f2, _ := k.MarshalFile(pass, TestKDF)
	if bytes.Equal(f[:fileHeaderLen], f2[:fileHeaderLen]) {
		t.Fatal("two files share a salt")
	}
	k2, err := ParseKeyringFile(f, pass)
	if err != nil || k2.Root != k.Root || k2.UserID() != k.UserID() {
		t.Fatalf("round trip: %v", err)
	}
	if p, err := ReadKDFParams(f); err != nil || p != TestKDF {
		t.Fatalf("ReadKDFParams = %v, %v", p, err)
	}

	for _, wrong := range [][]byte{nil, []byte("correct horsE"), append(bytes.Clone(pass), 0)} {
		_, err := ParseKeyringFile(f, wrong)
		if !errors.Is(err, ErrWrongPassphrase) || !errors.Is(err, ErrCannotDecrypt) {
			t.Fatalf("wrong passphrase %q: %v", wrong, err)
		}
	}
	// Every changed byte fails: ErrInvalid in the checked header fields,
	// ErrWrongPassphrase elsewhere; never a keyring.
	for i := range f {
		bad := bytes.Clone(f)
		bad[i] ^= 0x01
		_, err := ParseKeyringFile(bad, pass)
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrCannotDecrypt) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	for n := range len(f) {
		if _, err := ParseKeyringFile(f[:n], pass); !errors.Is(err, ErrInvalid) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := ParseKeyringFile(append(bytes.Clone(f), 0), pass); !errors.Is(err, ErrInvalid) {
		t.Fatalf("extended: %v", err)
	}
}

func TestKeyringFileParams(t *testing.T) {
	k := testKeyring(6)
	f, err := k.MarshalFile(nil, TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	withParams := func(p KDFParams) []byte {
		b := bytes.Clone(f)
		binary.BigEndian.PutUint32(b[8:], p.Time)
		binary.BigEndian.PutUint32(b[12:], p.MemoryKiB)
		b[16] = p.Threads
		return b
	}
	hostile := []KDFParams{
		{Time: 0, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 7, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 0},
		{Time: 1, MemoryKiB: 64, Threads: 9}, // memory below 8 × threads
		{Time: 1 << 31, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 0xffffffff, Threads: 1},
		{Time: 1, MemoryKiB: MaxKDF.MemoryKiB + 1, Threads: 1},
		{Time: MaxKDF.Time + 1, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 4096, Threads: 255},
	}
	for _, p := range hostile {
		if _, err := ParseKeyringFile(withParams(p), nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("params %+v: %v, want ErrInvalid", p, err)
		}
		if _, err := k.MarshalFile(nil, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("MarshalFile %+v: %v, want ErrInvalid", p, err)
		}
	}
	// Changing sane parameters is caught by the tag.
	if _, err := ParseKeyringFile(withParams(KDFParams{2, 64, 1}), nil); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("changed params: %v", err)
	}
	for _, b := range [][]byte{
		append([]byte("CAIRNKX"), f[7:]...),
		append([]byte("CAIRNKR\x02"), f[8:]...),
	} {
		if _, err := ParseKeyringFile(b, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", b[:8], err)
		}
	}
}

func TestDefaultKDF(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id with DefaultKDF takes a while")
	}
	k := testKeyring(7)
	f, err := k.MarshalFile([]byte("pw"), DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := ParseKeyringFile(f, []byte("pw")); err != nil || k2.Root != k.Root {
		t.Fatal(err)
	}
}

func FuzzParseKeyringFile(f *testing.F) {
	k := testKeyring(8)
	f.Add(k.marshalFile([]byte("pw"), TestKDF, [16]byte{1}, [12]byte{2}), []byte("pw"))
	f.Add(k.marshalFile(nil, KDFParams{2, 128, 2}, [16]byte{3}, [12]byte{4}), []byte{})
	f.Add([]byte("CAIRNKR\x01"), []byte{})
	f.Fuzz(func(t *testing.T, b, pass []byte) {
		k, err := parseKeyringFile(b, pass, KDFParams{Time: 2, MemoryKiB: 256, Threads: 2})
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrCannotDecrypt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		p, _ := ReadKDFParams(b)
		if !bytes.Equal(k.marshalFile(pass, p, [16]byte(b[17:33]), [12]byte(b[34:46])), b) {
			t.Fatal("parsed file does not marshal back to the input")
		}
	})
}

func FuzzParseRecoverySecret(f *testing.F) {
	f.Add(testKeyring(9).RecoverySecret())
	f.Add(strings.ToLower(strings.ReplaceAll(testKeyring(9).RecoverySecret(), "-", " ")))
	f.Add("")
	f.Add("AAAA-")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRecoverySecret(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		k2, err := ParseRecoverySecret(k.RecoverySecret())
		if err != nil || k2.Root != k.Root {
			t.Fatalf("canonical form does not parse back: %v", err)
		}
	})
}

func FuzzParseUserID(f *testing.F) {
	f.Add(testKeyring(10).UserID())
	f.Add(strings.ToUpper(testKeyring(10).UserID()))
	f.Add("cu1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		sign, box, err := ParseUserID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if got := FormatUserID(sign, box); got != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("canonical form %q differs from input %q", got, s)
		}
	})
}

func BenchmarkKDFDefault(b *testing.B) {
	k := testKeyring(11)
	f, _ := k.MarshalFile([]byte("pw"), DefaultKDF)
	for b.Loop() {
		if _, err := ParseKeyringFile(f, []byte("pw")); err != nil {
			b.Fatal(err)
		}
	}
}
