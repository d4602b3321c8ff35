// Package fragment is the libp2p protocol /cairn/fragment/1.0.0 by which a
// storage peer holds fragments for others: PUT, GET, HAS, DELETE and INFO,
// one request per stream. It owns the wire format (specified byte by byte,
// with test vectors, in network/PROTOCOL.md), the server side (Service:
// caps, capacity, admission, verification of every fragment against its
// Ref, owner records and signed deletes) and the client side (Client, whose
// Store(peer) is a storage.FragmentStore backed by a remote peer and never
// returns bytes that do not verify).
//
// Every stream has deadlines on both ends and is reset on error; lengths
// are checked against hard caps before anything is allocated.
package fragment
