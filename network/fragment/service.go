package fragment

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
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
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// DeleteWindow is how far a DELETE's timestamp may be from the server's
// clock, either way.
const DeleteWindow = 5 * time.Minute

// ServiceConfig configures a Service. Store is required; the rest have
// defaults.
type ServiceConfig struct {
	// Store is where fragments held for others go.
	Store storage.FragmentStore
	// Owners records which owners asked to keep each ref, under the keys
	// "fragment/owner/" + ref (32 bytes) + owner public key (32 bytes),
	// value the Unix time it was recorded (8 bytes, big-endian). A DELETE
	// drops the fragment once its last owner is gone. Nil: no owner is
	// ever recorded, so every DELETE of a held ref is refused.
	Owners storage.KV
	// Admit decides per remote peer and size whether to take a PUT (the
	// quota trade plugs in here). Nil means storage.AdmitAll{}.
	Admit storage.Admitter
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
	// Now is the clock for DELETE windows; nil means time.Now.
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
	case opPut:
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

func (s *Service) put(x *proto.Exchange, req *request) error {
	const op = "put"
	ctx := x.Ctx
	n := int64(req.Len)
	held, err := s.cfg.Store.Has(ctx, req.Ref)
	if err != nil {
		return err
	}
	if !held {
		pending := s.pending.Add(n)
		defer s.pending.Add(-n)
		if s.used()+pending > s.cfg.Capacity {
			s.cfg.Logf("fragment service: refused %d bytes: capacity full", n)
			return storage.E(op, storage.Quota, fmt.Errorf("%d bytes offered, %d held", s.cfg.Capacity, s.used()))
		}
	}
	from := storage.PeerID(x.S.Conn().RemotePeer().String())
	if err := s.cfg.Admit.Admit(ctx, from, n); err != nil {
		s.cfg.Logf("fragment service: refused %d bytes from %s: %v", n, from.Short(), err)
		if storage.KindOf(err) == storage.Other {
			return storage.E(op, storage.Quota, err)
		}
		return err
	}
	if err := x.S.Scope().ReserveMemory(int(n), network.ReservationPriorityAlways); err != nil {
		return storage.E(op, storage.Unavailable, errors.New("busy: no memory for the fragment"))
	}
	defer x.S.Scope().ReleaseMemory(int(n))
	x.Extend(s.cfg.Deadlines.body(int(n)))
	// A body of up to bodyStep goes into a recycled buffer; a longer one
	// is allocated as it arrives (proto.ReadBody), so that a peer that declares
	// 16 MiB and sends nothing costs little (PROTOCOL.md).
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
	if s.cfg.Owners != nil {
		when := binary.BigEndian.AppendUint64(nil, uint64(s.cfg.Now().Unix()))
		if err := s.cfg.Owners.Set(ctx, ownerKey(req.Ref, &req.Owner), when); err != nil {
			return err
		}
	}
	// data was verified above: a store that can skip its own check does.
	if vp, ok := s.cfg.Store.(verifiedPutter); ok {
		err = vp.PutVerified(ctx, req.Ref, data)
	} else {
		err = s.cfg.Store.Put(ctx, req.Ref, data)
	}
	if err != nil {
		return err
	}
	if !held {
		s.stored.Add(n)
	}
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
		_, err := s.cfg.Owners.Get(ctx, key)
		switch {
		case err == nil:
			recorded = true
			if err := s.cfg.Owners.Delete(ctx, key); err != nil {
				return err
			}
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
