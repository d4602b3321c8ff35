// Package fairness holds the local quota trade: every storage peer keeps a
// ledger per counterpart and decides, alone, whether to keep a fragment
// for it (Wuala's rule: what you get is what you give, times how often you
// are online). Events go in (bytes held, bytes earned), decisions come out.
//
// Built so far: the ledger of bytes held per counterpart and the admission
// decision "held + size <= grace + earned". What a counterpart has earned
// (storage it proved to hold for us, weighed by its measured availability)
// is supplied by the caller through Earned and stays 0 until audits land:
// until then every counterpart gets the grace and no more.
//
// It is a leaf: it imports no other Cairn package; clock-free.
package fairness
