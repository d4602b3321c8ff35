// Package storage is Cairn's vocabulary: the nouns (Ref, PeerID), the small
// interfaces the rest of the system is written against (FragmentStore,
// Network, Ranker, Admitter, Progress) and the one error type with its Kind.
//
// It imports only the standard library. Implementations live in
// subpackages (memstore, badgerstore, blob, chunker, ...) or in other
// top-level packages (network); only cmd/cairn wires them together.
package storage
