package fragment

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
	"github.com/cairn-storage/cairn/storage/storetest"
)

var (
	alice = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'a'}, 32))
	bob   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'b'}, 32))
)

type env struct {
	srv    *Service
	store  *memstore.Store
	owners *memstore.KV
	client *Client // alice's
	server host.Host
	peer   storage.PeerID
	hosts  []host.Host
}

func (e *env) remote() storage.FragmentStore { return e.client.Store(e.peer) }

// newEnv serves a memstore from hs[0] and gives alice a client on hs[1].
func newEnv(t testing.TB, hs []host.Host, cfg ServiceConfig) *env {
	t.Helper()
	e := &env{store: memstore.New(), owners: memstore.NewKV(), hosts: hs, server: hs[0], peer: storage.PeerID(hs[0].ID().String())}
	if cfg.Store == nil {
		cfg.Store = e.store
	}
	if cfg.Owners == nil {
		cfg.Owners = e.owners
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 1 << 40
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	e.srv = NewService(hs[0], cfg)
	t.Cleanup(e.srv.Close)
	e.client = NewClient(hs[1], alice)
	return e
}

func wantKind(t *testing.T, what string, err error, k storage.Kind) {
	t.Helper()
	if storage.KindOf(err) != k {
		t.Fatalf("%s: %v (kind %v), want kind %v", what, err, storage.KindOf(err), k)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, net := range []struct {
		name  string
		hosts func(testing.TB, int) []host.Host
	}{{"mock", mockHosts}, {"tcp", realHosts}} {
		t.Run(net.name, func(t *testing.T) {
			e := newEnv(t, net.hosts(t, 2), ServiceConfig{Capacity: 1 << 20})
			ctx := t.Context()
			rs := e.remote()
			ref, data := storetest.Fragment(1, 100<<10)
			if ok, err := rs.Has(ctx, ref); err != nil || ok {
				t.Fatalf("Has before Put = %v, %v", ok, err)
			}
			_, err := rs.Get(ctx, ref)
			wantKind(t, "Get before Put", err, storage.NotExist)
			if err := rs.Put(ctx, ref, data); err != nil {
				t.Fatal(err)
			}
			if ok, err := rs.Has(ctx, ref); err != nil || !ok {
				t.Fatalf("Has after Put = %v, %v", ok, err)
			}
			got, err := rs.Get(ctx, ref)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get = %d bytes, %v", len(got), err)
			}
			info, err := e.client.Info(ctx, e.peer)
			if err != nil {
				t.Fatal(err)
			}
			if want := (Info{Free: 1<<20 - 100<<10, Capacity: 1 << 20, Held: 100 << 10}); info != want {
				t.Fatalf("Info = %+v, want %+v", info, want)
			}
			if err := rs.Delete(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if ok, err := rs.Has(ctx, ref); err != nil || ok {
				t.Fatalf("Has after Delete = %v, %v", ok, err)
			}
			if err := rs.Delete(ctx, ref); err != nil {
				t.Fatalf("second Delete: %v", err)
			}
		})
	}
}

// corruptible is a remote store whose server-side bytes a test can damage
// (storetest.Corrupter), so the suite checks the corrupt status end to end.
type corruptible struct {
	storage.FragmentStore
	held *memstore.Store
}

func (c corruptible) Corrupt(ref storage.Ref, f func([]byte) []byte) error {
	return c.held.Corrupt(ref, f)
}

func TestConformance(t *testing.T) {
	storetest.TestFragmentStore(t, func(t *testing.T) storage.FragmentStore {
		e := newEnv(t, mockHosts(t, 2), ServiceConfig{})
		return corruptible{e.remote(), e.store}
	}, nil)
}

func TestDeleteOwners(t *testing.T) {
	e := newEnv(t, mockHosts(t, 3), ServiceConfig{})
	ctx := t.Context()
	alices := e.remote()
	bobs := NewClient(e.hosts[2], bob).Store(e.peer)
	ref, data := storetest.Fragment(2, 5000)
	if err := alices.Put(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "Delete by a non-owner", bobs.Delete(ctx, ref), storage.Permission)
	if ok, _ := e.store.Has(ctx, ref); !ok {
		t.Fatal("a non-owner's Delete removed the fragment")
	}
	// Two owners: each Delete drops only its own claim.
	if err := bobs.Put(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	if err := alices.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.store.Has(ctx, ref); !ok {
		t.Fatal("alice's Delete removed bob's fragment")
	}
	wantKind(t, "alice's second Delete while bob keeps it", alices.Delete(ctx, ref), storage.Permission)
	if err := bobs.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.store.Has(ctx, ref); ok {
		t.Fatal("fragment still held after its last owner deleted it")
	}
	if err := bobs.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete of a fragment no longer held: %v", err)
	}
	n := 0
	_ = e.owners.Scan(ctx, nil, func(_, _ []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d owner records left", n)
	}
	// A client without a key cannot write.
	ro := NewClient(e.hosts[1], nil).Store(e.peer)
	wantKind(t, "Put without a key", ro.Put(ctx, ref, data), storage.Invalid)
	wantKind(t, "Delete without a key", ro.Delete(ctx, ref), storage.Invalid)
}

// rawExchange sends b on a fresh stream and reads the response.
func rawExchange(t *testing.T, from host.Host, to peer.ID, b []byte) (response, error) {
	t.Helper()
	s, err := from.NewStream(t.Context(), to, ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write(b); err != nil {
		return response{}, err
	}
	_ = s.CloseWrite()
	return proto.ReadResponse(s, MaxFragment)
}

// signedPut is key's PUT of n bytes of ref for server at time t, as its
// header: fields and signature, no body.
func signedPut(key ed25519.PrivateKey, server peer.ID, ref storage.Ref, n uint32, t int64) []byte {
	r := putRequest(key, server, ref, n, t)
	return r.appendHeader(nil)
}

func putRequest(key ed25519.PrivateKey, server peer.ID, ref storage.Ref, n uint32, t int64) request {
	r := request{Version: Version, Op: opPut, Ref: ref, Len: n, Owner: [ownerSize]byte(key.Public().(ed25519.PublicKey)), Time: t}
	copy(r.Sig[:], ed25519.Sign(key, putMessage([]byte(server), ref, n, t)))
	return r
}

func signedDelete(server peer.ID, ref storage.Ref, t int64) []byte {
	r := request{Version: Version, Op: opDelete, Ref: ref, Owner: [ownerSize]byte(alice.Public().(ed25519.PublicKey)), Time: t}
	copy(r.Sig[:], ed25519.Sign(alice, deleteMessage([]byte(server), ref, t)))
	return r.appendHeader(nil)
}

func TestDeleteReplay(t *testing.T) {
	hs := mockHosts(t, 3)
	e1 := newEnv(t, hs, ServiceConfig{})
	e2 := newEnv(t, []host.Host{hs[2], hs[1]}, ServiceConfig{})
	ctx := t.Context()
	ref, data := storetest.Fragment(3, 3000)
	for _, e := range []*env{e1, e2} {
		if err := e.remote().Put(ctx, ref, data); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Unix()
	del := signedDelete(hs[0].ID(), ref, now)

	// Meant for server 1, replayed at server 2: refused.
	resp, err := rawExchange(t, hs[1], hs[2].ID(), del)
	if err != nil || resp.Status != proto.Permission {
		t.Fatalf("delete replayed at another server: %+v, %v", resp, err)
	}
	// A flipped bit in the signature: refused.
	bad := bytes.Clone(del)
	bad[len(bad)-1] ^= 1
	if resp, err := rawExchange(t, hs[1], hs[0].ID(), bad); err != nil || resp.Status != proto.Permission {
		t.Fatalf("bad signature: %+v, %v", resp, err)
	}
	// Outside the window, either way: refused.
	for _, skew := range []int64{-6 * 60, 6 * 60} {
		resp, err := rawExchange(t, hs[1], hs[0].ID(), signedDelete(hs[0].ID(), ref, now+skew))
		if err != nil || resp.Status != proto.Invalid {
			t.Fatalf("delete %ds off: %+v, %v", skew, resp, err)
		}
	}
	if ok, _ := e1.store.Has(ctx, ref); !ok {
		t.Fatal("a refused delete removed the fragment")
	}
	// The real one, twice: both fine, the fragment is gone from server 1 only.
	for range 2 {
		if resp, err := rawExchange(t, hs[1], hs[0].ID(), del); err != nil || resp.Status != proto.OK {
			t.Fatalf("delete: %+v, %v", resp, err)
		}
	}
	if ok, _ := e1.store.Has(ctx, ref); ok {
		t.Fatal("server 1 still holds the fragment")
	}
	if ok, _ := e2.store.Has(ctx, ref); !ok {
		t.Fatal("server 2 lost the fragment")
	}
	// A client whose clock is off gets Invalid.
	e2.client.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	wantKind(t, "delete with a skewed clock", e2.remote().Delete(ctx, ref), storage.Invalid)
}

type admitFunc func(ctx context.Context, owner string, size int64) error

func (f admitFunc) Admit(ctx context.Context, owner string, size int64) error {
	return f(ctx, owner, size)
}

func (f admitFunc) Release(context.Context, string, int64) error { return nil }

func TestQuota(t *testing.T) {
	ctx := t.Context()
	ref1, data1 := storetest.Fragment(4, 6000)
	ref2, data2 := storetest.Fragment(5, 6000)

	e := newEnv(t, mockHosts(t, 2), ServiceConfig{Capacity: 10000})
	if err := e.remote().Put(ctx, ref1, data1); err != nil {
		t.Fatal(err)
	}
	if err := e.remote().Put(ctx, ref1, data1); err != nil {
		t.Fatalf("Put of a held ref at capacity: %v", err)
	}
	wantKind(t, "Put past capacity", e.remote().Put(ctx, ref2, data2), storage.Quota)
	if ok, _ := e.store.Has(ctx, ref2); ok {
		t.Fatal("refused fragment stored")
	}
	if info, err := e.client.Info(ctx, e.peer); err != nil || info != (Info{Free: 4000, Capacity: 10000, Held: 6000}) {
		t.Fatalf("Info = %+v, %v", info, err)
	}

	var asked atomic.Value
	tests := []struct {
		name  string
		admit admitFunc
	}{
		{"quota error", func(_ context.Context, from string, size int64) error {
			asked.Store(fmt.Sprintf("%s %d", from, size))
			return storage.E("admit", storage.Quota, errors.New("you have not earned it"))
		}},
		{"plain error", func(context.Context, string, int64) error { return errors.New("no") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mockHosts(t, 2), ServiceConfig{Admit: tc.admit})
			wantKind(t, "Put refused by the admitter", e.remote().Put(ctx, ref1, data1), storage.Quota)
			if e.store.Len() != 0 {
				t.Fatal("refused fragment stored")
			}
			if got, want := asked.Load(), fmt.Sprintf("%s %d", OwnerName(alice.Public().(ed25519.PublicKey)), 6000); tc.name == "quota error" && got != want {
				t.Fatalf("admitter asked %v, want %v", got, want)
			}
		})
	}

	// Over TCP, a big refused PUT is answered before its body is read, and
	// the client stops sending at once instead of waiting for a deadline.
	e = newEnv(t, realHosts(t, 2), ServiceConfig{Capacity: 1 << 20})
	ref3, data3 := storetest.Fragment(6, 12<<20)
	e.client.Deadlines.MinRate = 1 << 10 // a deadline would take hours
	start := time.Now()
	wantKind(t, "big Put past capacity", e.remote().Put(ctx, ref3, data3), storage.Quota)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("refusal took %v", took)
	}
	if err := e.remote().Put(ctx, ref1, data1); err != nil {
		t.Fatalf("Put after a refusal: %v", err)
	}
}

func TestPutWrongRoot(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{})
	ctx := t.Context()
	ref, data := storetest.Fragment(6, 9000)
	data[100] ^= 1
	wantKind(t, "Put of data that does not match", e.remote().Put(ctx, ref, data), storage.Invalid)
	if e.store.Len() != 0 {
		t.Fatal("mismatching fragment stored")
	}
	n := 0
	_ = e.owners.Scan(ctx, nil, func(_, _ []byte) error { n++; return nil })
	if n != 0 {
		t.Fatal("owner recorded for a refused fragment")
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, mockHosts(t, 2), ServiceConfig{})
	ref, data := storetest.Fragment(7, 1000)
	hdr := func(v byte, o op, n uint32) []byte {
		return (&request{Version: v, Op: o, Ref: ref, Len: n}).appendHeader(nil)[:headerSize]
	}
	tests := []struct {
		name string
		in   []byte
		want int // status, or -1 for no response (reset)
	}{
		{"unknown version", hdr(9, opGet, 0), int(proto.Invalid)},
		{"unknown op", hdr(Version, 77, 0), int(proto.Invalid)},
		{"oversized put", hdr(Version, opPut, 1<<32-1), int(proto.Invalid)},
		{"get with body", hdr(Version, opGet, 5), int(proto.Invalid)},
		{"short header", hdr(Version, opGet, 0)[:10], -1},
		{"unsigned put (op 1)", append(hdr(Version, opPutUnsigned, 1000), seq(0, 32)...), int(proto.Invalid)},
		{"put missing owner", hdr(Version, opPut, 1000)[:headerSize], -1},
		{"put short fields", append(hdr(Version, opPut, 1000), seq(0, 32)...), -1},
		{"put short body", append(signedPut(alice, e.server.ID(), ref, 1000, time.Now().Unix()), data[:500]...), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rawExchange(t, e.hosts[1], e.server.ID(), tc.in)
			if tc.want < 0 {
				if err == nil {
					t.Fatalf("got a response %+v, want the stream reset", resp)
				}
				return
			}
			if err != nil || int(resp.Status) != tc.want {
				t.Fatalf("response %+v, %v; want status %d", resp, err, tc.want)
			}
		})
	}
	// The service still works.
	if err := e.remote().Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { return e.srv.server.InFlight() == 0 }) {
		t.Fatal("handlers still running")
	}
}

// serveFunc registers a fake server on h: f gets each request.
func serveFunc(t *testing.T, h host.Host, f func(s network.Stream, req request)) {
	h.SetStreamHandler(ProtocolID, func(s network.Stream) {
		req, err := readRequest(s)
		if err != nil {
			_ = s.Reset()
			return
		}
		f(s, req)
	})
	t.Cleanup(func() { h.RemoveStreamHandler(ProtocolID) })
}

func TestLyingServer(t *testing.T) {
	ref, data := storetest.Fragment(8, 4000)
	_, other := storetest.Fragment(9, 4000)
	frame := func(st proto.Status, msg string, body []byte) []byte {
		r := response{Status: st, Text: msg, Len: uint32(len(body))}
		return append(r.AppendHeader(nil), body...)
	}
	tests := []struct {
		name string
		out  []byte
		call func(c *Client, p storage.PeerID) error
		want storage.Kind
	}{
		{"garbage body", frame(proto.OK, "", other), get(ref), storage.Corrupt},
		{"flipped bit", frame(proto.OK, "", flip(data)), get(ref), storage.Corrupt},
		{"empty body", frame(proto.OK, "", nil), get(ref), storage.Corrupt},
		{"truncated header", frame(proto.OK, "", nil)[:2:2], get(ref), storage.Unavailable},
		{"length over cap", (&response{Status: proto.OK, Len: MaxFragment + 1}).AppendHeader(nil), get(ref), storage.Corrupt},
		{"has with body", frame(proto.OK, "", []byte{1}), has(ref), storage.Corrupt},
		{"truncated body", frame(proto.OK, "", data)[:1000], get(ref), storage.Unavailable},
		{"unknown status", frame(42, "\x1b[31mred\x07", nil), get(ref), storage.Other},
		{"corrupt status", frame(statusCorrupt, "", nil), get(ref), storage.Corrupt},
		{"internal status", frame(proto.Internal, "", nil), get(ref), storage.IO},
		{"busy status", frame(proto.Busy, "", nil), has(ref), storage.Unavailable},
		{"negative info", frame(proto.OK, "", Info{Free: -1}.append(nil)), info, storage.Corrupt},
		{"short info", frame(proto.OK, "", make([]byte, 8)), info, storage.Corrupt},
		{"nothing", nil, has(ref), storage.Unavailable},
	}
	hs := mockHosts(t, 2)
	c := NewClient(hs[1], alice)
	p := storage.PeerID(hs[0].ID().String())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serveFunc(t, hs[0], func(s network.Stream, _ request) {
				_, _ = s.Write(tc.out)
				_ = s.Close()
			})
			err := tc.call(c, p)
			wantKind(t, "call", err, tc.want)
			if bytes.ContainsAny([]byte(err.Error()), "\x1b\x07") {
				t.Fatalf("peer's control characters in the error: %q", err)
			}
		})
	}
}

func flip(b []byte) []byte { b = bytes.Clone(b); b[17] ^= 4; return b }

func get(ref storage.Ref) func(*Client, storage.PeerID) error {
	return func(c *Client, p storage.PeerID) error {
		b, err := c.Store(p).Get(context.Background(), ref)
		if err == nil && erasure.Root(b) != ref {
			panic("unverified bytes returned")
		}
		return err
	}
}

func has(ref storage.Ref) func(*Client, storage.PeerID) error {
	return func(c *Client, p storage.PeerID) error {
		_, err := c.Store(p).Has(context.Background(), ref)
		return err
	}
}

func info(c *Client, p storage.PeerID) error {
	_, err := c.Info(context.Background(), p)
	return err
}

func TestUnknownProtocol(t *testing.T) {
	hs := realHosts(t, 2)
	e := newEnv(t, hs, ServiceConfig{})
	ctx := t.Context()
	ref, data := storetest.Fragment(10, 1000)
	if err := e.remote().Put(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	s, err := hs[1].NewStream(ctx, hs[0].ID(), protocol.ID("/cairn/fragment/9.9.9"))
	if err == nil {
		_, _ = s.Write((&request{Version: 9, Op: opHas, Ref: ref}).appendHeader(nil))
		_, err = proto.ReadResponse(s, 0)
		_ = s.Reset()
	}
	if err == nil {
		t.Fatal("a stream for /cairn/fragment/9.9.9 got a response")
	}
	// A peer without the service: Unavailable.
	e.srv.Close()
	_, err = e.remote().Has(ctx, ref)
	wantKind(t, "Has at a peer without the service", err, storage.Unavailable)
	// A peer ID that is not one: Invalid.
	_, err = e.client.Store("not a peer id").Has(ctx, ref)
	wantKind(t, "Has at a malformed peer ID", err, storage.Invalid)
}

// hang serves requests by reading them and then never answering, until
// the stream is reset or the test ends.
func hang(t *testing.T, h host.Host) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	h.SetStreamHandler(ProtocolID, func(s network.Stream) {
		var hdr [headerSize]byte
		_, _ = io.ReadFull(s, hdr[:])
		<-stop
		_ = s.Reset()
	})
	t.Cleanup(func() { h.RemoveStreamHandler(ProtocolID) })
}

func TestServerHangs(t *testing.T) {
	nets := []struct {
		name  string
		hosts func(testing.TB, int) []host.Host
	}{{"mock", mockHosts}, {"tcp", realHosts}}
	for _, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			hs := net.hosts(t, 2)
			hang(t, hs[0])
			p := storage.PeerID(hs[0].ID().String())
			ref, data := storetest.Fragment(11, 8<<20)
			tests := []struct {
				name     string
				deadline time.Duration // client's Header deadline
				ctx      func() (context.Context, context.CancelFunc)
				call     func(context.Context, storage.FragmentStore) error
				want     storage.Kind
			}{
				{"own deadline", 200 * time.Millisecond, background, hasCall(ref), storage.Unavailable},
				{"ctx deadline", 0, timeout(200 * time.Millisecond), hasCall(ref), storage.Unavailable},
				{"ctx cancel", 0, cancelAfter(200 * time.Millisecond), hasCall(ref), storage.Canceled},
				{"ctx cancel mid-put", 0, cancelAfter(200 * time.Millisecond), putCall(ref, data), storage.Canceled},
				{"own deadline mid-put", 100 * time.Millisecond, background, putCall(ref, data), storage.Unavailable},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					c := NewClient(hs[1], alice)
					c.Deadlines.Header = tc.deadline
					c.Deadlines.MinRate = 1 << 30
					ctx, cancel := tc.ctx()
					defer cancel()
					start := time.Now()
					err := tc.call(ctx, c.Store(p))
					took := time.Since(start)
					wantKind(t, "call to a hanging server", err, tc.want)
					if took > 3*time.Second {
						t.Fatalf("took %v to give up", took)
					}
				})
			}
		})
	}
}

func background() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func timeout(d time.Duration) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), d) }
}

func cancelAfter(d time.Duration) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(d, cancel)
		return ctx, cancel
	}
}

func hasCall(ref storage.Ref) func(context.Context, storage.FragmentStore) error {
	return func(ctx context.Context, s storage.FragmentStore) error { _, err := s.Has(ctx, ref); return err }
}

func putCall(ref storage.Ref, data []byte) func(context.Context, storage.FragmentStore) error {
	return func(ctx context.Context, s storage.FragmentStore) error { return s.Put(ctx, ref, data) }
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestClientHangs(t *testing.T) {
	nets := []struct {
		name  string
		hosts func(testing.TB, int) []host.Host
	}{{"mock", mockHosts}, {"tcp", realHosts}}
	for _, net := range nets {
		t.Run(net.name, func(t *testing.T) {
			hs := net.hosts(t, 2)
			e := newEnv(t, hs, ServiceConfig{Deadlines: Deadlines{Header: 300 * time.Millisecond, MinRate: 1 << 30}})
			ref, data := storetest.Fragment(12, 1<<20)
			if err := e.remote().Put(t.Context(), ref, data[:0]); storage.KindOf(err) != storage.Invalid {
				t.Fatalf("warm-up: %v", err) // connection up, handlers known
			}
			before := runtime.NumGoroutine()
			tests := []struct {
				name string
				send []byte
			}{
				{"mid-header", signedPut(alice, hs[0].ID(), ref, 1<<20, time.Now().Unix())[:20]},
				{"mid-body", append(signedPut(alice, hs[0].ID(), ref, 1<<20, time.Now().Unix()), data[:1000]...)},
			}
			for _, tc := range tests {
				started := e.srv.server.Started()
				s, err := hs[1].NewStream(t.Context(), hs[0].ID(), ProtocolID)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if _, err := s.Write(tc.send); err != nil {
					t.Fatal(err)
				}
				if !waitFor(3*time.Second, func() bool { return e.srv.server.Started() == started+1 }) {
					t.Fatalf("%s: handler not started", tc.name)
				}
				if !waitFor(3*time.Second, func() bool { return e.srv.server.InFlight() == 0 }) {
					t.Fatalf("%s: handler still running after %v", tc.name, time.Since(start))
				}
				if took := time.Since(start); took < 200*time.Millisecond {
					t.Fatalf("%s: handler gave up after %v, before its deadline", tc.name, took)
				}
				if _, err := s.Read(make([]byte, 1)); err == nil {
					t.Fatalf("%s: stream still open on the client side", tc.name)
				}
				_ = s.Reset()
			}
			if !waitFor(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
				t.Fatalf("%d goroutines, %d before the hanging clients", runtime.NumGoroutine(), before)
			}
			if ok, _ := e.store.Has(t.Context(), ref); ok {
				t.Fatal("partial fragment stored")
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
	_, _ = s.Write(signedPut(alice, hs[0].ID(), storage.Ref{}, 1000, time.Now().Unix()))
	if !waitFor(time.Second, func() bool { return e.srv.server.InFlight() == 1 }) {
		t.Fatal("handler not running")
	}
	start := time.Now()
	e.srv.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v", took)
	}
	e.srv.Close()
}

func TestConformanceTCP(t *testing.T) {
	storetest.TestFragmentStore(t, func(t *testing.T) storage.FragmentStore {
		e := newEnv(t, realHosts(t, 2), ServiceConfig{})
		return corruptible{e.remote(), e.store}
	}, nil)
}

// Requests in sequence share one stream; a stream the server closed while
// idle is replaced without the caller noticing; a refusal ends its stream.
func TestStreamReuse(t *testing.T) {
	hs := realHosts(t, 2)
	e := newEnv(t, hs, ServiceConfig{Deadlines: Deadlines{Idle: 300 * time.Millisecond}})
	ctx := t.Context()
	var refs []storage.Ref
	for i := range 5 {
		ref, data := storetest.Fragment(uint64(100+i), 50<<10)
		if err := e.remote().Put(ctx, ref, data); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	for _, ref := range refs {
		if _, err := e.remote().Get(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := e.remote().Has(ctx, storage.Ref{9}); ok || err != nil {
		t.Fatalf("has of a missing ref: %v, %v", ok, err)
	}
	if n := e.srv.server.Started(); n != 1 {
		t.Fatalf("%d streams for 11 requests in sequence, want 1", n)
	}
	if !waitFor(time.Second, func() bool { return e.srv.server.InFlight() == 0 }) {
		t.Fatal("an idle stream counts as a request in flight")
	}
	// The server closes the idle stream after 300 ms; the client still
	// holds it (its own limit is 2/3 of 30 s) and must recover.
	time.Sleep(600 * time.Millisecond)
	if _, err := e.remote().Get(ctx, refs[0]); err != nil {
		t.Fatalf("get on a stream the server closed: %v", err)
	}
	if n := e.srv.server.Started(); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
	// A PUT refused before its body was read ends its stream: the next
	// request needs a new one.
	ref, data := storetest.Fragment(200, 50<<10)
	if err := e.remote().Put(ctx, ref, data[:len(data)-1]); storage.KindOf(err) != storage.Invalid {
		t.Fatalf("put of bytes that do not match: %v", err)
	}
	if err := e.remote().Put(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.server.Started(); n != 3 {
		t.Fatalf("%d streams, want 3", n)
	}
	e.client.CloseIdle()
	if !waitFor(2*time.Second, func() bool { return e.srv.server.InFlight() == 0 }) {
		t.Fatal("handlers still busy")
	}
}

func mockHosts(t testing.TB, n int) []host.Host { return nettest.MockHosts(t, n) }
func realHosts(t testing.TB, n int) []host.Host { return nettest.RealHosts(t, n) }
