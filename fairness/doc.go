// Package fairness holds the local quota trade: every storage peer keeps a
// ledger per counterpart and decides, alone, whether to keep something
// for it (Wuala's rule: what you get is what you give, times how often you
// are online). Events go in (bytes admitted, bytes released, bytes
// earned), decisions come out.
//
// Built so far: the ledger of bytes held per counterpart, the admission
// decision "held + size <= grace + earned", its release when what was
// admitted is dropped, and its persistence (OpenLedger writes every change
// through to a Store the caller supplies, in a versioned entry format).
// What a counterpart has earned (storage it proved to hold for us, weighed
// by its measured availability) is supplied by the caller through Earned
// and stays 0 until audits land: until then every counterpart gets the
// grace and no more. Uptime and Quota are the node's own side: its
// availability (online time over lifetime) and the quota it earns with it
// (contribution × availability).
//
// It is a leaf: it imports no other Cairn package; the clock is passed in.
package fairness
