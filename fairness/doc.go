// Package fairness will hold the local quota trade: a ledger per
// counterpart of proven storage weighed by measured availability, and the
// admission decision (storage.Admitter) a storage peer makes before it
// keeps a fragment for someone. Not built yet: until it is, peers admit
// up to a fixed grace per counterpart.
//
// It is a leaf: it imports no other Cairn package.
package fairness
