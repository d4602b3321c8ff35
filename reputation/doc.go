// Package reputation scores the peers a node deals with, from what it
// measured itself: audit outcomes (a beta score α/(α+β) with slow
// forgetting, as Storj does, starting from a prior of passed audits),
// availability (the time-weighted share of probes that found a peer
// online) and transfers (moving success rate and speed). From those it
// decides: a peer is vetted after enough passed audits over enough time,
// warned when its score falls, excluded (and its fragments to be repaired
// elsewhere) when it falls further, and it weighs peers for placement
// (Book.Weight; the wiring adapts it to storage.Ranker).
//
// RepairPolicy (repair.go) is the other half of keeping data: from what
// was last seen of each placed fragment of a chunk (held, away since
// when, lost) it decides whether the chunk is repaired now, which
// fragments the repaired manifest forgets and how many new ones are
// placed. Fragments on a holder that is only away for a while still
// count (Carbonite), so a mass restart does not start a repair storm.
//
// It is policy only: events in, decisions out, the caller's clock, no I/O
// (MarshalBinary/UnmarshalBinary give the state to keep). It is a leaf: it
// imports no other Cairn package.
package reputation
