package holder

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// A boot storm in small (issue 9; bench/bootstorm.sh is the big one with
// daemon processes): 12 holders keeping fragments are all closed at once
// and all started again within a second on their databases and
// identities, with the default network settings. Only the bootstrap
// holder keeps its port, as a bootstrap node must (its address is in
// everyone's configuration); the others listen on new ports, so the
// network finds them again through the bootstrap node and the DHT, and an
// owner that stayed up finds its holders' new addresses the same way.
// Every holder must see all the others again and every fragment must be
// fetchable from its holder, within a bounded time.
func TestBootStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 12 holders twice")
	}
	const n, perHolder = 12, 2
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bootListen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeTCPPort(t))
	cfgs := make([]Config, n)
	var bootAddr string
	start := func(ctx context.Context, i int, c Config) (*Holder, error) {
		c.Contribute, c.Grace = 1<<30, 1<<30
		if i == 0 {
			c.Listen = []string{bootListen}
		}
		h, err := Start(ctx, c)
		if err == nil {
			cfgs[i] = c // each i is written by one goroutine
		}
		return h, err
	}
	hs, err := StartCluster(ctx, t.TempDir(), n, start, func(h *Holder) string {
		bootAddr = h.Addr()
		return bootAddr
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { CloseAll(hs) }()

	// The owner, a plain node that stays up through the storm.
	ident, err := network.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	owner, err := network.New(ctx, network.Config{Identity: ident, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{bootAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	for i, h := range hs {
		if ps, err := h.Net.WaitPeers(ctx, fragment.ProtocolID, n-1, 20*time.Second); err != nil || len(ps) < n-1 {
			t.Fatalf("before the storm holder %d sees %d storage peers, %v", i, len(ps), err)
		}
	}
	fc := fragment.NewClient(owner.Host(), ed25519.NewKeyFromSeed(make([]byte, 32)))
	type held struct {
		holder storage.PeerID
		ref    storage.Ref
		data   []byte
	}
	var frags []held
	for i, h := range hs {
		for j := range perHolder {
			ref, data := storetest.Fragment(uint64(i*perHolder+j+1), 16<<10+i*1000+j)
			if err := fc.Store(h.Net.ID()).Put(ctx, ref, data); err != nil {
				t.Fatalf("put on holder %d: %v", i, err)
			}
			frags = append(frags, held{h.Net.ID(), ref, data})
		}
	}

	// The storm: all closed at once, then all started again at random
	// moments within a second, all at the same time, bootstrap included.
	CloseAll(hs)
	stormed := time.Now()
	restarted := make([]*Holder, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			time.Sleep(rand.N(time.Second))
			c := cfgs[i]
			if i != 0 {
				c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
			}
			restarted[i], errs[i] = Start(ctx, c)
		})
	}
	wg.Wait()
	up := time.Since(stormed)
	hs = hs[:0]
	for i, h := range restarted {
		if errs[i] != nil {
			CloseAll(restarted)
			t.Fatalf("restarting holder %d: %v", i, errs[i])
		}
		hs = append(hs, h)
	}
	if hs[0].Addr() != bootAddr {
		t.Fatalf("the bootstrap holder came back on %s, not %s", hs[0].Addr(), bootAddr)
	}

	// Everyone sees everyone again, within a bound.
	const bound = 20 * time.Second
	for i, h := range hs {
		if ps, err := h.Net.WaitPeers(ctx, fragment.ProtocolID, n-1, bound-time.Since(stormed)); err != nil || len(ps) < n-1 {
			t.Fatalf("%v after the storm holder %d sees %d storage peers, want %d (%v)", time.Since(stormed).Round(time.Millisecond), i, len(ps), n-1, err)
		}
	}
	seen := time.Since(stormed)
	// Every fragment comes back from its holder, found at its new address.
	for _, f := range frags {
		for {
			got, err := fc.Store(f.holder).Get(ctx, f.ref)
			if err == nil && string(got) == string(f.data) {
				break
			}
			if time.Since(stormed) > bound {
				t.Fatalf("%v after the storm fragment %x on %s: %v", time.Since(stormed).Round(time.Millisecond), f.ref[:6], f.holder, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	acc, ref := hs[0].Net.AcceptCounts()
	t.Logf("%d holders restarted within %v; all see all others %v after the storm, all %d fragments read back after %v; the bootstrap holder accepted %d new connections and refused %d",
		n, up.Round(time.Millisecond), seen.Round(time.Millisecond), len(frags), time.Since(stormed).Round(time.Millisecond), acc, ref)
}

// freeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
