// Package cryptree holds Cairn's keys and the cryptography that uses them:
// AES-128-GCM sealing of chunks, per-user chunk key derivation, and the
// keyring kept on disk under a passphrase (Argon2id). The Cryptree key
// hierarchy of folders, files and links grows here. Byte formats are in
// SPEC.md, with test vectors under testdata/.
//
// It is a leaf: it imports no other Cairn package.
package cryptree
