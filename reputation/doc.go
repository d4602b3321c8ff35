// Package reputation will score peers from audit results, availability and
// transfer speed (a beta score with slow forgetting) and rank them for
// placement (storage.Ranker). Not built yet.
//
// It is a leaf: it imports no other Cairn package.
package reputation
