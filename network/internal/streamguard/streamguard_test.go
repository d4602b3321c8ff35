package streamguard

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/cairn-storage/cairn/storage"
)

const proto = "/cairn/test/1"

// pair returns the two ends of a fresh stream on a mock network.
func pair(t *testing.T) (client, server network.Stream) {
	t.Helper()
	mn, err := mocknet.FullMeshConnected(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	hs := mn.Hosts()
	got := make(chan network.Stream, 1)
	hs[0].SetStreamHandler(proto, func(s network.Stream) { got <- s })
	c, err := hs[1].NewStream(t.Context(), hs[0].ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{1}); err != nil { // the handler runs once a byte arrives
		t.Fatal(err)
	}
	select {
	case s := <-got:
		var b [1]byte
		if _, err := io.ReadFull(s, b[:]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Reset(); _ = s.Reset() })
		return c, s
	case <-time.After(5 * time.Second):
		t.Fatal("no stream")
	}
	return nil, nil
}

// readErr reads from s until it fails, and says how long that took.
func readErr(s network.Stream) (error, time.Duration) {
	start := time.Now()
	var b [16]byte
	for {
		if _, err := s.Read(b[:]); err != nil {
			return err, time.Since(start)
		}
	}
}

func TestDeadlineResetsStream(t *testing.T) {
	c, s := pair(t)
	g := New(t.Context(), s, 100*time.Millisecond)
	defer g.Done()
	err, took := readErr(s)
	if err == nil || took < 80*time.Millisecond || took > 3*time.Second {
		t.Fatalf("read ended after %v with %v; want a reset after 100 ms", took, err)
	}
	if !errors.Is(context.Cause(g.Ctx), ErrDeadline) {
		t.Fatalf("cause %v, want ErrDeadline", context.Cause(g.Ctx))
	}
	if err, _ := readErr(c); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("the other end read %v, want a reset", err)
	}
	if k := storage.KindOf(g.Fail("read", "peer", err)); k != storage.Unavailable {
		t.Fatalf("a passed deadline is %v, want Unavailable", k)
	}
	if g.Release() {
		t.Fatal("Release after the deadline reported an untouched stream")
	}
}

func TestCancelResetsStream(t *testing.T) {
	_, s := pair(t)
	ctx, cancel := context.WithCancel(t.Context())
	g := New(ctx, s, time.Hour)
	defer g.Done()
	time.AfterFunc(50*time.Millisecond, cancel)
	err, took := readErr(s)
	if err == nil || took > 3*time.Second {
		t.Fatalf("read ended after %v with %v", took, err)
	}
	if k := storage.KindOf(Classify(g.Ctx, "read", "peer", err)); k != storage.Canceled {
		t.Fatalf("a cancelled caller is %v, want Canceled", k)
	}
}

func TestExtendAndRelease(t *testing.T) {
	c, s := pair(t)
	g := New(t.Context(), s, 100*time.Millisecond)
	g.Extend(time.Hour)
	time.Sleep(200 * time.Millisecond)
	if !g.Release() {
		t.Fatal("the extended deadline fired")
	}
	// Released: the stream is the caller's again, past the old deadline.
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	var b [2]byte
	if _, err := io.ReadFull(s, b[:]); err != nil || string(b[:]) != "ok" {
		t.Fatalf("read %q, %v after Release", b, err)
	}
	if g.Ctx.Err() == nil {
		t.Fatal("the guard's context outlives Release")
	}
}

func TestFailResets(t *testing.T) {
	c, s := pair(t)
	g := New(t.Context(), s, time.Hour)
	err := g.Fail("read", "peer", io.ErrUnexpectedEOF)
	if storage.KindOf(err) != storage.Unavailable {
		t.Fatalf("%v, want Unavailable", err)
	}
	if err, _ := readErr(c); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("the other end read %v, want a reset", err)
	}
}

func TestClassify(t *testing.T) {
	live := t.Context()
	done, cancel := context.WithCancel(t.Context())
	cancel()
	timedOut, cancel2 := context.WithTimeout(t.Context(), 0)
	defer cancel2()
	<-timedOut.Done()
	format := storage.E("read response", storage.Corrupt, errors.New("over the cap"))
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want storage.Kind
	}{
		{"format violation", live, format, storage.Corrupt},
		{"transport failure", live, io.ErrUnexpectedEOF, storage.Unavailable},
		{"canceled kind without a cancelled caller", live, storage.E("x", storage.Canceled, nil), storage.Unavailable},
		{"caller cancelled", done, format, storage.Canceled},
		{"caller's deadline", timedOut, io.EOF, storage.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Classify(tc.ctx, "op", "12D3KooWpeer", tc.err)
			if k := storage.KindOf(err); k != tc.want {
				t.Fatalf("%v is %v, want %v", err, k, tc.want)
			}
		})
	}
}
