// Package localfs is the local side of put and get: what a local folder
// uploads (and what it skips, and why), the parallel transfer of many files
// and the safe restore of remote entries into a local folder.
//
// Remote names come from other people's folders (shares, links), so Get
// turns every remote path into checked single components under the
// destination, checks them all before writing anything, and never follows
// or writes through a symbolic link there: files are written to new
// temporary files (O_EXCL|O_NOFOLLOW, through an os.Root) renamed into
// place. Put uploads folders and regular files and skips, with a warning,
// what it must not open: symbolic links, named pipes, sockets, devices and
// names the drive cannot hold.
//
// The drive is reached through two small interfaces the caller implements
// (Sender for Put, Fetcher for Get): cmd/cairn over its daemon client and
// over a shared link's view. Progress is counted through storage.Progress;
// drawing it is the caller's business. Errors are *storage.Error values;
// some carry advice for the user, which Hint returns.
package localfs
