package audit

import (
	"bytes"
	"crypto/ed25519"
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
	req := request{Op: opProve, Ref: ref, Nonce: [32]byte(nettest.Seq(0x20, 32)), Leaves: 4, Time: 1700000000}
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

// delegationVectors are PROTOCOL.md's delegation vectors: the owner
// (the vector signer, seed 20 21 … 3f) delegates to the key of the seed
// 60 61 … 7f until 1702592000 (30 days after the requests' time), serial
// 7; the delegate audits as the PROVE vector does; the owner revokes
// serial 7.
func delegationVectors(t *testing.T) (cert []byte, delegated, revoke request) {
	owner, server := nettest.VectorKeys(t)
	delegate := ed25519.NewKeyFromSeed(nettest.Seq(0x60, 32))
	c := Cert{NotAfter: 1702592000, Serial: 7}
	copy(c.Owner[:], owner.Public().(ed25519.PublicKey))
	copy(c.Delegate[:], delegate.Public().(ed25519.PublicKey))
	copy(c.Sig[:], ed25519.Sign(owner, c.message()))
	cert, _ = c.MarshalBinary()
	var ref storage.Ref
	copy(ref[:], nettest.Seq(0, 32))
	delegated = request{Op: opProveDelegated, Ref: ref, Nonce: [32]byte(nettest.Seq(0x20, 32)), Leaves: 4, Time: 1700000000}
	copy(delegated.Cert[:], cert)
	delegated.sign(delegate, []byte(server))
	revoke = request{Op: opRevoke, Serial: 7, Time: 1700000000}
	revoke.sign(owner, []byte(server))
	return cert, delegated, revoke
}

// TestDelegationVectors checks the certificate, PROVE-DELEGATED and
// REVOKE vectors of PROTOCOL.md against the encoders, and that they
// decode and verify.
func TestDelegationVectors(t *testing.T) {
	vecs, _ := nettest.Vectors(t, "../PROTOCOL.md")
	_, server := nettest.VectorKeys(t)
	cert, delegated, revoke := delegationVectors(t)
	want := map[string][]byte{
		"audit-delegation-cert":   cert,
		"audit-delegated-request": delegated.append(nil),
		"audit-revoke-request":    revoke.append(nil),
	}
	for name, w := range want {
		if !bytes.Equal(vecs[name], w) {
			t.Errorf("vector %s in PROTOCOL.md differs from the encoder; encoder gives:\n%s", name, hexBlock(w))
		}
	}
	c, err := ParseCert(vecs["audit-delegation-cert"])
	if err != nil || c.Serial != 7 || c.NotAfter != 1702592000 {
		t.Errorf("the certificate vector parses to %+v, %v", c, err)
	}
	for _, name := range []string{"audit-delegated-request", "audit-revoke-request"} {
		got, err := readRequest(bytes.NewReader(vecs[name]))
		if err != nil || !got.verify([]byte(server)) {
			t.Errorf("vector %s decodes to %+v, %v", name, got, err)
		}
	}
	if len(want["audit-delegated-request"]) != DelegatedRequestSize || len(want["audit-revoke-request"]) != RevokeRequestSize {
		t.Errorf("request sizes %d and %d", len(want["audit-delegated-request"]), len(want["audit-revoke-request"]))
	}
}
