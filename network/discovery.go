package network

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// Namespace is the DHT discovery namespace under which every node
// advertises itself as a storage peer.
const Namespace = "/cairn/storage-peer/1"

// mdnsService is the multicast DNS service name of Cairn nodes.
const mdnsService = "_cairn-storage._udp"

// Timing of the background loops. Every retry is paced by a Backoff with
// full jitter, so a whole network restarting at once spreads its dials.
const (
	dialWorkers    = 4
	dialTimeout    = 10 * time.Second
	bootBase       = 250 * time.Millisecond
	bootMax        = 30 * time.Second
	bootCheck      = 5 * time.Second // how often a bootstrap loop looks at its peer once connected
	bootMinPeers   = 4               // below this many connections, lost bootstrap peers are redialled
	advBase        = 250 * time.Millisecond
	advMax         = time.Minute
	readvFirst     = 30 * time.Second // re-advertise soon after joining, then less and less often
	readvMax       = time.Hour
	discFirst      = 500 * time.Millisecond
	discMax        = time.Minute
	findTimeout    = 15 * time.Second
	findLimit      = 512
	peerRetryBase  = time.Second
	peerRetryMax   = 10 * time.Minute
	maxFailedPeers = 4096
)

// dialFailure paces redials of a peer that could not be reached.
type dialFailure struct {
	b    Backoff
	next time.Time
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// connected runs in libp2p's notification goroutine: it must not block.
func (n *Node) connected(_ network.Network, c network.Conn) {
	n.mu.Lock()
	delete(n.failed, c.RemotePeer())
	n.mu.Unlock()
	if len(n.h.Network().Peers()) <= 2 {
		// Just joined (or rejoined): look around now rather than at the
		// loops' slowed-down pace.
		kick(n.kickA)
		kick(n.kickD)
	}
}

// disconnected runs in libp2p's notification goroutine: it must not block.
func (n *Node) disconnected(_ network.Network, c network.Conn) {
	if n.ConnectedCount() < bootMinPeers {
		n.mu.Lock()
		close(n.bootCh)
		n.bootCh = make(chan struct{})
		n.mu.Unlock()
	}
}

// bootWake returns a channel that is closed at the next disconnection that
// leaves the node short of peers.
func (n *Node) bootWake() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bootCh
}

// bootstrapLoop keeps this node joined through one bootstrap peer: it dials
// until the peer answers and, once joined, redials it with backoff whenever
// the connection is gone and the node is short of peers.
func (n *Node) bootstrapLoop(ai peer.AddrInfo) {
	b := Backoff{Base: bootBase, Max: bootMax}
	done := n.ctx.Done()
	joined := false
	for {
		wake := n.bootWake()
		if n.h.Network().Connectedness(ai.ID) == network.Connected ||
			(joined && n.ConnectedCount() >= bootMinPeers) {
			b.Reset()
			select {
			case <-done:
				return
			case <-wake: // a connection closed: look again
			case <-time.After(jitter(bootCheck)):
			}
			continue
		}
		// Our own Backoff paces these dials: skip the swarm's per-address
		// dial backoff so a late bootstrap peer is found on the next try.
		ctx, cancel := context.WithTimeout(network.WithForceDirectDial(n.ctx, "cairn bootstrap"), dialTimeout)
		err := n.h.Connect(ctx, ai)
		cancel()
		if n.ctx.Err() != nil {
			return
		}
		if err == nil {
			joined = true
			n.logf("network: joined through bootstrap peer %s", ai.ID)
			n.dht.RefreshRoutingTable() // buffered result, safe to ignore
			kick(n.kickA)
			kick(n.kickD)
			continue
		}
		d := b.Next()
		n.logf("network: bootstrap peer %s: %v (retry %d in %v)", ai.ID, err, b.Attempts(), d.Round(time.Millisecond))
		if !sleep(done, d) {
			return
		}
	}
}

// advertiseLoop publishes this node under Namespace in the DHT. It retries
// with backoff while the routing table is empty or the provide fails, and
// re-advertises soon after joining (when the first records may have landed
// on only a few peers) and then at a slowing pace up to readvMax.
func (n *Node) advertiseLoop() {
	b := Backoff{Base: advBase, Max: advMax}
	done := n.ctx.Done()
	readv := readvFirst
	for {
		if n.dht.RoutingTable().Size() == 0 {
			// Nothing to provide to yet: wait to be connected.
			select {
			case <-done:
				return
			case <-n.kickA:
			case <-time.After(jitter(bootCheck)):
			}
			continue
		}
		_, err := n.disc.Advertise(n.ctx, Namespace, discovery.TTL(readvMax))
		if n.ctx.Err() != nil {
			return
		}
		wait := b.Next()
		if err == nil {
			b.Reset()
			wait = jitter(readv)
			readv = min(2*readv, readvMax)
		} else {
			n.logf("network: advertise: %v (retry in %v)", err, wait.Round(time.Millisecond))
		}
		select {
		case <-done:
			return
		case <-time.After(wait):
		case <-n.kickA:
			if err == nil {
				// Rejoined after being alone: publish again right away.
				readv = readvFirst
			}
		}
	}
}

// discoveryLoop finds storage peers and hands them to the dialers. Each
// round asks the DHT for the providers of Namespace and also offers the
// DHT routing table's peers (all Cairn nodes, since the DHT speaks only
// /cairn/kad): on a small network a routing-table refresh after joining
// already lists everyone, which is faster than waiting for provider
// records. Rounds start fast and slow down to discMax; a new connection
// when the node was alone starts them over.
func (n *Node) discoveryLoop() {
	done := n.ctx.Done()
	wait := discFirst
	for {
		select {
		case <-done:
			return
		case <-time.After(jitter(wait)):
			wait = min(2*wait, discMax)
		case <-n.kickD:
			wait = discFirst
		}
		if n.ConnectedCount() == 0 {
			continue
		}
		n.discoverOnce()
	}
}

func (n *Node) discoverOnce() {
	for _, p := range n.dht.RoutingTable().ListPeers() {
		n.want(peer.AddrInfo{ID: p})
	}
	ctx, cancel := context.WithTimeout(n.ctx, findTimeout)
	defer cancel()
	ch, err := n.disc.FindPeers(ctx, Namespace, discovery.Limit(findLimit))
	if err != nil {
		n.logf("network: find peers: %v", err)
		return
	}
	for ai := range ch {
		n.want(ai)
	}
}

// want queues a dial to ai unless it is this node, already connected,
// being dialled, or in its redial backoff. It never blocks: when the queue
// is full the peer is dropped and found again on a later round.
func (n *Node) want(ai peer.AddrInfo) {
	if ai.ID == "" || ai.ID == n.h.ID() || n.h.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inflight[ai.ID] {
		return
	}
	if f := n.failed[ai.ID]; f != nil && time.Now().Before(f.next) {
		return
	}
	select {
	case n.dialq <- ai:
		n.inflight[ai.ID] = true
	default:
	}
}

func (n *Node) dialWorker() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case ai := <-n.dialq:
			ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
			err := n.h.Connect(ctx, ai)
			cancel()
			n.mu.Lock()
			delete(n.inflight, ai.ID)
			if err == nil {
				delete(n.failed, ai.ID)
			} else if n.ctx.Err() == nil {
				n.noteFailure(ai.ID)
			}
			n.mu.Unlock()
		}
	}
}

// noteFailure schedules the next allowed dial of p. Called with n.mu held.
func (n *Node) noteFailure(p peer.ID) {
	f := n.failed[p]
	if f == nil {
		if len(n.failed) >= maxFailedPeers {
			now := time.Now()
			for q, g := range n.failed {
				if now.After(g.next) {
					delete(n.failed, q)
				}
			}
			if len(n.failed) >= maxFailedPeers {
				return // full of peers in backoff: forget this failure
			}
		}
		f = &dialFailure{b: Backoff{Base: peerRetryBase, Max: peerRetryMax}}
		n.failed[p] = f
	}
	f.next = time.Now().Add(f.b.Next())
}

// relayCandidates is AutoRelay's peer source: the Cairn nodes we are
// connected to, so a node behind NAT reserves relay slots only on Cairn
// nodes (never on public relays).
func (n *Node) relayCandidates(num int) <-chan peer.AddrInfo {
	num = max(0, min(num, 64))
	ch := make(chan peer.AddrInfo, num)
	defer close(ch)
	if n == nil || n.closed.Load() {
		return ch
	}
	for _, p := range n.h.Network().Peers() {
		if len(ch) == num {
			break
		}
		ch <- peer.AddrInfo{ID: p, Addrs: n.h.Peerstore().Addrs(p)}
	}
	return ch
}

type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) { m.n.want(ai) }

func startMDNS(n *Node) (mdns.Service, error) {
	s := mdns.NewMdnsService(n.h, mdnsService, mdnsNotifee{n})
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// jitter returns a duration uniform in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	b := Backoff{Base: d / 2, Max: d / 2}
	return d/2 + b.Next()
}
