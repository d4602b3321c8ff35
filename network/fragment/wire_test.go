package fragment

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// vectorRequests are the PUT, PUT-DELEGATED and DELETE of PROTOCOL.md's
// vectors: by the vector signer (seed 20 21 … 3f) for the vector server,
// at time 1700000000; the delegated PUT by the key of the seed 60 61 … 7f
// under cert, the audit section's certificate.
func vectorRequests(t testing.TB, cert []byte) (put, delegated, del request) {
	owner, server := vectorKeys(t)
	delegate := ed25519.NewKeyFromSeed(seq(0x60, 32))
	var ref storage.Ref
	copy(ref[:], seq(0, 32))
	pub := [ownerSize]byte(owner.Public().(ed25519.PublicKey))
	const at = 1700000000
	put = request{Version: Version, Op: opPut, Ref: ref, Len: 5, Owner: pub, Time: at}
	copy(put.Sig[:], ed25519.Sign(owner, putMessage([]byte(server), ref, 5, at)))
	delegated = request{Version: Version, Op: opPutDelegated, Ref: ref, Len: 5, Time: at}
	copy(delegated.Owner[:], delegate.Public().(ed25519.PublicKey))
	copy(delegated.Cert[:], cert)
	copy(delegated.Sig[:], ed25519.Sign(delegate, delegatedMessage([]byte(server), ref, 5, at, cert)))
	del = request{Version: Version, Op: opDelete, Ref: ref, Owner: pub, Time: at}
	copy(del.Sig[:], ed25519.Sign(owner, deleteMessage([]byte(server), ref, del.Time)))
	return put, delegated, del
}

func TestProtocolVectors(t *testing.T) {
	vecs, doc := protocolVectors(t)
	owner, server := vectorKeys(t)
	if !strings.Contains(doc, "`"+server.String()+"`") {
		t.Errorf("PROTOCOL.md does not name the vector server's peer ID %s", server)
	}
	// The delegated PUT carries the audit section's certificate (checked
	// there by network/audit).
	cert := vecs["audit-delegation-cert"]
	c, err := audit.ParseCert(cert)
	if err != nil {
		t.Fatalf("the audit section's certificate: %v", err)
	}
	pub := [ownerSize]byte(owner.Public().(ed25519.PublicKey))
	if c.Owner != pub || c.Delegate != [32]byte(ed25519.NewKeyFromSeed(seq(0x60, 32)).Public().(ed25519.PublicKey)) {
		t.Fatalf("the audit section's certificate is for %x → %x", c.Owner[:4], c.Delegate[:4])
	}
	put, delegated, del := vectorRequests(t, cert)
	info := Info{Free: 1 << 30, Capacity: 2 << 30, Held: 1 << 30}
	infoResp := response{Status: proto.OK, Len: infoBodySize}
	quota := response{Status: proto.Quota, Text: "quota exceeded"}

	want := map[string][]byte{
		"put-request":           append(put.appendHeader(nil), "hello"...),
		"put-delegated-request": append(delegated.appendHeader(nil), "hello"...),
		"delete-request":        del.appendHeader(nil),
		"info-response":         info.append(infoResp.AppendHeader(nil)),
		"quota-response":        quota.AppendHeader(nil),
	}
	for name, w := range want {
		if !bytes.Equal(vecs[name], w) {
			t.Errorf("vector %s in PROTOCOL.md differs from the encoder; encoder gives:\n%s", name, hexBlock(w))
		}
	}

	// And they decode to what they say.
	r, err := readRequest(bytes.NewReader(vecs["put-request"]))
	if err != nil || r.Op != opPut || r.Ref != put.Ref || r.Owner != pub || r.Time != 1700000000 || string(r.Body) != "hello" {
		t.Errorf("put vector decodes to %+v, %v", r, err)
	}
	if len(vecs["put-request"]) != 142+5 {
		t.Errorf("put vector of %d bytes, want a 142-byte header and the body", len(vecs["put-request"]))
	}
	if !ed25519.Verify(r.Owner[:], putMessage([]byte(server), r.Ref, r.Len, r.Time), r.Sig[:]) {
		t.Errorf("put vector's signature does not verify")
	}
	r, err = readRequest(bytes.NewReader(vecs["put-delegated-request"]))
	if err != nil || r.Op != opPutDelegated || r.Owner != c.Delegate || !bytes.Equal(r.Cert[:], cert) || string(r.Body) != "hello" {
		t.Errorf("delegated put vector decodes to %+v, %v", r, err)
	}
	if len(vecs["put-delegated-request"]) != 287+5 {
		t.Errorf("delegated put vector of %d bytes, want a 287-byte header and the body", len(vecs["put-delegated-request"]))
	}
	if !ed25519.Verify(r.Owner[:], delegatedMessage([]byte(server), r.Ref, r.Len, r.Time, r.Cert[:]), r.Sig[:]) {
		t.Errorf("delegated put vector's signature does not verify")
	}
	r, err = readRequest(bytes.NewReader(vecs["delete-request"]))
	if err != nil || r.Op != opDelete || r.Time != 1700000000 {
		t.Errorf("delete vector decodes to %+v, %v", r, err)
	}
	if !ed25519.Verify(r.Owner[:], deleteMessage([]byte(server), r.Ref, r.Time), r.Sig[:]) {
		t.Errorf("delete vector's signature does not verify")
	}
	// The first version's PUT (op 1, unsigned) is refused with invalid,
	// not read as something else.
	old := append(append([]byte{Version, byte(opPutUnsigned)}, vecs["put-request"][2:38]...), pub[:]...)
	if _, err := readRequest(bytes.NewReader(append(old, "hello"...))); storage.KindOf(err) != storage.Invalid || !strings.Contains(err.Error(), "unsigned") {
		t.Errorf("an unsigned put (op 1): %v, want Invalid", err)
	}
	resp, err := proto.ReadResponse(bytes.NewReader(vecs["info-response"]), infoBodySize)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := parseInfo(resp.Body); err != nil || got != info {
		t.Errorf("info vector decodes to %+v, %v", got, err)
	}
	resp, err = proto.ReadResponse(bytes.NewReader(vecs["quota-response"]), 0)
	if err != nil || resp.Status != proto.Quota || resp.Text != "quota exceeded" || statuses.Kind(resp.Status) != storage.Quota {
		t.Errorf("quota vector decodes to %+v, %v", resp, err)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	owner, _ := vectorKeys(t)
	pub := [ownerSize]byte(owner.Public().(ed25519.PublicKey))
	ref := storage.Ref(seq(7, 32))
	for _, r := range []request{
		{Version: Version, Op: opPut, Ref: ref, Len: 3, Owner: pub, Time: 1 << 40, Sig: [sigSize]byte(seq(2, 64)), Body: []byte("abc")},
		{Version: Version, Op: opPut, Ref: ref, Len: 0, Owner: pub, Time: -1},
		{Version: Version, Op: opPutDelegated, Ref: ref, Len: 2, Owner: pub, Time: 9, Sig: [sigSize]byte(seq(3, 64)), Cert: [certSize]byte(seq(4, certSize)), Body: []byte("ab")},
		{Version: Version, Op: opGet, Ref: ref},
		{Version: Version, Op: opHas, Ref: ref},
		{Version: Version, Op: opDelete, Ref: ref, Owner: pub, Time: -5, Sig: [sigSize]byte(seq(1, 64))},
		{Version: Version, Op: opInfo},
	} {
		b := append(r.appendHeader(nil), r.Body...)
		got, err := readRequest(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%v: %v", r.Op, err)
		}
		if got.Op != r.Op || got.Ref != r.Ref || got.Len != r.Len || got.Owner != r.Owner ||
			got.Time != r.Time || got.Sig != r.Sig || got.Cert != r.Cert || !bytes.Equal(got.Body, r.Body) {
			t.Fatalf("%v: decoded %+v, want %+v", r.Op, got, r)
		}
	}
}

func TestReadRequestMalformed(t *testing.T) {
	ref := storage.Ref(seq(7, 32))
	hdr := func(v byte, o op, r storage.Ref, n uint32) []byte {
		return (&request{Version: v, Op: o, Ref: r, Len: n}).appendHeader(nil)[:headerSize]
	}
	tests := []struct {
		name    string
		in      []byte
		invalid bool // an Invalid error (answered), else a reader error (reset)
	}{
		{"empty", nil, false},
		{"short header", hdr(Version, opGet, ref, 0)[:20], false},
		{"version 0", hdr(0, opGet, ref, 0), true},
		{"version 2", hdr(2, opGet, ref, 0), true},
		{"op 0", hdr(Version, 0, ref, 0), true},
		{"op 255", hdr(Version, 255, ref, 0), true},
		{"put over cap", hdr(Version, opPut, ref, MaxFragment+1), true},
		{"put 4 GiB", hdr(Version, opPut, ref, 1<<32-1), true},
		{"get with body", hdr(Version, opGet, ref, 1), true},
		{"delete with body", hdr(Version, opDelete, ref, 10), true},
		{"info with ref", hdr(Version, opInfo, ref, 0), true},
		{"unsigned put (op 1)", hdr(Version, opPutUnsigned, ref, 5), true},
		{"op 8", hdr(Version, 8, ref, 0), true},
		{"delegated put over cap", hdr(Version, opPutDelegated, ref, MaxFragment+1), true},
		{"put without owner", hdr(Version, opPut, ref, 0), false},
		{"put short fields", append(hdr(Version, opPut, ref, 0), seq(0, 103)...), false},
		{"delegated put without its certificate", append(hdr(Version, opPutDelegated, ref, 0), seq(0, 104)...), false},
		{"delegated put short certificate", append(hdr(Version, opPutDelegated, ref, 0), seq(0, 104+144)...), false},
		{"delete short fields", append(hdr(Version, opDelete, ref, 0), seq(0, 100)...), false},
		{"put short body", append(append(hdr(Version, opPut, ref, 10), seq(0, 104)...), 1, 2), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readRequest(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if got := storage.KindOf(err) == storage.Invalid; got != tc.invalid {
				t.Fatalf("error %v: Invalid = %v, want %v", err, got, tc.invalid)
			}
			if !tc.invalid && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v, want EOF", err)
			}
		})
	}
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestOversizeNotAllocated(t *testing.T) {
	put := (&request{Version: Version, Op: opPut, Len: 1<<32 - 1}).appendHeader(nil)
	resp := (&response{Status: proto.OK, Len: 1<<32 - 1}).AppendHeader(nil)
	small := (&response{Status: proto.OK, Len: MaxFragment}).AppendHeader(nil)
	n := allocated(func() {
		if _, err := readRequest(bytes.NewReader(put)); storage.KindOf(err) != storage.Invalid {
			t.Errorf("request of 4 GiB: %v, want Invalid", err)
		}
		if _, err := proto.ReadResponse(bytes.NewReader(resp), MaxFragment); storage.KindOf(err) != storage.Corrupt {
			t.Errorf("response of 4 GiB: %v, want Corrupt", err)
		}
		if _, err := proto.ReadResponse(bytes.NewReader(small), 0); storage.KindOf(err) != storage.Corrupt {
			t.Errorf("response with a body where none is allowed: %v, want Corrupt", err)
		}
	})
	if n > 64<<10 {
		t.Fatalf("refusing oversized lengths allocated %d bytes", n)
	}
}

func TestReadBody(t *testing.T) {
	// A peer that declares the cap and sends little costs one step.
	lie := append((&response{Status: proto.OK, Len: MaxFragment}).AppendHeader(nil), 1, 2, 3)
	n := allocated(func() {
		if _, err := proto.ReadResponse(bytes.NewReader(lie), MaxFragment); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("short body: %v", err)
		}
	})
	if n > bodyStep+64<<10 {
		t.Fatalf("a 3-byte body declared as %d allocated %d bytes", MaxFragment, n)
	}
	for _, size := range []int{0, 1, bodyStep - 1, bodyStep, bodyStep + 1, 3*bodyStep + 5, MaxFragment} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i * 7)
		}
		got, err := proto.ReadBody(bytes.NewReader(want), size)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("proto.ReadBody(%d) = %d bytes, %v", size, len(got), err)
		}
		if _, err := proto.ReadBody(bytes.NewReader(want[:size/2]), size); size > 0 && err == nil {
			t.Fatalf("proto.ReadBody(%d) of half: no error", size)
		}
	}
}

func TestReadResponse(t *testing.T) {
	long := strings.Repeat("x", 300)
	r := response{Status: proto.Permission, Text: long}
	b := r.AppendHeader(nil)
	got, err := proto.ReadResponse(bytes.NewReader(b), 0)
	if err != nil || got.Text != long[:MaxMessage] || got.Status != proto.Permission {
		t.Fatalf("long message: %+v, %v", got, err)
	}
	body := seq(0, 100)
	r = response{Status: proto.OK, Len: 100}
	got, err = proto.ReadResponse(bytes.NewReader(append(r.AppendHeader(nil), body...)), 100)
	if err != nil || !bytes.Equal(got.Body, body) {
		t.Fatalf("body: %+v, %v", got, err)
	}
	for _, n := range []int{0, 3, 6, 50} {
		if _, err := proto.ReadResponse(bytes.NewReader(append(r.AppendHeader(nil), body...)[:n]), 100); err == nil || storage.KindOf(err) != storage.Other {
			t.Fatalf("truncated to %d: %v, want a reader error", n, err)
		}
	}
	if _, err := parseInfo(Info{Free: -1}.append(nil)); storage.KindOf(err) != storage.Corrupt {
		t.Fatalf("negative info: %v", err)
	}
	if _, err := parseInfo(make([]byte, 23)); storage.KindOf(err) != storage.Corrupt {
		t.Fatalf("short info: %v", err)
	}
}

func FuzzReadRequest(f *testing.F) {
	_, server := vectorKeys(f)
	ref := storage.Ref(seq(0, 32))
	cert := seq(9, certSize)
	if vecs, _ := nettest.Vectors(f, "../PROTOCOL.md"); len(vecs["audit-delegation-cert"]) == certSize {
		cert = vecs["audit-delegation-cert"]
	}
	put, delegated, del := vectorRequests(f, cert)
	f.Add(append(put.appendHeader(nil), "hello"...))
	f.Add(append(delegated.appendHeader(nil), "hello"...))
	f.Add(del.appendHeader(nil))
	f.Add(append([]byte{Version, byte(opPutUnsigned)}, put.appendHeader(nil)[2:70]...))
	f.Add(delegated.appendHeader(nil)[:200])
	f.Add((&request{Version: Version, Op: opGet, Ref: ref}).appendHeader(nil))
	f.Add((&request{Version: Version, Op: opInfo}).appendHeader(nil))
	f.Add((&request{Version: Version, Op: opPut, Len: 1 << 31}).appendHeader(nil))
	f.Add((&request{Version: Version, Op: opPutDelegated, Len: MaxFragment + 1}).appendHeader(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if int(r.Len) != len(r.Body) || r.Len > MaxFragment || r.Version != Version {
			t.Fatalf("accepted %+v", r)
		}
		// Re-encoding gives back the bytes read.
		enc := append(r.appendHeader(nil), r.Body...)
		if !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("re-encoding differs")
		}
		if r.Op.isPut() != (r.Op == opPut || r.Op == opPutDelegated) || r.Op == opPutUnsigned {
			t.Fatalf("accepted %v", r.Op)
		}
		_ = ed25519.Verify(r.Owner[:], deleteMessage([]byte(server), r.Ref, r.Time), r.Sig[:])
		_ = ed25519.Verify(r.Owner[:], putMessage([]byte(server), r.Ref, r.Len, r.Time), r.Sig[:])
		if r.Op == opPutDelegated {
			_, _ = audit.ParseCert(r.Cert[:])
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add(Info{Free: 1, Capacity: 2, Held: 1}.append((&response{Status: proto.OK, Len: infoBodySize}).AppendHeader(nil)), uint32(infoBodySize))
	f.Add((&response{Status: proto.Quota, Text: "quota exceeded"}).AppendHeader(nil), uint32(0))
	f.Add(append((&response{Status: proto.OK, Len: 3}).AppendHeader(nil), 1, 2, 3), uint32(MaxFragment))
	f.Add((&response{Status: proto.OK, Len: 1 << 30}).AppendHeader(nil), uint32(MaxFragment))
	f.Fuzz(func(t *testing.T, b []byte, maxBody uint32) {
		maxBody %= MaxFragment + 1
		r, err := proto.ReadResponse(bytes.NewReader(b), maxBody)
		if err != nil {
			return
		}
		if r.Len > maxBody || int(r.Len) != len(r.Body) || len(r.Text) > MaxMessage {
			t.Fatalf("accepted %+v", r)
		}
		enc := append(r.AppendHeader(nil), r.Body...)
		if !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("re-encoding differs")
		}
		_ = statusError("fuzz", "peer", r)
		if len(r.Body) == infoBodySize {
			_, _ = parseInfo(r.Body)
		}
	})
}

// protocolVectors reads the hex blocks of PROTOCOL.md.
func protocolVectors(t *testing.T) (map[string][]byte, string) {
	return nettest.Vectors(t, "../PROTOCOL.md")
}

func hexBlock(b []byte) string { return nettest.HexBlock(b) }

func seq(from byte, n int) []byte { return nettest.Seq(from, n) }

func vectorKeys(t testing.TB) (ed25519.PrivateKey, peer.ID) { return nettest.VectorKeys(t) }
