package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

func hexBlock(b []byte) string { return nettest.HexBlock(b) }

// TestProtocolVectors checks the audit vectors of PROTOCOL.md against the
// encoder, and that they decode to what they say.
func TestProtocolVectors(t *testing.T) {
	all, doc := nettest.Vectors(t, "../PROTOCOL.md")
	vecs := map[string][]byte{}
	for name, b := range all {
		if strings.HasPrefix(name, "audit-") {
			vecs[name] = b
		}
	}
	auditor := ed25519.NewKeyFromSeed(seq(0x20, 32))
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seq(0x40, 32)))
	if err != nil {
		t.Fatal(err)
	}
	server, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	var ref storage.Ref
	copy(ref[:], seq(0, 32))
	req := request{Ref: ref, Nonce: [32]byte(seq(0x20, 32)), Leaves: 4, Time: 1700000000}
	req.sign(auditor, []byte(server))
	p, err := erasure.Prove([]byte("hello"), 0)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := appendProofs(nil, []*erasure.Proof{p})
	ok := proto.Response{Status: proto.OK, Body: body}
	want := map[string][]byte{
		"audit-prove-request":  req.append(nil),
		"audit-prove-response": ok.Append(nil),
	}
	for name, w := range want {
		if !bytes.Equal(vecs[name], w) {
			t.Errorf("vector %s in PROTOCOL.md differs from the encoder; encoder gives:\n%s", name, hexBlock(w))
		}
	}
	got, err := readRequest(bytes.NewReader(vecs["audit-prove-request"]))
	if err != nil || got != req || !got.verify([]byte(server)) {
		t.Errorf("the request vector decodes to %+v, %v", got, err)
	}
	idx := fmt.Sprint(Indices(req.Nonce, ref, 100*erasure.LeafSize, 4))
	if !strings.Contains(doc, "leaves "+idx+" ") {
		t.Errorf("PROTOCOL.md does not give the vector's leaves as %s", idx)
	}
	if !strings.Contains(doc, "`"+server.String()+"`") {
		t.Errorf("PROTOCOL.md does not name the vector server %s", server)
	}
}
