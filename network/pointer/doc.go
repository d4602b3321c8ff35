// Package pointer is the libp2p protocol /cairn/pointer/1.0.0 by which a
// storage peer keeps small mutable things for others: signed records (a
// cache beside the DHT that outlives DHT expiry and peer restarts) and
// inboxes (messages left for a user, which only the inbox's owner may
// delete). Requests go one after another on a stream, by the same
// lifecycle as network/fragment's (network/internal/proto), and the
// client keeps idle streams for reuse; status 4 is this protocol's own
// (stale).
//
// It owns the wire format (specified byte by byte, with test vectors, in
// network/PROTOCOL.md), the server side (Service: size caps, per-namespace
// validation, no rollback of records, inbox caps, signed deletes) and the
// client side (Client). The client checks sizes and message ids but does
// not validate records: the caller does, with the same network.Validator
// the peers use. Every stream has a deadline on both ends and is reset on
// error; every length is checked against a hard cap before anything of
// that length is allocated.
//
// What the Service keeps for others is bounded and temporary: a byte
// budget over records and messages together, per-sender caps (bytes and
// number) on messages, keyed by the peer ID of the stream, and the
// per-inbox cap; then the same storage.Admitter as fragments. Bytes are
// counted as the KV keys and values written, derived again from the KV at
// start, charged for a replaced record only by what it adds, released by
// deletes and expiry. Messages expire 30 days after receipt, records 30
// days after their last put (a republish of the same record refreshes
// it); expired items are never served, and a sweep goroutine the Service
// owns drops them until Close.
package pointer
