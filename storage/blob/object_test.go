package blob

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

func putObject(t testing.TB, c *Client, data []byte) Locator {
	t.Helper()
	l, err := c.PutObject(context.Background(), data)
	if err != nil {
		t.Fatalf("put object of %d bytes: %v", len(data), err)
	}
	return l
}

func TestObjectRoundTrip(t *testing.T) {
	ctx := context.Background()
	net := newNet(8)
	c := newClient(t, net, Config{})
	for _, n := range []int{0, 1, 1000, 70 << 10} {
		data := randBytes(uint64(n), n)
		l := putObject(t, c, data)
		if len(l.Holders) != ObjectReplicas {
			t.Fatalf("%d bytes: %d holders, want %d", n, len(l.Holders), ObjectReplicas)
		}
		// Distinct holders, each really holding the bytes.
		seen := map[storage.PeerID]bool{}
		for _, h := range l.Holders {
			if seen[h] {
				t.Fatalf("holder %s twice", h)
			}
			seen[h] = true
			if ok, _ := net.mem[h].Has(ctx, l.Ref); !ok {
				t.Fatalf("holder %s does not hold the object", h)
			}
		}
		// Placement is stable: the same bytes go to the same peers.
		if l2 := putObject(t, c, data); !equalHolders(l, l2) {
			t.Fatalf("placement not stable: %v vs %v", l.Holders, l2.Holders)
		}
		l3, err := ParseLocator(l.Marshal())
		if err != nil || !equalHolders(l, l3) || l3.Ref != l.Ref {
			t.Fatalf("locator round trip: %+v, %v", l3, err)
		}
		got, err := c.GetObject(ctx, l3)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get object: %d bytes, %v", len(got), err)
		}
	}
	_, err := c.PutObject(ctx, make([]byte, MaxObject+1))
	if !errors.Is(err, storage.Invalid) {
		t.Fatalf("oversized object: %v", err)
	}
}

func equalHolders(a, b Locator) bool {
	if len(a.Holders) != len(b.Holders) {
		return false
	}
	for i := range a.Holders {
		if a.Holders[i] != b.Holders[i] {
			return false
		}
	}
	return true
}

// Failing holders are replaced by the next peers; too few peers taking a
// copy is Unavailable; fewer peers than the quorum still works.
func TestPutObjectFailures(t *testing.T) {
	data := randBytes(3, 5000)
	for _, tc := range []struct {
		name          string
		peers, broken int
		want          storage.Kind // Other: success
		holders       int
	}{
		{"all good", 8, 0, storage.Other, 6},
		{"two broken, retried", 8, 2, storage.Other, 6},
		{"quorum only", 8, 4, storage.Other, 4},
		{"below quorum", 8, 5, storage.Unavailable, 0},
		{"tiny network", 2, 0, storage.Other, 2},
		{"no peers", 0, 0, storage.Unavailable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := newNet(tc.peers)
			s := Stores{}
			for i, id := range net.ids {
				s[id] = net.Stores[id]
				if i < tc.broken {
					s[id] = failStore{net.Stores[id]}
				}
			}
			c := newClient(t, s, Config{})
			l, err := c.PutObject(context.Background(), data)
			if tc.want != storage.Other {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || len(l.Holders) != tc.holders {
				t.Fatalf("holders %v, err %v; want %d holders", l.Holders, err, tc.holders)
			}
			for _, h := range l.Holders {
				if _, bad := s[h].(failStore); bad {
					t.Fatalf("failed peer %s listed", h)
				}
			}
		})
	}
}

// A peer that never answers does not stall PutObject past the grace
// period once the quorum landed.
func TestPutObjectLongTail(t *testing.T) {
	net := newNet(8)
	data := randBytes(4, 3000)
	l0 := putObject(t, newClient(t, newNet(8), Config{}), data) // same ids: learn the order
	s := Stores{}
	for _, id := range net.ids {
		s[id] = net.Stores[id]
	}
	s[l0.Holders[0]] = slowStore{net.Stores[l0.Holders[0]], time.Minute}
	c := newClient(t, s, Config{})
	start := time.Now()
	l := putObject(t, c, data)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("put took %v", d)
	}
	if len(l.Holders) != ObjectReplicas-1 {
		t.Fatalf("holders %v", l.Holders)
	}
	for _, h := range l.Holders {
		if h == l0.Holders[0] {
			t.Fatal("slow peer listed as holder")
		}
	}
}

func TestGetObjectFallback(t *testing.T) {
	ctx := context.Background()
	net := newNet(8)
	c := newClient(t, net, Config{})
	data := randBytes(5, 4000)
	l := putObject(t, c, data)

	// Lying and missing holders are skipped.
	s := Stores{}
	for _, id := range net.ids {
		s[id] = net.Stores[id]
	}
	s[l.Holders[0]] = lyingStore{net.Stores[l.Holders[0]]}
	delete(s, l.Holders[1])
	s[l.Holders[2]] = lyingStore{net.Stores[l.Holders[2]]}
	c2 := newClient(t, s, Config{})
	if got, err := c2.GetObject(ctx, l); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fallback: %v", err)
	}

	// Every copy lies: Corrupt.
	liars := Stores{}
	for _, id := range net.ids {
		liars[id] = lyingStore{net.Stores[id]}
	}
	_, err := newClient(t, liars, Config{}).GetObject(ctx, l)
	if !errors.Is(err, storage.Corrupt) {
		t.Fatalf("all lying: %v", err)
	}

	// The listed holders are gone but the ref's peers have it (a stale
	// locator): found. Nobody has it: Unavailable.
	stale := Locator{Ref: l.Ref, Holders: []storage.PeerID{"gone-1", "gone-2"}}
	if got, err := c.GetObject(ctx, stale); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stale locator: %v", err)
	}
	missing := Locator{Ref: storage.Ref{1}, Holders: l.Holders}
	if _, err := c.GetObject(ctx, missing); !errors.Is(err, storage.Unavailable) {
		t.Fatalf("missing object: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.GetObject(cctx, l); !errors.Is(err, storage.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestParseLocator(t *testing.T) {
	good := Locator{Ref: storage.Ref{9, 8, 7}, Holders: []storage.PeerID{"a", "bb", "ccc"}}
	b := good.Marshal()
	if l, err := ParseLocator(b); err != nil || !equalHolders(l, good) || l.Ref != good.Ref {
		t.Fatalf("round trip: %+v %v", l, err)
	}
	ref := string(make([]byte, 32))
	for _, tc := range []struct {
		name string
		b    string
	}{
		{"empty", ""},
		{"short", "\x01" + ref},
		{"version", "\x02" + ref + "\x01\x01a"},
		{"no holders", "\x01" + ref + "\x00"},
		{"too many holders", "\x01" + ref + "\x21" + strings.Repeat("\x01a", 33)},
		{"empty holder", "\x01" + ref + "\x01\x00"},
		{"long holder", "\x01" + ref + "\x01\x81" + strings.Repeat("x", 129)},
		{"truncated holder", "\x01" + ref + "\x01\x05abc"},
		{"missing holder", "\x01" + ref + "\x02\x01a"},
		{"repeated holder", "\x01" + ref + "\x02\x01a\x01a"},
		{"trailing", string(b) + "x"},
	} {
		if _, err := ParseLocator([]byte(tc.b)); !errors.Is(err, storage.Corrupt) {
			t.Errorf("%s: got %v, want Corrupt", tc.name, err)
		}
	}
	// Every truncation fails.
	for i := range b {
		if _, err := ParseLocator(b[:i]); err == nil {
			t.Errorf("truncated to %d parses", i)
		}
	}
}

func FuzzParseLocator(f *testing.F) {
	f.Add(Locator{Ref: storage.Ref{1}, Holders: []storage.PeerID{"peer-01", "peer-02"}}.Marshal())
	f.Add([]byte("\x01"))
	f.Add(append([]byte{1}, make([]byte, 34)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLocator(b)
		if err != nil {
			if !errors.Is(err, storage.Corrupt) {
				t.Fatalf("error of kind %v", storage.KindOf(err))
			}
			return
		}
		// What parses re-encodes to the same bytes.
		if !bytes.Equal(l.Marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func BenchmarkObject(b *testing.B) {
	ctx := context.Background()
	c := newClient(b, newNet(8), Config{})
	data := randBytes(6, 4<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		data[0], data[1] = byte(i), byte(i>>8)
		l, err := c.PutObject(ctx, data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.GetObject(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
}
