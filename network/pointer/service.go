package pointer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	cnet "github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// Defaults of ServiceConfig.
const (
	DefaultMaxValue       = 16 << 10
	DefaultInboxMax       = 256
	DefaultBudget         = 64 << 20
	DefaultSenderBytes    = 1 << 20
	DefaultSenderMessages = 64
	DefaultMessageTTL     = 30 * 24 * time.Hour
	DefaultRecordTTL      = 30 * 24 * time.Hour
	DefaultSweepEvery     = time.Hour
)

// DeleteWindow is how far an INBOX_DELETE's timestamp may be from the
// server's clock, either way.
const DeleteWindow = 5 * time.Minute

// ServiceConfig configures a Service. KV is required.
type ServiceConfig struct {
	// KV keeps records under "pointer/rec/" + key and when they were last
	// put under "pointer/rtime/" + key (Unix ms, 8 bytes), and inbox
	// messages under "pointer/inbox/m/" + inbox + id (the message) and
	// "pointer/inbox/i/" + inbox + id (when it was received, Unix ms (8) ·
	// the message's length (4) · the sender's peer ID). What is kept is
	// counted again from the KV when the service starts.
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
	// Budget caps the bytes kept for others, records and messages
	// together, counted as the KV keys and values written for them; 0
	// means DefaultBudget.
	Budget int64
	// SenderBytes and SenderMessages cap the inbox messages kept from one
	// remote peer (the peer ID of the stream that put them), in bytes
	// counted as for Budget and in number; 0 means DefaultSenderBytes,
	// DefaultSenderMessages. A message deleted or expired no longer
	// counts.
	SenderBytes    int64
	SenderMessages int
	// MessageTTL is how long a message is kept after it was received;
	// RecordTTL how long a record is kept after it was last put (a put of
	// the same record refreshes it: holders republish). 0 means
	// DefaultMessageTTL, DefaultRecordTTL. Expired items are not served
	// and are dropped by a sweep every SweepEvery (0: DefaultSweepEvery).
	MessageTTL time.Duration
	RecordTTL  time.Duration
	SweepEvery time.Duration
	// Admit decides whether to keep a record or a message, after the
	// service's own caps (the quota trade plugs in here), and is given
	// back what the budget gives back: the size is the cost counted
	// against Budget (for a replaced record what it adds; a shorter
	// record releases the difference), and deletes, expiry and failed
	// puts release it. Records are charged to their key, messages to
	// their sender (recordOwner, senderOwner). Nil admits all.
	Admit storage.Admitter
	// Timeout bounds each request, from its first byte to the end of its
	// answer; 0 means DefaultTimeout. Idle is how long a stream that has
	// carried a request waits for the next; 0 means DefaultIdle.
	Timeout time.Duration
	Idle    time.Duration
	// Now is the clock for delete windows, receive and put times and
	// expiry; nil means time.Now.
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
	server *proto.Server[request]
	ctx    context.Context // the sweep's
	cancel context.CancelFunc
	wg     sync.WaitGroup

	seed  maphash.Seed
	locks [64]sync.Mutex // by record key or inbox: read-compare-write is atomic

	use usage
}

// NewService counts what cfg.KV keeps for others, registers the
// protocol's stream handler on h, starts the sweep of expired items and
// returns the service. Close stops it. An error comes from reading the
// KV.
func NewService(h host.Host, cfg ServiceConfig) (*Service, error) {
	if cfg.MaxValue <= 0 {
		cfg.MaxValue = DefaultMaxValue
	}
	cfg.MaxValue = min(cfg.MaxValue, MaxRecord)
	if cfg.InboxMax <= 0 {
		cfg.InboxMax = DefaultInboxMax
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.SenderBytes <= 0 {
		cfg.SenderBytes = DefaultSenderBytes
	}
	if cfg.SenderMessages <= 0 {
		cfg.SenderMessages = DefaultSenderMessages
	}
	if cfg.MessageTTL <= 0 {
		cfg.MessageTTL = DefaultMessageTTL
	}
	if cfg.RecordTTL <= 0 {
		cfg.RecordTTL = DefaultRecordTTL
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.Admit == nil {
		cfg.Admit = storage.AdmitAll{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{h: h, cfg: cfg, ctx: ctx, cancel: cancel, seed: maphash.MakeSeed()}
	s.use = usage{budget: cfg.Budget, senderBytes: cfg.SenderBytes, senderMsgs: cfg.SenderMessages, senders: map[storage.PeerID]senderUse{}}
	if err := s.recount(ctx); err != nil {
		cancel()
		return nil, storage.E("start pointer service", storage.KindOf(err), err)
	}
	s.wg.Add(1)
	go s.sweeper()
	s.server = proto.NewServer(h, proto.ServerConfig[request]{
		Protocol:  ProtocolID,
		Service:   ServiceName,
		Name:      "pointer service",
		Table:     statuses,
		Deadlines: proto.Deadlines{Header: cfg.Timeout, Idle: cfg.Idle},
		Read:      func(rd io.Reader) (request, error) { return readRequest(rd, cfg.MaxValue) },
		Handle:    s.serve,
		Logf:      cfg.Logf,
	})
	return s, nil
}

// Close removes the stream handler, resets the streams still being
// handled, stops the sweep and waits for all of them to return. It is
// safe to call more than once.
func (s *Service) Close() {
	s.server.Close()
	s.cancel()
	s.wg.Wait()
}

// serve answers one request, read whole.
func (s *Service) serve(x *proto.Exchange, req *request) ([]byte, error) {
	x.Op = req.Op.String()
	switch req.Op {
	case opPutRecord:
		return nil, s.putRecord(x.Ctx, x.From, req)
	case opGetRecord:
		return s.getRecord(x.Ctx, req.Key, s.cfg.Now())
	case opInboxPut:
		id, err := s.inboxPut(x.Ctx, x.From, req)
		return id[:], err
	case opInboxList:
		// A list may be 4 MiB: account for it with the resource manager.
		if err := x.S.Scope().ReserveMemory(MaxList, network.ReservationPriorityAlways); err != nil {
			return nil, storage.E("inbox list", storage.Unavailable, errors.New("busy: no memory for the list"))
		}
		x.Defer(func() { x.S.Scope().ReleaseMemory(MaxList) })
		return s.inboxList(x.Ctx, &req.Inbox, s.cfg.Now())
	case opInboxDelete:
		return nil, s.inboxDelete(x.Ctx, req)
	}
	return nil, storage.E("serve", storage.Invalid, fmt.Errorf("unknown %v", req.Op))
}

func (s *Service) lock(b []byte) *sync.Mutex {
	return &s.locks[maphash.Bytes(s.seed, b)%uint64(len(s.locks))]
}

const (
	recPrefix      = "pointer/rec/"
	recTimePrefix  = "pointer/rtime/"
	inboxIdxPrefix = "pointer/inbox/i/"
	inboxMsgPrefix = "pointer/inbox/m/"
)

func recKey(key string) []byte     { return append([]byte(recPrefix), key...) }
func recTimeKey(key string) []byte { return append([]byte(recTimePrefix), key...) }

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

// The names the service gives the admitter: a record is kept for its
// key (a folder's record under "/cairn-folder/…": whoever puts it, a
// replacement, a shorter record and its expiry all count against the
// same name), an inbox message for its sender, the peer ID of the stream
// that put it, as the per-sender caps count it (messages are sealed and
// unsigned: the sender is all the server knows).
func recordOwner(key string) string            { return "pointer-record:" + key }
func senderOwner(sender storage.PeerID) string { return "pointer-sender:" + string(sender) }

func (s *Service) admit(ctx context.Context, owner string, n int64) error {
	if err := s.cfg.Admit.Admit(ctx, owner, n); err != nil {
		s.cfg.Logf("pointer service: refused %d bytes for %s: %v", n, owner, err)
		if storage.KindOf(err) == storage.Other {
			return storage.E("admit", storage.Quota, err)
		}
		return err
	}
	return nil
}

// release gives back to the admitter what it admitted for owner, also
// once the request's ctx is done.
func (s *Service) release(ctx context.Context, owner string, n int64) {
	if n <= 0 {
		return
	}
	if err := s.cfg.Admit.Release(context.WithoutCancel(ctx), owner, n); err != nil {
		s.cfg.Logf("pointer service: releasing %d bytes of %s: %v", n, owner, err)
	}
}

// putRecord keeps req.Body under req.Key if it validates and Select
// prefers it to the record held (an expired record counts as none), and
// stamps it with the time of the put. The same record again only
// refreshes that time: holders republish to keep a record from expiring.
// What the put adds to the bytes kept must fit in the budget and pass
// admission; a record replaced by a shorter one releases the difference.
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
	now := s.cfg.Now()
	var oldCost int64
	old, err := s.cfg.KV.Get(ctx, k)
	switch {
	case errors.Is(err, storage.NotExist):
		old = nil
	case err != nil:
		return err
	default:
		oldCost = recordCost(req.Key, len(old))
	}
	if old != nil {
		ms, timed, err := s.recordTime(ctx, req.Key)
		if err != nil {
			return err
		}
		switch {
		case bytes.Equal(old, req.Body):
			return s.setRecordTime(ctx, req.Key, now)
		case timed && expired(ms, s.cfg.RecordTTL, now):
			// Expired: as if nothing were held.
		case v.Validate(req.Key, old) != nil:
			// What we hold no longer validates (the validator changed):
			// the valid record replaces it.
		default:
			i, err := v.Select(req.Key, [][]byte{old, req.Body})
			if err != nil {
				return storage.E(op, storage.Invalid, err)
			}
			if i != 1 {
				return storage.E(op, storage.Exist, errors.New("stale: a better record is held"))
			}
		}
	}
	delta := recordCost(req.Key, len(req.Body)) - oldCost
	if err := s.use.reserveRecord(delta); err != nil {
		s.cfg.Logf("pointer service: refused a record of %d bytes from %s: %v", len(req.Body), from.Short(), err)
		return err
	}
	owner := recordOwner(req.Key)
	if delta > 0 {
		if err := s.admit(ctx, owner, delta); err != nil {
			s.use.releaseRecord(delta)
			return err
		}
	}
	undo := func() {
		s.use.releaseRecord(delta)
		s.release(ctx, owner, delta)
	}
	// The time first: a crash between the two writes leaves either a
	// fresh time on the record held, or a time without a record, which
	// the sweep drops when it expires; never a record that cannot expire.
	if err := s.setRecordTime(ctx, req.Key, now); err != nil {
		undo()
		return err
	}
	if err := s.cfg.KV.Set(ctx, k, req.Body); err != nil {
		undo()
		if old == nil {
			_ = s.cfg.KV.Delete(ctx, recTimeKey(req.Key))
		}
		return err
	}
	s.release(ctx, owner, -delta) // a shorter record gives back the difference
	return nil
}

func (s *Service) getRecord(ctx context.Context, key string, now time.Time) ([]byte, error) {
	const op = "get record"
	v, err := s.cfg.KV.Get(ctx, recKey(key))
	if err != nil {
		return nil, err
	}
	if len(v) > MaxRecord {
		return nil, storage.E(op, storage.IO, fmt.Errorf("held record of %d bytes", len(v)))
	}
	ms, timed, err := s.recordTime(ctx, key)
	if err != nil {
		return nil, err
	}
	if timed && expired(ms, s.cfg.RecordTTL, now) {
		return nil, storage.E(op, storage.NotExist, errors.New("expired"))
	}
	return v, nil
}

// senderOf is the key a sender's messages are counted under: its peer
// ID, cut to what an index entry holds.
func senderOf(p storage.PeerID) storage.PeerID {
	if len(p) > maxSender {
		return p[:maxSender]
	}
	return p
}

// inboxPut keeps a message for the inbox, unless it is held already (then
// nothing changes) or it breaks a cap: the inbox's number of messages, the
// sender's messages and bytes, the budget, then admission. The inbox's
// expired messages are dropped first.
func (s *Service) inboxPut(ctx context.Context, from storage.PeerID, req *request) ([32]byte, error) {
	const op = "inbox put"
	id := MessageID(req.Body)
	idx := inboxKey(inboxIdxPrefix, &req.Inbox, &id)
	msg := inboxKey(inboxMsgPrefix, &req.Inbox, &id)
	mu := s.lock(req.Inbox[:])
	mu.Lock()
	defer mu.Unlock()
	now := s.cfg.Now()
	n, held := 0, false
	var gone [][32]byte
	prefix := inboxKey(inboxIdxPrefix, &req.Inbox, nil)
	err := s.cfg.KV.Scan(ctx, prefix, func(k, v []byte) error {
		e, ok := parseIdx(v)
		if len(k) != len(prefix)+idSize || !ok {
			return nil // not ours to interpret
		}
		mid := [32]byte(k[len(prefix):])
		if expired(e.ms, s.cfg.MessageTTL, now) {
			gone = append(gone, mid) // at most InboxMax: each put drops them first
			return nil
		}
		held = held || mid == id
		n++
		return nil
	})
	if err != nil {
		return id, err
	}
	for i := range gone {
		if _, err := s.dropMessageIf(ctx, &req.Inbox, &gone[i], func(*idxEntry) bool { return true }); err != nil {
			return id, err
		}
	}
	if held {
		// The message must be there too: a crash may have come between
		// the two writes of the put that took it.
		switch _, err := s.cfg.KV.Get(ctx, msg); {
		case errors.Is(err, storage.NotExist):
			return id, s.cfg.KV.Set(ctx, msg, req.Body)
		case err != nil:
			return id, err
		}
		return id, nil
	}
	if n >= s.cfg.InboxMax {
		return id, storage.E(op, storage.Quota, fmt.Errorf("inbox full: %d messages", n))
	}
	e := idxEntry{ms: now.UnixMilli(), size: len(req.Body), sender: senderOf(from)}
	cost := e.cost()
	if err := s.use.reserveMessage(e.sender, cost); err != nil {
		s.cfg.Logf("pointer service: refused a message of %d bytes from %s: %v", len(req.Body), from.Short(), err)
		return id, err
	}
	owner := senderOwner(e.sender)
	if err := s.admit(ctx, owner, cost); err != nil {
		s.use.releaseMessage(e.sender, cost)
		return id, err
	}
	undo := func() {
		s.use.releaseMessage(e.sender, cost)
		s.release(ctx, owner, cost)
	}
	// The index entry first: it is what counts, at a restart too. One left
	// without its message by a crash is found by the next put of the same
	// message, or expires.
	if err := s.cfg.KV.Set(ctx, idx, e.append(nil)); err != nil {
		undo()
		return id, err
	}
	if err := s.cfg.KV.Set(ctx, msg, req.Body); err != nil {
		if s.cfg.KV.Delete(ctx, idx) == nil {
			undo()
		}
		return id, err
	}
	return id, nil
}

// inboxList answers with the oldest unexpired messages that fit in
// MaxList.
func (s *Service) inboxList(ctx context.Context, inbox *[32]byte, now time.Time) ([]byte, error) {
	type entry struct {
		id [32]byte
		ms int64
	}
	var es []entry
	prefix := inboxKey(inboxIdxPrefix, inbox, nil)
	err := s.cfg.KV.Scan(ctx, prefix, func(k, v []byte) error {
		ie, ok := parseIdx(v)
		if len(k) != len(prefix)+idSize || !ok {
			return nil // not ours to interpret
		}
		if expired(ie.ms, s.cfg.MessageTTL, now) {
			return nil
		}
		var e entry
		copy(e.id[:], k[len(prefix):])
		e.ms = ie.ms
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

// inboxDelete removes a message at its owner's signed request and
// releases what it counted.
func (s *Service) inboxDelete(ctx context.Context, req *request) error {
	const op = "inbox delete"
	if err := proto.CheckTime(op, s.cfg.Now(), req.Time, DeleteWindow); err != nil {
		return err
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
	dropped, err := s.dropMessageIf(ctx, &req.Inbox, &req.ID, func(*idxEntry) bool { return true })
	if err != nil || dropped {
		return err
	}
	// Nothing counted under this id: remove whatever is left of it.
	if err := s.cfg.KV.Delete(ctx, inboxKey(inboxMsgPrefix, &req.Inbox, &req.ID)); err != nil {
		return err
	}
	return s.cfg.KV.Delete(ctx, inboxKey(inboxIdxPrefix, &req.Inbox, &req.ID))
}
