package erasure

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite ../testdata/erasure/vectors.json from the code")

const vectorsPath = "../testdata/erasure/vectors.json"

type vectorFile struct {
	Comment     string        `json:"comment"`
	DataRule    string        `json:"data_rule"`
	LeafSize    int           `json:"leaf_size"`
	ContextLeaf string        `json:"context_leaf"`
	ContextNode string        `json:"context_node"`
	ContextRoot string        `json:"context_root"`
	Roots       []rootVector  `json:"roots"`
	Proofs      []proofVector `json:"proofs"`
	Fragments   []fragmentSet `json:"fragments"`
}

type rootVector struct {
	Size int    `json:"size"`
	Root string `json:"root"`
}

type proofVector struct {
	Size  int    `json:"size"`
	Index int    `json:"index"`
	Proof string `json:"proof"`
}

type fragmentSet struct {
	K         int      `json:"k"`
	M         int      `json:"m"`
	Size      int      `json:"size"`
	Fragments []string `json:"fragments"`
	Refs      []string `json:"refs"`
}

// vectorData is the input of every vector: byte i is (31*i + 7) mod 251.
func vectorData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((31*i + 7) % 251)
	}
	return b
}

func makeVectors(t *testing.T) *vectorFile {
	v := &vectorFile{
		Comment:     "Cairn erasure test vectors; see erasure/FORMAT.md. All hex. Regenerate with: go test ./erasure -run TestVectors -update",
		DataRule:    "an input of size n is bytes b[i] = (31*i + 7) mod 251, i = 0..n-1",
		LeafSize:    LeafSize,
		ContextLeaf: ctxLeaf,
		ContextNode: ctxNode,
		ContextRoot: ctxRoot,
	}
	for _, n := range []int{0, 1, 63, 64, 65, 1024, LeafSize - 1, LeafSize, LeafSize + 1, 2 * LeafSize, 3 * LeafSize, 5*LeafSize + 3, 100000, 1 << 20} {
		r := Root(vectorData(n))
		v.Roots = append(v.Roots, rootVector{Size: n, Root: hex.EncodeToString(r[:])})
	}
	for _, pi := range [][2]int{{0, 0}, {1, 0}, {LeafSize + 1, 1}, {3*LeafSize + 1, 3}, {5*LeafSize + 3, 5}} {
		p, err := Prove(vectorData(pi[0]), pi[1])
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		v.Proofs = append(v.Proofs, proofVector{Size: pi[0], Index: pi[1], Proof: hex.EncodeToString(b)})
	}
	for _, s := range [][3]int{{1, 0, 3}, {2, 1, 5}, {3, 2, 100}, {4, 2, 17}} {
		c, err := New(s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		frags, err := c.Encode(vectorData(s[2]))
		if err != nil {
			t.Fatal(err)
		}
		fs := fragmentSet{K: s[0], M: s[1], Size: s[2]}
		for _, f := range frags {
			r := Root(f)
			fs.Fragments = append(fs.Fragments, hex.EncodeToString(f))
			fs.Refs = append(fs.Refs, hex.EncodeToString(r[:]))
		}
		v.Fragments = append(v.Fragments, fs)
	}
	return v
}

func TestVectors(t *testing.T) {
	want := makeVectors(t)
	enc, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	enc = append(enc, '\n')
	if *update {
		if err := os.WriteFile(vectorsPath, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var got vectorFile
	if err := json.Unmarshal(stored, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, enc) {
		t.Errorf("%s differs from what the code produces; if the format changed on purpose, run with -update", vectorsPath)
	}

	// Check the stored vectors independently of the generator.
	for _, r := range got.Roots {
		root := Root(vectorData(r.Size))
		if hex.EncodeToString(root[:]) != r.Root {
			t.Errorf("root of %d bytes: got %x, vector %s", r.Size, root, r.Root)
		}
	}
	for _, pv := range got.Proofs {
		b, err := hex.DecodeString(pv.Proof)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseProof(b)
		if err != nil {
			t.Fatalf("proof size %d index %d: %v", pv.Size, pv.Index, err)
		}
		if p.Size != int64(pv.Size) || p.Index != pv.Index || !p.Verify(Root(vectorData(pv.Size))) {
			t.Errorf("proof size %d index %d does not verify", pv.Size, pv.Index)
		}
	}
	for _, fs := range got.Fragments {
		c, err := New(fs.K, fs.M)
		if err != nil {
			t.Fatal(err)
		}
		frags := make([][]byte, len(fs.Fragments))
		refs := make([][32]byte, len(fs.Refs))
		for i := range frags {
			frags[i], _ = hex.DecodeString(fs.Fragments[i])
			r, _ := hex.DecodeString(fs.Refs[i])
			copy(refs[i][:], r)
		}
		frags[0] = nil // make the decoder work when it can
		if fs.M == 0 {
			frags[0], _ = hex.DecodeString(fs.Fragments[0])
		}
		data, err := c.Decode(frags, refs)
		if err != nil || !bytes.Equal(data, vectorData(fs.Size)) {
			t.Errorf("fragments %d+%d of %d bytes: %v", fs.K, fs.M, fs.Size, err)
		}
	}
}
