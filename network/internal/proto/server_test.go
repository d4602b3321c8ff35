package proto

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/cairn-storage/cairn/storage"
)

// The toy protocol: a request is one byte, n; the answer to n < 100 is n
// bytes of n, 200 is Invalid from Read, 201 is NotExist, 202 an abort,
// 203 a refusal (Quota), 204 a store failure.
const toyID = "/cairn/toy/1"

type toyReq struct{ n byte }

func readToy(rd io.Reader) (toyReq, error) {
	var b [1]byte
	if _, err := io.ReadFull(rd, b[:]); err != nil {
		return toyReq{}, err
	}
	if b[0] == 200 {
		return toyReq{}, Malformed("read", storage.Invalid, "bad request %d", b[0])
	}
	return toyReq{b[0]}, nil
}

func handleToy(x *Exchange, r *toyReq) ([]byte, error) {
	x.Op = "toy"
	switch r.n {
	case 201:
		return nil, storage.E("toy", storage.NotExist, nil)
	case 202:
		return nil, ErrAbort
	case 203:
		return nil, storage.E("toy", storage.Quota, errors.New("full"))
	case 204:
		return nil, errors.New("disk on fire")
	}
	b := make([]byte, r.n)
	for i := range b {
		b[i] = r.n
	}
	return b, nil
}

type toyEnv struct {
	srv    *Server[toyReq]
	client *Client
	peer   storage.PeerID
	hosts  []host.Host
	logged []string
}

func newToy(t *testing.T, d Deadlines) *toyEnv {
	t.Helper()
	mn, err := mocknet.FullMeshConnected(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	hs := mn.Hosts()
	e := &toyEnv{hosts: hs, peer: storage.PeerID(hs[0].ID().String())}
	e.srv = NewServer(hs[0], ServerConfig[toyReq]{
		Protocol: toyID, Service: "cairn.toy", Name: "toy service",
		Table: corruptTable, Deadlines: d, Read: readToy, Handle: handleToy,
		Logf: func(f string, args ...any) { e.logged = append(e.logged, f) },
	})
	t.Cleanup(e.srv.Close)
	e.client = NewClient(hs[1], toyID)
	return e
}

func (e *toyEnv) call(t *testing.T, d Deadlines, n byte) (Response, error) {
	return e.client.RoundTrip(t.Context(), "toy", e.peer, d, []byte{n}, nil, 1000)
}

func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestLifecycleReuse(t *testing.T) {
	d := Deadlines{Header: time.Second, Idle: 5 * time.Second}
	e := newToy(t, d)
	for i := range 5 {
		resp, err := e.call(t, d, byte(10+i))
		if err != nil || resp.Status != OK || len(resp.Body) != 10+i || resp.Body[0] != byte(10+i) {
			t.Fatalf("call %d: %+v, %v", i, resp, err)
		}
	}
	if resp, err := e.call(t, d, 201); err != nil || resp.Status != NotFound {
		t.Fatalf("not found: %+v, %v", resp, err)
	}
	if n := e.srv.Started(); n != 1 {
		t.Fatalf("%d streams for requests one after another, want 1", n)
	}
	if !waitFor(time.Second, func() bool { return e.srv.InFlight() == 0 }) {
		t.Fatal("an idle stream counts as in flight")
	}
	// A refusal ends the stream; the next call takes a new one.
	if resp, err := e.call(t, d, 203); err != nil || resp.Status != Quota || resp.Text == "" {
		t.Fatalf("refusal: %+v, %v", resp, err)
	}
	if resp, err := e.call(t, d, 1); err != nil || resp.Status != OK {
		t.Fatalf("after a refusal: %+v, %v", resp, err)
	}
	if n := e.srv.Started(); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
	// A store failure answers internal, with a fixed text, and is logged.
	if resp, err := e.call(t, d, 204); err != nil || resp.Status != Internal || resp.Text != "internal error" || len(e.logged) != 1 {
		t.Fatalf("store failure: %+v, %v, logged %q", resp, err, e.logged)
	}
	// Invalid requests are answered; an abort resets.
	if resp, err := e.call(t, d, 200); err != nil || resp.Status != Invalid {
		t.Fatalf("invalid: %+v, %v", resp, err)
	}
	if _, err := e.call(t, d, 202); storage.KindOf(err) != storage.Unavailable {
		t.Fatalf("abort: %v, want Unavailable", err)
	}
}

func TestLifecycleIdleAndRetry(t *testing.T) {
	sd := Deadlines{Header: time.Second, Idle: 200 * time.Millisecond}
	e := newToy(t, sd)
	// The client keeps streams longer than the server waits: the second
	// call finds its stream closed, and retries once on a new one.
	cd := Deadlines{Header: time.Second, Idle: 10 * time.Second}
	if _, err := e.call(t, cd, 3); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if resp, err := e.call(t, cd, 4); err != nil || len(resp.Body) != 4 {
		t.Fatalf("after the server closed the idle stream: %+v, %v", resp, err)
	}
	if n := e.srv.Started(); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
	// The client's half-close ends the stream quietly.
	s, err := e.hosts[1].NewStream(t.Context(), e.hosts[0].ID(), toyID)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Write([]byte{2})
	_ = s.CloseWrite()
	r, err := ReadResponse(s, 10)
	if err != nil || len(r.Body) != 2 {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after a half-close the server ended with %v, want EOF", err)
	}
}

func TestLifecycleOneRequestPerStream(t *testing.T) {
	d := Deadlines{Header: time.Second} // Idle 0
	e := newToy(t, d)
	for range 3 {
		if _, err := e.call(t, d, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.srv.Started(); n != 3 {
		t.Fatalf("%d streams, want 3", n)
	}
}

func TestLifecycleDeadlines(t *testing.T) {
	d := Deadlines{Header: 200 * time.Millisecond, Idle: time.Second}
	e := newToy(t, d)
	// A client that opens a stream and says nothing is cut off.
	s, err := e.hosts[1].NewStream(t.Context(), e.hosts[0].ID(), toyID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	_, _ = s.Write(nil)
	start := time.Now()
	_, err = s.Read(make([]byte, 1))
	if err == nil || errors.Is(err, io.EOF) && time.Since(start) < 150*time.Millisecond {
		t.Fatalf("silent client: %v after %v", err, time.Since(start))
	}
	// A cancelled caller gets Canceled, and Close stops everything.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.client.RoundTrip(ctx, "toy", e.peer, d, []byte{1}, nil, 10); storage.KindOf(err) != storage.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
	e.srv.Close()
	if _, err := e.call(t, d, 1); storage.KindOf(err) != storage.Unavailable {
		t.Fatalf("after Close: %v", err)
	}
	if !waitFor(time.Second, func() bool { return e.srv.InFlight() == 0 }) {
		t.Fatal("handlers outlive Close")
	}
}
