package network

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cairn-storage/cairn/storage"
)

// dhtProtocol is the protocol every Cairn node speaks (the DHT in server mode).
const dhtProtocol = DHTPrefix + "/kad/1.0.0"

// Peers returns the peers known to support proto (for example
// "/cairn/fragment/1.0.0"; "" means any Cairn node), that are connected or
// were recently seen (their addresses have not yet expired from the
// peerstore), sorted by ID, never including this node. Support is what the
// peer announced over identify.
//
// Net is the /24 or /48 group (see NetGroup) of the peer's best public
// address, else its loopback address; addresses of live connections (what
// we observed) win over addresses the peer announced. Free is -1. The slice
// belongs to the caller.
//
// Errors: Kind Canceled if ctx is done, Unavailable after Close.
func (n *Node) Peers(ctx context.Context, proto string) ([]storage.PeerInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, storage.E("peers", storage.Canceled, err)
	}
	if n.closed.Load() {
		return nil, storage.E("peers", storage.Unavailable, errors.New("node closed"))
	}
	if proto == "" {
		proto = dhtProtocol
	}
	ps := n.h.Peerstore()
	self := n.h.ID()
	var out []storage.PeerInfo
	for _, p := range ps.Peers() {
		if p == self {
			continue
		}
		if ok, err := ps.SupportsProtocols(p, protocol.ID(proto)); err != nil || len(ok) == 0 {
			continue
		}
		conns := n.h.Network().ConnsToPeer(p)
		addrs := ps.Addrs(p)
		if len(conns) == 0 && len(addrs) == 0 {
			continue
		}
		out = append(out, storage.PeerInfo{ID: storage.PeerID(p.String()), Net: peerGroup(conns, addrs), Free: -1})
	}
	slices.SortFunc(out, func(a, b storage.PeerInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out, nil
}

// waitPoll is how often WaitPeers looks again.
const waitPoll = 250 * time.Millisecond

// WaitPeers waits until Peers(ctx, proto) lists at least want peers or
// timeout has passed, looking every 250 ms, and returns the peers listed
// last. Fewer than want is not an error: the caller decides what is
// enough (a put fails later with Unavailable, a lookup may still find its
// record). A timeout of 0 or less looks once. The slice belongs to the
// caller.
//
// Errors: as Peers. Canceled when ctx ends first and Unavailable when the
// node closes first, each with the peers listed before.
func (n *Node) WaitPeers(ctx context.Context, proto string, want int, timeout time.Duration) ([]storage.PeerInfo, error) {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	for {
		ps, err := n.Peers(ctx, proto)
		if err != nil || len(ps) >= want || !time.Now().Before(deadline) {
			return ps, err
		}
		select {
		case <-ctx.Done():
			return ps, storage.E("wait peers", storage.Canceled, ctx.Err())
		case <-n.ctx.Done():
			return ps, storage.E("wait peers", storage.Unavailable, errors.New("node closed"))
		case <-t.C:
		}
	}
}

// peerGroup picks the group of a peer's best address: observed connection
// addresses first, then announced ones; public over loopback; "" if none.
func peerGroup(conns []network.Conn, addrs []ma.Multiaddr) string {
	best, bestClass := "", 0
	consider := func(a ma.Multiaddr) {
		ip, ok := addrIP(a)
		if !ok {
			return
		}
		if c := addrClass(ip); c > bestClass {
			best, bestClass = ipGroup(ip), c
		}
	}
	for _, c := range conns {
		consider(c.RemoteMultiaddr())
	}
	if bestClass == 2 {
		return best
	}
	for _, a := range addrs {
		consider(a)
	}
	return best
}
