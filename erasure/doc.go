// Package erasure cuts a sealed chunk into Reed–Solomon fragments and puts
// it back together from any k of them. It also owns the fragment hash: the
// Merkle root over small leaves that names a fragment (its Ref) and lets an
// auditor check a single leaf with a short proof.
//
// A Code (New(k, m)) makes k+m fragments with Encode; each is a 16-byte
// header (magic, version, k, m, index, data length, checksum) and one shard.
// Decode rebuilds the data from any k fragments; given the fragments' Refs
// it uses only fragments whose Root matches, so it never returns wrong data.
// Root, Prove and Proof.Verify implement the Merkle tree; ParseHeader and
// ParseProof parse untrusted bytes strictly. The byte formats, the hash
// construction and the choice of LeafSize are in FORMAT.md, with vectors in
// testdata/erasure/vectors.json at the repository root.
//
// Errors wrap ErrInvalid (caller's parameters), ErrTooFew (not enough good
// fragments) or ErrCorrupt (malformed bytes). Everything here is safe for
// concurrent use; no function keeps or writes to a caller's slices unless
// its comment says so.
//
// It is a leaf: it imports no other Cairn package.
package erasure
