// Package home is a node's home folder: the files that make a node what it
// is, and how they are created, read and replaced.
//
// A home holds, as files, config.json (the defaults of `cairn daemon`),
// keyring (the user's keys, sealed under a passphrase with Argon2id),
// node.key (the libp2p identity) and, in the folder db/, all data. Deleting
// db/ loses stored data and caches, never the identity or keys. The local
// daemon's socket is daemon.sock in the home, or in the temporary folder
// when the home's path is too long for a socket (SocketPath).
//
// Init and Recover create a home; Open reads one. Files are replaced
// atomically (a temporary file, synced, renamed into place), so a crash
// leaves the old file or the new one; the keyring is written last, so its
// presence marks a complete home. The passphrase is asked for through a
// callback, only once the cheap checks have passed. Errors are
// *storage.Error values: a folder that is not a home is Invalid (and
// wraps ErrNotHome), a home that exists already is Exist, a wrong
// passphrase is CannotDecrypt. Advice for the user is the caller's to add.
//
// Locate finds the home to use ($CAIRN_HOME, else ~/.cairn); Settings
// resolves what `cairn daemon` runs with (its flags over
// config.json over the defaults); Listen opens the daemon's socket; Uptime
// keeps the node's online time across runs in a KV of the home's database.
// ParseSize and FormatSize are the sizes config.json holds (500MiB, 2GB).
package home
