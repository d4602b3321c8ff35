// Package fragment is the libp2p protocol /cairn/fragment/1.0.0 by which a
// storage peer holds fragments for others: PUT, GET, HAS, DELETE and INFO,
// one request after another on a stream (clients keep idle streams for
// reuse; the server ends a stream after any answer but ok and not found).
// It owns the wire format (specified byte by byte, with test vectors, in
// network/PROTOCOL.md), the server side (Service: caps, capacity,
// admission, verification of every fragment against its Ref, owner records,
// PUTs and deletes signed by their owner for one server and a time window,
// or PUTs signed by a delegate under the owner's certificate,
// network/audit's) and the client side (Client, whose Store(peer) is a
// storage.FragmentStore backed by a remote peer and never returns bytes
// that do not verify; NewClient for an owner, NewDelegateClient for its
// delegate).
//
// Every stream has deadlines on both ends and is reset on error; lengths
// are checked against hard caps before anything is allocated. The
// response frame, the status table's mechanism and the request lifecycle
// on both sides are network/internal/proto's, shared with
// network/pointer; this package declares its own status 4 (corrupt).
package fragment
