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
	"github.com/cairn-storage/cairn/network/internal/streamguard"
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
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup

	pending  atomic.Int64 // bytes of admitted PUTs not yet stored
	stored   atomic.Int64 // with cfg.Used nil: bytes held
	inflight atomic.Int64 // handlers running and not idle between requests, for tests
	started  atomic.Int64 // handlers (streams) started, for tests

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
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{h: h, cfg: cfg, ctx: ctx, cancel: cancel}
	if cfg.Used == nil {
		if l, ok := cfg.Store.(storage.Lister); ok {
			var n int64
			err := l.List(ctx, func(_ storage.Ref, size int64) error { n += size; return nil })
			if err != nil {
				cfg.Logf("fragment service: listing the store: %v", err)
			}
			s.stored.Store(n)
		}
	}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// Close removes the stream handler, resets the streams still being
// handled and waits for their handlers to return. It is safe to call more
// than once.
func (s *Service) Close() {
	s.h.RemoveStreamHandler(ProtocolID)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

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

// errAbort means the stream was reset and no response can be sent.
var errAbort = errors.New("stream aborted")

func (s *Service) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.inflight.Add(1)
	s.started.Add(1)
	defer func() {
		s.inflight.Add(-1)
		s.wg.Done()
	}()

	if err := st.Scope().SetService(ServiceName); err != nil {
		_ = st.ResetWithError(network.StreamResourceLimitExceeded)
		return
	}
	// One request after another until the client half-closes, goes quiet
	// for Deadlines.Idle, or a response ends the stream (PROTOCOL.md).
	for first := true; s.serve(st, first); first = false {
	}
}

// serve answers one request on st and reports whether the stream may
// carry another. The first request of a stream must arrive within the
// header deadline; a later one within Deadlines.Idle, and the client's
// half-close instead ends the stream quietly. While a stream waits for a
// later request it does not count as in flight.
func (s *Service) serve(st network.Stream, first bool) bool {
	d := s.cfg.Deadlines
	wait := d.Header
	if !first {
		wait = d.Idle
	}
	g := streamguard.New(s.ctx, st, wait)
	defer g.Done()

	if !first {
		s.inflight.Add(-1)
	}
	req, err := readRequestHeader(st)
	if !first {
		s.inflight.Add(1)
	}
	if err != nil {
		if !first && errors.Is(err, io.EOF) && g.Ctx.Err() == nil {
			_ = st.Close() // the client is done with the stream
			return false
		}
		if storage.KindOf(err) == storage.Invalid {
			s.reply(g, response{Status: statusInvalid, Msg: err.Error()}, nil)
			_ = st.Close()
			return false
		}
		_ = st.Reset()
		return false
	}
	g.Extend(d.Header)
	var resp response
	var body []byte
	switch req.Op {
	case opPut:
		err = s.put(g, &req)
	case opGet:
		if st, ok := s.cfg.Store.(getterTo); ok {
			buf := s.bodies.get(getHint)
			body, err = st.GetTo(g.Ctx, (*buf)[:0], req.Ref)
			// body is *buf's array or one GetTo grew; either way it is
			// free once the reply is written.
			defer func() { *buf = body; s.bodies.put(buf) }()
		} else {
			body, err = s.cfg.Store.Get(g.Ctx, req.Ref)
		}
	case opHas:
		var ok bool
		ok, err = s.cfg.Store.Has(g.Ctx, req.Ref)
		if err == nil && !ok {
			err = storage.E("has", storage.NotExist, nil)
		}
	case opDelete:
		err = s.delete(g, &req)
	case opInfo:
		body = s.info().append(nil)
	}
	if errors.Is(err, errAbort) || g.Ctx.Err() != nil {
		_ = st.Reset()
		return false
	}
	if err != nil {
		resp.Status = statusOf(err)
		resp.Msg = resp.Status.message(err)
		if resp.Status == statusInternal {
			s.cfg.Logf("fragment service: %v from %s: %v", req.Op, st.Conn().RemotePeer(), err)
		}
		body = nil
	}
	if !s.reply(g, resp, body) {
		return false
	}
	// After ok and not-found the request was read whole and the stream
	// can go on; after any other answer (a PUT refused before its body
	// was read, say) it ends here.
	if resp.Status != statusOK && resp.Status != statusNotFound {
		_ = st.Close()
		return false
	}
	return true
}

// message is the text sent with a status: the error for the kinds a peer
// may learn about, a fixed phrase for failures of our own store.
func (st status) message(err error) string {
	switch st {
	case statusOK, statusNotFound:
		return ""
	case statusInternal:
		return "internal error"
	case statusCorrupt:
		return "held copy failed its integrity check"
	}
	return err.Error()
}

// reply writes resp and body, or resets the stream if the write fails
// (and reports false).
func (s *Service) reply(g *streamguard.Guard, resp response, body []byte) bool {
	resp.Len = uint32(len(body))
	g.Extend(s.cfg.Deadlines.body(len(body)))
	hdr := resp.appendHeader(make([]byte, 0, respHeader+MaxMessage+infoBodySize))
	if len(body) <= infoBodySize {
		hdr = append(hdr, body...)
		body = nil
	}
	if _, err := g.S.Write(hdr); err != nil {
		_ = g.S.Reset()
		return false
	}
	if len(body) > 0 {
		if _, err := g.S.Write(body); err != nil {
			_ = g.S.Reset()
			return false
		}
	}
	return true
}

func (s *Service) lock(ref storage.Ref) *sync.Mutex { return &s.locks[ref[0]%byte(len(s.locks))] }

func ownerPrefix(ref storage.Ref) []byte {
	return append([]byte("fragment/owner/"), ref[:]...)
}

func ownerKey(ref storage.Ref, owner *[ownerSize]byte) []byte {
	return append(ownerPrefix(ref), owner[:]...)
}

func (s *Service) put(g *streamguard.Guard, req *request) error {
	const op = "put"
	ctx := g.Ctx
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
	from := storage.PeerID(g.S.Conn().RemotePeer().String())
	if err := s.cfg.Admit.Admit(ctx, from, n); err != nil {
		s.cfg.Logf("fragment service: refused %d bytes from %s: %v", n, from.Short(), err)
		if storage.KindOf(err) == storage.Other {
			return storage.E(op, storage.Quota, err)
		}
		return err
	}
	if err := g.S.Scope().ReserveMemory(int(n), network.ReservationPriorityAlways); err != nil {
		return storage.E(op, storage.Unavailable, errors.New("busy: no memory for the fragment"))
	}
	defer g.S.Scope().ReleaseMemory(int(n))
	g.Extend(s.cfg.Deadlines.body(int(n)))
	// A body of up to bodyStep goes into a recycled buffer; a longer one
	// is allocated as it arrives (readBody), so that a peer that declares
	// 16 MiB and sends nothing costs little (PROTOCOL.md).
	var data []byte
	if n <= bodyStep {
		buf := s.bodies.get(int(n))
		defer s.bodies.put(buf)
		data = *buf
		if _, err := io.ReadFull(g.S, data); err != nil {
			return errAbort
		}
	} else if data, err = readBody(g.S, int(n)); err != nil {
		return errAbort
	}
	if erasure.Root(data) != req.Ref {
		return storage.E(op, storage.Invalid, errors.New("fragment does not match its ref"))
	}
	g.Extend(s.cfg.Deadlines.Header)

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

func (s *Service) delete(g *streamguard.Guard, req *request) error {
	const op = "delete"
	ctx := g.Ctx
	now := s.cfg.Now()
	t := time.Unix(req.Time, 0)
	if t.Before(now.Add(-DeleteWindow)) || t.After(now.Add(DeleteWindow)) {
		return storage.E(op, storage.Invalid, fmt.Errorf("time %d is more than %v from the server's clock", req.Time, DeleteWindow))
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
