// Package drive is a user's drive: the namespace of files and folders,
// the upload journal, and Drive, the façade the daemon and the FUSE drive
// call (Put, Open, Stat, List, Walk, Mkdir, Remove, Rename, Pending,
// Resume, Usage).
//
// It owns:
//
//   - Namespace, the interface callers use for names, and Flat, its
//     implementation in the node's local KV until the Cryptree folder
//     nodes replace it. Flat keeps one record per file or folder under a
//     key made of the parent folder's random id and a keyed hash of the
//     name, so the KV holds no names in its keys and, since every value is
//     sealed with the user's metadata key (cryptree.SealRecord, ad = the
//     KV key), none in its values either; a file's record holds its whole
//     manifest (which holds chunk keys).
//   - Tree, the Cryptree Namespace (tree.go, tree_ops.go): every folder
//     a sealed cryptree node named by a signed, sequence-numbered record
//     (published through Records, the DHT and storage peers in the
//     daemon), its body inline in the record or a small object
//     (blob.PutObject); files are entries of their folder with their
//     versions (the first and the last KeepVersions kept; Versions,
//     Version); Remove moves into TrashDir. A local cache keeps the latest
//     record seen per folder, so a rolled-back or forged record is refused
//     (storage.Corrupt). Drive.Versions and Drive.OpenVersion (versions.go)
//     use it when the namespace is Versioned.
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
// Crash safety, the KV key layout and record formats are described in
// docs/DESIGN.md ("The drive") and in record.go.
//
// Errors are *storage.Error with a Kind: Invalid (bad path, wrong kind of
// entry), NotExist, Exist, CannotDecrypt (a record sealed under another
// key), Corrupt (a record that opens but does not parse), and the kinds of
// the KV and of storage/blob (Unavailable, Canceled, IO).
//
// Everything here is safe for concurrent use. Entries and manifests
// returned belong to the caller; nothing passed in is retained.
package drive
