// Package network runs Cairn on libp2p: the host (TCP, QUIC, TLS, Noise,
// yamux, resource and connection managers), Cairn's own Kademlia DHT under
// the /cairn prefix, bootstrap with backoff, and one subpackage per
// protocol. Wire formats are in PROTOCOL.md.
//
// This package and its subpackages are the only ones that import libp2p.
// Everything else speaks storage.PeerID (a peer ID's string form), strings
// for multiaddrs and bytes for keys: NewIdentity and IdentityPeerID make and
// read a node's key, New starts a Node, Node.Peers lists storage peers for
// placement, NetGroup groups addresses by /24 or /48. Protocol packages
// under network/ reach the libp2p host through Node.Host.
//
// # Joining and finding peers
//
// A Node dials every configured bootstrap peer until it answers, pacing
// retries with a Backoff (exponential, full jitter) so that a network
// restarting at once does not hammer its bootstrap nodes; a bootstrap
// peer that is down at start is retried until it comes up, and redialled
// when the node later loses it and is short of peers. The DHT runs in
// server mode with no default bootstrap peers, so a Cairn node never
// touches the public IPFS DHT.
//
// Every node advertises itself in the DHT under Namespace and a discovery
// loop looks up the others and dials them through a small pool of dialers
// (bounded concurrency, per-peer redial backoff). Each round also offers
// the peers of the DHT routing table: only Cairn nodes can be in it, and
// on a small network the routing-table refresh that follows joining lists
// nearly everyone before provider records have spread. Rounds start every
// half second and slow to one a minute. mDNS (Config.MDNS) adds peers on
// the local network under a Cairn-specific service name.
//
// Behind NAT: AutoNAT tells a node whether it is reachable; reachable nodes
// offer a circuit-relay v2 service, unreachable ones reserve relay slots on
// Cairn nodes they are connected to (never on public relays) and hole
// punching upgrades relayed connections to direct ones. UPnP/NAT-PMP port
// mapping is on unless every listen address is loopback.
package network
