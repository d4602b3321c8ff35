package localfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/cairn-storage/cairn/storage"
)

// OpenSource opens the local file named by an upload by path (the daemon's
// put of a local source, which its journal can resume after a crash), and
// returns it with its FileInfo. The file is checked after it is opened,
// so a regular file swapped for something else after the client looked
// at it is still refused: name must be absolute (storage.Invalid
// otherwise); it is opened with O_NONBLOCK, so a named pipe does not wait
// for a writer; anything but a regular file is storage.Invalid, "not a
// regular file". A missing file is storage.NotExist, an unreadable one
// storage.Permission. The caller closes the file.
func OpenSource(name string) (*os.File, fs.FileInfo, error) {
	if !filepath.IsAbs(name) {
		return nil, nil, storage.E("put", storage.Invalid, fmt.Errorf("source %q is not an absolute path", name))
	}
	const op = "put: open source"
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		kind := storage.IO
		if errors.Is(err, os.ErrNotExist) {
			kind = storage.NotExist
		} else if errors.Is(err, os.ErrPermission) {
			kind = storage.Permission
		}
		return nil, nil, storage.E(op, kind, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, nil, storage.Ef(op, storage.Invalid, name, err)
	}
	return f, fi, nil
}
