package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "regenerate testdata/cryptree/vectors.json")

var vectorsPath = filepath.Join("..", "testdata", "cryptree", "vectors.json")

// hexBytes is a byte string that is lower-case hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type vectorFile struct {
	Comment       string           `json:"comment"`
	SealChunk     []sealChunkVec   `json:"seal_chunk"`
	OpenChunkFail []openFailVec    `json:"open_chunk_fail"`
	Derive        []deriveVec      `json:"derive"`
	Record        []recordVec      `json:"record"`
	Keyring       []keyringVec     `json:"keyring"`
	KeyringFile   []keyringFileVec `json:"keyring_file"`
}

type sealChunkVec struct {
	Key       hexBytes `json:"key"`
	Plaintext hexBytes `json:"plaintext"`
	Sealed    hexBytes `json:"sealed"`
}

type openFailVec struct {
	Why    string   `json:"why"`
	Key    hexBytes `json:"key"`
	Sealed hexBytes `json:"sealed"`
}

type deriveVec struct {
	Secret    hexBytes `json:"secret"`
	Plaintext hexBytes `json:"plaintext"`
	ID        hexBytes `json:"id"`
	Key       hexBytes `json:"key"`
}

type recordVec struct {
	Key       hexBytes `json:"key"`
	Nonce     hexBytes `json:"nonce"`
	Plaintext hexBytes `json:"plaintext"`
	AD        hexBytes `json:"ad"`
	Sealed    hexBytes `json:"sealed"`
}

type keyringVec struct {
	Root           hexBytes `json:"root"`
	ChunkSecret    hexBytes `json:"chunk_secret"`
	SigningSeed    hexBytes `json:"signing_seed"`
	SigningPublic  hexBytes `json:"signing_public"`
	BoxPrivate     hexBytes `json:"box_private"`
	BoxPublic      hexBytes `json:"box_public"`
	MetadataKey    hexBytes `json:"metadata_key"`
	UserID         string   `json:"user_id"`
	RecoverySecret string   `json:"recovery_secret"`
}

type keyringFileVec struct {
	Root       hexBytes `json:"root"`
	Passphrase hexBytes `json:"passphrase"`
	Time       uint32   `json:"time"`
	MemoryKiB  uint32   `json:"memory_kib"`
	Threads    uint8    `json:"threads"`
	Salt       hexBytes `json:"salt"`
	Nonce      hexBytes `json:"nonce"`
	File       hexBytes `json:"file"`
}

// pattern returns n bytes start, start+step, ... (mod 256).
func pattern(n int, start, step byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)*step
	}
	return b
}

// generateVectors computes the vectors from fixed inputs with this package.
func generateVectors() vectorFile {
	v := vectorFile{Comment: "Cairn cryptree v1 test vectors; see cryptree/SPEC.md. All byte strings are hex."}
	plains := [][]byte{{}, []byte("abc"), pattern(1000, 0, 1), pattern(5000, 7, 13)}
	for i, p := range plains {
		key := Key(pattern(16, byte(i*16), 1))
		v.SealChunk = append(v.SealChunk, sealChunkVec{key[:], p, SealChunk(nil, key, p)})
	}
	key := Key(pattern(16, 0x40, 3))
	good := SealChunk(nil, key, []byte("attack at dawn"))
	flipTag := bytes.Clone(good)
	flipTag[len(flipTag)-1] ^= 1
	flipCT := bytes.Clone(good)
	flipCT[1] ^= 0x80
	badVersion := bytes.Clone(good)
	badVersion[0] = 0x02
	wrongKey := key
	wrongKey[0] ^= 1
	v.OpenChunkFail = []openFailVec{
		{"tag bit flipped", key[:], flipTag},
		{"ciphertext bit flipped", key[:], flipCT},
		{"version 0x02", key[:], badVersion},
		{"truncated by one byte", key[:], good[:len(good)-1]},
		{"shorter than the overhead", key[:], good[:16]},
		{"wrong key", wrongKey[:], good},
	}
	for i, p := range plains {
		s := ChunkSecret(pattern(32, byte(0x80+i), 5))
		id, k := s.Derive(p)
		v.Derive = append(v.Derive, deriveVec{s[:], p, id[:], k[:]})
	}
	for i, c := range []struct{ p, ad []byte }{{nil, nil}, {[]byte("manifest"), []byte("ad")}, {pattern(100, 1, 1), nil}} {
		key := Key(pattern(16, byte(0x20+i), 7))
		nonce := [12]byte(pattern(12, byte(0x60+i), 1))
		v.Record = append(v.Record, recordVec{key[:], nonce[:], c.p, c.ad, sealRecord(key, nonce, c.p, c.ad)})
	}
	for i := range 3 {
		root := [32]byte(pattern(32, byte(i), byte(2*i+1)))
		v.Keyring = append(v.Keyring, keyringVec{Root: root[:]}.fill(KeyringFromRoot(root)))
	}
	for i, pass := range []string{"", "correct horse battery staple"} {
		root := [32]byte(pattern(32, byte(0xa0+i), 1))
		p := TestKDF
		p.Time += uint32(i)
		salt := [16]byte(pattern(16, byte(0x10+i), 1))
		nonce := [12]byte(pattern(12, byte(0x30+i), 1))
		f := KeyringFromRoot(root).marshalFile([]byte(pass), p, salt, nonce)
		v.KeyringFile = append(v.KeyringFile, keyringFileVec{root[:], []byte(pass), p.Time, p.MemoryKiB, p.Threads, salt[:], nonce[:], f})
	}
	return v
}

// fill sets every derived field of kv from k.
func (kv keyringVec) fill(k *Keyring) keyringVec {
	cs := k.ChunkSecret()
	sk := k.SigningKey()
	priv, pub := k.BoxKey()
	mk := k.MetadataKey()
	kv.ChunkSecret = cs[:]
	kv.SigningSeed = sk.Seed()
	kv.SigningPublic = []byte(sk.Public().(ed25519.PublicKey))
	kv.BoxPrivate = priv[:]
	kv.BoxPublic = pub[:]
	kv.MetadataKey = mk[:]
	kv.UserID = k.UserID()
	kv.RecoverySecret = k.RecoverySecret()
	return kv
}

func TestVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateVectors(), "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SealChunk) == 0 || len(v.OpenChunkFail) == 0 || len(v.Derive) == 0 || len(v.Record) == 0 ||
		len(v.Keyring) == 0 || len(v.KeyringFile) == 0 {
		t.Fatal("vector file has an empty section")
	}
	for i, c := range v.SealChunk {
		key := Key(c.Key)
		if got := SealChunk(nil, key, c.Plaintext); !bytes.Equal(got, c.Sealed) {
			t.Errorf("seal_chunk[%d]: got %x", i, got)
		}
		if got, err := OpenChunk(nil, key, c.Sealed); err != nil || !bytes.Equal(got, c.Plaintext) {
			t.Errorf("seal_chunk[%d]: open: %v", i, err)
		}
	}
	for _, c := range v.OpenChunkFail {
		if got, err := OpenChunk(nil, Key(c.Key), c.Sealed); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Errorf("open_chunk_fail %q: got %x, %v", c.Why, got, err)
		}
	}
	for i, c := range v.Derive {
		s := ChunkSecret(c.Secret)
		id, key := s.Derive(c.Plaintext)
		if !bytes.Equal(id[:], c.ID) || !bytes.Equal(key[:], c.Key) {
			t.Errorf("derive[%d]: got id %x key %x", i, id, key)
		}
	}
	for i, c := range v.Record {
		key := Key(c.Key)
		if got := sealRecord(key, [12]byte(c.Nonce), c.Plaintext, c.AD); !bytes.Equal(got, c.Sealed) {
			t.Errorf("record[%d]: got %x", i, got)
		}
		if got, err := OpenRecord(key, c.Sealed, c.AD); err != nil || !bytes.Equal(got, c.Plaintext) {
			t.Errorf("record[%d]: open: %v", i, err)
		}
	}
	for i, c := range v.Keyring {
		k := KeyringFromRoot([32]byte(c.Root))
		if got := (keyringVec{Root: c.Root}).fill(k); !jsonEqual(t, got, c) {
			t.Errorf("keyring[%d]: got %+v", i, got)
		}
		if k2, err := ParseRecoverySecret(c.RecoverySecret); err != nil || k2.Root != k.Root {
			t.Errorf("keyring[%d]: recovery secret does not parse back: %v", i, err)
		}
		sign, box, err := ParseUserID(c.UserID)
		if err != nil || !bytes.Equal(sign, c.SigningPublic) || !bytes.Equal(box[:], c.BoxPublic) {
			t.Errorf("keyring[%d]: user id does not parse back: %v", i, err)
		}
	}
	for i, c := range v.KeyringFile {
		p := KDFParams{c.Time, c.MemoryKiB, c.Threads}
		k := KeyringFromRoot([32]byte(c.Root))
		if got := k.marshalFile(c.Passphrase, p, [16]byte(c.Salt), [12]byte(c.Nonce)); !bytes.Equal(got, c.File) {
			t.Errorf("keyring_file[%d]: got %x", i, got)
		}
		k2, err := ParseKeyringFile(c.File, c.Passphrase)
		if err != nil || k2.Root != k.Root {
			t.Errorf("keyring_file[%d]: parse: %v", i, err)
		}
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(ja, jb)
}
