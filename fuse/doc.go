// Package fuse mounts the drive as a folder through bazil.org/fuse: a
// thin adaptor (as rclone's cmd/mount over its VFS) with one errno
// table. It owns:
//
//   - Drive and Reader, the part of the drive it uses (drive.go), with
//     Own (a user's *drive.Drive) and Link (a link's *drive.CapView, read
//     only; a file link shows as the one file of the root).
//   - FS (fs.go, file.go), the drive with os semantics by path: Stat,
//     ReadDir, Open (O_RDONLY/O_WRONLY/O_RDWR, O_CREAT, O_EXCL, O_TRUNC,
//     O_APPEND) and Handle (ReadAt, WriteAt, Truncate, Flush, Sync,
//     Release), Mkdir, Unlink, Rmdir, Rename, Setattr (size, mode,
//     mtime), Statfs. Callable directly (the tests run one suite against
//     it and against a kernel mount).
//   - Write-back (upload.go): writes land in a local copy under
//     Options.CacheDir, bounded by Options.CacheMax (a write that would
//     pass it waits for uploads to free space, then ENOSPC), and return
//     at local-disk speed. Flush and release queue the file; an uploader
//     snapshots it and uploads it with Drive.Put; fsync queues it and
//     waits until it is committed (EIO past the deadline: it stays
//     queued). A file queued is queued once, however often it changes.
//     A failed upload the network may cure is retried with backoff (1 s
//     doubling to 1 min), for as long as it takes: writes go on while
//     the peers are away (write-behind). Until an upload commits, the
//     file reads, stats and lists from its local copy. FS.Pending is the
//     daemon's pending_uploads; FS.Drain waits for none.
//   - Mount (mount.go): the bazil.org/fuse server. Every request runs
//     under a deadline (Options.Timeout, 30 s): past it the kernel gets
//     EIO and the log a line, and the drive call is cancelled; the
//     kernel never waits on a peer for longer. Errors map to errno
//     through one table (errno.go): NotExist ENOENT, Exist EEXIST, IsDir
//     EISDIR, NotDir ENOTDIR, NotEmpty ENOTEMPTY, Permission EACCES
//     (EROFS on a read-only mount), Invalid EINVAL, Quota EDQUOT,
//     Canceled EINTR, and Unavailable, IO, Corrupt, CannotDecrypt and the
//     rest EIO with a log line.
//
// Views: the root is the user's drive as Drive.List shows it, /shared
// (received shares) included, read and written through the drive's own
// rules (Permission, so EACCES, for a read-only share). A read-only FS
// (Options.ReadOnly, or a Link) refuses every change with EROFS and is
// mounted read-only.
//
// Reads of a file without a local copy go to the drive's File: a read
// fetches only the chunks it covers (blob.Reader.ReadAt, which keeps the
// last 4). The kernel reads ahead up to 1 MiB.
//
// Wiring (cmd/cairn):
//
//	f, err := fuse.New(ctx, fuse.Own(d), fuse.Options{CacheDir: ..., Logf: log.Printf})
//	m, err := f.Mount(mountpoint) // storage.NotExist, NotDir, Exist (mounted already), IO
//	<-m.Done() or a signal; m.Close() (storage.Exist when busy)
//	f.Close(ctx) // waits for uploads as ctx allows
//
// and f.Pending() for status. A link: fuse.New(ctx, fuse.Link(view),
// fuse.Options{ReadOnly: true}).
//
// Deviations from POSIX:
//
//   - No hard links (link(2) fails), no symbolic links, no device files
//     or FIFOs (mknod), no extended attributes, no file locks beyond the
//     kernel's local ones.
//   - Owner and group are always the mounting user's; chown to anyone
//     else is EPERM.
//   - Mode bits (chmod) are kept in memory only, while the FS runs; a
//     new FS shows 0644 for files and 0755 for folders. Permissions are
//     not checked by the FS (the mount is the mounting user's).
//   - The mtime set by utimes is uploaded with a file's content when the
//     file has changes; otherwise (and for folders) it is kept in memory
//     only. atime and ctime show the mtime.
//   - Rename over an existing file or empty folder is not atomic: the
//     one there is removed (into the drive's trash) first, then the
//     source moved. A crash in between leaves the destination missing.
//   - Metadata changes (mkdir, rename, unlink, rmdir) go to the network
//     at once and fail with EIO while it is unreachable; only file
//     content is written back. A file created while offline exists
//     locally until its upload commits.
//   - Unlink and rename move what they replace into the drive's trash
//     (/.trash), which the root lists; removed files can be restored
//     from there.
//   - Names: the drive's rules (cryptree.ValidName): no '\' and no
//     control characters (EINVAL), at most 255 bytes (ENAMETOOLONG).
//   - Opening a big existing file for writing (without O_TRUNC) fetches
//     it whole into the cache at the first write or truncate, within the
//     request's deadline.
//   - Interrupts (a signal to a process blocked in the mount) do not end
//     a request early; the deadline does. fsync fails with EIO when the
//     upload did not commit in time, but nothing is lost: it stays
//     queued.
//   - The local copies of files not uploaded yet are not resumed after
//     the FS (the daemon) crashes: they stay in CacheDir.
package fuse
