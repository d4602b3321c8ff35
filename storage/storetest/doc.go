// Package storetest is the conformance suite every storage.FragmentStore
// and storage.KV implementation runs from its own tests: the in-memory
// stores, the badger store, and the network's remote store. It owns the
// contract's executable form; storage/storage.go owns its prose.
//
// A store's test calls TestFragmentStore or TestKV with a function that
// opens a fresh, empty store for one subtest (and registers its cleanup
// with t.Cleanup) and, for persistent stores, one that closes a store and
// opens it again on the same data.
package storetest
