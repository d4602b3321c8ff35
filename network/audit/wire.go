package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"io"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// ProtocolID is the libp2p protocol ID of this protocol; PROTOCOL.md
// describes it.
const ProtocolID = "/cairn/audit/1.0.0"

// ServiceName is the resource-manager service the server's streams are
// accounted under.
const ServiceName = "cairn.audit"

// Wire constants (PROTOCOL.md).
const (
	// Version is the version byte every request starts with.
	Version = 1
	// MaxLeaves caps how many leaves one audit asks for.
	MaxLeaves = 8
	// RequestSize is the size of a PROVE request, which has no body.
	RequestSize = 1 + 1 + 32 + 32 + 1 + 8 + 32 + 64
	// DelegatedRequestSize is the size of a PROVE-DELEGATED request: the
	// PROVE fields, signed by the delegate, then the owner's certificate.
	DelegatedRequestSize = RequestSize + CertSize
	// RevokeRequestSize is the size of a REVOKE request.
	RevokeRequestSize = 1 + 1 + 32 + 8 + 8 + 64

	opProve          = 1
	opProveDelegated = 2
	opRevoke         = 3

	proveDomain     = "cairn/audit/1 prove\x00"
	delegatedDomain = "cairn/audit/1 prove delegated\x00"
	revokeDomain    = "cairn/audit/1 revoke\x00"
	indexDomain     = "cairn/audit/1 index\x00"

	// maxProof caps one proof on the wire: version, size, index, leaf
	// length, an 8 KiB leaf, the path count and 40 hashes (a fragment of
	// up to 2^40 bytes).
	maxProof = 1 + 8 + 4 + 4 + erasure.LeafSize + 1 + 40*32
	// maxBody caps a PROVE answer: MaxLeaves length-prefixed proofs.
	maxBody = MaxLeaves * (4 + maxProof)
)

// statusCorrupt is this protocol's own status 4: the held copy failed its
// own integrity check. The others are proto's common ones.
const statusCorrupt proto.Status = 4

var statuses = proto.NewTable(proto.Entry{
	Status: statusCorrupt, Name: "corrupt", Kind: storage.Corrupt,
	Fixed: true, Text: "held copy failed its integrity check",
})

// request is one request: PROVE, PROVE-DELEGATED or REVOKE (Op).
type request struct {
	Op uint8
	// PROVE and PROVE-DELEGATED: the auditor is the delegate in the
	// latter, and Cert the owner's delegation certificate.
	Ref     storage.Ref
	Nonce   [32]byte
	Leaves  uint8
	Time    int64 // Unix seconds (REVOKE too)
	Auditor [32]byte
	Sig     [64]byte // by the auditor, or by Owner for REVOKE
	Cert    [CertSize]byte
	// REVOKE: every certificate of Owner with a serial <= Serial is void.
	Owner  [32]byte
	Serial uint64
}

func (r *request) append(b []byte) []byte {
	b = append(b, Version, r.Op)
	if r.Op == opRevoke {
		b = append(b, r.Owner[:]...)
		b = binary.BigEndian.AppendUint64(b, r.Serial)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
		return append(b, r.Sig[:]...)
	}
	b = append(b, r.Ref[:]...)
	b = append(b, r.Nonce[:]...)
	b = append(b, r.Leaves)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = append(b, r.Auditor[:]...)
	b = append(b, r.Sig[:]...)
	if r.Op == opProveDelegated {
		b = append(b, r.Cert[:]...)
	}
	return b
}

// readRequest reads one request. A request that breaks the format gets
// an error of Kind Invalid (the server answers it); a reader error comes
// back as it is (the server resets the stream).
func readRequest(rd io.Reader) (request, error) {
	const op = "read audit request"
	var r request
	var b [DelegatedRequestSize]byte
	if _, err := io.ReadFull(rd, b[:2]); err != nil {
		return r, err
	}
	if b[0] != Version {
		return r, proto.Malformed(op, storage.Invalid, "unsupported version %d", b[0])
	}
	r.Op = b[1]
	var size int
	switch r.Op {
	case opProve:
		size = RequestSize
	case opProveDelegated:
		size = DelegatedRequestSize
	case opRevoke:
		size = RevokeRequestSize
	default:
		return r, proto.Malformed(op, storage.Invalid, "unknown op %d", b[1])
	}
	if _, err := io.ReadFull(rd, b[2:size]); err != nil {
		return r, err
	}
	if r.Op == opRevoke {
		copy(r.Owner[:], b[2:34])
		r.Serial = binary.BigEndian.Uint64(b[34:42])
		r.Time = int64(binary.BigEndian.Uint64(b[42:50]))
		copy(r.Sig[:], b[50:114])
		return r, nil
	}
	copy(r.Ref[:], b[2:34])
	copy(r.Nonce[:], b[34:66])
	r.Leaves = b[66]
	r.Time = int64(binary.BigEndian.Uint64(b[67:75]))
	copy(r.Auditor[:], b[75:107])
	copy(r.Sig[:], b[107:171])
	if r.Op == opProveDelegated {
		copy(r.Cert[:], b[171:DelegatedRequestSize])
	}
	if r.Leaves < 1 || r.Leaves > MaxLeaves {
		return r, proto.Malformed(op, storage.Invalid, "%d leaves asked (1 to %d)", r.Leaves, MaxLeaves)
	}
	return r, nil
}

// message is what the signer signs for server (the raw bytes of its peer
// ID): the auditor of a PROVE its fields; the delegate of a
// PROVE-DELEGATED the same fields and the certificate, under its own
// domain; the owner of a REVOKE its owner key, serial and time.
func (r *request) message(server []byte) []byte {
	t := binary.BigEndian.AppendUint64(nil, uint64(r.Time))
	switch r.Op {
	case opRevoke:
		return proto.SignedMessage(revokeDomain, server, r.Owner[:],
			binary.BigEndian.AppendUint64(nil, r.Serial), t)
	case opProveDelegated:
		return proto.SignedMessage(delegatedDomain, server, r.Ref[:], r.Nonce[:], []byte{r.Leaves}, t, r.Cert[:])
	}
	return proto.SignedMessage(proveDomain, server, r.Ref[:], r.Nonce[:], []byte{r.Leaves}, t)
}

// signer is the key a request is signed by.
func (r *request) signer() *[32]byte {
	if r.Op == opRevoke {
		return &r.Owner
	}
	return &r.Auditor
}

func (r *request) sign(key ed25519.PrivateKey, server []byte) {
	copy(r.signer()[:], key.Public().(ed25519.PublicKey))
	copy(r.Sig[:], ed25519.Sign(key, r.message(server)))
}

func (r *request) verify(server []byte) bool {
	return ed25519.Verify(ed25519.PublicKey(r.signer()[:]), r.message(server), r.Sig[:])
}

// Indices returns the leaves an audit with nonce asks of a fragment ref of
// size bytes: leaf j is SHA-256(indexDomain ‖ nonce ‖ ref ‖ j), its first
// 8 bytes big-endian, modulo the number of leaves. Neither side chooses
// them: the auditor's fresh nonce makes them unpredictable to the holder,
// and the holder cannot answer an old audit's question instead.
func Indices(nonce [32]byte, ref storage.Ref, size int64, n int) []int {
	leaves := uint64(erasure.Leaves(size))
	out := make([]int, n)
	for j := range n {
		h := sha256.New()
		h.Write([]byte(indexDomain))
		h.Write(nonce[:])
		h.Write(ref[:])
		h.Write([]byte{byte(j)})
		out[j] = int(binary.BigEndian.Uint64(h.Sum(nil)[:8]) % leaves)
	}
	return out
}

// appendProofs encodes a PROVE answer: each proof as u32 length ‖
// erasure proof encoding (erasure/FORMAT.md).
func appendProofs(b []byte, ps []*erasure.Proof) ([]byte, error) {
	for _, p := range ps {
		raw, err := p.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(raw)))
		b = append(b, raw...)
	}
	return b, nil
}

// parseProofs decodes a PROVE answer of exactly n proofs.
func parseProofs(b []byte, n int) ([]*erasure.Proof, error) {
	out := make([]*erasure.Proof, 0, n)
	for range n {
		if len(b) < 4 {
			return nil, proto.Malformed("read audit answer", storage.Corrupt, "answer cut short")
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if l > maxProof || uint64(l) > uint64(len(b)) {
			return nil, proto.Malformed("read audit answer", storage.Corrupt, "proof of %d bytes", l)
		}
		p, err := erasure.ParseProof(b[:l])
		if err != nil {
			return nil, proto.Malformed("read audit answer", storage.Corrupt, "bad proof: %v", err)
		}
		out = append(out, p)
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, proto.Malformed("read audit answer", storage.Corrupt, "%d bytes after the proofs", len(b))
	}
	return out, nil
}
