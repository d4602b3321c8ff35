// Package memstore holds fragments and key-value metadata in memory: a
// storage.FragmentStore and storage.Lister (Store) and a storage.KV (KV).
//
// It is meant for tests and for in-process fakes of a node. Nothing is
// persisted. Fragments are verified against their Ref on Put (a mismatch is
// storage.Invalid) and on Get (a mismatch is storage.Corrupt), exactly as a
// persistent store does, and Store.Corrupt lets a test alter held bytes to
// exercise the Corrupt path elsewhere.
package memstore
