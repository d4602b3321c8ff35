// Package audit is /cairn/audit/1.0.0: an owner (or a delegate it named)
// asks a holder to prove that it still holds a fragment, and the holder
// answers with leaves of the fragment and their Merkle paths to the
// fragment's ref, which is its root (erasure.Prove). The leaves are picked
// by a fresh nonce from the auditor (Indices), so a holder cannot answer
// from what it kept of earlier audits, and one that kept part of a
// fragment passes with the chance that every asked leaf is in that part:
// (kept share)^leaves. An audit is signed by the auditor for this holder
// and a time within Window, and only an authorized auditor is answered:
// an answered audit renews the fragment's lease on the holder
// (ServiceConfig.Renewed).
//
// Delegation (cert.go): the owner signs a Cert naming a delegate key,
// for at most MaxValidity; the delegate's audits (Client.Delegated) are
// answered where the owner keeps the fragment and renew the owner's
// lease; the owner voids its certificates up to a serial at a holder with
// Client.Revoke, which the holder keeps as one number per owner
// (ServiceConfig.Revocations).
//
// The wire format is in network/PROTOCOL.md; the request lifecycle and the
// response frame are network/internal/proto's, shared with the fragment
// and pointer protocols. Not wired into the daemon yet: the scheduler,
// leases and reputation come with issue 9.
package audit
