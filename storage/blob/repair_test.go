package blob

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// down is a network on which some peers are unreachable.
type down struct {
	*testNet
	away map[storage.PeerID]bool
}

func (d down) Store(p storage.PeerID) storage.FragmentStore {
	if d.away[p] {
		return gone{p}
	}
	return d.testNet.Store(p)
}

func (d down) Peers(ctx context.Context) ([]storage.PeerInfo, error) {
	ps, _ := d.testNet.Peers(ctx)
	var out []storage.PeerInfo
	for _, p := range ps {
		if !d.away[p.ID] {
			out = append(out, p)
		}
	}
	return out, nil
}

func TestCheckAndRepair(t *testing.T) {
	ctx := context.Background()
	net := newNet(20)
	owner := newClient(t, net, Config{K: 4, M: 3, Extra: 1})
	data := randBytes(11, 300<<10)
	m := put(t, owner, data)
	if len(m.Chunks) < 2 {
		t.Fatalf("%d chunks; the test wants several", len(m.Chunks))
	}
	hist := storetest.NewHistory()
	now := time.Now()
	clock := func() time.Time { return now }
	d := down{net, map[storage.PeerID]bool{}}
	// A repairer with no keys at all: repair works on ciphertext.
	delegate, err := New(Config{Network: d, K: 4, M: 3, Extra: 1, Chunking: small, Secret: cryptree.ChunkSecret{9}})
	if err != nil {
		t.Fatal(err)
	}
	opts := CheckOptions{Auditor: storetest.Auditor(d), History: hist, Now: clock, Repair: true}

	h, err := delegate.Check(ctx, m, opts)
	if err != nil || h.Changed || !h.OK() || h.Audits != 7*len(m.Chunks) {
		t.Fatalf("healthy file: %+v, %v", h, err)
	}
	// The first chunk loses two of its 7 fragments (holders wiped); one
	// other holder is only away. 4 held + 1 away = 5 <= K+2: repair.
	ck := m.Chunks[0]
	ck.Frags = append([]Frag(nil), ck.Frags...)
	for _, f := range ck.Frags[:2] {
		if err := net.mem[f.Holder].Delete(ctx, f.Ref); err != nil {
			t.Fatal(err)
		}
	}
	d.away[ck.Frags[2].Holder] = true
	now = now.Add(time.Hour)
	h, err = delegate.Check(ctx, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	c0 := h.Chunks[0]
	if !c0.Repaired || c0.Dropped != 2 || c0.Added != 3 || c0.Held != 7 || !h.Changed || c0.Err != nil {
		t.Fatalf("repair of chunk 0: %+v", c0)
	}
	// The away one is still last seen held at the first check: a repair
	// does not make it look fresh.
	if t0, ok := hist.LastHeld(ctx, ck.Frags[2].Ref, ck.Frags[2].Holder); !ok || !t0.Equal(now.Add(-time.Hour)) {
		t.Fatalf("the away fragment's last-seen time after the repair: %v, %v", t0, ok)
	}
	// The away ones are kept (they may come back), the lost ones gone,
	// and no peer holds two fragments of the chunk.
	got := m.Chunks[0].Frags
	if len(got) != 8 {
		t.Fatalf("repaired chunk lists %d fragments, want 7 held + 1 away", len(got))
	}
	seen := map[storage.PeerID]bool{}
	idx := map[int]bool{}
	for _, f := range got {
		if seen[f.Holder] || idx[f.Index] {
			t.Fatalf("holder %s or index %d twice in %+v", f.Holder, f.Index, got)
		}
		seen[f.Holder], idx[f.Index] = true, true
	}
	for _, f := range ck.Frags[:2] {
		for _, g := range got {
			if g.Holder == f.Holder && g.Ref == f.Ref {
				t.Fatalf("lost fragment %d still listed", f.Index)
			}
		}
	}
	// The owner reads it all back with the away holders still away and
	// the repaired manifest.
	mustRead(t, newClient(t, d, Config{K: 4, M: 3, Extra: 1}), m, data)

	// The away holders come back: nothing more to do, more than target.
	clear(d.away)
	h, err = delegate.Check(ctx, m, opts)
	if err != nil || h.Changed || h.Chunks[0].Held != 8 {
		t.Fatalf("after the away holders came back: %+v, %v", h.Chunks[0], err)
	}
}

// Holders away past the grace stop counting; a chunk with fewer than K
// held waits instead of failing the check.
func TestRepairWaitsAndGrace(t *testing.T) {
	ctx := context.Background()
	net := newNet(12)
	c := newClient(t, net, Config{K: 4, M: 3, Extra: -1})
	m := put(t, c, randBytes(12, 50<<10))
	hist := storetest.NewHistory()
	now := time.Now()
	d := down{net, map[storage.PeerID]bool{}}
	r := newClient(t, d, Config{K: 4, M: 3, Extra: -1})
	opts := CheckOptions{Auditor: storetest.Auditor(d), History: hist, Now: func() time.Time { return now }, Repair: true}
	if _, err := r.Check(ctx, m, opts); err != nil {
		t.Fatal(err)
	}
	ck := m.Chunks[0]
	for _, f := range ck.Frags[:4] {
		d.away[f.Holder] = true
	}
	now = now.Add(time.Hour)
	h, _ := r.Check(ctx, m, opts)
	if h.Chunks[0].Repaired || h.Chunks[0].Err != nil || h.Chunks[0].Counted != 7 {
		t.Fatalf("4 of 7 away for an hour, 3 held: %+v (want no repair: they count)", h.Chunks[0])
	}
	// Four days later they are still away: past the grace, and with only
	// 3 held the chunk cannot be rebuilt; it waits (an error in its
	// health, none from Check).
	now = now.Add(96 * time.Hour)
	h, err := r.Check(ctx, m, opts)
	if err != nil || h.Chunks[0].Counted != 3 || !errors.Is(h.Chunks[0].Err, storage.Unavailable) {
		t.Fatalf("away past the grace: %+v, %v", h.Chunks[0], err)
	}
	// One comes back: 4 held, repair brings the chunk to 7 again.
	delete(d.away, ck.Frags[0].Holder)
	h, err = r.Check(ctx, m, opts)
	if err != nil || !h.Chunks[0].Repaired || h.Chunks[0].Held != 7 {
		t.Fatalf("one holder back: %+v, %v", h.Chunks[0], err)
	}
	mustRead(t, c, m, randBytes(12, 50<<10))
}

// A forced repair tops up a chunk whose holders are only away.
func TestForcedRepair(t *testing.T) {
	ctx := context.Background()
	net := newNet(12)
	c := newClient(t, net, Config{K: 4, M: 3, Extra: -1})
	data := randBytes(13, 20<<10)
	m := put(t, c, data)
	d := down{net, map[storage.PeerID]bool{}}
	r := newClient(t, d, Config{K: 4, M: 3, Extra: -1})
	for _, f := range m.Chunks[0].Frags[:2] {
		d.away[f.Holder] = true
	}
	opts := CheckOptions{Auditor: storetest.Auditor(d), Repair: true}
	if h, _ := r.Check(ctx, m, opts); h.Changed {
		t.Fatalf("two of seven away: repaired without force: %+v", h.Chunks[0])
	}
	opts.Force = true
	h, err := r.Check(ctx, m, opts)
	if err != nil || !h.Chunks[0].Repaired || h.Chunks[0].Held != 7 || len(m.Chunks[0].Frags) != 7 {
		t.Fatalf("forced: %+v, %d fragments listed, %v", h.Chunks[0], len(m.Chunks[0].Frags), err)
	}
	mustRead(t, r, m, data)
}

// countAuditor counts the audits made through it.
type countAuditor struct {
	storage.Auditor
	n *atomic.Int64
}

func (c countAuditor) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	c.n.Add(1)
	return c.Auditor.Audit(ctx, p, ref)
}

// Between proofs a check only asks for presence; a holder that lies to
// presence checks (it lost the fragment but says it has it) is caught by
// the next proof.
func TestPresenceBetweenProofs(t *testing.T) {
	ctx := context.Background()
	net := newNet(10)
	c := newClient(t, net, Config{K: 4, M: 3, Extra: -1})
	data := randBytes(14, 30<<10)
	m := put(t, c, data)
	var proofs atomic.Int64
	now := time.Now()
	opts := CheckOptions{Auditor: countAuditor{storetest.Auditor(net), &proofs}, Presence: Presence(net), ProveEvery: 7 * 24 * time.Hour,
		History: storetest.NewHistory(), Now: func() time.Time { return now }}
	frags := 0
	for _, ck := range m.Chunks {
		frags += len(ck.Frags)
	}
	if _, err := c.Check(ctx, m, opts); err != nil || proofs.Load() != int64(frags) {
		t.Fatalf("first check: %d proofs of %d fragments, %v", proofs.Load(), frags, err)
	}
	// One holder loses a fragment and lies about it.
	f := m.Chunks[0].Frags[0]
	liar := storetest.NewFaulty(net.mem[f.Holder], storetest.Faults{LieHas: true})
	net.Stores[f.Holder] = liar
	if err := net.mem[f.Holder].Delete(ctx, f.Ref); err != nil {
		t.Fatal(err)
	}
	h, err := c.Check(ctx, m, opts)
	if err != nil || proofs.Load() != int64(frags) || h.Failed != 0 {
		t.Fatalf("a day later: %d proofs (want none new), failed %d, %v", proofs.Load(), h.Failed, err)
	}
	// A week later the proofs come again, and the lie is found.
	now = now.Add(8 * 24 * time.Hour)
	h, err = c.Check(ctx, m, opts)
	if err != nil || proofs.Load() != 2*int64(frags) || h.Failed != 1 {
		t.Fatalf("a week later: %d proofs, failed %d, %v", proofs.Load(), h.Failed, err)
	}
}

// A fragment held for another owner (Permission: a file another writer
// put in a shared folder) counts as held and is not repaired.
func TestOthersFragmentsCountHeld(t *testing.T) {
	ctx := context.Background()
	net := newNet(10)
	c := newClient(t, net, Config{K: 4, M: 3, Extra: -1})
	m := put(t, c, randBytes(15, 20<<10))
	refuse := auditFunc(func(context.Context, storage.PeerID, storage.Ref) error {
		return storage.E("audit", storage.Permission, nil)
	})
	h, err := c.Check(ctx, m, CheckOptions{Auditor: refuse, Repair: true, History: storetest.NewHistory()})
	if err != nil || !h.OK() || h.Changed || h.Chunks[0].Held != 7 {
		t.Fatalf("others' fragments: %+v, %v", h, err)
	}
}

type auditFunc func(ctx context.Context, p storage.PeerID, ref storage.Ref) error

func (f auditFunc) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	return f(ctx, p, ref)
}
