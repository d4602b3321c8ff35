package blob

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// An owner hands a delegate a Capability and goes offline; holders die;
// the delegate, with no keys, audits and repairs from the capability; the
// owner, back, folds the delegate's placement into its manifests and
// reads its files with the dead holders gone.
func TestDelegatedRepair(t *testing.T) {
	ctx := context.Background()
	net := newNet(24)
	cfg := Config{K: 4, M: 3, Extra: 1}
	owner := newClient(t, net, cfg)
	d1 := randBytes(21, 200<<10)
	d2 := append(slices.Clone(d1[:120<<10]), randBytes(22, 90<<10)...) // shares chunks with d1
	m1, m2 := put(t, owner, d1), put(t, owner, d2)
	ms := []*Manifest{m1, m2}
	cert := bytes.Repeat([]byte{0xce}, 145) // opaque to blob

	capa := CapabilityOf(ms, cert)
	distinct := map[[32]byte]bool{}
	for _, m := range ms {
		for _, ck := range m.Chunks {
			distinct[ck.ID] = true
		}
	}
	if len(capa.Chunks) != len(distinct) || len(distinct) >= len(m1.Chunks)+len(m2.Chunks) {
		t.Fatalf("capability of %d chunks, %d distinct in %d+%d (want the shared ones once)",
			len(capa.Chunks), len(distinct), len(m1.Chunks), len(m2.Chunks))
	}
	wire, err := capa.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Nothing secret leaves: no chunk key, no chunk id, no plaintext.
	for _, m := range ms {
		for _, ck := range m.Chunks {
			if bytes.Contains(wire, ck.Key[:]) || bytes.Contains(wire, ck.ID[:]) {
				t.Fatal("the capability carries a chunk key or id")
			}
		}
	}
	for _, d := range [][]byte{d1, d2} {
		for i := 0; i+16 <= len(d); i += 512 {
			if bytes.Contains(wire, d[i:i+16]) {
				t.Fatalf("the capability carries plaintext (offset %d)", i)
			}
		}
	}
	got, err := ParseCapability(wire)
	if err != nil || !reflect.DeepEqual(got, capa) {
		t.Fatalf("round trip: %v", err)
	}

	// The delegate: another node, a client with no keys of the owner's.
	hist := storetest.NewHistory()
	now := time.Now()
	d := down{net, map[storage.PeerID]bool{}}
	dcfg := cfg
	dcfg.Network, dcfg.Chunking, dcfg.Secret = d, small, cryptree.ChunkSecret{0xde}
	delegate, err := New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := CheckOptions{Auditor: storetest.Auditor(d), History: hist, Now: func() time.Time { return now }, Repair: true}
	h, changed, err := delegate.CheckCapability(ctx, got, opts)
	if err != nil || changed || !h.OK() {
		t.Fatalf("healthy capability: %+v, %v, %v", h, changed, err)
	}
	// Three holders of the first chunk die, and stay dead past the grace.
	dead := map[storage.PeerID]bool{}
	for _, f := range m1.Chunks[0].Frags[:3] {
		dead[f.Holder], d.away[f.Holder] = true, true
	}
	now = now.Add(100 * time.Hour)
	h, changed, err = delegate.CheckCapability(ctx, got, opts)
	if err != nil || !changed || !h.OK() {
		t.Fatalf("after 3 holders died: %+v, changed %v, %v", h, changed, err)
	}
	for _, cc := range got.Chunks {
		for _, f := range cc.Frags {
			if dead[f.Holder] {
				t.Fatalf("the repaired capability still names dead holder %s", f.Holder)
			}
		}
	}
	// The delegate hands it back (the same format); the owner folds it.
	back, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := ParseCapability(back)
	if err != nil {
		t.Fatal(err)
	}
	before := namesDead(ms, dead)
	if before == 0 {
		t.Fatal("the dead holders held nothing of the files")
	}
	n := Fold(ms, ret)
	if n < before {
		t.Fatalf("Fold changed %d chunks, %d named dead holders", n, before)
	}
	if k := namesDead(ms, dead); k != 0 {
		t.Fatalf("after Fold %d chunks still name dead holders", k)
	}
	if again := Fold(ms, ret); again != 0 {
		t.Fatalf("a second Fold changed %d chunks", again)
	}
	reader := newClient(t, d, cfg)
	mustRead(t, reader, m1, d1)
	mustRead(t, reader, m2, d2)
	// The folded manifests still hold their keys and encode.
	if _, err := m1.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

// namesDead counts the chunks of ms with a fragment on a dead holder.
func namesDead(ms []*Manifest, dead map[storage.PeerID]bool) int {
	n := 0
	for _, m := range ms {
		for _, ck := range m.Chunks {
			if slices.ContainsFunc(ck.Frags, func(f Frag) bool { return dead[f.Holder] }) {
				n++
			}
		}
	}
	return n
}

func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// capVector is PROTOCOL.md's capability vector: the delegation
// certificate vector and one chunk (sealed length 65536, code 2 of 3)
// with fragments 0 and 2 placed.
func capVector(cert []byte) *Capability {
	return &Capability{Cert: cert, Chunks: []CapChunk{{
		Tag: [32]byte(seq(0x40, 32)), SealedLen: 65536, K: 2, N: 3,
		Frags: []Frag{
			{Index: 0, Ref: storage.Ref(seq(0x40, 32)), Holder: "peer-a"},
			{Index: 2, Ref: storage.Ref(seq(0x60, 32)), Holder: "peer-b"},
		},
	}}}
}

// hexVectors reads the ```hex NAME blocks of network/PROTOCOL.md.
func hexVectors(t *testing.T) map[string][]byte {
	doc, err := os.ReadFile("../../network/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, m := range regexp.MustCompile("(?s)```hex ([a-z-]+)\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[2]), ""))
		if err != nil {
			t.Fatalf("vector %s: %v", m[1], err)
		}
		out[m[1]] = b
	}
	return out
}

func TestCapabilityVector(t *testing.T) {
	vecs := hexVectors(t)
	cert := vecs["audit-delegation-cert"]
	if len(cert) != 145 {
		t.Fatalf("the certificate vector is %d bytes", len(cert))
	}
	want, err := capVector(cert).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vecs["blob-capability"], want) {
		t.Errorf("vector blob-capability in PROTOCOL.md differs from the encoder; encoder gives:\n%s", spaced(want))
	}
	got, err := ParseCapability(vecs["blob-capability"])
	if err != nil || !reflect.DeepEqual(got, capVector(cert)) {
		t.Errorf("the vector parses to %+v, %v", got, err)
	}
}

// spaced formats b as the vectors are written: 16 bytes a line.
func spaced(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(i+16, len(b))]
		for j, c := range line {
			if j > 0 {
				s.WriteByte(' ')
			}
			s.WriteString(hex.EncodeToString([]byte{c}))
		}
		s.WriteByte('\n')
	}
	return s.String()
}

// Malformed capabilities are refused, never a panic.
func TestParseCapabilityStrict(t *testing.T) {
	good, err := capVector(seq(0, 145)).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCapability(good); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":         nil,
		"magic":         append([]byte("CCAX"), good[4:]...),
		"version":       append([]byte("CCAP\x02"), good[5:]...),
		"trailing":      append(slices.Clone(good), 0),
		"cut":           good[:len(good)-1],
		"chunk count":   append(slices.Clone(good[:152]), 0xff, 0xff, 0xff, 0xff),
		"k of 0":        patch(good, 152+4+32+4+1, 0),
		"n below k":     patch(good, 152+4+32+4+2+1, 1),
		"index order":   patch(good, 152+4+32+4+6+1, 2),
		"holder length": patch(good, 152+4+32+4+6+2+32, 0),
	}
	for name, b := range bad {
		if _, err := ParseCapability(b); !errors.Is(err, storage.Corrupt) {
			t.Errorf("%s: %v, want Corrupt", name, err)
		}
	}
	for _, c := range []*Capability{
		{Cert: make([]byte, MaxCert+1)},
		{Chunks: []CapChunk{{SealedLen: 1, K: 2, N: 1}}},
		{Chunks: []CapChunk{{SealedLen: 0, K: 1, N: 1}}},
		{Chunks: []CapChunk{{SealedLen: 1, K: 1, N: 1, Frags: []Frag{{Index: 1, Holder: "p"}}}}},
	} {
		if _, err := c.MarshalBinary(); err == nil {
			t.Errorf("encoded %+v", c)
		}
	}
}

func patch(b []byte, at int, v byte) []byte {
	b = slices.Clone(b)
	b[at] = v
	return b
}

func FuzzParseCapability(f *testing.F) {
	good, _ := capVector(seq(0, 145)).MarshalBinary()
	f.Add(good)
	f.Add([]byte("CCAP\x01\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCapability(b)
		if err != nil {
			return
		}
		again, err := c.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a capability that parses re-encodes differently: %v", err)
		}
	})
}
