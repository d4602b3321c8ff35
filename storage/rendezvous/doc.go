// Package rendezvous owns the one rule by which Cairn picks peers for a
// key: weighted rendezvous (highest random weight) hashing. Fragment
// placement (storage/blob) orders a chunk's candidate peers with it, and
// record publication (network/records) takes the first peers of the order
// as a folder's or an inbox's holders.
//
// Each peer scores -w / ln(u), where u is BLAKE3(key ‖ peer id) mapped
// into (0,1) and w the peer's weight; higher scores come first. With equal
// weights this is plain rendezvous hashing. A key's order changes little
// when peers come and go (only the keys a departed peer led move), and a
// peer with twice the weight leads about twice as many keys.
package rendezvous
