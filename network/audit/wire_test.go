package audit

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

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
	auditor, server := nettest.VectorKeys(t)
	var ref storage.Ref
	copy(ref[:], nettest.Seq(0, 32))
	req := request{Ref: ref, Nonce: [32]byte(nettest.Seq(0x20, 32)), Leaves: 4, Time: 1700000000}
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
