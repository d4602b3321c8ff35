package pointer

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// ProtocolID is the libp2p protocol ID of this protocol. A new wire format
// gets a new ID; network/PROTOCOL.md describes this one.
const ProtocolID = "/cairn/pointer/1.0.0"

// ServiceName is the resource-manager service name the server's streams
// are accounted under.
const ServiceName = "cairn.pointer"

// Wire constants (network/PROTOCOL.md).
const (
	// Version is the version byte every request starts with.
	Version = 1
	// MaxKey caps a record key on the wire, in bytes.
	MaxKey = 256
	// MaxRecord caps a record value on the wire. A server may take less
	// (ServiceConfig.MaxValue).
	MaxRecord = 64 << 10
	// MaxMessage caps an inbox message.
	MaxMessage = 64 << 10
	// MaxList caps the body of an INBOX_LIST response: the server sends
	// the oldest messages that fit, the rest after the owner deletes some.
	MaxList = 4 << 20
	// MaxText caps the human-readable text of a response.
	MaxText = proto.MaxText

	idSize       = sha256.Size
	ownerSize    = ed25519.PublicKeySize
	sigSize      = ed25519.SignatureSize
	entryHeader  = 44 // id, received, length
	deleteDomain = "cairn/pointer/1 inbox delete\x00"
	inboxDomain  = "cairn inbox v1\x00"
)

// InboxIDOf returns the inbox id of the user whose Ed25519 public key is
// pub: SHA-256("cairn inbox v1" ‖ 0x00 ‖ pub). It is the same function as
// cryptree.InboxID; the owner proves it holds the matching private key to
// delete messages.
func InboxIDOf(pub ed25519.PublicKey) [32]byte {
	h := sha256.New()
	h.Write([]byte(inboxDomain))
	h.Write(pub)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// MessageID returns the id of an inbox message: SHA-256 of its bytes.
func MessageID(msg []byte) [32]byte { return sha256.Sum256(msg) }

type op uint8

const (
	opPutRecord   op = 1
	opGetRecord   op = 2
	opInboxPut    op = 3
	opInboxList   op = 4
	opInboxDelete op = 5
)

func (o op) String() string {
	switch o {
	case opPutRecord:
		return "put record"
	case opGetRecord:
		return "get record"
	case opInboxPut:
		return "inbox put"
	case opInboxList:
		return "inbox list"
	case opInboxDelete:
		return "inbox delete"
	}
	return fmt.Sprintf("op %d", uint8(o))
}

// statusStale is this protocol's own status 4: PUT_RECORD refused
// because the server keeps a record its validator prefers. The others
// are proto's common ones.
const statusStale proto.Status = 4

// statuses is the protocol's status table (network/PROTOCOL.md).
var statuses = proto.NewTable(proto.Entry{Status: statusStale, Name: "stale", Kind: storage.Exist})

// response is one response; its frame is the one every Cairn protocol
// shares.
type response = proto.Response

// request is one decoded request. Which fields are set depends on Op.
type request struct {
	Op    op
	Key   string          // PUT_RECORD, GET_RECORD
	Inbox [32]byte        // INBOX_*
	ID    [idSize]byte    // INBOX_DELETE
	Owner [ownerSize]byte // INBOX_DELETE
	Time  int64           // INBOX_DELETE: Unix seconds
	Sig   [sigSize]byte   // INBOX_DELETE
	Body  []byte          // PUT_RECORD: the value; INBOX_PUT: the message
}

// append appends the encoding of r, version first.
func (r *request) append(b []byte) []byte {
	b = r.appendHead(b)
	if r.Op == opPutRecord || r.Op == opInboxPut {
		b = append(b, r.Body...)
	}
	return b
}

// appendHead appends the encoding of r but for the body (the value of a
// PUT_RECORD, the message of an INBOX_PUT), which comes last.
func (r *request) appendHead(b []byte) []byte {
	b = append(b, Version, byte(r.Op))
	switch r.Op {
	case opPutRecord, opGetRecord:
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.Key)))
		b = append(b, r.Key...)
		if r.Op == opPutRecord {
			b = binary.BigEndian.AppendUint32(b, uint32(len(r.Body)))
		}
	case opInboxPut:
		b = append(b, r.Inbox[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Body)))
	case opInboxList:
		b = append(b, r.Inbox[:]...)
	case opInboxDelete:
		b = append(b, r.Inbox[:]...)
		b = append(b, r.ID[:]...)
		b = append(b, r.Owner[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
		b = append(b, r.Sig[:]...)
	}
	return b
}

// readRequest reads one whole request. Every length is checked against
// its cap before anything of that length is allocated: a record value
// against maxValue (at most MaxRecord), a message against MaxMessage. A
// request that breaks the format gets an error of Kind Invalid (the server
// answers it); a reader error (EOF, reset, deadline) comes back as it is.
// Nothing is read past the request.
func readRequest(rd io.Reader, maxValue int) (request, error) {
	const what = "read request"
	var r request
	var h [2]byte
	if _, err := io.ReadFull(rd, h[:]); err != nil {
		return r, err
	}
	if h[0] != Version {
		return r, proto.Malformed(what, storage.Invalid, "unsupported version %d", h[0])
	}
	r.Op = op(h[1])
	switch r.Op {
	case opPutRecord, opGetRecord:
		var n [4]byte
		if _, err := io.ReadFull(rd, n[:2]); err != nil {
			return r, err
		}
		kl := int(binary.BigEndian.Uint16(n[:2]))
		if kl == 0 || kl > MaxKey {
			return r, proto.Malformed(what, storage.Invalid, "key of %d bytes (1 to %d)", kl, MaxKey)
		}
		key := make([]byte, kl)
		if _, err := io.ReadFull(rd, key); err != nil {
			return r, err
		}
		r.Key = string(key)
		if r.Op == opGetRecord {
			return r, nil
		}
		if _, err := io.ReadFull(rd, n[:]); err != nil {
			return r, err
		}
		vl := binary.BigEndian.Uint32(n[:])
		if vl == 0 || vl > uint32(min(maxValue, MaxRecord)) {
			return r, proto.Malformed(what, storage.Invalid, "value of %d bytes (1 to %d)", vl, min(maxValue, MaxRecord))
		}
		r.Body = make([]byte, vl)
		_, err := io.ReadFull(rd, r.Body)
		return r, err
	case opInboxPut:
		var f [32 + 4]byte
		if _, err := io.ReadFull(rd, f[:]); err != nil {
			return r, err
		}
		copy(r.Inbox[:], f[:32])
		ml := binary.BigEndian.Uint32(f[32:])
		if ml == 0 || ml > MaxMessage {
			return r, proto.Malformed(what, storage.Invalid, "message of %d bytes (1 to %d)", ml, MaxMessage)
		}
		r.Body = make([]byte, ml)
		_, err := io.ReadFull(rd, r.Body)
		return r, err
	case opInboxList:
		_, err := io.ReadFull(rd, r.Inbox[:])
		return r, err
	case opInboxDelete:
		var f [32 + idSize + ownerSize + 8 + sigSize]byte
		if _, err := io.ReadFull(rd, f[:]); err != nil {
			return r, err
		}
		copy(r.Inbox[:], f[0:])
		copy(r.ID[:], f[32:])
		copy(r.Owner[:], f[32+idSize:])
		r.Time = int64(binary.BigEndian.Uint64(f[32+idSize+ownerSize:]))
		copy(r.Sig[:], f[32+idSize+ownerSize+8:])
		return r, nil
	}
	return r, proto.Malformed(what, storage.Invalid, "unknown %v", r.Op)
}

// Message is one message of an inbox, as a storage peer lists it.
type Message struct {
	// ID is MessageID(Data); the client checks it.
	ID [32]byte
	// Data is the message; it belongs to the caller.
	Data []byte
	// Received is when the peer took it, by the peer's clock (untrusted),
	// to the millisecond.
	Received time.Time
}

// appendEntry appends one INBOX_LIST entry.
func appendEntry(b []byte, m *Message) []byte {
	b = append(b, m.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Received.UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Data)))
	return append(b, m.Data...)
}

// parseList decodes an INBOX_LIST body. Every entry's length is checked
// against MaxMessage and what is left of the body, and its id against the
// hash of its data: an error is Corrupt. The messages do not alias body.
func parseList(body []byte) ([]Message, error) {
	const what = "read inbox list"
	var out []Message
	for len(body) > 0 {
		if len(body) < entryHeader {
			return nil, proto.Malformed(what, storage.Corrupt, "truncated entry header (%d bytes)", len(body))
		}
		var m Message
		copy(m.ID[:], body)
		ms := int64(binary.BigEndian.Uint64(body[idSize:]))
		n := binary.BigEndian.Uint32(body[idSize+8:])
		body = body[entryHeader:]
		if n == 0 || n > MaxMessage || int(n) > len(body) {
			return nil, proto.Malformed(what, storage.Corrupt, "entry of %d bytes with %d left", n, len(body))
		}
		m.Data = append([]byte(nil), body[:n]...)
		body = body[n:]
		if MessageID(m.Data) != m.ID {
			return nil, proto.Malformed(what, storage.Corrupt, "message does not match its id")
		}
		m.Received = time.UnixMilli(ms)
		out = append(out, m)
	}
	return out, nil
}

// deleteMessage is what the inbox owner signs to delete message id from
// inbox at server (the raw bytes of its peer ID) at time t (Unix seconds).
func deleteMessage(server []byte, inbox, id *[32]byte, t int64) []byte {
	return proto.SignedMessage(deleteDomain, server, inbox[:], id[:], binary.BigEndian.AppendUint64(nil, uint64(t)))
}
