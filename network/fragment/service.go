package fragment

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// DeleteWindow is how far a signed request's timestamp (a PUT's or a
// DELETE's) may be from the server's clock, either way.
const DeleteWindow = 5 * time.Minute

// ServiceConfig configures a Service. Store is required; the rest have
// defaults.
type ServiceConfig struct {
	// Store is where fragments held for others go.
	Store storage.FragmentStore
	// Owners records which owners asked to keep each ref, under the keys
	// "fragment/owner/" + ref (32 bytes) + owner public key (32 bytes),
	// value the Unix time it was recorded and the bytes charged to the
	// owner for it (8 bytes each, big-endian; older records have the time
	// alone). A DELETE drops the fragment once its last owner is gone.
	// Nil: no owner is ever recorded, so every DELETE of a held ref is
	// refused, and only a PUT of a ref not held is charged.
	Owners storage.KV
	// Admit decides per owner and size whether to take a PUT (the quota
	// trade plugs in here), and is given back what it admitted. The
	// owner is OwnerName of the PUT's owner key, whichever peer sends it;
	// each owner is charged a fragment's length once for as long as it is
	// recorded as an owner of it: a PUT of a fragment it keeps already is
	// not charged, a failed PUT is given back, its DELETE releases it.
	// Nil means storage.AdmitAll{}. The owner of a PUT has signed it,
	// or signed the delegation certificate of the delegate that did.
	Admit storage.Admitter
	// Revoked reports whether owner revoked its delegation certificate
	// numbered serial at this peer (network/audit's REVOKE: the holder
	// gives audit.Revoked over the audit service's revocations), so that
	// a revoked delegate can no longer PUT in the owner's name. Nil: this
	// peer takes no delegated PUTs (permission), as an audit service that
	// keeps no revocations takes no delegated audits.
	Revoked func(ctx context.Context, owner [32]byte, serial uint64) (bool, error)
	// Capacity is the number of bytes offered to others. A PUT that would
	// take the bytes held past it is refused with Quota; 0 refuses all.
	Capacity int64
	// Used returns the bytes held now. Nil: the service starts from what
	// Store lists (if it is a storage.Lister) and adds what it stores;
	// deletes are not subtracted, so set Used in production.
	Used func() int64
	// Logf logs refusals and store failures; nil discards them.
	Logf func(format string, args ...any)
	// Deadlines bounds every stream; the zero value is the default.
	Deadlines Deadlines
	// Now is the clock for the PUT and DELETE windows, the certificates'
	// times and the leases; nil means time.Now.
	Now func() time.Time
}

// Service is the server side of the protocol: it answers requests from
// other peers out of a local store. It is safe for concurrent use; each
// stream is handled on the goroutine libp2p starts for it.
type Service struct {
	h      host.Host
	cfg    ServiceConfig
	server *proto.Server[request]

	pending atomic.Int64 // bytes of admitted PUTs not yet stored
	stored  atomic.Int64 // with cfg.Used nil: bytes held

	locks [64]sync.Mutex // by ref: owner records and the store change together

	bodies bodyPool // PUT bodies and GET replies, recycled
}

// verifiedPutter is implemented by stores that can skip their own hash
// check when the caller has just made it (badgerstore.Fragments): the
// service verifies every PUT body itself, so hashing it again in the store
// would only double the cost.
type verifiedPutter interface {
	PutVerified(ctx context.Context, ref storage.Ref, data []byte) error
}

// summedPutter is implemented by stores that, given a fragment the
// caller has just verified, also record a cheap checksum of it
// (badgerstore.Fragments' CRC-32C) and check that instead of the Merkle
// root when it is read: a GET then costs the holder a tenth of the
// hashing. The client verifies every fragment it gets against the ref in
// any case (docs/DESIGN.md, "Verification on the read path").
type summedPutter interface {
	PutVerifiedSum(ctx context.Context, ref storage.Ref, data []byte) error
}

// getterTo is implemented by stores that can read a fragment into a
// buffer of the caller's (badgerstore.Fragments), so GETs need not
// allocate.
type getterTo interface {
	GetTo(ctx context.Context, dst []byte, ref storage.Ref) ([]byte, error)
}

// bodyPool recycles fragment-sized buffers by power-of-two classes from
// 64 KiB to 1 MiB (bodyStep): a buffer in class i has a capacity of at least
// 1<<(i+poolMinShift). Smaller bodies are allocated as they come. A
// buffer leaves the pool for one request and goes back when that request
// is done with it: the store does not keep what Put is given
// (storage.FragmentStore), and a stream's Write copies what it sends.
type bodyPool struct {
	classes [poolMaxShift - poolMinShift + 1]sync.Pool
}

const (
	poolMinShift = 16
	poolMaxShift = 20 // bodyStep
	// getHint is the buffer a GET starts with (a fragment of a chunk of
	// up to 10 MiB with k = 10); GetTo grows past it when it must.
	getHint = 1 << 20
)

// get returns a buffer of length n.
func (p *bodyPool) get(n int) *[]byte {
	if n < 1<<poolMinShift || n > 1<<poolMaxShift {
		b := make([]byte, n)
		return &b
	}
	i := bits.Len(uint(n-1)) - poolMinShift // smallest class that fits n
	if b, ok := p.classes[i].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(i+poolMinShift))
	return &b
}

// put gives b back; buffers outside the classes are dropped.
func (p *bodyPool) put(b *[]byte) {
	c := cap(*b)
	if c < 1<<poolMinShift || c > 1<<poolMaxShift {
		return
	}
	i := bits.Len(uint(c)) - 1 - poolMinShift // largest class c covers
	p.classes[i].Put(b)
}

// NewService registers the protocol's stream handler on h and returns the
// service. Close removes it.
func NewService(h host.Host, cfg ServiceConfig) *Service {
	if cfg.Admit == nil {
		cfg.Admit = storage.AdmitAll{}
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Deadlines = cfg.Deadlines.withDefaults()
	s := &Service{h: h, cfg: cfg}
	if cfg.Used == nil {
		if l, ok := cfg.Store.(storage.Lister); ok {
			var n int64
			err := l.List(context.Background(), func(_ storage.Ref, size int64) error { n += size; return nil })
			if err != nil {
				cfg.Logf("fragment service: listing the store: %v", err)
			}
			s.stored.Store(n)
		}
	}
	// One request after another until the client half-closes, goes quiet
	// for Deadlines.Idle, or a response ends the stream (PROTOCOL.md).
	s.server = proto.NewServer(h, proto.ServerConfig[request]{
		Protocol:  ProtocolID,
		Service:   ServiceName,
		Name:      "fragment service",
		Table:     statuses,
		Deadlines: proto.Deadlines(cfg.Deadlines),
		Read:      readRequestHeader,
		Handle:    s.serve,
		Logf:      cfg.Logf,
	})
	return s
}

// Close removes the stream handler, resets the streams still being
// handled and waits for their handlers to return. It is safe to call more
// than once.
func (s *Service) Close() { s.server.Close() }

func (s *Service) used() int64 {
	if s.cfg.Used != nil {
		return s.cfg.Used()
	}
	return s.stored.Load()
}

func (s *Service) info() Info {
	used := s.used()
	free := s.cfg.Capacity - used - s.pending.Load()
	return Info{Free: max(free, 0), Capacity: max(s.cfg.Capacity, 0), Held: max(used, 0)}
}

// serve answers one request whose header has been read (a PUT's body
// has not).
func (s *Service) serve(x *proto.Exchange, req *request) ([]byte, error) {
	x.Op = req.Op.String()
	switch req.Op {
	case opPut, opPutDelegated:
		return nil, s.put(x, req)
	case opGet:
		st, ok := s.cfg.Store.(getterTo)
		if !ok {
			return s.cfg.Store.Get(x.Ctx, req.Ref)
		}
		buf := s.bodies.get(getHint)
		body, err := st.GetTo(x.Ctx, (*buf)[:0], req.Ref)
		// body is *buf's array or one GetTo grew; either way it is free
		// once the reply is written.
		x.Defer(func() { *buf = body; s.bodies.put(buf) })
		return body, err
	case opHas:
		ok, err := s.cfg.Store.Has(x.Ctx, req.Ref)
		if err == nil && !ok {
			err = storage.E("has", storage.NotExist, nil)
		}
		return nil, err
	case opDelete:
		return nil, s.delete(x, req)
	case opInfo:
		return s.info().append(nil), nil
	}
	return nil, storage.E("serve", storage.Invalid, fmt.Errorf("unknown %v", req.Op))
}

func (s *Service) lock(ref storage.Ref) *sync.Mutex { return &s.locks[ref[0]%byte(len(s.locks))] }

func ownerPrefix(ref storage.Ref) []byte {
	return append([]byte("fragment/owner/"), ref[:]...)
}

func ownerKey(ref storage.Ref, owner *[ownerSize]byte) []byte {
	return append(ownerPrefix(ref), owner[:]...)
}

// OwnerName is the name the service gives the admitter for the user
// whose Ed25519 public key is owner: what it keeps is charged to that
// user, whichever peer sends it.
func OwnerName(owner []byte) string { return "fragment-owner:" + hex.EncodeToString(owner) }

// An owner record's value: when it was recorded (Unix seconds, 8) and the
// bytes charged to the owner for it (8); records written before the
// charge was kept have the time alone, and charged nothing that lasts.
const ownerRecordSize = 16

func ownerRecord(when time.Time, charged int64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, ownerRecordSize), uint64(when.Unix()))
	return binary.BigEndian.AppendUint64(b, uint64(charged))
}

// chargedIn is what an owner record says was charged (0 if it does not).
func chargedIn(v []byte) int64 {
	if len(v) != ownerRecordSize {
		return 0
	}
	return max(int64(binary.BigEndian.Uint64(v[8:])), 0)
}

// ownerRecorded tells whether owner is recorded for ref.
func (s *Service) ownerRecorded(ctx context.Context, ref storage.Ref, owner *[ownerSize]byte) (bool, error) {
	if s.cfg.Owners == nil {
		return false, nil
	}
	_, err := s.cfg.Owners.Get(ctx, ownerKey(ref, owner))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.NotExist):
		return false, nil
	}
	return false, err
}

// release gives size bytes back to owner's account; the request's ctx may
// be done by then (a failed PUT), the account must still be right.
func (s *Service) release(ctx context.Context, owner string, size int64) {
	if size <= 0 {
		return
	}
	if err := s.cfg.Admit.Release(context.WithoutCancel(ctx), owner, size); err != nil {
		s.cfg.Logf("fragment service: releasing %d bytes of %s: %v", size, owner, err)
	}
}

// put keeps a fragment for its owner. The owner is charged the fragment's
// length once per fragment it keeps here: a PUT of a fragment the owner
// is recorded for already charges nothing, and a PUT that fails (refused,
// body not matching, store failure, stream gone) gives back what it was
// charged.
func (s *Service) put(x *proto.Exchange, req *request) error {
	const op = "put"
	ctx := x.Ctx
	if err := s.authorize(ctx, req); err != nil {
		s.cfg.Logf("fragment service: refused a %v of %x from %s: %v", req.Op, req.Ref[:6], x.From.Short(), err)
		return err
	}
	n := int64(req.Len)
	held, err := s.cfg.Store.Has(ctx, req.Ref)
	if err != nil {
		return err
	}
	claimed := false // the owner keeps this ref here already
	if held {
		if claimed, err = s.ownerRecorded(ctx, req.Ref, &req.Owner); err != nil {
			return err
		}
	} else {
		pending := s.pending.Add(n)
		defer s.pending.Add(-n)
		if s.used()+pending > s.cfg.Capacity {
			s.cfg.Logf("fragment service: refused %d bytes: capacity full", n)
			return storage.E(op, storage.Quota, fmt.Errorf("%d bytes offered, %d held", s.cfg.Capacity, s.used()))
		}
	}
	owner := OwnerName(req.Owner[:])
	var charged int64 // given back unless an owner record keeps it
	if !claimed && (!held || s.cfg.Owners != nil) {
		if err := s.cfg.Admit.Admit(ctx, owner, n); err != nil {
			s.cfg.Logf("fragment service: refused %d bytes for %s from %s: %v", n, owner, x.From.Short(), err)
			if storage.KindOf(err) == storage.Other {
				return storage.E(op, storage.Quota, err)
			}
			return err
		}
		charged = n
	}
	defer func() { s.release(ctx, owner, charged) }()
	if err := x.S.Scope().ReserveMemory(int(n), network.ReservationPriorityAlways); err != nil {
		return storage.E(op, storage.Unavailable, errors.New("busy: no memory for the fragment"))
	}
	defer x.S.Scope().ReleaseMemory(int(n))
	x.Extend(s.cfg.Deadlines.body(int(n)))
	// A body of up to bodyStep goes into a recycled buffer; a longer one
	// is allocated as it arrives (proto.ReadBody), so that a peer that
	// declares 16 MiB and sends nothing costs little (PROTOCOL.md).
	var data []byte
	if n <= bodyStep {
		buf := s.bodies.get(int(n))
		defer s.bodies.put(buf)
		data = *buf
		if _, err := io.ReadFull(x.S, data); err != nil {
			return proto.ErrAbort
		}
	} else if data, err = proto.ReadBody(x.S, int(n)); err != nil {
		return proto.ErrAbort
	}
	if erasure.Root(data) != req.Ref {
		return storage.E(op, storage.Invalid, errors.New("fragment does not match its ref"))
	}
	x.Extend(s.cfg.Deadlines.Header)

	mu := s.lock(req.Ref)
	mu.Lock()
	defer mu.Unlock()
	// Read again under the lock: a PUT of the same ref by the same owner
	// may have recorded it meanwhile, and then this one is not charged.
	recorded := false
	if s.cfg.Owners != nil {
		key := ownerKey(req.Ref, &req.Owner)
		if recorded, err = s.ownerRecorded(ctx, req.Ref, &req.Owner); err != nil {
			return err
		}
		if !recorded {
			if err := s.cfg.Owners.Set(ctx, key, ownerRecord(s.cfg.Now(), charged)); err != nil {
				return err
			}
		} else if err := s.renewLocked(ctx, key, s.cfg.Now()); err != nil {
			return err // a PUT again is a renewal of the owner's lease (lease.go)
		}
	}
	// data was verified above: a store that can skip its own check does
	// (and one that can keeps a checksum for the reads).
	if sp, ok := s.cfg.Store.(summedPutter); ok {
		err = sp.PutVerifiedSum(ctx, req.Ref, data)
	} else if vp, ok := s.cfg.Store.(verifiedPutter); ok {
		err = vp.PutVerified(ctx, req.Ref, data)
	} else {
		err = s.cfg.Store.Put(ctx, req.Ref, data)
	}
	if err != nil {
		if s.cfg.Owners != nil && !recorded {
			_ = s.cfg.Owners.Delete(context.WithoutCancel(ctx), ownerKey(req.Ref, &req.Owner))
		}
		return err
	}
	if !held {
		s.stored.Add(n)
	}
	if !recorded {
		charged = 0 // the owner record keeps it, a DELETE releases it
	}
	return nil
}

// authorize checks a PUT before anything is charged: its time, its
// signature (by the owner for this server, ref and length; or by a
// delegate, over the certificate too), and a delegated PUT's certificate
// (signed by its owner, naming the signer, not expired, not revoked
// here). A delegated PUT is then the owner's: req.Owner becomes the
// certificate's owner. A bad time is Invalid, everything else Permission.
func (s *Service) authorize(ctx context.Context, req *request) error {
	const op = "put"
	now := s.cfg.Now()
	if err := proto.CheckTime(op, now, req.Time, DeleteWindow); err != nil {
		return err
	}
	server := []byte(s.h.ID())
	if req.Op == opPut {
		if !ed25519.Verify(req.Owner[:], putMessage(server, req.Ref, req.Len, req.Time), req.Sig[:]) {
			return storage.E(op, storage.Permission, errors.New("bad signature"))
		}
		return nil
	}
	if !ed25519.Verify(req.Owner[:], delegatedMessage(server, req.Ref, req.Len, req.Time, req.Cert[:]), req.Sig[:]) {
		return storage.E(op, storage.Permission, errors.New("bad signature"))
	}
	if s.cfg.Revoked == nil {
		return storage.E(op, storage.Permission, errors.New("this peer takes no delegated puts"))
	}
	c, err := audit.ParseCert(req.Cert[:])
	if err != nil {
		return storage.E(op, storage.Permission, err)
	}
	if c.Delegate != req.Owner {
		return storage.E(op, storage.Permission, errors.New("the delegation names another delegate"))
	}
	if err := c.Valid(now); err != nil {
		return storage.E(op, storage.Permission, err)
	}
	revoked, err := s.cfg.Revoked(ctx, c.Owner, c.Serial)
	if err != nil {
		return storage.E(op, storage.IO, err)
	}
	if revoked {
		return storage.E(op, storage.Permission, fmt.Errorf("delegation %d revoked by its owner", c.Serial))
	}
	req.Owner = c.Owner
	return nil
}

var errDone = errors.New("found")

func (s *Service) delete(x *proto.Exchange, req *request) error {
	const op = "delete"
	ctx := x.Ctx
	if err := proto.CheckTime(op, s.cfg.Now(), req.Time, DeleteWindow); err != nil {
		return err
	}
	msg := deleteMessage([]byte(s.h.ID()), req.Ref, req.Time)
	if !ed25519.Verify(req.Owner[:], msg, req.Sig[:]) {
		return storage.E(op, storage.Permission, errors.New("bad signature"))
	}
	mu := s.lock(req.Ref)
	mu.Lock()
	defer mu.Unlock()
	recorded := false
	if s.cfg.Owners != nil {
		key := ownerKey(req.Ref, &req.Owner)
		v, err := s.cfg.Owners.Get(ctx, key)
		switch {
		case err == nil:
			recorded = true
			if err := s.cfg.Owners.Delete(ctx, key); err != nil {
				return err
			}
			s.release(ctx, OwnerName(req.Owner[:]), chargedIn(v))
		case !errors.Is(err, storage.NotExist):
			return err
		}
	}
	if !recorded {
		held, err := s.cfg.Store.Has(ctx, req.Ref)
		if err != nil {
			return err
		}
		if held {
			return storage.E(op, storage.Permission, errors.New("not an owner of this fragment"))
		}
		return nil
	}
	err := s.cfg.Owners.Scan(ctx, ownerPrefix(req.Ref), func(_, _ []byte) error { return errDone })
	switch {
	case errors.Is(err, errDone):
		return nil // others still keep it
	case err != nil:
		return err
	}
	return s.cfg.Store.Delete(ctx, req.Ref)
}
