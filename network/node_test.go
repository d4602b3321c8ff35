package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cairn-storage/cairn/storage"
)

const testProto = "/cairn/test/1.0.0"

type testNet struct {
	t     *testing.T
	nodes []*Node
}

func newNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	if cfg.Identity == nil {
		id, err := NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Identity = id
	}
	if cfg.Listen == nil {
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	if testing.Verbose() && cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Host().SetStreamHandler(testProto, func(s network.Stream) { s.Reset() })
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not reached within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func peerIDs(t *testing.T, n *Node, proto string) []storage.PeerID {
	t.Helper()
	ps, err := n.Peers(context.Background(), proto)
	if err != nil {
		t.Fatal(err)
	}
	var ids []storage.PeerID
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func TestTwoNodesBootstrap(t *testing.T) {
	a := newNode(t, Config{})
	b := newNode(t, Config{Bootstrap: a.Addrs()})
	waitFor(t, 10*time.Second, "a and b see each other", func() bool {
		return slices.Contains(peerIDs(t, a, testProto), b.ID()) && slices.Contains(peerIDs(t, b, testProto), a.ID())
	})
	ps, err := b.Peers(context.Background(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].ID != a.ID() || ps[0].Net != "127.0.0.0/24" || ps[0].Free != -1 {
		t.Fatalf("b.Peers = %+v, want only a in 127.0.0.0/24 with Free -1", ps)
	}
	if got := peerIDs(t, b, ""); !slices.Equal(got, []storage.PeerID{a.ID()}) {
		t.Fatalf("b.Peers(\"\") = %v", got)
	}
	if got := peerIDs(t, b, "/cairn/nobody-speaks-this/1.0.0"); len(got) != 0 {
		t.Fatalf("peers for unknown protocol: %v", got)
	}
	if a.ConnectedCount() != 1 || b.ConnectedCount() != 1 {
		t.Fatalf("connected counts %d, %d", a.ConnectedCount(), b.ConnectedCount())
	}
}

func TestAddrs(t *testing.T) {
	n := newNode(t, Config{Listen: []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}})
	addrs := n.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("Addrs = %v, want 2", addrs)
	}
	if !strings.Contains(addrs[0], "/tcp/") || !strings.Contains(addrs[1], "/quic-v1") {
		t.Fatalf("Addrs not TCP first: %v", addrs)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") || !strings.HasSuffix(a, "/p2p/"+string(n.ID())) {
			t.Fatalf("address %q lacks loopback or /p2p/<id>", a)
		}
	}
}

func TestNewErrors(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no identity", Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}},
		{"bad identity", Config{Identity: []byte("nope"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}}},
		{"bad listen", Config{Identity: id, Listen: []string{"127.0.0.1:0"}}},
		{"bad bootstrap", Config{Identity: id, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{"/ip4/127.0.0.1/tcp/1"}}},
		{"bad port", Config{Identity: id, Port: 70000}},
		{"bad watermarks", Config{Identity: id, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, LowConns: 10, HighConns: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := New(context.Background(), c.cfg)
			if err == nil {
				n.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, storage.Invalid) {
				t.Fatalf("err = %v, want Kind Invalid", err)
			}
		})
	}
}

// convergeSize is the network size of TestConverge; CAIRN_NET_NODES
// overrides it for measurements (e.g. 16 or 20).
func convergeSize(t *testing.T) int {
	if s := os.Getenv("CAIRN_NET_NODES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("CAIRN_NET_NODES=%q", s)
		}
		return v
	}
	return 12
}

func TestConverge(t *testing.T) {
	size := convergeSize(t)
	seed := newNode(t, Config{})
	nodes := []*Node{seed}
	start := time.Now()
	for range size - 1 {
		nodes = append(nodes, newNode(t, Config{Bootstrap: seed.Addrs()}))
	}
	started := time.Since(start)
	took := waitFor(t, 10*time.Second+time.Duration(size)*200*time.Millisecond, "every node sees all others", func() bool {
		for _, n := range nodes {
			ps, err := n.Peers(context.Background(), testProto)
			if err != nil || len(ps) < size-1 {
				return false
			}
		}
		return true
	})
	t.Logf("%d nodes: started in %v, converged %v after the last start", size, started.Round(time.Millisecond), took.Round(time.Millisecond))
	for _, n := range nodes {
		if ids := peerIDs(t, n, testProto); slices.Contains(ids, n.ID()) {
			t.Fatalf("node %s lists itself", n.ID())
		}
	}
	if testing.Verbose() {
		time.Sleep(2 * time.Second) // measure idle, not the join
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("idle after join: %d goroutines (%d per node), heap in use %.1f MiB (%.2f MiB per node), process RSS %s",
			runtime.NumGoroutine(), runtime.NumGoroutine()/size,
			float64(ms.HeapInuse)/(1<<20), float64(ms.HeapInuse)/(1<<20)/float64(size), rss())
	}
}

// rss returns the process's resident set size from /proc, or "?".
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestLateBootstrapPeer(t *testing.T) {
	bootID, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := IdentityPeerID(bootID)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	a := newNode(t, Config{Bootstrap: []string{listen + "/p2p/" + string(pid)}})
	time.Sleep(1200 * time.Millisecond) // let a fail a few dials first
	if a.ConnectedCount() != 0 {
		t.Fatal("connected to a peer that is not up")
	}
	b := newNode(t, Config{Identity: bootID, Listen: []string{listen}})
	took := waitFor(t, 20*time.Second, "a reaches the late bootstrap peer", func() bool {
		return slices.Contains(peerIDs(t, a, testProto), b.ID())
	})
	t.Logf("found the late bootstrap peer %v after it started", took.Round(time.Millisecond))
}

func TestCloseReleases(t *testing.T) {
	before := runtime.NumGoroutine()
	var nodes []*Node
	for i := range 3 {
		var cfg Config
		if i > 0 {
			cfg.Bootstrap = nodes[0].Addrs()
		}
		nodes = append(nodes, newNode(t, cfg))
	}
	waitFor(t, 10*time.Second, "3 nodes converge", func() bool {
		for _, n := range nodes {
			if n.ConnectedCount() < 2 {
				return false
			}
		}
		return true
	})
	during := runtime.NumGoroutine()
	for _, n := range nodes {
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := n.Peers(context.Background(), ""); !errors.Is(err, storage.Unavailable) {
			t.Fatalf("Peers after Close: %v, want Unavailable", err)
		}
	}
	// Some libp2p goroutines wind down asynchronously after Close.
	const tolerance = 5
	after := 0
	waitFor(t, 5*time.Second, "goroutines released", func() bool {
		after = runtime.NumGoroutine()
		return after <= before+tolerance
	})
	t.Logf("goroutines: %d before, %d with 3 nodes, %d after Close", before, during, after)
}

func TestBootstrapPeerRestarts(t *testing.T) {
	key, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))
	a := newNode(t, Config{Identity: key, Listen: []string{listen}})
	b := newNode(t, Config{Bootstrap: a.Addrs()})
	waitFor(t, 10*time.Second, "b joins through a", func() bool { return b.ConnectedCount() == 1 })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b notices a is gone", func() bool { return b.ConnectedCount() == 0 })
	a2 := newNode(t, Config{Identity: key, Listen: []string{listen}})
	took := waitFor(t, 20*time.Second, "b rejoins the restarted a", func() bool {
		return b.Host().Network().Connectedness(a2.Host().ID()) == network.Connected
	})
	t.Logf("rejoined %v after the bootstrap peer restarted", took.Round(time.Millisecond))
}

func TestListenDefaults(t *testing.T) {
	got, err := listenAddrs(Config{Port: 4001})
	if err != nil {
		t.Fatal(err)
	}
	var ss []string
	for _, a := range got {
		ss = append(ss, a.String())
	}
	want := []string{"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1", "/ip6/::/udp/4001/quic-v1"}
	if !slices.Equal(ss, want) {
		t.Fatalf("default listen = %v, want %v", ss, want)
	}
	if allLoopback(got) {
		t.Fatal("wildcard addresses counted as loopback")
	}
	lo, _ := listenAddrs(Config{Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/udp/0/quic-v1"}})
	if !allLoopback(lo) {
		t.Fatal("loopback addresses not recognised: NAT port mapping would probe the LAN")
	}
}
