// Package cryptree holds Cairn's keys and the cryptography that uses them:
// AES-128-GCM sealing of chunks, padded to size buckets (SealChunkPadded,
// OpenChunk; SealChunk is the older unpadded form) and of small records
// (SealRecord, OpenRecord), per-user convergent chunk ids and keys
// (ChunkSecret.Derive), and the Keyring: every secret of a user derived from
// one 32-byte root, shown as a recovery secret, identified by a printable
// user id, and kept on disk under a passphrase (Argon2id).
//
// On top of that, the Cryptree: folder bodies (SealFolder, OpenFolder and
// the partial views OpenFiles, OpenFolderInfo, OpenBacklink,
// OpenFileEntry) whose parts open with the folder keys SK, FK, DK, BK and
// the write-wrap key WK; signed, sequence-numbered folder records
// (SignRecord, ParseRecord, SelectRecord); capabilities and cairn:// links
// (ParseCapability, FormatLink, ParseLink); messages sealed to a user's box
// key and signed by the sender (SealTo, OpenFrom, InboxID); size-bucket
// padding (Pad, Unpad); and the root folder's keys derived from the
// keyring (Keyring.RootFolder). These are pure functions of their inputs:
// fetching, storing and publishing belong to the drive and the network.
//
// Byte formats and derivations are specified in SPEC.md, with test vectors
// in testdata/cryptree/vectors.json and tree-vectors.json at the repository
// root.
//
// Errors: failures to open sealed data are ErrCannotDecrypt and never say
// whether the key or the data was wrong; malformed input is ErrInvalid with
// a reason; a keyring file that does not open is ErrWrongPassphrase, which is
// also ErrCannotDecrypt, as is ErrBadSignature (a forged or changed record
// or message); a tampered link is ErrCorruptLink; OpenFileEntry on a
// removed file is ErrNoEntry. Callers test with errors.Is and map to their
// own kinds at the edge.
//
// Every function is safe for concurrent use; a Keyring is immutable.
// Functions never retain the slices they are given.
//
// It is a leaf: it imports no other Cairn package.
package cryptree
