package network

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults of the cap on new inbound connections (a token bucket, see
// Config.AcceptRate). A joining peer costs its bootstrap node a TLS
// handshake, identify and a few DHT queries, some milliseconds of CPU:
// 32 a second keeps a node that everyone rejoins through after a mass
// restart well inside one core, and a burst of 64 lets a small network
// (or a LAN of a few dozen peers) start at once without a refusal.
const (
	DefaultAcceptRate  = 32
	DefaultAcceptBurst = 64
)

// acceptLog is how often refusals are summarised in the log at most.
const acceptLog = 10 * time.Second

// acceptGater is the node's connection gater: it refuses new inbound
// connections beyond a token bucket of rate a second and burst, at
// accept time, before the security handshake, so a refusal costs the node
// no more than closing the socket. The dialer sees the connection closed
// and retries later: its bootstrap loop and its redials back off with
// full jitter. Dials out and established connections are never gated.
type acceptGater struct {
	rate, burst float64
	now         func() time.Time
	logf        func(string, ...any)

	mu       sync.Mutex
	tokens   float64
	last     time.Time
	accepted int64
	refused  int64 // in all
	unlogged int64 // refused since the last log line
	logged   time.Time
}

// newAcceptGater returns a gater admitting rate new inbound connections a
// second with bursts of burst; rate ≤ 0 admits everything.
func newAcceptGater(rate float64, burst int, now func() time.Time, logf func(string, ...any)) *acceptGater {
	if now == nil {
		now = time.Now
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	b := float64(max(burst, 1))
	return &acceptGater{rate: rate, burst: b, tokens: b, last: now(), now: now, logf: logf}
}

// allow takes a token if there is one.
func (g *acceptGater) allow() bool {
	if g.rate <= 0 {
		g.mu.Lock()
		g.accepted++
		g.mu.Unlock()
		return true
	}
	g.mu.Lock()
	now := g.now()
	if el := now.Sub(g.last); el > 0 {
		g.tokens = min(g.burst, g.tokens+el.Seconds()*g.rate)
	}
	g.last = now
	if g.tokens >= 1 {
		g.tokens--
		g.accepted++
		g.mu.Unlock()
		return true
	}
	g.refused++
	g.unlogged++
	var n int64
	if now.Sub(g.logged) >= acceptLog {
		n, g.unlogged, g.logged = g.unlogged, 0, now
	}
	g.mu.Unlock()
	if n > 0 {
		g.logf("network: accepting at most %g new connections a second: refused %d (%d in all)", g.rate, n, g.refused)
	}
	return false
}

// counts returns how many new inbound connections were accepted and refused.
func (g *acceptGater) counts() (accepted, refused int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.accepted, g.refused
}

func (g *acceptGater) InterceptPeerDial(peer.ID) bool               { return true }
func (g *acceptGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g *acceptGater) InterceptAccept(network.ConnMultiaddrs) bool  { return g.allow() }
func (g *acceptGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
func (g *acceptGater) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}

// AcceptCounts returns how many new inbound connections the node accepted
// and how many it refused for being over its accept rate (Config.AcceptRate).
func (n *Node) AcceptCounts() (accepted, refused int64) { return n.gater.counts() }
