// Package badgerstore keeps a node's persistent state in one badger
// database (the db/ folder of the node's home): the fragments it holds for
// others (DB.Fragments, a storage.FragmentStore and storage.Lister) and any
// number of namespaced key-value stores for metadata (DB.KV).
//
// It is the only package that imports badger; badger's errors are
// translated here (not found → storage.NotExist, anything else →
// storage.IO). Badger is tuned for a small node that shares a machine with
// many others: small memtables and caches, values above 1 KiB in the value
// log, logging off unless asked for.
//
// Key layout in the database:
//
//	"f/" + ref             fragment bytes
//	"z/" + ref             fragment size, 8 bytes big-endian
//	"k/" + namespace + "/" + key   KV values
//
// The size records let Bytes be restored on open and List run without
// reading the value log.
package badgerstore
