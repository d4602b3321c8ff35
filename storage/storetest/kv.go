package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cairn-storage/cairn/storage"
)

// TestKV runs the KV conformance suite. open returns a fresh, empty KV for
// one subtest and arranges its cleanup with t.Cleanup. reopen, if not nil,
// closes old and returns a KV opened on the same data (again arranging its
// cleanup); nil means the KV does not persist.
//
// Beyond storage.KV's prose the suite requires that any byte string,
// including the empty one, is a valid key, and that Scan's fn may call the
// KV (for example to delete what it visits).
func TestKV(t *testing.T, open func(t *testing.T) storage.KV, reopen func(t *testing.T, old storage.KV) storage.KV) {
	tests := []struct {
		name string
		fn   func(t *testing.T, kv storage.KV)
	}{
		{"GetSetDelete", testKVBasic},
		{"EmptyKeyAndValue", testKVEmpty},
		{"ScanOrder", testKVScanOrder},
		{"ScanStops", testKVScanStops},
		{"ScanMutates", testKVScanMutates},
		{"NotAliased", testKVAliasing},
		{"LargeValue", testKVLarge},
		{"Canceled", testKVCanceled},
		{"Concurrent", testKVConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	t.Run("Reopen", func(t *testing.T) {
		if reopen == nil {
			t.Skip("KV does not persist")
		}
		testKVReopen(t, open(t), reopen)
	})
}

func mustSet(t *testing.T, kv storage.KV, k, v string) {
	t.Helper()
	if err := kv.Set(t.Context(), []byte(k), []byte(v)); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

func mustKV(t *testing.T, kv storage.KV, k, want string) {
	t.Helper()
	got, err := kv.Get(t.Context(), []byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", k, got, want)
	}
}

func mustNoKey(t *testing.T, kv storage.KV, k string) {
	t.Helper()
	got, err := kv.Get(t.Context(), []byte(k))
	if !errors.Is(err, storage.NotExist) {
		t.Fatalf("Get(%q) = %q, %v; want a NotExist error", k, got, err)
	}
}

func mustDelete(t *testing.T, kv storage.KV, k string) {
	t.Helper()
	if err := kv.Delete(t.Context(), []byte(k)); err != nil {
		t.Fatalf("Delete(%q): %v", k, err)
	}
}

// scanAll returns "key=value" for every key with the prefix, in scan order.
func scanAll(t *testing.T, kv storage.KV, prefix string) []string {
	t.Helper()
	var got []string
	err := kv.Scan(t.Context(), []byte(prefix), func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	return got
}

func mustScan(t *testing.T, kv storage.KV, prefix string, want ...string) {
	t.Helper()
	if got := scanAll(t, kv, prefix); !slices.Equal(got, want) {
		t.Fatalf("Scan(%q) = %q, want %q", prefix, got, want)
	}
}

func testKVBasic(t *testing.T, kv storage.KV) {
	mustNoKey(t, kv, "a")
	mustDelete(t, kv, "a")
	mustSet(t, kv, "a", "1")
	mustKV(t, kv, "a", "1")
	mustSet(t, kv, "a", "two")
	mustKV(t, kv, "a", "two")
	mustSet(t, kv, "b", "3")
	mustScan(t, kv, "", "a=two", "b=3")
	mustDelete(t, kv, "a")
	mustNoKey(t, kv, "a")
	mustDelete(t, kv, "a")
	mustKV(t, kv, "b", "3")
	mustScan(t, kv, "", "b=3")
}

func testKVEmpty(t *testing.T, kv storage.KV) {
	if err := kv.Set(t.Context(), []byte("nil"), nil); err != nil {
		t.Fatal(err)
	}
	mustKV(t, kv, "nil", "")
	mustSet(t, kv, "empty", "")
	mustKV(t, kv, "empty", "")
	mustSet(t, kv, "", "root")
	mustKV(t, kv, "", "root")
	mustScan(t, kv, "", "=root", "empty=", "nil=")
	mustDelete(t, kv, "")
	mustNoKey(t, kv, "")
	mustScan(t, kv, "", "empty=", "nil=")
}

func testKVScanOrder(t *testing.T, kv storage.KV) {
	keys := []string{"\xff\xff", "b", "a\xff", "a\x00\x01", "ab", "\x00", "a", "a\x00", "\xff", "a/b", "a/"}
	for i, k := range keys {
		mustSet(t, kv, k, fmt.Sprint(i))
	}
	mustScan(t, kv, "",
		"\x00=5", "a=6", "a\x00=7", "a\x00\x01=3", "a/=10", "a/b=9", "ab=4", "a\xff=2", "b=1", "\xff=8", "\xff\xff=0")
	mustScan(t, kv, "a", "a=6", "a\x00=7", "a\x00\x01=3", "a/=10", "a/b=9", "ab=4", "a\xff=2")
	mustScan(t, kv, "a\x00", "a\x00=7", "a\x00\x01=3")
	mustScan(t, kv, "a/", "a/=10", "a/b=9")
	mustScan(t, kv, "\xff", "\xff=8", "\xff\xff=0")
	mustScan(t, kv, "\xff\xff\xff")
	mustScan(t, kv, "c")
	mustScan(t, kv, "a\x01")
}

func testKVScanStops(t *testing.T, kv storage.KV) {
	for i := range 10 {
		mustSet(t, kv, fmt.Sprintf("k%02d", i), "v")
	}
	calls := 0
	err := kv.Scan(t.Context(), []byte("k"), func(k, v []byte) error {
		calls++
		if calls == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 3 {
		t.Fatalf("Scan with fn failing on the 3rd key: %d calls, %v; want 3 calls and fn's error", calls, err)
	}
}

func testKVScanMutates(t *testing.T, kv storage.KV) {
	const n = 50
	for i := range n {
		mustSet(t, kv, fmt.Sprintf("j/%03d", i), fmt.Sprint(i))
	}
	mustSet(t, kv, "k/last", "x")
	var seen int
	err := kv.Scan(t.Context(), []byte("j/"), func(k, v []byte) error {
		if want := fmt.Sprintf("j/%03d", seen); string(k) != want || string(v) != fmt.Sprint(seen) {
			return fmt.Errorf("visit %d: got %q=%q, want %q", seen, k, v, want)
		}
		seen++
		if err := kv.Delete(t.Context(), k); err != nil {
			return err
		}
		return kv.Set(t.Context(), append([]byte("done/"), k...), v)
	})
	if err != nil || seen != n {
		t.Fatalf("Scan deleting as it goes: %d visits, %v", seen, err)
	}
	mustScan(t, kv, "j/")
	if got := scanAll(t, kv, "done/j/"); len(got) != n {
		t.Fatalf("%d keys moved, want %d", len(got), n)
	}
	mustKV(t, kv, "k/last", "x")
}

func testKVAliasing(t *testing.T, kv storage.KV) {
	k, v := []byte("key"), []byte("value")
	if err := kv.Set(t.Context(), k, v); err != nil {
		t.Fatal(err)
	}
	copy(k, "KEY")
	copy(v, "VALUE")
	mustKV(t, kv, "key", "value")
	mustNoKey(t, kv, "KEY")

	got, err := kv.Get(t.Context(), []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "XXXXX")
	mustKV(t, kv, "key", "value")

	var keptK, keptV []byte
	err = kv.Scan(t.Context(), []byte("k"), func(k, v []byte) error {
		keptK, keptV = k, v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, kv, "key", "other")
	mustSet(t, kv, "kez", "zzzzz")
	if string(keptK) != "key" || string(keptV) != "value" {
		t.Fatalf("slices kept from Scan changed to %q=%q", keptK, keptV)
	}
	err = kv.Scan(t.Context(), []byte("k"), func(k, v []byte) error {
		copy(k, "zzz")
		copy(v, "zzzzz")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustScan(t, kv, "k", "key=other", "kez=zzzzz")
}

func testKVLarge(t *testing.T, kv storage.KV) {
	_, big := Fragment(500, 256<<10)
	if err := kv.Set(t.Context(), []byte("big"), big); err != nil {
		t.Fatal(err)
	}
	mustKV(t, kv, "big", string(big))
	n := 0
	err := kv.Scan(t.Context(), []byte("b"), func(k, v []byte) error {
		n++
		if !bytes.Equal(v, big) {
			return fmt.Errorf("Scan gave %d bytes, want the %d set", len(v), len(big))
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("Scan: %d calls, %v", n, err)
	}
}

func testKVCanceled(t *testing.T, kv storage.KV) {
	mustSet(t, kv, "a", "1")
	ctx := canceled()
	check := func(what string, err error) {
		t.Helper()
		if storage.KindOf(err) != storage.Canceled {
			t.Fatalf("%s with a canceled context: %v, want a Canceled error", what, err)
		}
	}
	_, err := kv.Get(ctx, []byte("a"))
	check("Get", err)
	check("Set", kv.Set(ctx, []byte("b"), []byte("2")))
	check("Delete", kv.Delete(ctx, []byte("a")))
	check("Scan", kv.Scan(ctx, nil, func(k, v []byte) error { return nil }))
	mustScan(t, kv, "", "a=1")
}

func testKVConcurrent(t *testing.T, kv storage.KV) {
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := t.Context()
			fail := func(format string, args ...any) {
				t.Errorf("worker %d: %s", w, fmt.Sprintf(format, args...))
			}
			for i := range each {
				k := fmt.Appendf(nil, "w%d/%03d", w, i)
				if err := kv.Set(ctx, k, []byte("first")); err != nil {
					fail("Set: %v", err)
					return
				}
				if err := kv.Set(ctx, k, fmt.Appendf(nil, "%d.%d", w, i)); err != nil {
					fail("Set: %v", err)
					return
				}
				if v, err := kv.Get(ctx, k); err != nil || string(v) != fmt.Sprintf("%d.%d", w, i) {
					fail("Get(%s) = %q, %v", k, v, err)
					return
				}
				if i%3 == 0 {
					if err := kv.Delete(ctx, k); err != nil {
						fail("Delete: %v", err)
						return
					}
				}
			}
			var n int
			err := kv.Scan(ctx, fmt.Appendf(nil, "w%d/", w), func(k, v []byte) error {
				n++
				return nil
			})
			if want := each - (each+2)/3; err != nil || n != want {
				fail("Scan: %d keys, %v; want %d", n, err, want)
			}
		})
	}
	wg.Wait()
	if got, want := len(scanAll(t, kv, "w")), workers*(each-(each+2)/3); got != want {
		t.Fatalf("%d keys after the workers, want %d", got, want)
	}
}

func testKVReopen(t *testing.T, kv storage.KV, reopen func(*testing.T, storage.KV) storage.KV) {
	_, big := Fragment(501, 100<<10)
	mustSet(t, kv, "a", "1")
	mustSet(t, kv, "b", "2")
	mustSet(t, kv, "b", "22")
	mustSet(t, kv, "c", "3")
	mustSet(t, kv, "", "root")
	mustSet(t, kv, "big", string(big))
	mustDelete(t, kv, "c")
	kv = reopen(t, kv)
	mustScan(t, kv, "", "=root", "a=1", "b=22", "big="+string(big))
	mustSet(t, kv, "d", "4")
	kv = reopen(t, kv)
	mustScan(t, kv, "", "=root", "a=1", "b=22", "big="+string(big), "d=4")
}
