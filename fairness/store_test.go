package fairness

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
)

// mapStore is a Store in memory; fail makes its writes fail.
type mapStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail bool
}

var errDisk = errors.New("disk full")

func (s *mapStore) Set(_ context.Context, k, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errDisk
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[string(k)] = bytes.Clone(v)
	return nil
}

func (s *mapStore) Delete(_ context.Context, k []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errDisk
	}
	delete(s.m, string(k))
	return nil
}

func (s *mapStore) Scan(_ context.Context, prefix []byte, fn func(k, v []byte) error) error {
	s.mu.Lock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bytes.Clone(s.m[k])
	}
	s.mu.Unlock()
	for i, k := range keys {
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func TestLedgerPersists(t *testing.T) {
	ctx := t.Context()
	st := &mapStore{}
	l, err := OpenLedger(ctx, 100, st)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Admit(ctx, "owner:a", 60))
	must(l.Admit(ctx, "owner:b", 30))
	must(l.Admit(ctx, "owner:c", 10))
	must(l.Release(ctx, "owner:a", 20))
	must(l.Release(ctx, "owner:c", 10)) // back to 0: forgotten
	if _, ok := st.m["owner:c"]; ok {
		t.Fatal("an empty count is kept in the store")
	}
	if got := st.m["owner:a"]; !bytes.Equal(got, []byte{1, 0, 0, 0, 0, 0, 0, 0, 40}) {
		t.Fatalf("entry % x, want version 1 and 40", got)
	}

	// A restart (a crash is the same: every change was written through).
	l2, err := OpenLedger(ctx, 100, st)
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[string]int64{"owner:a": 40, "owner:b": 30, "owner:c": 0} {
		if h := l2.Held(c); h != want {
			t.Errorf("after restart %s holds %d, want %d", c, h, want)
		}
	}
	if err := l2.Admit(ctx, "owner:a", 61); !errors.Is(err, ErrQuota) {
		t.Fatalf("the restarted ledger forgot a's 40 bytes: %v", err)
	}
	must(l2.Admit(ctx, "owner:a", 60))
}

func TestLedgerStoreFailure(t *testing.T) {
	ctx := t.Context()
	st := &mapStore{}
	l, err := OpenLedger(ctx, 100, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(ctx, "x", 50); err != nil {
		t.Fatal(err)
	}
	st.fail = true
	if err := l.Admit(ctx, "x", 10); !errors.Is(err, errDisk) {
		t.Fatalf("admit with a failing store: %v", err)
	}
	if h := l.Held("x"); h != 50 {
		t.Fatalf("a refused admission counted: %d", h)
	}
	if err := l.Release(ctx, "x", 20); !errors.Is(err, errDisk) {
		t.Fatalf("release with a failing store: %v", err)
	}
	if h := l.Held("x"); h != 30 {
		t.Fatalf("release not counted in memory: %d", h)
	}
	st.fail = false
	if err := l.Release(ctx, "x", 5); err != nil {
		t.Fatal(err)
	}
	l2, _ := OpenLedger(ctx, 100, st)
	if h := l2.Held("x"); h != 25 {
		t.Fatalf("the store did not catch up: %d", h)
	}
}

func TestOpenLedgerRefusesBadEntries(t *testing.T) {
	for name, v := range map[string][]byte{
		"empty":           {},
		"unknown version": {2, 0, 0, 0, 0, 0, 0, 0, 1},
		"short":           {1, 0, 0},
		"long":            {1, 0, 0, 0, 0, 0, 0, 0, 1, 0},
		"negative":        {1, 0xff, 0, 0, 0, 0, 0, 0, 0},
	} {
		st := &mapStore{m: map[string][]byte{"c": v}}
		if _, err := OpenLedger(t.Context(), 1, st); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(42))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeEntry(b)
		if err != nil {
			return
		}
		if h < 0 || !bytes.Equal(encodeEntry(h), b) {
			t.Fatalf("% x decodes to %d", b, h)
		}
	})
}
