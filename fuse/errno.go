package fuse

import (
	"errors"
	"syscall"

	"github.com/cairn-storage/cairn/storage"
)

// errnos is the one table from the drive's error kinds to errno. Kinds
// marked loud are logged when returned: they are not the caller's doing
// (the network, the disk, a damaged record) and EIO alone says nothing.
var errnos = map[storage.Kind]struct {
	errno syscall.Errno
	loud  bool
}{
	storage.NotExist:      {syscall.ENOENT, false},
	storage.Exist:         {syscall.EEXIST, false},
	storage.IsDir:         {syscall.EISDIR, false},
	storage.NotDir:        {syscall.ENOTDIR, false},
	storage.NotEmpty:      {syscall.ENOTEMPTY, false},
	storage.Permission:    {syscall.EACCES, false}, // EROFS on a read-only mount: errnoOf
	storage.Invalid:       {syscall.EINVAL, false},
	storage.Quota:         {syscall.EDQUOT, true},
	storage.Canceled:      {syscall.EINTR, false},
	storage.Unavailable:   {syscall.EIO, true},
	storage.IO:            {syscall.EIO, true},
	storage.Corrupt:       {syscall.EIO, true},
	storage.CannotDecrypt: {syscall.EIO, true},
	storage.Other:         {syscall.EIO, true},
}

// errnoOf maps err to an errno: a syscall.Errno in its chain (the
// adaptor's own answers: ENAMETOOLONG, EROFS, EBADF...) as it is, else
// the Kind through errnos. loud says the error should be logged.
func errnoOf(err error, readOnly bool) (e syscall.Errno, loud bool) {
	if err == nil {
		return 0, false
	}
	if errors.As(err, &e) {
		return e, false
	}
	k := storage.KindOf(err)
	if k == storage.Permission && readOnly {
		return syscall.EROFS, false
	}
	m, ok := errnos[k]
	if !ok {
		return syscall.EIO, true
	}
	return m.errno, m.loud
}
