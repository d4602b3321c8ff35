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
// # Fragment payloads in segment files
//
// In an on-disk database the fragments' bytes do not go through badger
// (whose value log copied each one twice and msynced every file it
// filled): they are appended to segment files in db/segments/, named
// 000001.seg, 000002.seg, … Badger keeps the index. One segment is active
// at a time; a writer reserves its range under a short mutex and writes
// with WriteAt concurrently with the others; a segment is closed for
// writing once the next record would take it past Options.SegmentSize.
// Every Open starts a new segment (created at the first write), so the
// previous run's tail is never written again. Each record is
//
//	"CFR\x01" ‖ ref (32 bytes) ‖ payload length (uint32 big-endian) ‖ payload
//
// so that a repair tool can find records without the index; the store
// itself only reads payloads through the index and verifies each: against
// the CRC-32C its location records (Put, and PutVerifiedSum, which the
// fragment service uses: the bytes were checked against the ref just
// before the checksum was taken), or against its ref (erasure.Root) for a
// location without one (PutVerified, and locations written before
// checksums). GC's copies and Corrupt's damage keep the original's
// checksum, so damage is never blessed by a later one. A put writes the record first and commits the
// index second: a crash in between leaves unreferenced bytes, which GC
// reclaims. GC finds each sealed segment's live bytes by scanning the
// index, removes segments with none and compacts those less than half
// live.
//
// Durability: in an on-disk database Put and PutVerified return only once
// the fragment's bytes and its index entry are on stable storage, so an
// acknowledged fragment survives a power failure. They do it by group
// commit: a put writes its record, then waits for the committer, which
// takes every put queued, fsyncs the segment files they wrote, commits
// their index entries in one badger transaction, makes the index durable
// (badger's DB.Sync, which syncs the active memtable's write-ahead log,
// plus an fsync of the logs of memtables replaced but not yet written out
// — Sync alone misses those), and wakes them all. Bytes are synced before
// the entry pointing to them is committed, so a power cut leaves at worst
// unreferenced bytes, never an index entry over unsynced ones. A put of a
// ref already held waits for the next group too (the entry it saw may
// belong to a group still syncing). Creating a segment fsyncs the
// directory before any record in it is acknowledged. For badger's files
// the store relies on badger's documented fsyncs; the power-cut test
// (durable_test.go) intercepts the segment files only. Deletes and KV
// writes are not synced on their own: a later group commit or badger's
// own flushes carry them. Options.NoSync turns durable puts off (a put
// returns once written, surviving a process crash but not a power
// failure, as before); Options.SyncWrites instead fsyncs every record and
// every badger commit on its own. Close fsyncs the segments written since
// Open. GC writes and fsyncs its copies before it re-points the index at
// them, and syncs the index before it removes a file, so compaction never
// makes a fragment depend on unsynced bytes. A location or segment that
// does not hold what the index says (a damaged record, a truncated or
// missing file, flipped bits) reads as storage.Corrupt, never as wrong
// bytes.
//
// An in-memory database (Options.InMemory) keeps payloads in badger.
//
// Key layout in the database:
//
//	"f/" + ref             where the fragment is: 0x01 ‖ segment (uint32) ‖
//	                       offset of the payload (uint64) ‖ length (uint32),
//	                       big-endian, or 0x02 ‖ the same ‖ the payload's
//	                       CRC-32C (Castagnoli, uint32); in memory, the
//	                       fragment bytes
//	"z/" + ref             fragment size, 8 bytes big-endian
//	"meta/fragment-format" 0x02 (on disk): the "f/" records are locations
//	"k/" + namespace + "/" + key   KV values
//
// The size records let Bytes be restored on open and List run without
// reading any payload. Open refuses (storage.Invalid) an on-disk database
// that holds fragments but no format record (one from before segment
// files, which held payloads in "f/") or another format; such databases
// are not migrated.
package badgerstore
