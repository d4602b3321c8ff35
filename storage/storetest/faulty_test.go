package storetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// A Faulty store with no faults passes the conformance suite.
func TestFaultyConforms(t *testing.T) {
	storetest.TestFragmentStore(t, func(t *testing.T) storage.FragmentStore {
		return storetest.NewFaulty(memstore.New(), storetest.Faults{})
	}, nil)
}

func TestFaultyFaults(t *testing.T) {
	ctx := context.Background()
	ref, data := storetest.Fragment(1, 4000)

	t.Run("fail", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{FailRate: 1})
		if err := s.Put(ctx, ref, data); !errors.Is(err, storage.Unavailable) {
			t.Fatalf("put: %v", err)
		}
		if c := s.Counts(); c.Failed != 1 || c.Calls != 1 {
			t.Fatalf("counts %+v", c)
		}
	})
	t.Run("some fail", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{FailRate: 0.5, Seed: 7})
		failed := 0
		for range 1000 {
			if _, err := s.Has(ctx, ref); err != nil {
				failed++
			}
		}
		if failed < 400 || failed > 600 || s.Counts().Failed != failed {
			t.Fatalf("%d of 1000 failed at rate 0.5 (counts %+v)", failed, s.Counts())
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{CorruptRate: 1})
		if err := s.Put(ctx, ref, data); err != nil {
			t.Fatal(err)
		}
		b, err := s.Get(ctx, ref)
		if err != nil || erasure.Root(b) == ref {
			t.Fatalf("get: %v; the bytes verify", err)
		}
		if b2, _ := s.Get(ctx, ref); &b2[0] == &b[0] {
			t.Fatal("two gets share a buffer")
		}
	})
	t.Run("silent loss", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{LoseRate: 1})
		if err := s.Put(ctx, ref, data); err != nil {
			t.Fatalf("put: %v", err)
		}
		if _, err := s.Get(ctx, ref); !errors.Is(err, storage.NotExist) {
			t.Fatalf("get after a lost put: %v", err)
		}
		if s.Counts().Lost != 1 {
			t.Fatalf("counts %+v", s.Counts())
		}
	})
	t.Run("lie has", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{LieHas: true})
		if ok, err := s.Has(ctx, ref); err != nil || !ok {
			t.Fatalf("has: %v %v", ok, err)
		}
	})
	t.Run("latency and hang", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{Latency: 30 * time.Millisecond})
		start := time.Now()
		if _, err := s.Has(ctx, ref); err != nil || time.Since(start) < 30*time.Millisecond {
			t.Fatalf("has took %v: %v", time.Since(start), err)
		}
		s.Set(storetest.Faults{Hang: true})
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := s.Put(cctx, ref, data); !errors.Is(err, storage.Canceled) {
			t.Fatalf("a hung put: %v", err)
		}
	})
	t.Run("wipe", func(t *testing.T) {
		s := storetest.NewFaulty(memstore.New(), storetest.Faults{})
		for i := range 5 {
			r, b := storetest.Fragment(uint64(10+i), 100)
			if err := s.Put(ctx, r, b); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.Wipe(ctx); err != nil || n != 5 {
			t.Fatalf("wipe: %d, %v", n, err)
		}
		if ok, _ := s.Has(ctx, ref); ok {
			t.Fatal("something is left")
		}
	})
}
