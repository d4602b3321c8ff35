package fairness

import (
	"errors"
	"sync"
	"testing"
)

func TestLedgerGrace(t *testing.T) {
	ctx := t.Context()
	l := NewLedger(100)
	if err := l.Admit(ctx, "a", 60); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(ctx, "a", 41); !errors.Is(err, ErrQuota) {
		t.Fatalf("over grace: %v, want ErrQuota", err)
	}
	if err := l.Admit(ctx, "b", 100); err != nil {
		t.Fatalf("other counterpart has its own grace: %v", err)
	}
	l.Release(ctx, "a", 30)
	if err := l.Admit(ctx, "a", 70); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if h := l.Held("a"); h != 100 {
		t.Fatalf("held %d", h)
	}
	if err := l.Admit(ctx, "a", -1); err == nil {
		t.Fatal("negative size admitted")
	}
}

func TestLedgerEarned(t *testing.T) {
	ctx := t.Context()
	l := NewLedger(10)
	l.Earned = func(c string) int64 {
		if c == "good" {
			return 1000
		}
		return 0
	}
	if err := l.Admit(ctx, "good", 500); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(ctx, "new", 11); !errors.Is(err, ErrQuota) {
		t.Fatalf("%v", err)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	ctx := t.Context()
	l := NewLedger(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Admit(ctx, "x", 30) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 33 || l.Held("x") != 990 {
		t.Fatalf("admitted %d, held %d; want 33 and 990", ok, l.Held("x"))
	}
}
