package storage

import (
	"context"
	"encoding/hex"
	"fmt"
)

// RefSize is the length in bytes of a Ref.
const RefSize = 32

// Ref names a fragment by its content: the Merkle root of its bytes as
// computed by erasure.Root (BLAKE3-based, see docs/DESIGN.md). A store
// that returns bytes for a Ref has to return bytes whose root is that Ref.
type Ref [RefSize]byte

// String returns the Ref in lower-case hex.
func (r Ref) String() string { return hex.EncodeToString(r[:]) }

// Short returns the first 8 hex digits, for logs.
func (r Ref) Short() string { return hex.EncodeToString(r[:4]) }

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r == Ref{} }

// ParseRef parses the hex form produced by String.
func ParseRef(s string) (Ref, error) {
	var r Ref
	if len(s) != 2*RefSize {
		return r, E("parse ref", Invalid, fmt.Errorf("want %d hex digits, got %d", 2*RefSize, len(s)))
	}
	if _, err := hex.Decode(r[:], []byte(s)); err != nil {
		return r, E("parse ref", Invalid, err)
	}
	return r, nil
}

// PeerID identifies a storage peer. Its content is opaque to everything but
// the network package (there it is a libp2p peer ID in its string form).
type PeerID string

// String returns the id itself.
func (p PeerID) String() string { return string(p) }

// Short returns the last 8 characters of the id, for logs and reports.
func (p PeerID) Short() string {
	if len(p) <= 8 {
		return string(p)
	}
	return string(p[len(p)-8:])
}

// FragmentStore holds fragments by Ref. It is implemented by local stores
// (memstore, badgerstore) and by the network's client for a remote peer,
// and it is the one interface the data path writes to and reads from.
//
// All methods are safe for concurrent use. Slices passed to Put are not
// retained after Put returns; slices returned by Get belong to the caller.
//
// Errors carry a Kind: NotExist when the fragment is not held, Corrupt when
// the held bytes no longer match their Ref, Invalid when Put is given data
// whose root is not the Ref, Quota when an admission decision refuses the
// store, Unavailable when a remote peer cannot be reached.
type FragmentStore interface {
	// Put stores data under ref. Storing the same ref twice is not an error.
	Put(ctx context.Context, ref Ref, data []byte) error
	// Get returns the bytes stored under ref, verified against ref.
	Get(ctx context.Context, ref Ref) ([]byte, error)
	// Has reports whether ref is held, without reading or verifying it.
	Has(ctx context.Context, ref Ref) (bool, error)
	// Delete removes ref. Deleting a ref that is not held is not an error.
	Delete(ctx context.Context, ref Ref) error
}

// Lister is implemented by stores that can enumerate what they hold.
type Lister interface {
	// List calls fn for every held fragment with its size in bytes, in no
	// particular order, until fn returns an error (which List returns).
	List(ctx context.Context, fn func(ref Ref, size int64) error) error
}

// Network is the client's view of the storage peers it can place
// fragments on: who is there, and a FragmentStore for each of them.
type Network interface {
	// Peers returns the peers currently believed reachable.
	Peers(ctx context.Context) ([]PeerInfo, error)
	// Store returns the fragment store of peer p. It does not dial: errors
	// come from the store's methods.
	Store(p PeerID) FragmentStore
}

// PeerInfo is what placement knows about a candidate peer.
type PeerInfo struct {
	ID PeerID
	// Net groups peers that share a network (an IPv4 /24, an IPv6 /48):
	// placement spreads fragments over distinct groups when it can. Empty
	// means unknown.
	Net string
	// Free is the space the peer says it has for us, in bytes; -1 if unknown.
	Free int64
}

// Auditor asks holders to prove they keep fragments (network/audit). An
// answered audit also renews the auditor's lease on the fragment there.
type Auditor interface {
	// Audit returns nil when holder p proved it holds ref. Errors of
	// Kind NotExist or Corrupt mean the holder failed (it lost or
	// damaged the fragment); any other error means the audit could not
	// be made (the holder is away, or refused this auditor).
	Audit(ctx context.Context, p PeerID, ref Ref) error
}

// Ranker weighs candidate peers for placement. Reputation (audits,
// availability, speed) and the quota standing plug in here. Placement uses
// the weight in weighted rendezvous hashing, so each chunk gets its own
// stable ordering of peers and better peers win more often. A weight of 0
// (or less) excludes the peer; 1 is a fully trusted peer.
type Ranker interface {
	Weight(p PeerInfo) float64
}

// Admitter is the admission decision a storage peer makes before it keeps
// something for someone else, and the account of what it admitted. The
// quota trade (package fairness) plugs in here.
//
// owner names whom the bytes are kept for, as the calling service
// defines it (not the transport peer that happens to send them: see
// network/fragment and network/pointer), and a Release names the same
// owner as the Admit it undoes. Methods are safe for concurrent use.
type Admitter interface {
	// Admit returns nil to accept size more bytes for owner, which it
	// then counts, or an error of Kind Quota to refuse (nothing counted).
	Admit(ctx context.Context, owner string, size int64) error
	// Release gives back size bytes admitted for owner earlier: deleted,
	// expired, replaced by fewer, or never stored (a failed put). The
	// bytes are released even when it returns an error (the account
	// could not be saved); callers log it.
	Release(ctx context.Context, owner string, size int64) error
}

// AdmitAll is an Admitter that accepts everything and counts nothing.
type AdmitAll struct{}

// Admit accepts.
func (AdmitAll) Admit(context.Context, string, int64) error { return nil }

// Release does nothing.
func (AdmitAll) Release(context.Context, string, int64) error { return nil }

// Progress counts work done. The core reports through it; only cmd/cairn
// draws it. Implementations must be safe for concurrent use.
type Progress interface {
	// SetTotal sets the amount of work expected (bytes); it may grow.
	SetTotal(n int64)
	// Add records n more units of work done.
	Add(n int64)
}

// NoProgress discards progress reports.
type NoProgress struct{}

// SetTotal does nothing.
func (NoProgress) SetTotal(int64) {}

// Add does nothing.
func (NoProgress) Add(int64) {}

// KV is a small key-value store for metadata: the upload journal, the
// drive's namespace, ledgers, reputation, who owns which held fragment.
// Keys are ordered bytewise. Values passed in are not retained; values
// returned belong to the caller. Safe for concurrent use.
type KV interface {
	// Get returns the value for key, or an error of Kind NotExist.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Set stores value under key, replacing any earlier value.
	Set(ctx context.Context, key, value []byte) error
	// Delete removes key; removing a missing key is not an error.
	Delete(ctx context.Context, key []byte) error
	// Scan calls fn for each key with the prefix, in key order, until fn
	// returns an error (which Scan returns).
	Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error
}
