package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/nettest"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
	"github.com/cairn-storage/cairn/storage/storetest"
)

var (
	owner    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'o'}, 32))
	stranger = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'s'}, 32))
)

// realHosts returns two hosts on 127.0.0.1 that know each other.
func realHosts(t *testing.T) (client, server host.Host) {
	hs := nettest.RealHosts(t, 2)
	return hs[0], hs[1]
}

type env struct {
	client *Client
	holder storage.PeerID
	store  storage.FragmentStore
	faulty *storetest.Faulty
	mu     sync.Mutex
	renew  []storage.Ref
	owners [][32]byte // whose lease each renewal was
	now    time.Time
	h      host.Host // the client's
}

// newEnv starts an audit service whose only authorized auditor is owner,
// over a memstore wrapped in a Faulty store.
func newEnv(t *testing.T) *env {
	t.Helper()
	ch, sh := realHosts(t)
	e := &env{holder: storage.PeerID(sh.ID().String()), now: time.Now(), h: ch}
	e.faulty = storetest.NewFaulty(memstore.New(), storetest.Faults{})
	e.store = e.faulty
	srv, err := NewService(sh, ServiceConfig{
		Store: e.faulty,
		Authorized: func(_ context.Context, _ storage.Ref, a [32]byte) (bool, error) {
			return bytes.Equal(a[:], owner.Public().(ed25519.PublicKey)), nil
		},
		Renewed: func(_ context.Context, ref storage.Ref, o [32]byte, _ time.Time) {
			e.mu.Lock()
			e.renew = append(e.renew, ref)
			e.owners = append(e.owners, o)
			e.mu.Unlock()
		},
		Revocations: memstore.NewKV(),
		MayRevoke: func(_ context.Context, o [32]byte) (bool, error) {
			return bytes.Equal(o[:], owner.Public().(ed25519.PublicKey)), nil
		},
		Now: func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e.client = NewClient(ch, owner)
	return e
}

func (e *env) put(t *testing.T, seed uint64, n int) storage.Ref {
	t.Helper()
	ref, data := storetest.Fragment(seed, n)
	if err := e.store.Put(context.Background(), ref, data); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestAuditPasses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, size := range []int{100, erasure.LeafSize, 3*erasure.LeafSize + 5, 200 << 10} {
		ref := e.put(t, uint64(size), size)
		for _, leaves := range []int{1, 4, MaxLeaves} {
			if err := e.client.Audit(ctx, e.holder, ref, leaves); err != nil {
				t.Fatalf("%d bytes, %d leaves: %v", size, leaves, err)
			}
		}
	}
	if len(e.renew) != 12 {
		t.Fatalf("%d renewals, want one per audit", len(e.renew))
	}
}

// A holder that lost the fragment, or whose copy went bad, fails.
func TestAuditLostOrCorrupt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ref := e.put(t, 1, 100<<10)
	if _, err := e.faulty.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	err := e.client.Audit(ctx, e.holder, ref, 4)
	if !errors.Is(err, storage.NotExist) || !Failed(err) {
		t.Fatalf("a wiped holder: %v", err)
	}
	// A store that changes bytes on the way out: memstore checks its
	// own reads, Faulty corrupts after that, so the proofs go wrong.
	ref = e.put(t, 2, 100<<10)
	e.faulty.Set(storetest.Faults{CorruptRate: 1})
	err = e.client.Audit(ctx, e.holder, ref, MaxLeaves)
	if !errors.Is(err, storage.Corrupt) || !Failed(err) {
		t.Fatalf("a holder whose bytes changed: %v", err)
	}
	// Away is not failed.
	e.faulty.Set(storetest.Faults{FailRate: 1})
	err = e.client.Audit(ctx, e.holder, ref, 1)
	if Failed(err) || err == nil {
		t.Fatalf("a holder whose store is unavailable: %v (failed %v)", err, Failed(err))
	}
}

// Only an owner (or its delegate) may audit: an audit renews a lease.
func TestAuditAuthorization(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ref := e.put(t, 3, 50<<10)
	e.client.key = stranger
	if err := e.client.Audit(ctx, e.holder, ref, 1); !errors.Is(err, storage.Permission) || Failed(err) {
		t.Fatalf("a stranger's audit: %v", err)
	}
	e.client.key = owner
	// A request from too long ago (or a replay of one) is refused.
	e.client.now = func() time.Time { return e.now.Add(-2 * Window) }
	if err := e.client.Audit(ctx, e.holder, ref, 1); !errors.Is(err, storage.Invalid) {
		t.Fatalf("an old request: %v", err)
	}
	if len(e.renew) != 0 {
		t.Fatalf("refused audits renewed %d leases", len(e.renew))
	}
}

// cheater answers audits with what it chose to keep, not the fragment:
// the answer it recorded for an earlier audit (replay), proofs of the
// leaves it kept (partial storage), or proofs of leaf 0 only.
type cheater struct {
	answer func(req *request) []byte
}

// serveCheater runs a protocol server on h that answers with c.
func serveCheater(t *testing.T, h host.Host, c *cheater) {
	srv := proto.NewServer(h, proto.ServerConfig[request]{
		Protocol: ProtocolID, Service: ServiceName, Name: "cheater", Table: statuses, Deadlines: Deadlines,
		Read:   func(r io.Reader) (request, error) { return readRequest(r) },
		Handle: func(x *proto.Exchange, req *request) ([]byte, error) { return c.answer(req), nil },
	})
	t.Cleanup(srv.Close)
}

func TestAuditCheaters(t *testing.T) {
	ctx := context.Background()
	ch, sh := realHosts(t)
	client := NewClient(ch, owner)
	holder := storage.PeerID(sh.ID().String())
	ref, data := storetest.Fragment(9, 300<<10) // 38 leaves
	prove := func(idx []int) []byte {
		var ps []*erasure.Proof
		for _, i := range idx {
			p, err := erasure.Prove(data, i)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		b, _ := appendProofs(nil, ps)
		return b
	}
	// An honest server passes: the harness itself is sound.
	c := &cheater{answer: func(req *request) []byte {
		return prove(Indices(req.Nonce, req.Ref, int64(len(data)), int(req.Leaves)))
	}}
	serveCheater(t, sh, c)
	if err := client.Audit(ctx, holder, ref, 4); err != nil {
		t.Fatalf("honest: %v", err)
	}

	// Replay: the answer to an audit seen before, kept instead of the data.
	var recorded []byte
	var first [32]byte
	c.answer = func(req *request) []byte {
		if recorded == nil {
			first = req.Nonce
			recorded = prove(Indices(req.Nonce, req.Ref, int64(len(data)), int(req.Leaves)))
		}
		return recorded
	}
	if err := client.Audit(ctx, holder, ref, 4); err != nil {
		t.Fatalf("the recorded audit itself: %v", err)
	}
	replays := 0
	for range 20 {
		if err := client.Audit(ctx, holder, ref, 4); err == nil {
			replays++
		} else if !Failed(err) {
			t.Fatalf("replay: %v, want a failed audit", err)
		}
	}
	if replays > 0 {
		t.Fatalf("%d of 20 audits passed with an answer recorded for nonce %x", replays, first[:4])
	}

	// Partial storage: only the first half of the leaves kept; for the
	// rest it answers with a kept leaf.
	kept := erasure.Leaves(int64(len(data))) / 2
	c.answer = func(req *request) []byte {
		idx := Indices(req.Nonce, req.Ref, int64(len(data)), int(req.Leaves))
		for j := range idx {
			idx[j] %= kept
		}
		return prove(idx)
	}
	passed := 0
	for range 40 {
		if err := client.Audit(ctx, holder, ref, MaxLeaves); err == nil {
			passed++
		} else if !Failed(err) {
			t.Fatalf("partial: %v", err)
		}
	}
	// Each leaf is kept with probability 1/2: eight at once, 1/256.
	if passed > 2 {
		t.Fatalf("a holder keeping half the leaves passed %d of 40 audits of %d leaves", passed, MaxLeaves)
	}

	// Garbage and short answers are failures, never a panic.
	for _, junk := range [][]byte{nil, {0, 0, 0, 9, 1}, bytes.Repeat([]byte{0xff}, 100), prove([]int{0})[:50]} {
		c.answer = func(*request) []byte { return junk }
		if err := client.Audit(ctx, holder, ref, 1); !Failed(err) {
			t.Fatalf("junk answer %x: %v", junk[:min(8, len(junk))], err)
		}
	}
}

func TestIndicesSpread(t *testing.T) {
	ref, _ := storetest.Fragment(1, 10)
	seen := map[int]int{}
	var nonce [32]byte
	for i := range 2000 {
		nonce[0], nonce[1] = byte(i), byte(i>>8)
		for _, x := range Indices(nonce, ref, 100*erasure.LeafSize, 1) {
			if x < 0 || x >= 100 {
				t.Fatalf("index %d of 100 leaves", x)
			}
			seen[x]++
		}
	}
	if len(seen) < 95 {
		t.Fatalf("2000 audits touched only %d of 100 leaves", len(seen))
	}
}

func FuzzReadRequest(f *testing.F) {
	r := request{Op: opProve, Leaves: 2, Time: 1}
	r.sign(owner, []byte("server"))
	f.Add(r.append(nil))
	r.Op = opProveDelegated
	f.Add(r.append(nil))
	r = request{Op: opRevoke, Serial: 3, Time: 1}
	r.sign(owner, []byte("server"))
	f.Add(r.append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest(bytes.NewReader(b))
		if err == nil && req.Op != opRevoke && (req.Leaves < 1 || req.Leaves > MaxLeaves) {
			t.Fatalf("accepted %d leaves", req.Leaves)
		}
	})
}

func FuzzParseProofs(f *testing.F) {
	_, data := storetest.Fragment(2, 3*erasure.LeafSize)
	p, _ := erasure.Prove(data, 1)
	b, _ := appendProofs(nil, []*erasure.Proof{p})
	f.Add(b, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > MaxLeaves {
			return
		}
		ps, err := parseProofs(b, n)
		if err == nil && len(ps) != n {
			t.Fatalf("%d proofs, want %d", len(ps), n)
		}
	})
}
