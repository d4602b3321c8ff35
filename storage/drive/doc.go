// Package drive is a user's drive: Drive, the one façade the daemon's API,
// the FUSE drive and the web page call (files and folders, versions,
// sharing and receiving, republishing, usage, the upload journal), the
// Cryptree namespace behind it, and Maintenance, the drive's background
// work.
//
// It owns:
//
//   - Drive and its lifetime (open.go): Open returns at once and opens
//     the Tree lazily, once the network can answer for the root folder
//     (Config.Wait, injected: drive does not know the network), retrying
//     with backoff; until then every call is storage.Unavailable with
//     ErrNotOpen in its chain. Close stops the background opener.
//   - Maintenance (maintenance.go): the loops the daemon runs over its
//     Drive once the Tree is open (resume the journal, poll the inbox,
//     republish folder records), made with NewMaintenance(ctx, ...) and
//     stopped by Close, which waits for them.
//   - Tree, the Cryptree namespace (tree.go, tree_ops.go): every folder
//     a sealed cryptree node named by a signed, sequence-numbered record
//     (published through Records, the DHT and storage peers in the
//     daemon), its body inline in the record or a small object
//     (blob.PutObject); files are entries of their folder with their
//     versions (the first and the last KeepVersions kept; Versions,
//     Version); Remove moves into TrashDir. A local cache keeps the latest
//     record seen per folder, so a rolled-back or forged record is refused
//     (storage.Corrupt).
//   - Sharing (share.go, shared.go, share_lists.go, capview.go): Share
//     and Link hand over a cryptree.Capability (sealed to an Inbox, or as
//     a cairn:// link), Unshare re-keys the subtree under new identities
//     and re-delivers to those who keep access, Receive adds what arrives
//     to /shared, a virtual folder through which received folders are
//     read and (with write access) written. The share list and the
//     received list are files in /.cairn of the user's own tree.
//     OpenCapability is a read-only view of one capability, for links.
//   - The upload journal: while Put runs, a sealed header (path, source
//     file, its size and mtime) and one sealed record per chunk that
//     landed. Put commits to the namespace only when every chunk is
//     placed, then deletes the entry; after a crash, Resume re-reads the
//     source and sends only the chunks the journal does not have.
//   - Clean, the rules for drive paths (absolute, no NUL, components of at
//     most MaxName bytes, at most MaxPath bytes in all).
//
// Crash safety, the journal's KV key layout and record formats are
// described in docs/DESIGN.md ("The drive") and in record.go.
//
// Errors are *storage.Error with a Kind: Invalid (bad path or argument),
// NotExist, Exist, IsDir (a file was expected), NotDir (a folder was
// expected, or a path goes through a file), NotEmpty (removing a folder
// with children without recursion), Permission (read-only shares),
// CannotDecrypt (a record sealed under another key), Corrupt (a record
// that opens but does not parse, a rollback, a forgery), and the kinds of
// the KV and of storage/blob (Unavailable, Canceled, IO).
//
// Everything here is safe for concurrent use. Entries and manifests
// returned belong to the caller; nothing passed in is retained.
package drive
