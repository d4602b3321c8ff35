package pointer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// vectors builds the PROTOCOL.md examples.
func vectors(t *testing.T) map[string][]byte {
	owner, server := vectorKeys(t)
	pub := owner.Public().(ed25519.PublicKey)
	inbox := InboxIDOf(pub)
	msg := []byte("hello")
	id := MessageID(msg)
	del := &request{Op: opInboxDelete, Inbox: inbox, ID: id, Time: 1700000000}
	copy(del.Owner[:], pub)
	copy(del.Sig[:], ed25519.Sign(owner, deleteMessage([]byte(server), &inbox, &id, del.Time)))
	list := appendEntry(nil, &Message{ID: id, Data: msg, Received: time.UnixMilli(1700000000123)})
	return map[string][]byte{
		"pointer-inbox-id":       inbox[:],
		"pointer-put-record":     (&request{Op: opPutRecord, Key: "/toy/a", Body: []byte{0, 0, 0, 0, 0, 0, 0, 2}}).append(nil),
		"pointer-get-record":     (&request{Op: opGetRecord, Key: "/toy/a"}).append(nil),
		"pointer-inbox-put":      (&request{Op: opInboxPut, Inbox: inbox, Body: msg}).append(nil),
		"pointer-inbox-delete":   del.append(nil),
		"pointer-list-response":  (&response{Body: list}).Append(nil),
		"pointer-stale-response": (&response{Status: statusStale, Text: "stale"}).Append(nil),
	}
}

func TestProtocolVectors(t *testing.T) {
	doc := protocolVectors(t)
	for name, want := range vectors(t) {
		got, ok := doc[name]
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("PROTOCOL.md vector %s does not match; it should be:\n```hex %s\n%s```", name, name, hexBlock(want))
		}
	}
	// The inbox id is the documented formula, spelled out once more.
	owner, _ := vectorKeys(t)
	want := sha256.Sum256(append([]byte("cairn inbox v1\x00"), owner.Public().(ed25519.PublicKey)...))
	if InboxIDOf(owner.Public().(ed25519.PublicKey)) != want {
		t.Fatal("InboxIDOf is not SHA-256(\"cairn inbox v1\\x00\" ‖ pub)")
	}
	// The delete vector decodes and its signature verifies.
	_, server := vectorKeys(t)
	r, err := readRequest(bytes.NewReader(doc["pointer-inbox-delete"]), MaxRecord)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(r.Owner[:], deleteMessage([]byte(server), &r.Inbox, &r.ID, r.Time), r.Sig[:]) {
		t.Fatal("delete vector signature does not verify")
	}
}

func TestRequestRoundTrip(t *testing.T) {
	owner, _ := vectorKeys(t)
	for _, r := range []request{
		{Op: opPutRecord, Key: "/k/x", Body: []byte("v")},
		{Op: opPutRecord, Key: strings.Repeat("k", MaxKey), Body: make([]byte, MaxRecord)},
		{Op: opGetRecord, Key: "/k/x"},
		{Op: opInboxPut, Inbox: [32]byte{1}, Body: make([]byte, MaxMessage)},
		{Op: opInboxList, Inbox: [32]byte{2}},
		{Op: opInboxDelete, Inbox: [32]byte{3}, ID: [32]byte{4}, Owner: [32]byte(owner.Public().(ed25519.PublicKey)), Time: -5, Sig: [64]byte{9}},
	} {
		b := r.append(nil)
		rd := bytes.NewReader(append(bytes.Clone(b), "trailing"...))
		got, err := readRequest(rd, MaxRecord)
		if err != nil {
			t.Fatalf("%v: %v", r.Op, err)
		}
		if rd.Len() != len("trailing") {
			t.Fatalf("%v: read %d bytes past the request", r.Op, len("trailing")-rd.Len())
		}
		if !bytes.Equal(got.append(nil), b) {
			t.Fatalf("%v: round trip differs", r.Op)
		}
	}
}

func TestReadRequestMalformed(t *testing.T) {
	u16 := func(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
	u32 := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, c := range []struct {
		name string
		in   []byte
		max  int
		kind storage.Kind // Other: a reader error
	}{
		{"empty", nil, MaxRecord, storage.Other},
		{"version", []byte{2, 1}, MaxRecord, storage.Invalid},
		{"op", []byte{1, 9}, MaxRecord, storage.Invalid},
		{"op zero", []byte{1, 0}, MaxRecord, storage.Invalid},
		{"empty key", cat([]byte{1, 2}, u16(0)), MaxRecord, storage.Invalid},
		{"long key", cat([]byte{1, 2}, u16(MaxKey+1)), MaxRecord, storage.Invalid},
		{"short key", cat([]byte{1, 2}, u16(5), []byte("/a")), MaxRecord, storage.Other},
		{"empty value", cat([]byte{1, 1}, u16(1), []byte("k"), u32(0)), MaxRecord, storage.Invalid},
		{"value over server cap", cat([]byte{1, 1}, u16(1), []byte("k"), u32(101)), 100, storage.Invalid},
		{"value over wire cap", cat([]byte{1, 1}, u16(1), []byte("k"), u32(1<<31)), 1 << 40, storage.Invalid},
		{"short value", cat([]byte{1, 1}, u16(1), []byte("k"), u32(3), []byte("ab")), MaxRecord, storage.Other},
		{"message over cap", cat([]byte{1, 3}, make([]byte, 32), u32(MaxMessage+1)), MaxRecord, storage.Invalid},
		{"empty message", cat([]byte{1, 3}, make([]byte, 32), u32(0)), MaxRecord, storage.Invalid},
		{"short list", cat([]byte{1, 4}, make([]byte, 31)), MaxRecord, storage.Other},
		{"short delete", cat([]byte{1, 5}, make([]byte, 100)), MaxRecord, storage.Other},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readRequest(bytes.NewReader(c.in), c.max)
			if err == nil {
				t.Fatal("no error")
			}
			if storage.KindOf(err) != c.kind {
				t.Fatalf("%v: kind %v, want %v", err, storage.KindOf(err), c.kind)
			}
			if c.kind == storage.Other && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%v: want EOF", err)
			}
		})
	}
}

// capReader fails the test if more than n bytes are asked for at once.
type capReader struct {
	t   *testing.T
	r   io.Reader
	max int
}

func (c capReader) Read(p []byte) (int, error) {
	if len(p) > c.max {
		c.t.Fatalf("read of %d bytes asked for", len(p))
	}
	return c.r.Read(p)
}

func TestOversizeNotAllocated(t *testing.T) {
	// A declared 4 GiB value is refused from its 4 length bytes.
	in := []byte{1, 1, 0, 1, 'k', 0xff, 0xff, 0xff, 0xff}
	_, err := readRequest(capReader{t, bytes.NewReader(in), MaxKey}, MaxRecord)
	if storage.KindOf(err) != storage.Invalid {
		t.Fatalf("%v", err)
	}
	resp := []byte{0, 0, 0xff, 0xff, 0xff, 0xff}
	_, err = proto.ReadResponse(capReader{t, bytes.NewReader(resp), proto.HeaderSize + MaxText}, MaxList)
	if storage.KindOf(err) != storage.Corrupt {
		t.Fatalf("%v", err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range 10 {
		_, _ = proto.ReadResponse(bytes.NewReader(resp), MaxList)
		_, _ = readRequest(bytes.NewReader(in), MaxRecord)
	}
	runtime.ReadMemStats(&m1)
	if d := m1.TotalAlloc - m0.TotalAlloc; d > 64<<10 {
		t.Fatalf("%d bytes allocated for 20 refused frames", d)
	}
}

func TestParseList(t *testing.T) {
	a, b := []byte("first"), []byte("second")
	good := appendEntry(appendEntry(nil, &Message{ID: MessageID(a), Data: a, Received: time.UnixMilli(5)}), &Message{ID: MessageID(b), Data: b, Received: time.UnixMilli(6)})
	ms, err := parseList(good)
	if err != nil || len(ms) != 2 || !bytes.Equal(ms[1].Data, b) || ms[0].Received.UnixMilli() != 5 {
		t.Fatalf("parseList = %+v, %v", ms, err)
	}
	if ms, err := parseList(nil); err != nil || len(ms) != 0 {
		t.Fatalf("parseList(nil) = %v, %v", ms, err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	for name, in := range map[string][]byte{
		"tampered":  bad,
		"truncated": good[:len(good)-1],
		"short hdr": good[:10],
		"zero len":  append(make([]byte, 40), 0, 0, 0, 0),
		"huge len":  append(make([]byte, 40), 0xff, 0xff, 0xff, 0xff),
	} {
		if _, err := parseList(in); storage.KindOf(err) != storage.Corrupt {
			t.Errorf("%s: %v, want Corrupt", name, err)
		}
	}
}

func FuzzReadRequest(f *testing.F) {
	owner := ed25519.NewKeyFromSeed(seq(0x20, 32))
	f.Add((&request{Op: opPutRecord, Key: "/toy/a", Body: []byte("12345678")}).append(nil))
	f.Add((&request{Op: opGetRecord, Key: "/toy/a"}).append(nil))
	f.Add((&request{Op: opInboxPut, Inbox: [32]byte{1}, Body: []byte("m")}).append(nil))
	f.Add((&request{Op: opInboxList}).append(nil))
	f.Add((&request{Op: opInboxDelete, Owner: [32]byte(owner.Public().(ed25519.PublicKey))}).append(nil))
	f.Add([]byte{1, 1, 0, 1, 'k', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := readRequest(bytes.NewReader(in), 1000)
		if err != nil {
			return
		}
		if len(r.Body) > 1000 && r.Op == opPutRecord || len(r.Body) > MaxMessage || len(r.Key) > MaxKey {
			t.Fatalf("over a cap: key %d, body %d", len(r.Key), len(r.Body))
		}
		out := r.append(nil)
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	a := []byte("msg")
	f.Add((&response{Body: appendEntry(nil, &Message{ID: MessageID(a), Data: a})}).Append(nil))
	f.Add((&response{Status: statusStale, Text: "stale"}).Append(nil))
	f.Add([]byte{0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := proto.ReadResponse(bytes.NewReader(in), 1<<16)
		if err != nil {
			return
		}
		if len(r.Body) > 1<<16 || len(r.Text) > MaxText {
			t.Fatalf("over a cap: body %d, text %d", len(r.Body), len(r.Text))
		}
		if !bytes.HasPrefix(in, r.Append(nil)) {
			t.Fatalf("re-encoding differs from the input")
		}
		ms, err := parseList(r.Body)
		if err != nil {
			return
		}
		var again []byte
		for i := range ms {
			if MessageID(ms[i].Data) != ms[i].ID {
				t.Fatal("message does not match its id")
			}
			again = appendEntry(again, &ms[i])
		}
		if !bytes.Equal(again, r.Body) {
			t.Fatal("list re-encoding differs")
		}
	})
}

// protocolVectors reads the hex blocks of PROTOCOL.md.
func protocolVectors(t *testing.T) map[string][]byte {
	v, _ := nettest.Vectors(t, "../PROTOCOL.md")
	return v
}

func hexBlock(b []byte) string { return nettest.HexBlock(b) }

func seq(from byte, n int) []byte { return nettest.Seq(from, n) }

func vectorKeys(t testing.TB) (ed25519.PrivateKey, peer.ID) { return nettest.VectorKeys(t) }
