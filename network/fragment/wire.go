package fragment

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// ProtocolID is the libp2p protocol ID of this protocol; PROTOCOL.md
// describes it. New requests come as new op codes under the same ID
// (a server that does not know one answers invalid, as for op 1, the
// unsigned PUT, retired for ops 6 and 7); a change to an op's bytes
// gets a new ID.
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
	certSize     = audit.CertSize
	infoBodySize = 24 // free, capacity, held
	deleteDomain = "cairn/fragment/1 delete\x00"
	putDomain    = "cairn/fragment/1 put\x00"
	// delegatedDomain: a delegate's PUT for the owner of its certificate.
	delegatedDomain = "cairn/fragment/1 put delegated\x00"
	// maxFields is the longest op fields (PUT-DELEGATED's).
	maxFields = ownerSize + 8 + sigSize + certSize
)

type op uint8

const (
	// opPutUnsigned is the first version's PUT, whose owner was not
	// signed: refused (invalid) before its fields are read.
	opPutUnsigned op = 1
	opGet         op = 2
	opHas         op = 3
	opDelete      op = 4
	opInfo        op = 5
	// opPut is a PUT signed by its owner.
	opPut op = 6
	// opPutDelegated is a PUT signed by a delegate, with the owner's
	// certificate naming it.
	opPutDelegated op = 7
)

func (o op) String() string {
	switch o {
	case opPut:
		return "put"
	case opPutDelegated:
		return "put delegated"
	case opPutUnsigned:
		return "unsigned put"
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
	case opPut, opDelete:
		return ownerSize + 8 + sigSize
	case opPutDelegated:
		return ownerSize + 8 + sigSize + certSize
	}
	return 0
}

// isPut tells the ops that carry a fragment.
func (o op) isPut() bool { return o == opPut || o == opPutDelegated }

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
	// Owner is the signer: the owner (PUT, DELETE) or the delegate
	// (PUT-DELEGATED). The server sets it to the certificate's owner
	// once a delegated PUT has been checked.
	Owner [ownerSize]byte
	Time  int64          // PUT, PUT-DELEGATED, DELETE: Unix seconds
	Sig   [sigSize]byte  // PUT, PUT-DELEGATED, DELETE
	Cert  [certSize]byte // PUT-DELEGATED: the owner's delegation certificate
	Body  []byte
}

// appendHeader appends the fixed header and the op fields (not the body).
func (r *request) appendHeader(b []byte) []byte {
	b = append(b, r.Version, byte(r.Op))
	b = append(b, r.Ref[:]...)
	b = binary.BigEndian.AppendUint32(b, r.Len)
	switch r.Op {
	case opPut, opPutDelegated, opDelete:
		b = append(b, r.Owner[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
		b = append(b, r.Sig[:]...)
		if r.Op == opPutDelegated {
			b = append(b, r.Cert[:]...)
		}
	}
	return b
}

// readRequestHeader reads the fixed header and the op fields, not the
// body. A request that breaks the format gets an error of Kind Invalid
// (the server answers it); a reader error comes back as it is (the server
// resets the stream). Nothing is read past the op fields.
func readRequestHeader(rd io.Reader) (request, error) {
	var r request
	var h [headerSize + maxFields]byte
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
	case opPutUnsigned:
		return r, proto.Malformed("read request", storage.Invalid, "unsigned put (op 1) is no longer taken: a PUT must be signed (op 6 or 7)")
	case opPut, opPutDelegated:
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
	r.Time = int64(binary.BigEndian.Uint64(f[ownerSize:]))
	copy(r.Sig[:], f[ownerSize+8:])
	if r.Op == opPutDelegated {
		copy(r.Cert[:], f[ownerSize+8+sigSize:])
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

// putMessage is what the owner signs to put the n bytes of ref at server
// (the raw bytes of its peer ID) at time t (Unix seconds).
func putMessage(server []byte, ref storage.Ref, n uint32, t int64) []byte {
	return proto.SignedMessage(putDomain, server, ref[:], binary.BigEndian.AppendUint32(nil, n), binary.BigEndian.AppendUint64(nil, uint64(t)))
}

// delegatedMessage is what a delegate signs to put the n bytes of ref at
// server at time t for the owner of cert.
func delegatedMessage(server []byte, ref storage.Ref, n uint32, t int64, cert []byte) []byte {
	return proto.SignedMessage(delegatedDomain, server, ref[:], binary.BigEndian.AppendUint32(nil, n), binary.BigEndian.AppendUint64(nil, uint64(t)), cert)
}

// deleteMessage is what the owner signs to delete ref at server (the raw
// bytes of its peer ID) at time t (Unix seconds).
func deleteMessage(server []byte, ref storage.Ref, t int64) []byte {
	return proto.SignedMessage(deleteDomain, server, ref[:], binary.BigEndian.AppendUint64(nil, uint64(t)))
}
