package blob

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Delegated, key-less repair. Check and its repair work on ciphertext:
// audits name fragments by ref, and a repair fetches K fragments, decodes
// them to the sealed chunk, codes it again and places the missing
// fragments, without opening it (repairChunk never calls cryptree). So an
// owner can hand a node it chooses (its always-on box, a friend) a
// Capability, the manifests stripped of everything secret: per chunk only
// its code, its sealed length and where its fragments are. With the
// owner's delegation certificate (network/audit: the delegate's audits are
// answered for the owner and renew the owner's leases) the delegate runs
// CheckCapability while the owner is offline; the owner, back, takes the
// delegate's capability and folds its placement changes into its
// manifests (Fold).
//
// What a Capability shows: the number of chunks, their sealed (Padmé
// padded) lengths, codes, fragment refs and holders — what the holders
// together see already. Not in it: chunk keys, chunk ids (keyed hashes of
// the plaintext), plaintext sizes, file sizes, names, which chunks make up
// which file or in what order.
//
// The delegate's repairs must PUT the new fragments in the owner's name
// (its Network's stores built on fragment.NewDelegateClient: the PUTs
// carry Cert and are signed by the delegate), so that their leases and
// charges are the owner's and the owner's own later audits renew them.

// Capability is what a delegate needs to audit and repair an owner's
// chunks: no keys, no names.
type Capability struct {
	// Cert is the owner's delegation certificate (network/audit), kept
	// here opaque so that one value travels to the delegate.
	Cert   []byte
	Chunks []CapChunk
}

// CapChunk is one chunk of a Capability.
type CapChunk struct {
	// Tag names the chunk and is its placement key (the rendezvous key
	// the delegate's repairs place new fragments by): the ref of its
	// lowest-index placed fragment when the capability was made. Nothing
	// derived from the plaintext leaves the owner.
	Tag       [32]byte
	SealedLen int    // the sealed chunk's length, as the fragment headers give it
	K, N      int    // its code: any K of N rebuild it
	Frags     []Frag // placed fragments, by increasing Index
}

// CapabilityOf strips manifests to a Capability for cert: every chunk
// with at least one placed fragment, once (a chunk several manifests
// share, by chunk id, is listed once with the fragments they list
// between them, the first one listed for each index). Inline manifests
// contribute nothing.
func CapabilityOf(ms []*Manifest, cert []byte) *Capability {
	c := &Capability{Cert: bytes.Clone(cert)}
	byID := map[[32]byte]int{}
	for _, m := range ms {
		for i := range m.Chunks {
			ck := &m.Chunks[i]
			if len(ck.Frags) == 0 {
				continue
			}
			if j, ok := byID[ck.ID]; ok && mergeFrags(&c.Chunks[j], ck) {
				continue
			}
			byID[ck.ID] = len(c.Chunks)
			c.Chunks = append(c.Chunks, CapChunk{SealedLen: ck.SealedLen, K: ck.K, N: ck.N, Frags: slices.Clone(ck.Frags)})
		}
	}
	for i := range c.Chunks {
		c.Chunks[i].Tag = c.Chunks[i].Frags[0].Ref
	}
	return c
}

// mergeFrags adds ck's fragments at indexes cc lacks to cc, if ck is the
// same chunk (same code, same refs where both place a fragment); else it
// reports false and changes nothing.
func mergeFrags(cc *CapChunk, ck *Chunk) bool {
	if cc.K != ck.K || cc.N != ck.N || cc.SealedLen != ck.SealedLen {
		return false
	}
	have := map[int]storage.Ref{}
	for _, f := range cc.Frags {
		have[f.Index] = f.Ref
	}
	var add []Frag
	for _, f := range ck.Frags {
		r, ok := have[f.Index]
		switch {
		case !ok:
			add = append(add, f)
		case r != f.Ref:
			return false
		}
	}
	cc.Frags = append(cc.Frags, add...)
	slices.SortFunc(cc.Frags, func(a, b Frag) int { return a.Index - b.Index })
	return true
}

// manifest is the capability's chunks as a Manifest without keys, ids,
// sizes or order: what Check needs, which is no more.
func (c *Capability) manifest() *Manifest {
	m := &Manifest{Chunks: make([]Chunk, len(c.Chunks))}
	for i, cc := range c.Chunks {
		m.Chunks[i] = Chunk{ID: cc.Tag, SealedLen: cc.SealedLen, K: cc.K, N: cc.N, Frags: slices.Clone(cc.Frags)}
	}
	return m
}

// CheckCapability is Check on a capability's key-less chunks: it audits
// every placed fragment (o.Auditor: the delegate's audit client under the
// owner's certificate) and with o.Repair rebuilds the chunks due for it
// from their ciphertext, placing new fragments by each chunk's Tag on c's
// Network (whose PUTs must name the owner). The capability's placement is
// updated in place; changed says it names other holders now, and then it
// is what the owner is to Fold. c's M sets the target K+M, as for the
// owner: configure the delegate's Client as the owner's.
func (c *Client) CheckCapability(ctx context.Context, capa *Capability, o CheckOptions) (h *Health, changed bool, err error) {
	m := capa.manifest()
	h, err = c.Check(ctx, m, o)
	if h != nil && h.Changed {
		for i := range capa.Chunks {
			capa.Chunks[i].Frags = m.Chunks[i].Frags
		}
	}
	return h, h != nil && h.Changed, err
}

// Fold brings a delegate's placement changes into the owner's manifests:
// every chunk of ms that shares a fragment ref (or the Tag) with a chunk
// of capa, with the same code and sealed length, takes that chunk's
// placement. It returns how many chunks of ms changed. A fragment's ref
// is the Merkle root of its bytes, header and code index included, so a
// shared ref is the same chunk. Fold before checking as the owner: a
// chunk the owner repaired itself since it made the capability takes the
// delegate's placement all the same.
func Fold(ms []*Manifest, capa *Capability) int {
	byRef := map[storage.Ref]int{}
	for i, cc := range capa.Chunks {
		byRef[cc.Tag] = i
		for _, f := range cc.Frags {
			if _, ok := byRef[f.Ref]; !ok {
				byRef[f.Ref] = i
			}
		}
	}
	n := 0
	for _, m := range ms {
		for i := range m.Chunks {
			ck := &m.Chunks[i]
			j := -1
			for _, f := range ck.Frags {
				if k, ok := byRef[f.Ref]; ok {
					j = k
					break
				}
			}
			if j < 0 {
				continue
			}
			cc := &capa.Chunks[j]
			if cc.K != ck.K || cc.N != ck.N || cc.SealedLen != ck.SealedLen || slices.Equal(cc.Frags, ck.Frags) {
				continue
			}
			ck.Frags = slices.Clone(cc.Frags)
			n++
		}
	}
	return n
}

// Capability wire format (network/PROTOCOL.md, "Repair capability"):
// integers unsigned big-endian.
//
//	magic "CCAP" | version 0x01 | u16 cert length | cert | u32 nchunks | chunk*
//	chunk: tag [32] | u32 sealed length | u16 k | u16 n | u16 nfrags | frag*
//	frag:  u16 index | ref [32] | u8 holder length | holder
const (
	capMagic   = "CCAP"
	capVersion = 1
	// MaxCert caps the certificate carried in a Capability.
	MaxCert = 1024
	// MaxCapability caps the encoded size of a capability we parse.
	MaxCapability = 64 << 20

	capChunkMin = 32 + 4 + 2 + 2 + 2
	capFragMin  = 2 + 32 + 1 + 1
)

var errCapability = errors.New("malformed capability")

// MarshalBinary encodes c. Errors (Invalid): a field outside what the
// format carries.
func (c *Capability) MarshalBinary() ([]byte, error) {
	const op = "encode capability"
	if len(c.Cert) > MaxCert {
		return nil, storage.E(op, storage.Invalid, fmt.Errorf("certificate of %d bytes (at most %d)", len(c.Cert), MaxCert))
	}
	b := append([]byte(capMagic), capVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Cert)))
	b = append(b, c.Cert...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Chunks)))
	for i, cc := range c.Chunks {
		if err := cc.check(); err != nil {
			return nil, storage.E(op, storage.Invalid, fmt.Errorf("chunk %d: %w", i, err))
		}
		b = append(b, cc.Tag[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(cc.SealedLen))
		b = binary.BigEndian.AppendUint16(b, uint16(cc.K))
		b = binary.BigEndian.AppendUint16(b, uint16(cc.N))
		b = binary.BigEndian.AppendUint16(b, uint16(len(cc.Frags)))
		for _, f := range cc.Frags {
			b = binary.BigEndian.AppendUint16(b, uint16(f.Index))
			b = append(b, f.Ref[:]...)
			b = append(b, byte(len(f.Holder)))
			b = append(b, f.Holder...)
		}
	}
	if len(b) > MaxCapability {
		return nil, storage.E(op, storage.Invalid, fmt.Errorf("%d bytes (at most %d)", len(b), MaxCapability))
	}
	return b, nil
}

// check is what the format requires of a chunk, both ways.
func (cc *CapChunk) check() error {
	switch {
	case cc.SealedLen < 1 || cc.SealedLen > erasure.MaxData:
		return fmt.Errorf("sealed length %d", cc.SealedLen)
	case cc.K < 1 || cc.N < cc.K || cc.N > erasure.MaxShards:
		return fmt.Errorf("code %d of %d", cc.K, cc.N)
	case len(cc.Frags) > cc.N:
		return fmt.Errorf("%d fragments of %d", len(cc.Frags), cc.N)
	}
	last := -1
	for _, f := range cc.Frags {
		if f.Index <= last || f.Index >= cc.N {
			return fmt.Errorf("fragment index %d after %d (code of %d)", f.Index, last, cc.N)
		}
		last = f.Index
		if len(f.Holder) < 1 || len(f.Holder) > maxHolderLen {
			return fmt.Errorf("holder id of %d bytes", len(f.Holder))
		}
	}
	return nil
}

// ParseCapability decodes and checks a capability, strictly: anything
// malformed, out of bounds or trailing is an error of Kind Corrupt.
func ParseCapability(data []byte) (*Capability, error) {
	c, err := parseCapability(data)
	if err != nil {
		return nil, storage.E("parse capability", storage.Corrupt, err)
	}
	return c, nil
}

func parseCapability(b []byte) (*Capability, error) {
	if len(b) > MaxCapability {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errCapability, len(b), MaxCapability)
	}
	if len(b) < len(capMagic)+1 || string(b[:len(capMagic)]) != capMagic {
		return nil, fmt.Errorf("%w: bad magic", errCapability)
	}
	if v := b[len(capMagic)]; v != capVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errCapability, v)
	}
	r := capReader{b: b[len(capMagic)+1:]}
	cl := int(r.u16())
	if cl > MaxCert {
		return nil, fmt.Errorf("%w: certificate of %d bytes", errCapability, cl)
	}
	c := &Capability{Cert: r.bytes(cl)}
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)/capChunkMin) {
		return nil, fmt.Errorf("%w: %d chunks in %d bytes", errCapability, n, len(r.b))
	}
	c.Chunks = make([]CapChunk, n)
	for i := range c.Chunks {
		cc := &c.Chunks[i]
		copy(cc.Tag[:], r.bytes(32))
		cc.SealedLen = int(r.u32())
		cc.K, cc.N = int(r.u16()), int(r.u16())
		nf := int(r.u16())
		if r.err != nil || nf > cc.N || nf > len(r.b)/capFragMin {
			return nil, fmt.Errorf("%w: chunk %d: %d fragments", errCapability, i, nf)
		}
		cc.Frags = make([]Frag, nf)
		for j := range cc.Frags {
			f := &cc.Frags[j]
			f.Index = int(r.u16())
			copy(f.Ref[:], r.bytes(32))
			f.Holder = storage.PeerID(r.bytes(int(r.u8())))
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := cc.check(); err != nil {
			return nil, fmt.Errorf("%w: chunk %d: %v", errCapability, i, err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCapability, len(r.b))
	}
	return c, nil
}

// capReader reads big-endian fields; past the end it returns zeros and
// remembers the error.
type capReader struct {
	b   []byte
	err error
}

func (r *capReader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = fmt.Errorf("%w: cut short", errCapability)
		return make([]byte, n)
	}
	out := bytes.Clone(r.b[:n])
	r.b = r.b[n:]
	return out
}

func (r *capReader) u8() uint8   { return r.bytes(1)[0] }
func (r *capReader) u16() uint16 { return binary.BigEndian.Uint16(r.bytes(2)) }
func (r *capReader) u32() uint32 { return binary.BigEndian.Uint32(r.bytes(4)) }
