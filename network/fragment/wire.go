package fragment

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// ProtocolID is the libp2p protocol ID of this protocol. A new wire format
// gets a new ID; PROTOCOL.md describes this one.
const ProtocolID = "/cairn/fragment/1.0.0"

// ServiceName is the resource-manager service name the server's streams
// are accounted under.
const ServiceName = "cairn.fragment"

// Wire constants (PROTOCOL.md).
const (
	// Version is the version byte every request starts with.
	Version = 1
	// MaxFragment caps a fragment body on the wire, in bytes. Larger
	// declared lengths are refused before anything is allocated.
	MaxFragment = 16 << 20
	// MaxMessage caps the human-readable message of a response.
	MaxMessage = proto.MaxText

	headerSize   = 38 // version, op, ref, length
	ownerSize    = ed25519.PublicKeySize
	sigSize      = ed25519.SignatureSize
	infoBodySize = 24 // free, capacity, held
	deleteDomain = "cairn/fragment/1 delete\x00"
)

type op uint8

const (
	opPut    op = 1
	opGet    op = 2
	opHas    op = 3
	opDelete op = 4
	opInfo   op = 5
)

func (o op) String() string {
	switch o {
	case opPut:
		return "put"
	case opGet:
		return "get"
	case opHas:
		return "has"
	case opDelete:
		return "delete"
	case opInfo:
		return "info"
	}
	return fmt.Sprintf("op %d", uint8(o))
}

// fieldsSize is the size of the op-specific fields after the fixed header.
func (o op) fieldsSize() int {
	switch o {
	case opPut:
		return ownerSize
	case opDelete:
		return ownerSize + 8 + sigSize
	}
	return 0
}

// statusCorrupt is this protocol's own status 4: the server's copy of a
// fragment failed verification. The others are proto's common ones.
const statusCorrupt proto.Status = 4

// statuses is the protocol's status table (PROTOCOL.md).
var statuses = proto.NewTable(proto.Entry{
	Status: statusCorrupt, Name: "corrupt", Kind: storage.Corrupt,
	Fixed: true, Text: "held copy failed its integrity check",
})

// response is one response; its frame is the one every Cairn protocol
// shares.
type response = proto.Response

// request is one decoded request. Body is set only by readRequest.
type request struct {
	Version uint8
	Op      op
	Ref     storage.Ref
	Len     uint32
	Owner   [ownerSize]byte // PUT, DELETE
	Time    int64           // DELETE: Unix seconds
	Sig     [sigSize]byte   // DELETE
	Body    []byte
}

// appendHeader appends the fixed header and the op fields (not the body).
func (r *request) appendHeader(b []byte) []byte {
	b = append(b, r.Version, byte(r.Op))
	b = append(b, r.Ref[:]...)
	b = binary.BigEndian.AppendUint32(b, r.Len)
	switch r.Op {
	case opPut:
		b = append(b, r.Owner[:]...)
	case opDelete:
		b = append(b, r.Owner[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
		b = append(b, r.Sig[:]...)
	}
	return b
}

// readRequestHeader reads the fixed header and the op fields, not the
// body. A request that breaks the format gets an error of Kind Invalid
// (the server answers it); a reader error comes back as it is (the server
// resets the stream). Nothing is read past the op fields.
func readRequestHeader(rd io.Reader) (request, error) {
	var r request
	var h [headerSize + ownerSize + 8 + sigSize]byte
	if _, err := io.ReadFull(rd, h[:headerSize]); err != nil {
		return r, err
	}
	r.Version = h[0]
	r.Op = op(h[1])
	copy(r.Ref[:], h[2:34])
	r.Len = binary.BigEndian.Uint32(h[34:38])
	if r.Version != Version {
		return r, proto.Malformed("read request", storage.Invalid, "unsupported version %d", r.Version)
	}
	switch r.Op {
	case opPut:
		if r.Len > MaxFragment {
			return r, proto.Malformed("read request", storage.Invalid, "fragment of %d bytes is over the cap of %d", r.Len, MaxFragment)
		}
	case opGet, opHas, opDelete, opInfo:
		if r.Len != 0 {
			return r, proto.Malformed("read request", storage.Invalid, "%v with a body", r.Op)
		}
	default:
		return r, proto.Malformed("read request", storage.Invalid, "unknown %v", r.Op)
	}
	if r.Op == opInfo && !r.Ref.IsZero() {
		return r, proto.Malformed("read request", storage.Invalid, "info with a ref")
	}
	n := r.Op.fieldsSize()
	if n == 0 {
		return r, nil
	}
	f := h[headerSize : headerSize+n]
	if _, err := io.ReadFull(rd, f); err != nil {
		return r, err
	}
	copy(r.Owner[:], f)
	if r.Op == opDelete {
		r.Time = int64(binary.BigEndian.Uint64(f[ownerSize:]))
		copy(r.Sig[:], f[ownerSize+8:])
	}
	return r, nil
}

// readRequest reads a whole request, body included. The body is allocated
// only after its declared length has passed the cap.
func readRequest(rd io.Reader) (request, error) {
	r, err := readRequestHeader(rd)
	if err != nil {
		return r, err
	}
	r.Body, err = proto.ReadBody(rd, int(r.Len))
	return r, err
}

// bodyStep is the largest body read into a recycled buffer; a longer one
// grows as it arrives (proto.ReadBody).
const bodyStep = proto.BodyStep

// Info is what a storage peer says about the space it offers.
type Info struct {
	Free     int64 // bytes it would still accept
	Capacity int64 // bytes it offers in all
	Held     int64 // bytes it holds now
}

func (i Info) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(i.Free))
	b = binary.BigEndian.AppendUint64(b, uint64(i.Capacity))
	return binary.BigEndian.AppendUint64(b, uint64(i.Held))
}

func parseInfo(b []byte) (Info, error) {
	if len(b) != infoBodySize {
		return Info{}, proto.Malformed("read info", storage.Corrupt, "info of %d bytes", len(b))
	}
	i := Info{
		Free:     int64(binary.BigEndian.Uint64(b[0:])),
		Capacity: int64(binary.BigEndian.Uint64(b[8:])),
		Held:     int64(binary.BigEndian.Uint64(b[16:])),
	}
	if i.Free < 0 || i.Capacity < 0 || i.Held < 0 {
		return Info{}, proto.Malformed("read info", storage.Corrupt, "negative size in info")
	}
	return i, nil
}

// deleteMessage is what the owner signs to delete ref at server (the raw
// bytes of its peer ID) at time t (Unix seconds).
func deleteMessage(server []byte, ref storage.Ref, t int64) []byte {
	return proto.SignedMessage(deleteDomain, server, ref[:], binary.BigEndian.AppendUint64(nil, uint64(t)))
}
