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

	opProve     = 1
	proveDomain = "cairn/audit/1 prove\x00"
	indexDomain = "cairn/audit/1 index\x00"

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

// request is one PROVE request.
type request struct {
	Ref     storage.Ref
	Nonce   [32]byte
	Leaves  uint8
	Time    int64 // Unix seconds
	Auditor [32]byte
	Sig     [64]byte
}

func (r *request) append(b []byte) []byte {
	b = append(b, Version, opProve)
	b = append(b, r.Ref[:]...)
	b = append(b, r.Nonce[:]...)
	b = append(b, r.Leaves)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = append(b, r.Auditor[:]...)
	return append(b, r.Sig[:]...)
}

// readRequest reads one PROVE request. A request that breaks the format
// gets an error of Kind Invalid (the server answers it); a reader error
// comes back as it is (the server resets the stream).
func readRequest(rd io.Reader) (request, error) {
	var r request
	var b [RequestSize]byte
	if _, err := io.ReadFull(rd, b[:]); err != nil {
		return r, err
	}
	if b[0] != Version {
		return r, proto.Malformed("read audit request", storage.Invalid, "unsupported version %d", b[0])
	}
	if b[1] != opProve {
		return r, proto.Malformed("read audit request", storage.Invalid, "unknown op %d", b[1])
	}
	copy(r.Ref[:], b[2:34])
	copy(r.Nonce[:], b[34:66])
	r.Leaves = b[66]
	r.Time = int64(binary.BigEndian.Uint64(b[67:75]))
	copy(r.Auditor[:], b[75:107])
	copy(r.Sig[:], b[107:171])
	if r.Leaves < 1 || r.Leaves > MaxLeaves {
		return r, proto.Malformed("read audit request", storage.Invalid, "%d leaves asked (1 to %d)", r.Leaves, MaxLeaves)
	}
	return r, nil
}

// message is what the auditor signs to audit ref at server (the raw bytes
// of its peer ID).
func (r *request) message(server []byte) []byte {
	return proto.SignedMessage(proveDomain, server, r.Ref[:], r.Nonce[:], []byte{r.Leaves},
		binary.BigEndian.AppendUint64(nil, uint64(r.Time)))
}

func (r *request) sign(key ed25519.PrivateKey, server []byte) {
	copy(r.Auditor[:], key.Public().(ed25519.PublicKey))
	copy(r.Sig[:], ed25519.Sign(key, r.message(server)))
}

func (r *request) verify(server []byte) bool {
	return ed25519.Verify(ed25519.PublicKey(r.Auditor[:]), r.message(server), r.Sig[:])
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
