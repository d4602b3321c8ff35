package pointer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	cnet "github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

var (
	alice   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'a'}, 32))
	bob     = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'b'}, 32))
	signer  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'s'}, 32))
	forger  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'f'}, 32))
	aliceIn = InboxIDOf(alice.Public().(ed25519.PublicKey))
)

// toyValidator accepts value = seq (8) ‖ payload ‖ Ed25519 signature by
// signer over key ‖ seq ‖ payload; Select: highest seq, ties to the
// bytewise larger value.
type toyValidator struct{}

func toyValue(priv ed25519.PrivateKey, key string, seq uint64, payload string) []byte {
	v := binary.BigEndian.AppendUint64(nil, seq)
	v = append(v, payload...)
	return append(v, ed25519.Sign(priv, append([]byte(key), v...))...)
}

func (toyValidator) Validate(key string, v []byte) error {
	if len(v) < 8+ed25519.SignatureSize {
		return errors.New("short toy value")
	}
	body, sig := v[:len(v)-ed25519.SignatureSize], v[len(v)-ed25519.SignatureSize:]
	if !ed25519.Verify(signer.Public().(ed25519.PublicKey), append([]byte(key), body...), sig) {
		return errors.New("bad toy signature")
	}
	return nil
}

func (toyValidator) Select(_ string, vs [][]byte) (int, error) {
	best := 0
	for i, v := range vs {
		if len(v) < 8 || len(vs[best]) < 8 {
			return 0, errors.New("short value")
		}
		a, b := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(vs[best])
		if a > b || a == b && bytes.Compare(v, vs[best]) > 0 {
			best = i
		}
	}
	return best, nil
}

var nets = []struct {
	name  string
	hosts func(testing.TB, int) []host.Host
}{{"mock", mockHosts}, {"tcp", realHosts}}

type env struct {
	srv    *Service
	kv     *memstore.KV
	client *Client
	peer   storage.PeerID
	hosts  []host.Host
}

// newEnv serves from hs[0] and gives a client on hs[1].
func newEnv(t testing.TB, hs []host.Host, cfg ServiceConfig) *env {
	t.Helper()
	e := &env{kv: memstore.NewKV(), hosts: hs, peer: storage.PeerID(hs[0].ID().String())}
	if cfg.KV == nil {
		cfg.KV = e.kv
	}
	if cfg.Validators == nil {
		cfg.Validators = map[string]cnet.Validator{"toy": toyValidator{}}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	var err error
	if e.srv, err = NewService(hs[0], cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.srv.Close)
	e.client = NewClient(hs[1])
	return e
}

func wantKind(t *testing.T, what string, err error, k storage.Kind) {
	t.Helper()
	if storage.KindOf(err) != k {
		t.Fatalf("%s: %v (kind %v), want kind %v", what, err, storage.KindOf(err), k)
	}
}

func TestRecords(t *testing.T) {
	for _, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			e := newEnv(t, net.hosts(t, 2), ServiceConfig{})
			ctx, c, p := t.Context(), e.client, e.peer
			const key = "/toy/folder"
			get := func(want []byte) {
				t.Helper()
				got, err := c.GetRecord(ctx, p, key)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("GetRecord = %x, %v; want %x", got, err, want)
				}
			}
			_, err := c.GetRecord(ctx, p, key)
			wantKind(t, "GetRecord before any put", err, storage.NotExist)

			// A forged record is refused and nothing is kept.
			err = c.PutRecord(ctx, p, key, toyValue(forger, key, 5, ""))
			wantKind(t, "forged record", err, storage.Invalid)
			_, err = c.GetRecord(ctx, p, key)
			wantKind(t, "GetRecord after a forged put", err, storage.NotExist)
			// A record signed for another key is forged too.
			err = c.PutRecord(ctx, p, key, toyValue(signer, "/toy/other", 5, ""))
			wantKind(t, "record of another key", err, storage.Invalid)

			v1, v2, v3 := toyValue(signer, key, 1, ""), toyValue(signer, key, 2, "a"), toyValue(signer, key, 2, "b")
			if bytes.Compare(v2, v3) >= 0 {
				t.Fatal("test setup: v3 should win the tie") // payload a < b decides
			}
			if err := c.PutRecord(ctx, p, key, v1); err != nil {
				t.Fatal(err)
			}
			get(v1)
			if err := c.PutRecord(ctx, p, key, v2); err != nil {
				t.Fatal(err)
			}
			get(v2)
			wantKind(t, "older seq", c.PutRecord(ctx, p, key, v1), storage.Exist)
			if err := c.PutRecord(ctx, p, key, v2); err != nil {
				t.Fatalf("same value again: %v", err)
			}
			if err := c.PutRecord(ctx, p, key, v3); err != nil {
				t.Fatalf("equal seq that wins the tie: %v", err)
			}
			wantKind(t, "equal seq that loses the tie", c.PutRecord(ctx, p, key, v2), storage.Exist)
			get(v3)

			wantKind(t, "unknown namespace", c.PutRecord(ctx, p, "/other/x", v1), storage.Invalid)
			wantKind(t, "key without namespace", c.PutRecord(ctx, p, "toy", v1), storage.Invalid)
			wantKind(t, "empty key", c.PutRecord(ctx, p, "", v1), storage.Invalid)
			wantKind(t, "empty value", c.PutRecord(ctx, p, key, nil), storage.Invalid)
			wantKind(t, "value over the server's cap", c.PutRecord(ctx, p, "/toy/big", toyValue(signer, "/toy/big", 1, string(make([]byte, DefaultMaxValue)))), storage.Invalid)
			wantKind(t, "value over the wire cap", c.PutRecord(ctx, p, key, make([]byte, MaxRecord+1)), storage.Invalid)
			_, err = c.GetRecord(ctx, p, string(make([]byte, MaxKey+1)))
			wantKind(t, "key over the cap", err, storage.Invalid)
		})
	}
}

func TestInbox(t *testing.T) {
	for _, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			var mu sync.Mutex
			clock := time.UnixMilli(1_700_000_000_000)
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Millisecond); return clock }
			e := newEnv(t, net.hosts(t, 2), ServiceConfig{InboxMax: 3, Now: now})
			e.client.Now = now
			ctx, c, p := t.Context(), e.client, e.peer

			ms, err := c.InboxList(ctx, p, aliceIn)
			if err != nil || len(ms) != 0 {
				t.Fatalf("empty inbox: %v, %v", ms, err)
			}
			var ids [][32]byte
			for i := range 3 {
				msg := fmt.Appendf(nil, "message %d", i)
				id, err := c.InboxPut(ctx, p, aliceIn, msg)
				if err != nil || id != MessageID(msg) {
					t.Fatalf("InboxPut %d = %x, %v", i, id, err)
				}
				ids = append(ids, id)
			}
			if id, err := c.InboxPut(ctx, p, aliceIn, []byte("message 1")); err != nil || id != ids[1] {
				t.Fatalf("duplicate InboxPut = %x, %v", id, err)
			}
			_, err = c.InboxPut(ctx, p, aliceIn, []byte("one too many"))
			wantKind(t, "full inbox", err, storage.Quota)
			if _, err := c.InboxPut(ctx, p, [32]byte{1}, []byte("other inbox")); err != nil {
				t.Fatalf("another inbox is not full: %v", err)
			}
			_, err = c.InboxPut(ctx, p, aliceIn, make([]byte, MaxMessage+1))
			wantKind(t, "message over the cap", err, storage.Invalid)

			ms, err = c.InboxList(ctx, p, aliceIn)
			if err != nil || len(ms) != 3 {
				t.Fatalf("InboxList = %d messages, %v", len(ms), err)
			}
			for i, m := range ms {
				if m.ID != ids[i] || string(m.Data) != fmt.Sprintf("message %d", i) {
					t.Fatalf("message %d = %x %q, not in the order put", i, m.ID[:4], m.Data)
				}
				if i > 0 && !m.Received.After(ms[i-1].Received) {
					t.Fatalf("received times not increasing: %v", ms)
				}
			}

			// Bob may not delete from alice's inbox (the client refuses
			// first; the server too, below with raw requests).
			wantKind(t, "bob deletes", c.InboxDelete(ctx, p, aliceIn, ids[0], bob), storage.Permission)
			if err := c.InboxDelete(ctx, p, aliceIn, ids[0], alice); err != nil {
				t.Fatal(err)
			}
			if err := c.InboxDelete(ctx, p, aliceIn, ids[0], alice); err != nil {
				t.Fatalf("deleting again: %v", err)
			}
			if ms, err = c.InboxList(ctx, p, aliceIn); err != nil || len(ms) != 2 || ms[0].ID != ids[1] {
				t.Fatalf("after delete: %d messages, %v", len(ms), err)
			}
			if _, err := c.InboxPut(ctx, p, aliceIn, []byte("room again")); err != nil {
				t.Fatalf("put after delete: %v", err)
			}
			// A client whose clock is off by more than the window.
			e.client.Now = func() time.Time { return now().Add(2 * DeleteWindow) }
			wantKind(t, "delete out of the window", c.InboxDelete(ctx, p, aliceIn, ids[1], alice), storage.Invalid)
		})
	}
}

// rawDelete sends an INBOX_DELETE built by hand.
func rawDelete(t *testing.T, e *env, owner ed25519.PrivateKey, inbox, id [32]byte, server []byte, when int64) error {
	t.Helper()
	req := &request{Op: opInboxDelete, Inbox: inbox, ID: id, Time: when}
	copy(req.Owner[:], owner.Public().(ed25519.PublicKey))
	copy(req.Sig[:], ed25519.Sign(owner, deleteMessage(server, &inbox, &id, when)))
	_, err := e.client.roundTrip(t.Context(), "raw delete", e.peer, req, 0)
	return err
}

func TestInboxDeleteChecks(t *testing.T) {
	hs := mockHosts(t, 3)
	e := newEnv(t, hs, ServiceConfig{})
	ctx := t.Context()
	id, err := e.client.InboxPut(ctx, e.peer, aliceIn, []byte("for alice"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	server := []byte(hs[0].ID())
	wantKind(t, "bob's key on alice's inbox", rawDelete(t, e, bob, aliceIn, id, server, now), storage.Permission)
	wantKind(t, "signed for another server", rawDelete(t, e, alice, aliceIn, id, []byte(hs[2].ID()), now), storage.Permission)
	wantKind(t, "signed for another time", func() error {
		req := &request{Op: opInboxDelete, Inbox: aliceIn, ID: id, Time: now}
		copy(req.Owner[:], alice.Public().(ed25519.PublicKey))
		copy(req.Sig[:], ed25519.Sign(alice, deleteMessage(server, &aliceIn, &id, now-1)))
		_, err := e.client.roundTrip(ctx, "raw delete", e.peer, req, 0)
		return err
	}(), storage.Permission)
	wantKind(t, "too old", rawDelete(t, e, alice, aliceIn, id, server, now-int64(DeleteWindow/time.Second)-60), storage.Invalid)
	if ms, err := e.client.InboxList(ctx, e.peer, aliceIn); err != nil || len(ms) != 1 {
		t.Fatalf("message gone after refused deletes: %d, %v", len(ms), err)
	}
	if err := rawDelete(t, e, alice, aliceIn, id, server, now); err != nil {
		t.Fatal(err)
	}
}

func TestInboxListCap(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{SenderBytes: 8 << 20, SenderMessages: 100})
	ctx := t.Context()
	// 70 messages of 64 KiB: more than 4 MiB in all.
	for i := range 70 {
		msg := bytes.Repeat([]byte{byte(i)}, MaxMessage)
		if _, err := e.client.InboxPut(ctx, e.peer, aliceIn, msg); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := e.client.InboxList(ctx, e.peer, aliceIn)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || len(ms) >= 70 || len(ms)*(MaxMessage+entryHeader) > MaxList {
		t.Fatalf("list of %d messages", len(ms))
	}
}

// serve answers every stream of the protocol on h with handler.
func serve(h host.Host, handler func(network.Stream)) { h.SetStreamHandler(ProtocolID, handler) }

func TestLyingServer(t *testing.T) {
	hs := mockHosts(t, 2)
	p := storage.PeerID(hs[0].ID().String())
	c := NewClient(hs[1])
	ctx := t.Context()
	reply := func(resp response) func(network.Stream) {
		return func(s network.Stream) {
			_, _ = readRequest(s, MaxRecord)
			_, _ = s.Write(resp.Append(nil))
			_ = s.Close()
		}
	}
	good := []byte("msg")
	bad := appendEntry(nil, &Message{ID: MessageID([]byte("other")), Data: good})
	for _, tc := range []struct {
		name string
		resp response
		call func() error
		want storage.Kind
	}{
		{"list with a wrong id", response{Body: bad}, func() error { _, err := c.InboxList(ctx, p, aliceIn); return err }, storage.Corrupt},
		{"put answered with a wrong id", response{Body: make([]byte, 32)}, func() error { _, err := c.InboxPut(ctx, p, aliceIn, good); return err }, storage.Corrupt},
		{"empty record", response{}, func() error { _, err := c.GetRecord(ctx, p, "/toy/x"); return err }, storage.Corrupt},
		{"body over the cap", response{Body: make([]byte, 33)}, func() error { _, err := c.InboxPut(ctx, p, aliceIn, good); return err }, storage.Corrupt},
		{"unknown status", response{Status: 99}, func() error { return c.PutRecord(ctx, p, "/toy/x", good) }, storage.Other},
		{"busy", response{Status: proto.Busy, Text: "busy\x00\n"}, func() error { return c.PutRecord(ctx, p, "/toy/x", good) }, storage.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serve(hs[0], reply(tc.resp))
			wantKind(t, tc.name, tc.call(), tc.want)
		})
	}
}

func TestMalformedRequest(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{MaxValue: 100})
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"bad version", []byte{9, 1}},
		{"declared 4 GiB value", []byte{1, 1, 0, 6, '/', 't', 'o', 'y', '/', 'a', 0xff, 0xff, 0xff, 0xff}},
		{"value over MaxValue", append([]byte{1, 1, 0, 6, '/', 't', 'o', 'y', '/', 'a', 0, 0, 0, 101}, make([]byte, 101)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.hosts[1].NewStream(t.Context(), e.hosts[0].ID(), ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			if _, err := s.Write(tc.in); err != nil {
				t.Fatal(err)
			}
			resp, err := proto.ReadResponse(s, 0)
			if err != nil || resp.Status != proto.Invalid {
				t.Fatalf("response %+v, %v; want invalid", resp, err)
			}
		})
	}
	if n := 0; e.kv.Scan(t.Context(), nil, func(_, _ []byte) error { n++; return nil }) != nil || n != 0 {
		t.Fatal("something was stored")
	}
}

func TestServerHangs(t *testing.T) {
	for _, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			hs := net.hosts(t, 2)
			done := make(chan struct{})
			t.Cleanup(func() { close(done) })
			serve(hs[0], func(s network.Stream) {
				_, _ = io.Copy(io.Discard, s) // reads the request, never answers
				<-done
				_ = s.Reset()
			})
			p := storage.PeerID(hs[0].ID().String())
			for _, tc := range []struct {
				name    string
				timeout time.Duration
				ctx     func() (context.Context, context.CancelFunc)
				want    storage.Kind
			}{
				{"own deadline", 200 * time.Millisecond, func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) }, storage.Unavailable},
				{"ctx deadline", 0, func() (context.Context, context.CancelFunc) {
					return context.WithTimeout(t.Context(), 200*time.Millisecond)
				}, storage.Unavailable},
				{"ctx cancel", 0, func() (context.Context, context.CancelFunc) {
					ctx, cancel := context.WithCancel(t.Context())
					time.AfterFunc(200*time.Millisecond, cancel)
					return ctx, cancel
				}, storage.Canceled},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := NewClient(hs[1])
					c.Timeout = tc.timeout
					ctx, cancel := tc.ctx()
					defer cancel()
					start := time.Now()
					_, err := c.GetRecord(ctx, p, "/toy/x")
					wantKind(t, "hanging server", err, tc.want)
					if took := time.Since(start); took > 2*time.Second {
						t.Fatalf("gave up after %v", took)
					}
				})
			}
		})
	}
}

func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestClientHangsNoLeak(t *testing.T) {
	for _, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			hs := net.hosts(t, 2)
			e := newEnv(t, hs, ServiceConfig{Timeout: 300 * time.Millisecond})
			ctx := t.Context()
			// Warm up: connection and protocol known.
			if _, err := e.client.InboxList(ctx, e.peer, aliceIn); err != nil {
				t.Fatal(err)
			}
			before := runtime.NumGoroutine()
			full := (&request{Op: opInboxPut, Inbox: aliceIn, Body: make([]byte, 1000)}).append(nil)
			for _, send := range [][]byte{full[:1], full[:20], full[:500]} {
				started := e.srv.server.Started()
				s, err := hs[1].NewStream(ctx, hs[0].ID(), ProtocolID)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if _, err := s.Write(send); err != nil {
					t.Fatal(err)
				}
				if !waitFor(3*time.Second, func() bool { return e.srv.server.Started() == started+1 }) {
					t.Fatal("handler not started")
				}
				if !waitFor(3*time.Second, func() bool { return e.srv.server.InFlight() == 0 }) {
					t.Fatalf("handler still running after %v", time.Since(start))
				}
				if took := time.Since(start); took < 200*time.Millisecond {
					t.Fatalf("handler gave up after %v, before its deadline", took)
				}
				_ = s.Reset()
			}
			// Ordinary calls leave nothing behind either.
			for i := range 20 {
				if _, err := e.client.InboxPut(ctx, e.peer, aliceIn, []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if !waitFor(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
				t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
			}
		})
	}
}

func TestCloseResetsHandlers(t *testing.T) {
	hs := mockHosts(t, 2)
	e := newEnv(t, hs, ServiceConfig{})
	s, err := hs[1].NewStream(t.Context(), hs[0].ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Write([]byte{1, 3})
	if !waitFor(time.Second, func() bool { return e.srv.server.InFlight() == 1 }) {
		t.Fatal("handler not running")
	}
	start := time.Now()
	e.srv.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v", took)
	}
	e.srv.Close()
	_, err = e.client.InboxList(t.Context(), e.peer, aliceIn)
	wantKind(t, "after Close", err, storage.Unavailable)
}

type refuseAll struct{}

func (refuseAll) Admit(context.Context, string, int64) error   { return errors.New("no") }
func (refuseAll) Release(context.Context, string, int64) error { return nil }

func TestAdmission(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: refuseAll{}})
	ctx := t.Context()
	wantKind(t, "record", e.client.PutRecord(ctx, e.peer, "/toy/a", toyValue(signer, "/toy/a", 1, "")), storage.Quota)
	_, err := e.client.InboxPut(ctx, e.peer, aliceIn, []byte("m"))
	wantKind(t, "message", err, storage.Quota)
}

func mockHosts(t testing.TB, n int) []host.Host { return nettest.MockHosts(t, n) }
func realHosts(t testing.TB, n int) []host.Host { return nettest.RealHosts(t, n) }
