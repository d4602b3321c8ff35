package cryptree

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The vectors of version 0x02 sealed chunks, PaddedChunkSize and the
// keyring's chunker key (SPEC.md §2, §5), beside vectors.json; -update
// regenerates them too. crosscheck.py checks them from SPEC.md.
var paddedVectorsPath = filepath.Join("..", "testdata", "cryptree", "padded-chunk-vectors.json")

type paddedVectorFile struct {
	Comment         string          `json:"comment"`
	PaddedSize      [][2]int        `json:"padded_chunk_size"` // [n, PaddedChunkSize(n)]
	SealChunkPadded []sealChunkVec  `json:"seal_chunk_padded"`
	OpenPaddedFail  []openFailVec   `json:"open_chunk_padded_fail"`
	OpenChunkV1     []sealChunkVec  `json:"open_chunk_v1"`
	ChunkerKey      []chunkerKeyVec `json:"chunker_key"`
}

type chunkerKeyVec struct {
	Root       hexBytes `json:"root"`
	ChunkerKey hexBytes `json:"chunker_key"`
}

func generatePaddedVectors() paddedVectorFile {
	v := paddedVectorFile{Comment: "Cairn cryptree: version 0x02 (padded) sealed chunks, PaddedChunkSize and the chunker key; see cryptree/SPEC.md §2 and §5. All byte strings are hex."}
	for _, n := range []int{0, 1, 2, 100, 237, 238, 239, 1000, 4096, 65518, 65519, 1 << 20, 1<<20 + 1, 8 << 20, 64<<20 - 18} {
		v.PaddedSize = append(v.PaddedSize, [2]int{n, PaddedChunkSize(n)})
	}
	plains := [][]byte{{}, []byte("abc"), pattern(238, 3, 1), pattern(1000, 0, 1), pattern(5000, 7, 13)}
	for i, p := range plains {
		key := Key(pattern(16, byte(0x50+i*16), 1))
		v.SealChunkPadded = append(v.SealChunkPadded, sealChunkVec{key[:], p, SealChunkPadded(nil, key, p)})
	}
	key := Key(pattern(16, 0x44, 3))
	p := []byte("attack at dawn")
	good := SealChunkPadded(nil, key, p)
	flipTag := bytes.Clone(good)
	flipTag[len(flipTag)-1] ^= 1
	flipCT := bytes.Clone(good)
	flipCT[1] ^= 0x80
	asV1 := bytes.Clone(good)
	asV1[0] = 0x01
	v1AsV2 := SealChunk(nil, key, p)
	v1AsV2[0] = 0x02
	wrongKey := key
	wrongKey[0] ^= 1
	bodyLen := PaddedChunkSize(len(p)) - 17
	canon := append(append(bytes.Clone(p), 0x80), make([]byte, bodyLen-len(p)-1)...)
	noMarker := bytes.Clone(canon)
	noMarker[len(p)] = 0
	afterMarker := bytes.Clone(canon)
	afterMarker[len(afterMarker)-1] = 1
	v.OpenPaddedFail = []openFailVec{
		{"tag bit flipped", key[:], flipTag},
		{"ciphertext bit flipped", key[:], flipCT},
		{"relabelled as version 0x01", key[:], asV1},
		{"version 0x01 chunk relabelled as 0x02", key[:], v1AsV2},
		{"truncated by one byte", key[:], good[:len(good)-1]},
		{"shorter than 18 bytes", key[:], good[:17]},
		{"wrong key", wrongKey[:], good},
		{"authentic, no 0x80 marker", key[:], sealPaddedBody(key, noMarker)},
		{"authentic, non-zero byte after the marker", key[:], sealPaddedBody(key, afterMarker)},
		{"authentic, padded past the content's bucket", key[:], sealPaddedBody(key, append(bytes.Clone(canon), make([]byte, 32)...))},
	}
	k1 := Key(pattern(16, 0x70, 1))
	v.OpenChunkV1 = []sealChunkVec{{k1[:], pattern(300, 1, 1), SealChunk(nil, k1, pattern(300, 1, 1))}}
	for i := range 3 {
		root := [32]byte(pattern(32, byte(i), byte(2*i+1))) // the roots of vectors.json's keyring section
		ck := KeyringFromRoot(root).ChunkerKey()
		v.ChunkerKey = append(v.ChunkerKey, chunkerKeyVec{root[:], ck[:]})
	}
	return v
}

func TestPaddedVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generatePaddedVectors(), "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(paddedVectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(paddedVectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v paddedVectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.PaddedSize) == 0 || len(v.SealChunkPadded) == 0 || len(v.OpenPaddedFail) == 0 ||
		len(v.OpenChunkV1) == 0 || len(v.ChunkerKey) == 0 {
		t.Fatal("vector file has an empty section")
	}
	for _, c := range v.PaddedSize {
		if got := PaddedChunkSize(c[0]); got != c[1] {
			t.Errorf("PaddedChunkSize(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	for i, c := range v.SealChunkPadded {
		key := Key(c.Key)
		if got := SealChunkPadded(nil, key, c.Plaintext); !bytes.Equal(got, c.Sealed) {
			t.Errorf("seal_chunk_padded[%d]: got %x", i, got)
		}
		if got, err := OpenChunk(nil, key, c.Sealed); err != nil || !bytes.Equal(got, c.Plaintext) {
			t.Errorf("seal_chunk_padded[%d]: open: %v", i, err)
		}
	}
	for _, c := range v.OpenPaddedFail {
		if got, err := OpenChunk(nil, Key(c.Key), c.Sealed); !errors.Is(err, ErrCannotDecrypt) || got != nil {
			t.Errorf("open_chunk_padded_fail %q: got %x, %v", c.Why, got, err)
		}
	}
	for i, c := range v.OpenChunkV1 {
		if got, err := OpenChunk(nil, Key(c.Key), c.Sealed); err != nil || !bytes.Equal(got, c.Plaintext) {
			t.Errorf("open_chunk_v1[%d]: %v", i, err)
		}
	}
	for i, c := range v.ChunkerKey {
		k := KeyringFromRoot([32]byte(c.Root))
		if got := k.ChunkerKey(); !bytes.Equal(got[:], c.ChunkerKey) {
			t.Errorf("chunker_key[%d]: got %x", i, got)
		}
	}
}

// TestChunkerKey: the chunker key is per user, comes back from the
// recovery secret, and is none of the user's other secrets.
func TestChunkerKey(t *testing.T) {
	a, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeyring()
	if a.ChunkerKey() == b.ChunkerKey() {
		t.Fatal("two users share a chunker key")
	}
	r, err := ParseRecoverySecret(a.RecoverySecret())
	if err != nil || r.ChunkerKey() != a.ChunkerKey() {
		t.Fatalf("chunker key not recovered: %v", err)
	}
	ck, cs, mk := a.ChunkerKey(), a.ChunkSecret(), a.MetadataKey()
	if ck == [32]byte(cs) || ck == a.Root || bytes.Equal(ck[:16], mk[:]) || ck == [32]byte{} {
		t.Fatal("chunker key equals another secret")
	}
}
