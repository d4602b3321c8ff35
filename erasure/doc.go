// Package erasure cuts a sealed chunk into Reed–Solomon fragments and puts
// it back together from any k of them. It also owns the fragment hash: the
// Merkle root over small leaves that names a fragment (its Ref) and lets an
// auditor check a single leaf with a short proof.
//
// It is a leaf: it imports no other Cairn package.
package erasure
