package network

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// The accept gater is a token bucket: a burst, then rate a second; it
// refills with time up to the burst and says so in the log, sparingly.
func TestAcceptGaterBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	var lines []string
	g := newAcceptGater(4, 8, func() time.Time { return now }, func(f string, a ...any) {
		mu.Lock()
		lines = append(lines, f)
		mu.Unlock()
	})
	take := func(n int) (ok int) {
		for range n {
			if g.allow() {
				ok++
			}
		}
		return ok
	}
	if got := take(20); got != 8 {
		t.Fatalf("a burst of 20 at once: %d accepted, want the burst of 8", got)
	}
	now = now.Add(500 * time.Millisecond)
	if got := take(20); got != 2 {
		t.Fatalf("half a second later: %d accepted, want 2 (4 a second)", got)
	}
	now = now.Add(time.Hour)
	if got := take(20); got != 8 {
		t.Fatalf("after an idle hour: %d accepted, want the burst of 8 again", got)
	}
	if a, r := g.counts(); a != 18 || r != 42 {
		t.Fatalf("counts: %d accepted, %d refused; want 18, 42", a, r)
	}
	// 42 refusals in three bursts an hour apart or less: one line at the
	// first and one at the third (10 s apart at least), not 42.
	if len(lines) != 2 || !strings.Contains(lines[0], "refused") {
		t.Fatalf("log lines %q, want 2 summaries", lines)
	}
	// Time going backwards (a clock step) neither adds nor panics.
	now = now.Add(-time.Minute)
	if got := take(1); got != 0 {
		t.Fatalf("after the clock stepped back: %d accepted, want 0", got)
	}
	// A negative rate gates nothing.
	open := newAcceptGater(-1, 0, nil, nil)
	for range 1000 {
		if !open.allow() {
			t.Fatal("an unlimited gater refused")
		}
	}
}

// A node whose accept rate is tiny refuses some of a crowd arriving at
// once, and the crowd still gets in: the refused retry with backoff.
// Dials out are not gated.
func TestAcceptRateCrowd(t *testing.T) {
	const crowd = 8
	a := newNode(t, Config{AcceptRate: 4, AcceptBurst: 2})
	nodes := make([]*Node, crowd)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { nodes[i] = newNode(t, Config{Bootstrap: a.Addrs()}) })
	}
	wg.Wait()
	took := waitFor(t, 30*time.Second, "every node connects to the gated node", func() bool {
		for _, n := range nodes {
			if n.Host().Network().Connectedness(a.Host().ID()) != network.Connected {
				return false
			}
		}
		return true
	})
	acc, ref := a.AcceptCounts()
	t.Logf("%d nodes in through a cap of 4/s (burst 2) after %v: %d accepted, %d refused", crowd, took.Round(time.Millisecond), acc, ref)
	if ref == 0 {
		t.Fatal("nothing was refused: the cap did not apply")
	}
	// The default cap lets a crowd of this size in at once.
	b := newNode(t, Config{})
	for _, n := range nodes {
		wg.Go(func() {
			if err := n.Host().Connect(t.Context(), b.Host().Peerstore().PeerInfo(b.Host().ID())); err != nil {
				t.Errorf("a dial to a node with the default cap: %v", err)
			}
		})
	}
	wg.Wait()
	if _, ref := b.AcceptCounts(); ref != 0 {
		t.Fatalf("the default cap refused %d of %d", ref, crowd)
	}
}
