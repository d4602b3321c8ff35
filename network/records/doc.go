// Package records publishes and finds folder records and delivers inbox
// messages over the network: the DHT of a network.Node plus the pointer
// service (/cairn/pointer/1.0.0) of the Replicas storage peers that lead
// the key's rendezvous order (storage/rendezvous, every peer weighing 1).
//
// It owns the rules around those two stores: which peers hold a key, that
// a write counts once any holder took it and has lost once any holder
// holds a record that beats it (Exist), that the DHT copy is made in the
// background at most once a second per folder and always of the newest
// record, that a lookup asks the holders and the DHT at once and gives
// the DHT one second after the last holder answered, that "not found"
// needs someone to have said so (otherwise Unavailable), and the two
// seconds for which a record seen is used without asking again. Which
// record wins is cryptree.SelectRecord's rule everywhere: in Validator
// (the one the DHT and every pointer service run) and in Lookup.
//
// Every byte from a peer is verified: a record only counts if it parses,
// its signature holds and it is the folder's own; inbox lists are checked
// against their message ids by the pointer client.
//
// A Client's background work (the DHT copies, the parts of a lookup still
// running after it returned) belongs to it: Close cancels it and waits.
package records
