package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/reputation"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

func TestScoresLearnAndPersist(t *testing.T) {
	ctx := context.Background()
	kv := memstore.NewKV()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := OpenScores(ctx, kv, Options{Now: clock, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	good, liar, away := storage.PeerID("good"), storage.PeerID("liar"), storage.PeerID("away")
	lost := storage.E("audit", storage.NotExist, nil)
	gone := storage.E("audit", storage.Unavailable, errors.New("no route"))
	refused := storage.E("audit", storage.Permission, nil)
	for i := 0; i < 40; i++ {
		now = now.Add(3 * time.Hour)
		s.Observe(good, storage.Ref{}, nil, time.Millisecond)
		s.Observe(liar, storage.Ref{}, lost, time.Millisecond)
		s.Observe(away, storage.Ref{}, gone, time.Second)
		s.Observe(away, storage.Ref{}, refused, time.Second)
	}
	if !s.Excluded(liar) || s.Excluded(good) || s.Excluded(away) {
		t.Fatalf("excluded: liar %v, good %v, away %v", s.Excluded(liar), s.Excluded(good), s.Excluded(away))
	}
	if w := s.Weight(storage.PeerInfo{ID: liar}); w != 0 {
		t.Fatalf("an excluded peer weighs %v", w)
	}
	if g, a := s.Weight(storage.PeerInfo{ID: good}), s.Weight(storage.PeerInfo{ID: away}); !(g > a) {
		t.Fatalf("a vetted, always-there peer weighs %v, an unreachable one %v", g, a)
	}
	if in := s.Info(away); in.Audited || !in.Probed || in.Availability != 0 {
		t.Fatalf("unreachable peer: %+v", in)
	}
	if err := s.Save(ctx); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenScores(ctx, kv, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if in := s2.Info(liar); in.State != reputation.Excluded || in.AuditsFailed != 40 {
		t.Fatalf("after reopening: %+v", in)
	}
	// Damaged saved scores are relearned, not fatal.
	_ = kv.Set(ctx, scoresKey, []byte("garbage"))
	s3, err := OpenScores(ctx, kv, Options{Now: clock})
	if err != nil || len(s3.All()) != 0 {
		t.Fatalf("damaged scores: %v, %d peers", err, len(s3.All()))
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	h := History{KV: memstore.NewKV()}
	t0 := time.Unix(1_800_000_000, 0)
	h.SetHeld(ctx, storage.Ref{1}, "a", t0)
	h.SetHeld(ctx, storage.Ref{2}, "a", t0.Add(time.Hour))
	if got, ok := h.LastHeld(ctx, storage.Ref{1}, "a"); !ok || !got.Equal(t0) {
		t.Fatalf("LastHeld: %v %v", got, ok)
	}
	if _, ok := h.LastHeld(ctx, storage.Ref{1}, "b"); ok {
		t.Fatal("LastHeld of a holder never seen")
	}
	if n, err := h.Prune(ctx, t0.Add(time.Minute)); n != 1 || err != nil {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	if _, ok := h.LastHeld(ctx, storage.Ref{1}, "a"); ok {
		t.Fatal("pruned record still there")
	}
}
