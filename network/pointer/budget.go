package pointer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// What the service keeps for others is counted as the bytes of the KV
// keys and values it writes for them (records: the value and its time;
// messages: the message and its index entry), so that the counts can be
// derived again from the KV at start (recount) and agree with it.

// recordCost is what a record of n bytes under key costs.
func recordCost(key string, n int) int64 {
	return int64(len(recPrefix)+len(key)+n) + int64(len(recTimePrefix)+len(key)+8)
}

// messageCost is what a message of n bytes from sender costs.
func messageCost(n int, sender storage.PeerID) int64 {
	return int64(len(inboxMsgPrefix)+64+n) + int64(len(inboxIdxPrefix)+64+idxHeader+len(sender))
}

// idxHeader is the fixed part of an inbox index value: received (8,
// Unix ms) · message length (4); the sender's peer ID follows.
const idxHeader = 12

// maxSender caps the sender field of an index value (a peer ID in its
// string form is about 52 bytes).
const maxSender = 255

// idxEntry is one inbox index value, decoded.
type idxEntry struct {
	ms     int64
	size   int
	sender storage.PeerID
}

func (e *idxEntry) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.ms))
	b = binary.BigEndian.AppendUint32(b, uint32(e.size))
	return append(b, e.sender...)
}

// parseIdx decodes an index value; ok is false for one this version did
// not write.
func parseIdx(v []byte) (e idxEntry, ok bool) {
	if len(v) < idxHeader || len(v) > idxHeader+maxSender {
		return e, false
	}
	e.ms = int64(binary.BigEndian.Uint64(v))
	e.size = int(binary.BigEndian.Uint32(v[8:]))
	e.sender = storage.PeerID(v[idxHeader:])
	return e, e.size > 0 && e.size <= MaxMessage
}

func (e *idxEntry) cost() int64 { return messageCost(e.size, e.sender) }

// usage counts what the service keeps: in all (records and messages,
// against the budget) and per sender (messages only).
type usage struct {
	budget      int64
	senderBytes int64
	senderMsgs  int

	mu      sync.Mutex
	total   int64
	senders map[storage.PeerID]senderUse
}

type senderUse struct {
	bytes int64
	msgs  int
}

// reserveRecord counts delta more bytes (a new record, or one replaced by
// a longer one), or fewer (replaced by a shorter one). More must fit in
// the budget, or it is refused with Quota and nothing is counted.
func (u *usage) reserveRecord(delta int64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if delta > 0 && u.total+delta > u.budget {
		return storage.E("put record", storage.Quota, fmt.Errorf("storage for others full: %d of %d bytes kept", u.total, u.budget))
	}
	u.total += delta
	return nil
}

// releaseRecord uncounts a record of cost bytes.
func (u *usage) releaseRecord(cost int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.total -= cost
}

// reserveMessage counts a message of cost bytes from sender if it fits
// in the sender's caps and the budget; otherwise it is refused with Quota
// and nothing is counted.
func (u *usage) reserveMessage(sender storage.PeerID, cost int64) error {
	const op = "inbox put"
	u.mu.Lock()
	defer u.mu.Unlock()
	su := u.senders[sender]
	switch {
	case su.msgs+1 > u.senderMsgs:
		return storage.E(op, storage.Quota, fmt.Errorf("sender cap: %d messages from this peer kept here", su.msgs))
	case su.bytes+cost > u.senderBytes:
		return storage.E(op, storage.Quota, fmt.Errorf("sender cap: %d of %d bytes from this peer kept here", su.bytes, u.senderBytes))
	case u.total+cost > u.budget:
		return storage.E(op, storage.Quota, fmt.Errorf("storage for others full: %d of %d bytes kept", u.total, u.budget))
	}
	u.add(sender, cost)
	return nil
}

// add counts a message without checking caps (recount).
func (u *usage) add(sender storage.PeerID, cost int64) {
	u.total += cost
	su := u.senders[sender]
	su.bytes += cost
	su.msgs++
	u.senders[sender] = su
}

// releaseMessage uncounts a message of cost bytes from sender.
func (u *usage) releaseMessage(sender storage.PeerID, cost int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.total -= cost
	su := u.senders[sender]
	su.bytes -= cost
	su.msgs--
	if su.msgs <= 0 || su.bytes <= 0 {
		delete(u.senders, sender)
	} else {
		u.senders[sender] = su
	}
}

func (u *usage) sender(p storage.PeerID) senderUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.senders[p]
}

// Used returns the bytes the service keeps for others now, records and
// inbox messages, counted as the KV keys and values written for them
// (expired items count until they are swept).
func (s *Service) Used() int64 {
	s.use.mu.Lock()
	defer s.use.mu.Unlock()
	return s.use.total
}

// expired tells whether something kept at ms (Unix milliseconds) for ttl
// is gone by now.
func expired(ms int64, ttl time.Duration, now time.Time) bool {
	return now.UnixMilli()-ms >= ttl.Milliseconds()
}

// recordTime returns when the record under key was last put (Unix ms);
// ok is false if no time is kept for it.
func (s *Service) recordTime(ctx context.Context, key string) (ms int64, ok bool, err error) {
	v, err := s.cfg.KV.Get(ctx, recTimeKey(key))
	switch {
	case errors.Is(err, storage.NotExist):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case len(v) != 8:
		return 0, false, nil
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

func (s *Service) setRecordTime(ctx context.Context, key string, t time.Time) error {
	return s.cfg.KV.Set(ctx, recTimeKey(key), binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli())))
}

// recount derives the counts from the KV, before the service answers
// anyone: records under recPrefix, messages by their index entries. A
// record without a time (kept by an older version) gets the time of the
// recount; an index entry of an older version (8 bytes: the time alone)
// is rewritten with the message's length and an unknown sender, or
// dropped with its message if that is gone.
func (s *Service) recount(ctx context.Context) error {
	timed := map[string]bool{}
	err := s.cfg.KV.Scan(ctx, []byte(recTimePrefix), func(k, _ []byte) error {
		timed[string(k[len(recTimePrefix):])] = true
		return nil
	})
	if err != nil {
		return err
	}
	var untimed []string
	err = s.cfg.KV.Scan(ctx, []byte(recPrefix), func(k, v []byte) error {
		key := string(k[len(recPrefix):])
		s.use.total += recordCost(key, len(v))
		if !timed[key] {
			untimed = append(untimed, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	for _, key := range untimed {
		if err := s.setRecordTime(ctx, key, now); err != nil {
			return err
		}
	}

	type old struct {
		key []byte
		ms  int64
	}
	var olds []old
	err = s.cfg.KV.Scan(ctx, []byte(inboxIdxPrefix), func(k, v []byte) error {
		if len(k) != len(inboxIdxPrefix)+64 {
			return nil // not ours to interpret
		}
		if e, ok := parseIdx(v); ok {
			s.use.add(e.sender, e.cost())
		} else if len(v) == 8 {
			olds = append(olds, old{k, int64(binary.BigEndian.Uint64(v))})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range olds {
		mk := append([]byte(inboxMsgPrefix), o.key[len(inboxIdxPrefix):]...)
		data, err := s.cfg.KV.Get(ctx, mk)
		switch {
		case errors.Is(err, storage.NotExist) || err == nil && (len(data) == 0 || len(data) > MaxMessage):
			if err := s.cfg.KV.Delete(ctx, mk); err != nil {
				return err
			}
			if err := s.cfg.KV.Delete(ctx, o.key); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		e := idxEntry{ms: o.ms, size: len(data)}
		if err := s.cfg.KV.Set(ctx, o.key, e.append(nil)); err != nil {
			return err
		}
		s.use.add(e.sender, e.cost())
	}
	return nil
}

// sweepBatch bounds what one pass of a sweep collects before it deletes.
const sweepBatch = 1024

// errBatchFull stops a Scan when a batch is full.
var errBatchFull = errors.New("batch full")

// sweep drops every record and message expired by now and returns how
// many it dropped.
func (s *Service) sweep(ctx context.Context) (int, error) {
	n := 0
	for {
		now := s.cfg.Now()
		var keys []string
		err := s.cfg.KV.Scan(ctx, []byte(recTimePrefix), func(k, v []byte) error {
			if len(v) == 8 && expired(int64(binary.BigEndian.Uint64(v)), s.cfg.RecordTTL, now) {
				keys = append(keys, string(k[len(recTimePrefix):]))
				if len(keys) == sweepBatch {
					return errBatchFull
				}
			}
			return nil
		})
		if err != nil && err != errBatchFull {
			return n, err
		}
		for _, key := range keys {
			dropped, err := s.dropRecordIfExpired(ctx, key, now)
			if err != nil {
				return n, err
			}
			if dropped {
				n++
			}
		}
		if err != errBatchFull {
			break
		}
	}
	for {
		now := s.cfg.Now()
		var ids [][64]byte // inbox · id
		err := s.cfg.KV.Scan(ctx, []byte(inboxIdxPrefix), func(k, v []byte) error {
			if len(k) != len(inboxIdxPrefix)+64 {
				return nil
			}
			if e, ok := parseIdx(v); ok && expired(e.ms, s.cfg.MessageTTL, now) {
				ids = append(ids, [64]byte(k[len(inboxIdxPrefix):]))
				if len(ids) == sweepBatch {
					return errBatchFull
				}
			}
			return nil
		})
		if err != nil && err != errBatchFull {
			return n, err
		}
		for _, b := range ids {
			inbox, id := [32]byte(b[:32]), [32]byte(b[32:])
			mu := s.lock(inbox[:])
			mu.Lock()
			dropped, err := s.dropMessageIf(ctx, &inbox, &id, func(e *idxEntry) bool {
				return expired(e.ms, s.cfg.MessageTTL, now)
			})
			mu.Unlock()
			if err != nil {
				return n, err
			}
			if dropped {
				n++
			}
		}
		if err != errBatchFull {
			break
		}
	}
	return n, nil
}

// dropRecordIfExpired drops the record under key if its time, read again
// under its lock (a put may have refreshed it), is expired by now.
func (s *Service) dropRecordIfExpired(ctx context.Context, key string, now time.Time) (bool, error) {
	mu := s.lock(recKey(key))
	mu.Lock()
	defer mu.Unlock()
	ms, ok, err := s.recordTime(ctx, key)
	if err != nil || !ok || !expired(ms, s.cfg.RecordTTL, now) {
		return false, err
	}
	v, err := s.cfg.KV.Get(ctx, recKey(key))
	held := err == nil
	if err != nil && !errors.Is(err, storage.NotExist) {
		return false, err
	}
	// The value first: a time left behind without a value is swept again.
	if err := s.cfg.KV.Delete(ctx, recKey(key)); err != nil {
		return false, err
	}
	if held {
		s.use.releaseRecord(recordCost(key, len(v)))
		s.release(ctx, recordOwner(key), recordCost(key, len(v)))
	}
	return held, s.cfg.KV.Delete(ctx, recTimeKey(key))
}

// dropMessageIf drops message id of inbox if it is held and drop says so
// about its index entry. The caller holds the inbox's lock. The message
// goes first and its index entry after: an entry left behind by a crash
// still counts, and is dropped again later.
func (s *Service) dropMessageIf(ctx context.Context, inbox, id *[32]byte, drop func(*idxEntry) bool) (bool, error) {
	idx := inboxKey(inboxIdxPrefix, inbox, id)
	v, err := s.cfg.KV.Get(ctx, idx)
	if errors.Is(err, storage.NotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e, ok := parseIdx(v)
	if !ok || !drop(&e) {
		return false, nil
	}
	if err := s.cfg.KV.Delete(ctx, inboxKey(inboxMsgPrefix, inbox, id)); err != nil {
		return false, err
	}
	if err := s.cfg.KV.Delete(ctx, idx); err != nil {
		return false, err
	}
	s.use.releaseMessage(e.sender, e.cost())
	s.release(ctx, senderOwner(e.sender), e.cost())
	return true, nil
}

// sweeper runs sweep every SweepEvery until the service is closed.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.sweep(s.ctx)
		switch {
		case s.ctx.Err() != nil:
			return
		case err != nil:
			s.cfg.Logf("pointer service: sweep: %v", err)
		case n > 0:
			s.cfg.Logf("pointer service: swept %d expired records and messages", n)
		}
	}
}
