// Package pointer is the libp2p protocol /cairn/pointer/1.0.0 by which a
// storage peer keeps small mutable things for others: signed records (a
// cache beside the DHT that outlives DHT expiry and peer restarts) and
// inboxes (messages left for a user, which only the inbox's owner may
// delete). One request per stream.
//
// It owns the wire format (specified byte by byte, with test vectors, in
// network/PROTOCOL.md), the server side (Service: size caps, per-namespace
// validation, no rollback of records, inbox caps, signed deletes) and the
// client side (Client). The client checks sizes and message ids but does
// not validate records: the caller does, with the same network.Validator
// the peers use. Every stream has a deadline on both ends and is reset on
// error; every length is checked against a hard cap before anything of
// that length is allocated.
package pointer
