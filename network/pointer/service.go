package pointer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	cnet "github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/internal/streamguard"
	"github.com/cairn-storage/cairn/storage"
)

// Defaults of ServiceConfig.
const (
	DefaultMaxValue = 16 << 10
	DefaultInboxMax = 256
)

// DeleteWindow is how far an INBOX_DELETE's timestamp may be from the
// server's clock, either way.
const DeleteWindow = 5 * time.Minute

// ServiceConfig configures a Service. KV is required.
type ServiceConfig struct {
	// KV keeps records under "pointer/rec/" + key and inbox messages under
	// "pointer/inbox/m/" + inbox + id (the message) and
	// "pointer/inbox/i/" + inbox + id (when it was received, 8 bytes).
	KV storage.KV
	// Validators checks records by namespace, the key's first path
	// segment ("/cairn-folder/…" → "cairn-folder"). A record in a
	// namespace without a validator is refused. The map is read, never
	// written; the validators are called concurrently.
	Validators map[string]cnet.Validator
	// MaxValue caps a record value in bytes; 0 means DefaultMaxValue, and
	// it is never more than MaxRecord.
	MaxValue int
	// InboxMax caps the messages an inbox holds; 0 means DefaultInboxMax.
	InboxMax int
	// Admit decides per remote peer and size whether to keep a record or
	// a message (the quota trade may plug in here); nil admits all.
	Admit storage.Admitter
	// Timeout bounds each stream; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for delete windows and receive times; nil means
	// time.Now.
	Now func() time.Time
	// Logf logs refusals and store failures; nil discards them.
	Logf func(format string, args ...any)
}

// Service is the server side of the protocol: it keeps records and inbox
// messages for other peers in a KV. It is safe for concurrent use; each
// stream is handled on the goroutine libp2p starts for it.
type Service struct {
	h      host.Host
	cfg    ServiceConfig
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup

	inflight atomic.Int64 // handlers running, for tests
	started  atomic.Int64 // handlers started, for tests

	seed  maphash.Seed
	locks [64]sync.Mutex // by record key or inbox: read-compare-write is atomic
}

// NewService registers the protocol's stream handler on h and returns the
// service. Close removes it.
func NewService(h host.Host, cfg ServiceConfig) *Service {
	if cfg.MaxValue <= 0 {
		cfg.MaxValue = DefaultMaxValue
	}
	cfg.MaxValue = min(cfg.MaxValue, MaxRecord)
	if cfg.InboxMax <= 0 {
		cfg.InboxMax = DefaultInboxMax
	}
	if cfg.Admit == nil {
		cfg.Admit = storage.AdmitAll{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{h: h, cfg: cfg, ctx: ctx, cancel: cancel, seed: maphash.MakeSeed()}
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
	g := streamguard.New(s.ctx, st, s.cfg.Timeout)
	defer g.Done()

	req, err := readRequest(st, s.cfg.MaxValue)
	if err != nil {
		if storage.KindOf(err) == storage.Invalid {
			// The rest of the request is not read: the client resets
			// the stream when it sees the refusal.
			s.reply(g, response{Status: statusInvalid, Text: err.Error()})
			return
		}
		_ = st.Reset()
		return
	}
	from := storage.PeerID(st.Conn().RemotePeer().String())
	var body []byte
	switch req.Op {
	case opPutRecord:
		err = s.putRecord(g.Ctx, from, &req)
	case opGetRecord:
		body, err = s.getRecord(g.Ctx, req.Key)
	case opInboxPut:
		var id [32]byte
		id, err = s.inboxPut(g.Ctx, from, &req)
		body = id[:]
	case opInboxList:
		// A list may be 4 MiB: account for it with the resource manager.
		if rerr := st.Scope().ReserveMemory(MaxList, network.ReservationPriorityAlways); rerr != nil {
			err = storage.E("inbox list", storage.Unavailable, errors.New("busy: no memory for the list"))
			break
		}
		defer st.Scope().ReleaseMemory(MaxList)
		body, err = s.inboxList(g.Ctx, &req.Inbox)
	case opInboxDelete:
		err = s.inboxDelete(g.Ctx, &req)
	}
	if g.Ctx.Err() != nil {
		_ = st.Reset()
		return
	}
	resp := response{Body: body}
	if err != nil {
		resp = response{Status: statusOf(err)}
		switch resp.Status {
		case statusInternal:
			resp.Text = "internal error"
			s.cfg.Logf("pointer service: %v from %s: %v", req.Op, from.Short(), err)
		case statusNotFound:
		default:
			resp.Text = err.Error()
		}
	}
	s.reply(g, resp)
}

// reply writes resp and closes the stream, or resets it if the write fails.
func (s *Service) reply(g *streamguard.Guard, resp response) {
	if _, err := g.S.Write(resp.append(make([]byte, 0, respHeader+MaxText+len(resp.Body)))); err != nil {
		_ = g.S.Reset()
		return
	}
	_ = g.S.Close()
}

func (s *Service) lock(b []byte) *sync.Mutex {
	return &s.locks[maphash.Bytes(s.seed, b)%uint64(len(s.locks))]
}

const (
	recPrefix      = "pointer/rec/"
	inboxIdxPrefix = "pointer/inbox/i/"
	inboxMsgPrefix = "pointer/inbox/m/"
)

func recKey(key string) []byte { return append([]byte(recPrefix), key...) }

func inboxKey(prefix string, inbox *[32]byte, id *[32]byte) []byte {
	b := make([]byte, 0, len(prefix)+64)
	b = append(b, prefix...)
	b = append(b, inbox[:]...)
	if id != nil {
		b = append(b, id[:]...)
	}
	return b
}

func (s *Service) validator(key string) (cnet.Validator, error) {
	ns, err := cnet.KeyNamespace(key)
	if err != nil {
		return nil, err
	}
	v, ok := s.cfg.Validators[ns]
	if !ok || v == nil {
		return nil, storage.E("put record", storage.Invalid, fmt.Errorf("unknown namespace %q", ns))
	}
	return v, nil
}

func (s *Service) admit(ctx context.Context, from storage.PeerID, n int) error {
	if err := s.cfg.Admit.Admit(ctx, from, int64(n)); err != nil {
		s.cfg.Logf("pointer service: refused %d bytes from %s: %v", n, from.Short(), err)
		if storage.KindOf(err) == storage.Other {
			return storage.E("admit", storage.Quota, err)
		}
		return err
	}
	return nil
}

// putRecord keeps req.Body under req.Key if it validates and Select
// prefers it to the record held.
func (s *Service) putRecord(ctx context.Context, from storage.PeerID, req *request) error {
	const op = "put record"
	v, err := s.validator(req.Key)
	if err != nil {
		return err
	}
	if err := v.Validate(req.Key, req.Body); err != nil {
		return storage.E(op, storage.Invalid, fmt.Errorf("record refused by its validator: %w", err))
	}
	k := recKey(req.Key)
	mu := s.lock(k)
	mu.Lock()
	defer mu.Unlock()
	old, err := s.cfg.KV.Get(ctx, k)
	switch {
	case errors.Is(err, storage.NotExist):
	case err != nil:
		return err
	case bytes.Equal(old, req.Body):
		return nil
	case v.Validate(req.Key, old) != nil:
		// What we hold no longer validates (the validator changed): the
		// valid record replaces it.
	default:
		i, err := v.Select(req.Key, [][]byte{old, req.Body})
		if err != nil {
			return storage.E(op, storage.Invalid, err)
		}
		if i != 1 {
			return storage.E(op, storage.Exist, errors.New("stale: a better record is held"))
		}
	}
	if err := s.admit(ctx, from, len(req.Key)+len(req.Body)); err != nil {
		return err
	}
	return s.cfg.KV.Set(ctx, k, req.Body)
}

func (s *Service) getRecord(ctx context.Context, key string) ([]byte, error) {
	v, err := s.cfg.KV.Get(ctx, recKey(key))
	if err != nil {
		return nil, err
	}
	if len(v) > MaxRecord {
		return nil, storage.E("get record", storage.IO, fmt.Errorf("held record of %d bytes", len(v)))
	}
	return v, nil
}

func (s *Service) inboxPut(ctx context.Context, from storage.PeerID, req *request) ([32]byte, error) {
	const op = "inbox put"
	id := MessageID(req.Body)
	idx := inboxKey(inboxIdxPrefix, &req.Inbox, &id)
	mu := s.lock(req.Inbox[:])
	mu.Lock()
	defer mu.Unlock()
	switch _, err := s.cfg.KV.Get(ctx, idx); {
	case err == nil:
		return id, nil // already held
	case !errors.Is(err, storage.NotExist):
		return id, err
	}
	n := 0
	err := s.cfg.KV.Scan(ctx, inboxKey(inboxIdxPrefix, &req.Inbox, nil), func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return id, err
	}
	if n >= s.cfg.InboxMax {
		return id, storage.E(op, storage.Quota, fmt.Errorf("inbox full: %d messages", n))
	}
	if err := s.admit(ctx, from, len(req.Body)); err != nil {
		return id, err
	}
	if err := s.cfg.KV.Set(ctx, inboxKey(inboxMsgPrefix, &req.Inbox, &id), req.Body); err != nil {
		return id, err
	}
	when := binary.BigEndian.AppendUint64(nil, uint64(s.cfg.Now().UnixMilli()))
	return id, s.cfg.KV.Set(ctx, idx, when)
}

// inboxList answers with the oldest messages that fit in MaxList.
func (s *Service) inboxList(ctx context.Context, inbox *[32]byte) ([]byte, error) {
	type entry struct {
		id [32]byte
		ms int64
	}
	var es []entry
	prefix := inboxKey(inboxIdxPrefix, inbox, nil)
	err := s.cfg.KV.Scan(ctx, prefix, func(k, v []byte) error {
		if len(k) != len(prefix)+idSize || len(v) != 8 {
			return nil // not ours to interpret
		}
		var e entry
		copy(e.id[:], k[len(prefix):])
		e.ms = int64(binary.BigEndian.Uint64(v))
		es = append(es, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.ms != b.ms {
			return int(min(max(a.ms-b.ms, -1), 1))
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	var body []byte
	for _, e := range es {
		data, err := s.cfg.KV.Get(ctx, inboxKey(inboxMsgPrefix, inbox, &e.id))
		if errors.Is(err, storage.NotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(data) == 0 || len(data) > MaxMessage || MessageID(data) != e.id {
			s.cfg.Logf("pointer service: held inbox message %x does not match its id", e.id[:4])
			continue
		}
		if len(body)+entryHeader+len(data) > MaxList {
			break
		}
		body = appendEntry(body, &Message{ID: e.id, Data: data, Received: time.UnixMilli(e.ms)})
	}
	return body, nil
}

func (s *Service) inboxDelete(ctx context.Context, req *request) error {
	const op = "inbox delete"
	now := s.cfg.Now()
	t := time.Unix(req.Time, 0)
	if t.Before(now.Add(-DeleteWindow)) || t.After(now.Add(DeleteWindow)) {
		return storage.E(op, storage.Invalid, fmt.Errorf("time %d is more than %v from the server's clock", req.Time, DeleteWindow))
	}
	if InboxIDOf(req.Owner[:]) != req.Inbox {
		return storage.E(op, storage.Permission, errors.New("not the owner of this inbox"))
	}
	if !ed25519.Verify(req.Owner[:], deleteMessage([]byte(s.h.ID()), &req.Inbox, &req.ID, req.Time), req.Sig[:]) {
		return storage.E(op, storage.Permission, errors.New("bad signature"))
	}
	mu := s.lock(req.Inbox[:])
	mu.Lock()
	defer mu.Unlock()
	if err := s.cfg.KV.Delete(ctx, inboxKey(inboxIdxPrefix, &req.Inbox, &req.ID)); err != nil {
		return err
	}
	return s.cfg.KV.Delete(ctx, inboxKey(inboxMsgPrefix, &req.Inbox, &req.ID))
}
