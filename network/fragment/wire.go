package fragment

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

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
	MaxMessage = 255

	headerSize   = 38 // version, op, ref, length
	ownerSize    = ed25519.PublicKeySize
	sigSize      = ed25519.SignatureSize
	infoBodySize = 24 // free, capacity, held
	respHeader   = 6  // status, message length, body length
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

type status uint8

const (
	statusOK         status = 0
	statusNotFound   status = 1
	statusQuota      status = 2
	statusInvalid    status = 3
	statusCorrupt    status = 4
	statusPermission status = 5
	statusInternal   status = 6
	statusBusy       status = 7
)

// kind maps a response status to the error kind the client reports.
func (s status) kind() storage.Kind {
	switch s {
	case statusNotFound:
		return storage.NotExist
	case statusQuota:
		return storage.Quota
	case statusInvalid:
		return storage.Invalid
	case statusCorrupt:
		return storage.Corrupt
	case statusPermission:
		return storage.Permission
	case statusInternal:
		return storage.IO
	case statusBusy:
		return storage.Unavailable
	}
	return storage.Other
}

// statusOf maps a server-side error to the status sent back.
func statusOf(err error) status {
	switch storage.KindOf(err) {
	case storage.NotExist:
		return statusNotFound
	case storage.Quota:
		return statusQuota
	case storage.Invalid:
		return statusInvalid
	case storage.Corrupt:
		return statusCorrupt
	case storage.Permission:
		return statusPermission
	case storage.Unavailable:
		return statusBusy
	}
	return statusInternal
}

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

// errMalformed marks a request or response that breaks the format. Errors
// from the reader itself (EOF, reset, deadline) come back unwrapped.
func malformed(op string, kind storage.Kind, format string, args ...any) error {
	return storage.E(op, kind, fmt.Errorf(format, args...))
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
		return r, malformed("read request", storage.Invalid, "unsupported version %d", r.Version)
	}
	switch r.Op {
	case opPut:
		if r.Len > MaxFragment {
			return r, malformed("read request", storage.Invalid, "fragment of %d bytes is over the cap of %d", r.Len, MaxFragment)
		}
	case opGet, opHas, opDelete, opInfo:
		if r.Len != 0 {
			return r, malformed("read request", storage.Invalid, "%v with a body", r.Op)
		}
	default:
		return r, malformed("read request", storage.Invalid, "unknown %v", r.Op)
	}
	if r.Op == opInfo && !r.Ref.IsZero() {
		return r, malformed("read request", storage.Invalid, "info with a ref")
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
	r.Body, err = readBody(rd, int(r.Len))
	return r, err
}

// bodyStep is how much of a body is allocated before its bytes arrive: a
// body up to it gets one allocation of its exact size; a longer one grows
// as it comes in, so a peer that declares 16 MiB and sends nothing costs
// us 1 MiB, not 16.
const bodyStep = 1 << 20

// readBody reads exactly n bytes (n already checked against its cap).
func readBody(rd io.Reader, n int) ([]byte, error) {
	if n <= bodyStep {
		b := make([]byte, n)
		_, err := io.ReadFull(rd, b)
		return b, err
	}
	b := make([]byte, 0, bodyStep)
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b)))
		}
		m, err := io.ReadFull(rd, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// response is one decoded response.
type response struct {
	Status status
	Msg    string
	Len    uint32 // body length
	Body   []byte
}

// appendHeader appends status, lengths and message (not the body). Msg is
// cut to MaxMessage bytes.
func (r *response) appendHeader(b []byte) []byte {
	msg := r.Msg
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
	}
	b = append(b, byte(r.Status), byte(len(msg)))
	b = binary.BigEndian.AppendUint32(b, r.Len)
	return append(b, msg...)
}

// readResponseHeader reads status, lengths and message. A body length over
// maxBody gets an error of Kind Corrupt; reader errors come back as they
// are.
func readResponseHeader(rd io.Reader, maxBody uint32) (response, error) {
	var r response
	var h [respHeader + MaxMessage]byte
	if _, err := io.ReadFull(rd, h[:respHeader]); err != nil {
		return r, err
	}
	r.Status = status(h[0])
	mlen := int(h[1])
	r.Len = binary.BigEndian.Uint32(h[2:6])
	if r.Len > maxBody {
		return r, malformed("read response", storage.Corrupt, "body of %d bytes is over the cap of %d", r.Len, maxBody)
	}
	if mlen > 0 {
		m := h[respHeader : respHeader+mlen]
		if _, err := io.ReadFull(rd, m); err != nil {
			return r, err
		}
		r.Msg = string(m)
	}
	return r, nil
}

// readResponse reads a whole response, body included, allocating the
// body only after its length has passed maxBody.
func readResponse(rd io.Reader, maxBody uint32) (response, error) {
	r, err := readResponseHeader(rd, maxBody)
	if err != nil {
		return r, err
	}
	r.Body, err = readBody(rd, int(r.Len))
	return r, err
}

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
		return Info{}, malformed("read info", storage.Corrupt, "info of %d bytes", len(b))
	}
	i := Info{
		Free:     int64(binary.BigEndian.Uint64(b[0:])),
		Capacity: int64(binary.BigEndian.Uint64(b[8:])),
		Held:     int64(binary.BigEndian.Uint64(b[16:])),
	}
	if i.Free < 0 || i.Capacity < 0 || i.Held < 0 {
		return Info{}, malformed("read info", storage.Corrupt, "negative size in info")
	}
	return i, nil
}

// deleteMessage is what the owner signs to delete ref at server (the raw
// bytes of its peer ID) at time t (Unix seconds).
func deleteMessage(server []byte, ref storage.Ref, t int64) []byte {
	b := make([]byte, 0, len(deleteDomain)+2+len(server)+storage.RefSize+8)
	b = append(b, deleteDomain...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(server)))
	b = append(b, server...)
	b = append(b, ref[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(t))
}
