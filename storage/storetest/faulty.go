package storetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// Faults says how a Faulty store misbehaves. The zero value is a store
// that behaves. Rates are fractions of calls in [0, 1], drawn from a
// generator seeded with Seed, so a test sees the same faults every run.
type Faults struct {
	// Latency is added before every call; a call whose ctx ends first
	// returns storage.Canceled.
	Latency time.Duration
	// Hang makes every call wait until its ctx ends (a peer that accepts
	// a request and never answers).
	Hang bool
	// FailRate is the fraction of calls that fail with storage.Unavailable
	// without reaching the inner store.
	FailRate float64
	// CorruptRate is the fraction of successful Gets whose bytes come back
	// with one byte changed: a store that lies about what it holds (the
	// inner store's verification is bypassed on purpose, so the caller's
	// own check is what is tested).
	CorruptRate float64
	// LoseRate is the fraction of Puts that report success but keep
	// nothing (silent loss).
	LoseRate float64
	// LieHas makes Has report true for everything, held or not (a store
	// that claims what it dropped).
	LieHas bool
	Seed   uint64
}

// Faulty wraps a FragmentStore and injects Faults into it: latency,
// hangs, failures, corrupted reads, silent loss and false claims, and
// Wipe drops everything at once (a peer whose disk was wiped). It is for
// tests of anything that reads from or writes to stores it must not
// trust: the data path, repair, audits. Safe for concurrent use; the
// faults can be changed while calls run (Set).
type Faulty struct {
	inner storage.FragmentStore

	mu     sync.Mutex
	f      Faults
	rng    *rand.Rand
	counts FaultCounts
}

// FaultCounts counts what a Faulty store did wrong.
type FaultCounts struct {
	Calls, Failed, Corrupted, Lost, Hung int
}

// NewFaulty returns inner with faults f injected.
func NewFaulty(inner storage.FragmentStore, f Faults) *Faulty {
	return &Faulty{inner: inner, f: f, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))}
}

// Set replaces the faults (the generator keeps its state).
func (s *Faulty) Set(f Faults) {
	s.mu.Lock()
	s.f = f
	s.mu.Unlock()
}

// Counts returns what the store did wrong so far.
func (s *Faulty) Counts() FaultCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Wipe deletes everything the inner store holds, if it can list it
// (storage.Lister); it returns how many fragments went.
func (s *Faulty) Wipe(ctx context.Context) (int, error) {
	l, ok := s.inner.(storage.Lister)
	if !ok {
		return 0, storage.E("wipe", storage.Invalid, errors.New("the inner store cannot list what it holds"))
	}
	var refs []storage.Ref
	if err := l.List(ctx, func(ref storage.Ref, _ int64) error {
		refs = append(refs, ref)
		return nil
	}); err != nil {
		return 0, err
	}
	for _, ref := range refs {
		if err := s.inner.Delete(ctx, ref); err != nil {
			return 0, err
		}
	}
	return len(refs), nil
}

// draw reports whether an event of the given rate happens now.
func (s *Faulty) draw(rate float64) bool {
	return rate > 0 && s.rng.Float64() < rate
}

// enter applies latency, hangs and failures to one call of op.
func (s *Faulty) enter(ctx context.Context, op string) (Faults, error) {
	s.mu.Lock()
	f := s.f
	s.counts.Calls++
	fail := s.draw(f.FailRate)
	if fail {
		s.counts.Failed++
	}
	if f.Hang {
		s.counts.Hung++
	}
	s.mu.Unlock()
	if f.Hang {
		<-ctx.Done()
		return f, storage.E(op, storage.Canceled, ctx.Err())
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return f, storage.E(op, storage.Canceled, ctx.Err())
		}
	}
	if fail {
		return f, storage.E(op, storage.Unavailable, errors.New("injected failure"))
	}
	return f, nil
}

// Put stores data unless the call fails or the bytes are silently lost.
func (s *Faulty) Put(ctx context.Context, ref storage.Ref, data []byte) error {
	f, err := s.enter(ctx, "put fragment")
	if err != nil {
		return err
	}
	s.mu.Lock()
	lose := s.draw(f.LoseRate)
	if lose {
		s.counts.Lost++
	}
	s.mu.Unlock()
	if lose {
		return nil
	}
	return s.inner.Put(ctx, ref, data)
}

// Get returns the inner store's bytes, sometimes changed.
func (s *Faulty) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	f, err := s.enter(ctx, "get fragment")
	if err != nil {
		return nil, err
	}
	b, err := s.inner.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	corrupt := s.draw(f.CorruptRate)
	var at int
	if corrupt && len(b) > 0 {
		at = s.rng.IntN(len(b))
		s.counts.Corrupted++
	}
	s.mu.Unlock()
	if corrupt && len(b) > 0 {
		b = bytes.Clone(b)
		b[at] ^= 0x5a
	}
	return b, nil
}

// Has asks the inner store, or says true for everything with LieHas.
func (s *Faulty) Has(ctx context.Context, ref storage.Ref) (bool, error) {
	f, err := s.enter(ctx, "has fragment")
	if err != nil {
		return false, err
	}
	if f.LieHas {
		return true, nil
	}
	return s.inner.Has(ctx, ref)
}

// Delete deletes from the inner store unless the call fails.
func (s *Faulty) Delete(ctx context.Context, ref storage.Ref) error {
	if _, err := s.enter(ctx, "delete fragment"); err != nil {
		return err
	}
	return s.inner.Delete(ctx, ref)
}

var _ storage.FragmentStore = (*Faulty)(nil)
