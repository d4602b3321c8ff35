// Package proto is the scaffolding every Cairn request–response protocol
// shares (network/fragment, network/pointer, and the audit protocol to
// come), so that each protocol package holds only its own wire fields and
// its own rules:
//
//   - the response frame (status · text length · body length · text ·
//     body), read with its caps checked before anything is allocated;
//   - the status table: the common statuses (ok, not found, quota,
//     invalid, permission, internal, busy) and the rows a protocol adds
//     (code 4 is "corrupt" for fragments and "stale" for pointers), mapped
//     to storage kinds both ways, with the errors a client returns for a
//     refusal;
//   - the server's request lifecycle (Server): accept a stream in the
//     protocol's resource-manager service, bound it by deadlines, read a
//     request, dispatch it, answer, then wait for the next request or end
//     the stream, resetting it on any error that cannot be answered;
//   - the client's side of it (Client): streams kept for reuse, a request
//     written while its response is awaited, a reused stream that died
//     retried once on a new one, resets after refusals;
//   - small framing helpers for signed, timestamped requests.
//
// The wire format of each protocol stays in network/PROTOCOL.md.
package proto
