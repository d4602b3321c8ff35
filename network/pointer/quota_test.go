package pointer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// kvBytes is what kv holds, keys and values.
func kvBytes(t *testing.T, kv storage.KV) int64 {
	t.Helper()
	var n int64
	err := kv.Scan(context.Background(), nil, func(k, v []byte) error { n += int64(len(k) + len(v)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantUsed checks that the service counts what its KV holds, and that
// this is want (if want >= 0).
func wantUsed(t *testing.T, e *env, want int64) {
	t.Helper()
	held := kvBytes(t, e.kv)
	if got := e.srv.Used(); got != held || want >= 0 && got != want {
		t.Fatalf("Used() = %d, the KV holds %d bytes, want %d", got, held, want)
	}
}

// madeUpInbox is an inbox id nobody owns.
func madeUpInbox(i int) [32]byte { return sha256.Sum256([]byte{'x', byte(i), byte(i >> 8)}) }

// clock is a settable clock for Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func quiet(string, ...any) {}

// TestInboxFlood is the attack of the security review: one anonymous
// peer leaves large messages in made-up inboxes. With the default
// configuration the service stops it at the per-sender cap, long before
// the disk fills. (Before the caps it kept all 12.5 MiB.)
func TestInboxFlood(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Logf: quiet})
	ctx := t.Context()
	took, refused := 0, 0
	for i := range 200 { // 12.5 MiB offered
		msg := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, MaxMessage/2)
		_, err := e.client.InboxPut(ctx, e.peer, madeUpInbox(i), msg)
		switch {
		case err == nil:
			took++
		case storage.KindOf(err) == storage.Quota:
			refused++
		default:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	held := kvBytes(t, e.kv)
	t.Logf("took %d messages, refused %d, %d bytes held", took, refused, held)
	if held > DefaultSenderBytes {
		t.Fatalf("one peer made the service keep %d bytes (per-sender cap %d)", held, DefaultSenderBytes)
	}
	if refused == 0 || took != DefaultSenderBytes/int(messageCost(MaxMessage, storage.PeerID(e.hosts[1].ID().String()))) {
		t.Fatalf("took %d, refused %d", took, refused)
	}
	wantUsed(t, e, -1)
}

func TestSenderCap(t *testing.T) {
	hs := mockHosts(t, 3)
	mallory := storage.PeerID(hs[1].ID().String())
	msg := func(i int) []byte { return fmt.Appendf(nil, "message %04d", i) }
	one := messageCost(len(msg(0)), mallory)

	t.Run("messages", func(t *testing.T) {
		e := newEnv(t, hs, ServiceConfig{SenderMessages: 3, Logf: quiet})
		ctx := t.Context()
		for i := range 3 {
			if _, err := e.client.InboxPut(ctx, e.peer, madeUpInbox(i), msg(i)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.client.InboxPut(ctx, e.peer, madeUpInbox(3), msg(3))
		wantKind(t, "fourth message", err, storage.Quota)
		if _, err := e.client.InboxPut(ctx, e.peer, madeUpInbox(0), msg(0)); err != nil {
			t.Fatalf("a message held already is no new message: %v", err)
		}
		other := NewClient(hs[2])
		if _, err := other.InboxPut(ctx, e.peer, madeUpInbox(3), msg(3)); err != nil {
			t.Fatalf("another sender has its own cap: %v", err)
		}
		if u := e.srv.use.sender(mallory); u.msgs != 3 || u.bytes != 3*one {
			t.Fatalf("sender counted %+v", u)
		}
		wantUsed(t, e, 4*one)
	})
	t.Run("bytes", func(t *testing.T) {
		e := newEnv(t, hs, ServiceConfig{SenderBytes: 2*one + one/2, Logf: quiet})
		ctx := t.Context()
		for i := range 2 {
			if _, err := e.client.InboxPut(ctx, e.peer, aliceIn, msg(i)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.client.InboxPut(ctx, e.peer, aliceIn, msg(2))
		wantKind(t, "over the sender's bytes", err, storage.Quota)
		// The owner deletes one: the sender has room again.
		if err := e.client.InboxDelete(ctx, e.peer, aliceIn, MessageID(msg(0)), alice); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.InboxPut(ctx, e.peer, aliceIn, msg(2)); err != nil {
			t.Fatalf("after a delete: %v", err)
		}
		wantUsed(t, e, 2*one)
	})
	t.Run("concurrent", func(t *testing.T) {
		e := newEnv(t, hs, ServiceConfig{SenderMessages: 5, Logf: quiet})
		var wg sync.WaitGroup
		var mu sync.Mutex
		took := 0
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.client.InboxPut(t.Context(), e.peer, madeUpInbox(i), msg(i)); err == nil {
					mu.Lock()
					took++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if took != 5 {
			t.Fatalf("%d messages taken at once, cap 5", took)
		}
		wantUsed(t, e, 5*one)
	})
}

func TestBudget(t *testing.T) {
	hs := mockHosts(t, 3)
	ctx := t.Context()
	big := bytes.Repeat([]byte{'m'}, 10_000)
	cost := messageCost(len(big), storage.PeerID(hs[1].ID().String()))
	e := newEnv(t, hs, ServiceConfig{Budget: 3*cost + cost/2, Logf: quiet})
	a, b := e.client, NewClient(hs[2])
	for i, c := range []*Client{a, b, a} {
		if _, err := c.InboxPut(ctx, e.peer, madeUpInbox(i), append(big, byte(i))[1:]); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	_, err := b.InboxPut(ctx, e.peer, madeUpInbox(9), big)
	wantKind(t, "message over the budget", err, storage.Quota)
	const key = "/toy/rec"
	rec := toyValue(signer, key, 1, string(big[:cost/2]))
	wantKind(t, "record over the budget", a.PutRecord(ctx, e.peer, key, rec), storage.Quota)
	if _, err := a.GetRecord(ctx, e.peer, key); storage.KindOf(err) != storage.NotExist {
		t.Fatalf("refused record kept: %v", err)
	}
	if err := a.PutRecord(ctx, e.peer, key, toyValue(signer, key, 1, "")); err != nil {
		t.Fatalf("a small record still fits: %v", err)
	}
	wantUsed(t, e, -1)
	if e.srv.Used() > 3*cost+cost/2 {
		t.Fatalf("%d bytes kept, budget %d", e.srv.Used(), 3*cost+cost/2)
	}
}

// recorder is an Admitter that admits all, remembers the sizes and
// keeps an account per owner, as the ledger does.
type recorder struct {
	mu    sync.Mutex
	sizes []int64
	from  []string
	held  map[string]int64
}

func (r *recorder) Admit(_ context.Context, owner string, n int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sizes = append(r.sizes, n)
	r.from = append(r.from, owner)
	if r.held == nil {
		r.held = map[string]int64{}
	}
	r.held[owner] += n
	return nil
}

func (r *recorder) Release(_ context.Context, owner string, n int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held[owner] -= n
	return nil
}

func (r *recorder) of(owner string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[owner]
}

func (r *recorder) take() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sizes
	r.sizes = nil
	return s
}

func TestRecordReplaceChargesDelta(t *testing.T) {
	adm := &recorder{}
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: adm})
	ctx, c, p := t.Context(), e.client, e.peer
	const key = "/toy/folder"
	v1, v2, v3 := toyValue(signer, key, 1, "short"), toyValue(signer, key, 2, "a good deal longer"), toyValue(signer, key, 3, "")
	steps := []struct {
		v     []byte
		admit []int64
	}{
		{v1, []int64{recordCost(key, len(v1))}},
		{v2, []int64{int64(len(v2) - len(v1))}},
		{v2, nil}, // republished: nothing more
		{v3, nil}, // shorter: releases
	}
	for i, st := range steps {
		if err := c.PutRecord(ctx, p, key, st.v); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := adm.take(); fmt.Sprint(got) != fmt.Sprint(st.admit) {
			t.Fatalf("step %d: admitted %v, want %v", i, got, st.admit)
		}
		wantUsed(t, e, recordCost(key, len(st.v)))
		if got, want := adm.of(recordOwner(key)), recordCost(key, len(st.v)); got != want {
			t.Fatalf("step %d: the admitter holds %d for the record, the budget %d", i, got, want)
		}
	}
	if got := adm.from[0]; got != recordOwner(key) {
		t.Fatalf("admitted for %s, not the record's key", got)
	}
	// A message is admitted with what it counts, for its sender.
	if _, err := c.InboxPut(ctx, p, aliceIn, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	sender := storage.PeerID(e.hosts[1].ID().String())
	if got, want := adm.take(), messageCost(2, sender); len(got) != 1 || got[0] != want || adm.from[len(adm.from)-1] != senderOwner(sender) {
		t.Fatalf("message admitted as %v for %v, want %d for the sender", got, adm.from, want)
	}
}

func TestAdmitterFollowsBudget(t *testing.T) {
	adm := &recorder{}
	ck := newClock()
	hs := mockHosts(t, 3)
	e := newEnv(t, hs, ServiceConfig{Admit: adm, Now: ck.Now, MessageTTL: time.Hour, RecordTTL: 2 * time.Hour})
	ctx := t.Context()
	e.client.Now = ck.Now
	other := NewClient(hs[2])
	other.Now = ck.Now
	s1, s2 := storage.PeerID(hs[1].ID().String()), storage.PeerID(hs[2].ID().String())

	id1, err := e.client.InboxPut(ctx, e.peer, aliceIn, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.InboxPut(ctx, e.peer, aliceIn, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.InboxPut(ctx, e.peer, aliceIn, []byte("two!")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.InboxPut(ctx, e.peer, aliceIn, []byte("three")); err != nil {
		t.Fatal(err)
	}
	const key = "/toy/r"
	rec := toyValue(signer, key, 1, "")
	// The same record from two peers is one record, charged once.
	if err := e.client.PutRecord(ctx, e.peer, key, rec); err != nil {
		t.Fatal(err)
	}
	if err := other.PutRecord(ctx, e.peer, key, rec); err != nil {
		t.Fatal(err)
	}
	want := func(what string, a, b, r int64) {
		t.Helper()
		if adm.of(senderOwner(s1)) != a || adm.of(senderOwner(s2)) != b || adm.of(recordOwner(key)) != r {
			t.Fatalf("%s: admitter holds %d, %d, %d; want %d, %d, %d", what,
				adm.of(senderOwner(s1)), adm.of(senderOwner(s2)), adm.of(recordOwner(key)), a, b, r)
		}
	}
	want("after the puts", messageCost(3, s1)+messageCost(4, s1), messageCost(5, s2), recordCost(key, len(rec)))

	if err := e.client.InboxDelete(ctx, e.peer, aliceIn, id1, alice); err != nil {
		t.Fatal(err)
	}
	want("after a delete", messageCost(4, s1), messageCost(5, s2), recordCost(key, len(rec)))

	ck.Add(90 * time.Minute) // messages expired, the record not yet
	if _, err := e.srv.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want("after messages expired", 0, 0, recordCost(key, len(rec)))
	ck.Add(time.Hour)
	if _, err := e.srv.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want("after the record expired", 0, 0, 0)
	wantUsed(t, e, 0)
}

func TestDeleteReleases(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{})
	ctx := t.Context()
	sender := storage.PeerID(e.hosts[1].ID().String())
	var ids [][32]byte
	for i := range 3 {
		id, err := e.client.InboxPut(ctx, e.peer, aliceIn, bytes.Repeat([]byte{byte(i)}, 1000*(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	wantUsed(t, e, messageCost(1000, sender)+messageCost(2000, sender)+messageCost(3000, sender))
	for i, id := range ids {
		if err := e.client.InboxDelete(ctx, e.peer, aliceIn, id, alice); err != nil {
			t.Fatal(err)
		}
		if err := e.client.InboxDelete(ctx, e.peer, aliceIn, id, alice); err != nil {
			t.Fatalf("delete again: %v", err)
		}
		if u := e.srv.use.sender(sender); u.msgs != 2-i {
			t.Fatalf("after %d deletes the sender has %+v", i+1, u)
		}
		wantUsed(t, e, -1)
	}
	wantUsed(t, e, 0)
	if len(e.srv.use.senders) != 0 {
		t.Fatalf("senders left: %v", e.srv.use.senders)
	}
}

func TestExpiry(t *testing.T) {
	ck := newClock()
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Now: ck.Now, InboxMax: 2})
	e.client.Now = ck.Now
	ctx, c, p := t.Context(), e.client, e.peer
	const key = "/toy/folder"
	rec := toyValue(signer, key, 1, "")
	if err := c.PutRecord(ctx, p, key, rec); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"one", "two"} {
		if _, err := c.InboxPut(ctx, p, aliceIn, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	wantUsed(t, e, -1)

	// Republished after 20 days: the record lives 30 days from then.
	ck.Add(20 * 24 * time.Hour)
	if err := c.PutRecord(ctx, p, key, rec); err != nil {
		t.Fatalf("republish: %v", err)
	}
	ck.Add(10*24*time.Hour - time.Millisecond)
	if ms, err := c.InboxList(ctx, p, aliceIn); err != nil || len(ms) != 2 {
		t.Fatalf("a millisecond before expiry: %d messages, %v", len(ms), err)
	}
	ck.Add(time.Millisecond)
	// Expired messages are not served, before any sweep.
	if ms, err := c.InboxList(ctx, p, aliceIn); err != nil || len(ms) != 0 {
		t.Fatalf("30 days after receipt: %d messages, %v", len(ms), err)
	}
	if got, err := c.GetRecord(ctx, p, key); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("republished record: %v", err)
	}
	// The expired messages do not fill the inbox; they go on the next put.
	if _, err := c.InboxPut(ctx, p, aliceIn, []byte("three")); err != nil {
		t.Fatalf("inbox full of expired messages: %v", err)
	}
	if ms, err := c.InboxList(ctx, p, aliceIn); err != nil || len(ms) != 1 || string(ms[0].Data) != "three" {
		t.Fatalf("after the put: %v, %v", ms, err)
	}
	// The same message again after it expired is a new message.
	ck.Add(30 * 24 * time.Hour)
	if _, err := c.InboxPut(ctx, p, aliceIn, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if ms, err := c.InboxList(ctx, p, aliceIn); err != nil || len(ms) != 1 || !ms[0].Received.Equal(ck.Now()) {
		t.Fatalf("re-put after expiry: %v, %v", ms, err)
	}
	_, err := c.GetRecord(ctx, p, key)
	wantKind(t, "record 30 days after its last put", err, storage.NotExist)
	// It counts until it is swept.
	three := messageCost(len("three"), storage.PeerID(e.hosts[1].ID().String()))
	wantUsed(t, e, recordCost(key, len(rec))+three)
	n, err := e.srv.sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep dropped %d, %v; want the record", n, err)
	}
	wantUsed(t, e, three)
	// An expired record is replaced by any valid one, even an older
	// sequence: it is as if none were held.
	if err := c.PutRecord(ctx, p, key, toyValue(signer, key, 5, "")); err != nil {
		t.Fatal(err)
	}
	ck.Add(31 * 24 * time.Hour)
	if err := c.PutRecord(ctx, p, key, rec); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	wantUsed(t, e, -1)
}

func TestSweeper(t *testing.T) {
	ck := newClock()
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Now: ck.Now, SweepEvery: 10 * time.Millisecond, MessageTTL: time.Hour, RecordTTL: 2 * time.Hour})
	ctx := t.Context()
	const key = "/toy/folder"
	if err := e.client.PutRecord(ctx, e.peer, key, toyValue(signer, key, 1, "")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := e.client.InboxPut(ctx, e.peer, madeUpInbox(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	rec := recordCost(key, len(toyValue(signer, key, 1, "")))
	ck.Add(time.Hour)
	if !waitFor(3*time.Second, func() bool { return e.srv.Used() == rec }) {
		t.Fatalf("messages not swept: %d bytes kept", e.srv.Used())
	}
	ck.Add(time.Hour)
	if !waitFor(3*time.Second, func() bool { return e.srv.Used() == 0 }) {
		t.Fatalf("record not swept: %d bytes kept", e.srv.Used())
	}
	wantUsed(t, e, 0)
	start := time.Now()
	e.srv.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v", took)
	}
}

func TestRecountOnRestart(t *testing.T) {
	hs := mockHosts(t, 2)
	ck := newClock()
	kv := memstore.NewKV()
	cfg := ServiceConfig{KV: kv, Now: ck.Now, SenderMessages: 4}
	e := newEnv(t, hs, cfg)
	e.kv = kv
	ctx, c, p := t.Context(), e.client, e.peer
	sender := storage.PeerID(hs[1].ID().String())
	const key = "/toy/folder"
	if err := c.PutRecord(ctx, p, key, toyValue(signer, key, 1, "x")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.InboxPut(ctx, p, madeUpInbox(i), bytes.Repeat([]byte{byte(i)}, 100*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	used, su := e.srv.Used(), e.srv.use.sender(sender)
	wantUsed(t, e, -1)
	e.srv.Close()

	// What an older version kept: a record without a time, an index entry
	// of 8 bytes (the time alone), and one whose message is gone.
	oldRec := toyValue(signer, "/toy/old", 1, "")
	must(t, kv.Set(ctx, recKey("/toy/old"), oldRec))
	stamp := binary.BigEndian.AppendUint64(nil, uint64(ck.Now().UnixMilli()))
	oldMsg := []byte("left by an older version")
	oldID := MessageID(oldMsg)
	must(t, kv.Set(ctx, inboxKey(inboxIdxPrefix, &aliceIn, &oldID), stamp))
	must(t, kv.Set(ctx, inboxKey(inboxMsgPrefix, &aliceIn, &oldID), oldMsg))
	lost := [32]byte{9}
	must(t, kv.Set(ctx, inboxKey(inboxIdxPrefix, &aliceIn, &lost), stamp))

	e2 := newEnv(t, hs, cfg)
	e2.kv = kv
	want := used + recordCost("/toy/old", len(oldRec)) + messageCost(len(oldMsg), "")
	wantUsed(t, e2, want)
	if got := e2.srv.use.sender(sender); got != su {
		t.Fatalf("after a restart the sender counts %+v, before %+v", got, su)
	}
	if _, err := kv.Get(ctx, inboxKey(inboxIdxPrefix, &aliceIn, &lost)); storage.KindOf(err) != storage.NotExist {
		t.Fatalf("index entry without its message kept: %v", err)
	}
	// The caps hold across the restart: one more message, then no more.
	if _, err := e2.client.InboxPut(ctx, p, madeUpInbox(3), []byte("4th")); err != nil {
		t.Fatal(err)
	}
	_, err := e2.client.InboxPut(ctx, p, madeUpInbox(4), []byte("5th"))
	wantKind(t, "fifth message after a restart", err, storage.Quota)
	// The old record got the time of the restart, and expires from it.
	ck.Add(DefaultRecordTTL)
	_, err = e2.client.GetRecord(ctx, p, "/toy/old")
	wantKind(t, "old record 30 days after the restart", err, storage.NotExist)
	if ms, err := e2.client.InboxList(ctx, p, aliceIn); err != nil || len(ms) != 0 {
		t.Fatalf("old message after 30 days: %d, %v", len(ms), err)
	}
	if _, err := e2.srv.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	wantUsed(t, e2, 0)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
