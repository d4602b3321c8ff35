// Package network runs Cairn on libp2p: the host (TCP, QUIC, TLS, Noise,
// yamux, resource and connection managers), Cairn's own Kademlia DHT under
// the /cairn prefix, bootstrap with backoff, and one subpackage per
// protocol. Wire formats are in PROTOCOL.md.
package network
