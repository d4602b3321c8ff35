package drive

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// Limits on drive paths, as on common Unix file systems.
const (
	MaxName = 255  // bytes in one path component
	MaxPath = 4096 // bytes in a whole cleaned path
)

// Entry is a file or folder in the drive.
type Entry struct {
	// Path is the clean absolute path, "/" for the root.
	Path  string
	IsDir bool
	// Size is the file's length in bytes; 0 for folders.
	Size int64
	// Mtime is the file's modification time as given to Commit, or the
	// folder's creation time.
	Mtime time.Time
	// Manifest describes a file's bytes. It is set by Stat, Walk, Remove and
	// Commit; List leaves it nil (a listing does not parse manifests); it is
	// always nil for folders. It is the caller's and holds chunk keys.
	Manifest *blob.Manifest
}

// Name returns the last element of the path; "/" for the root.
func (e Entry) Name() string { return path.Base(e.Path) }

// Clean checks and cleans a drive path. It must be absolute and free of
// NUL bytes; path.Clean resolves "." and ".." (".." at the root stays at
// the root); each component must then be a valid name (checkName: at most
// MaxName bytes, no '\' or control characters) and the cleaned path at
// most MaxPath bytes. A bad path is an error of Kind storage.Invalid with
// the reason.
func Clean(p string) (string, error) {
	fail := func(why string) (string, error) {
		return "", storage.Ef("clean path", storage.Invalid, fmt.Sprintf("%.64q", p), errors.New(why))
	}
	switch {
	case p == "":
		return fail("empty path")
	case p[0] != '/':
		return fail("not absolute (must begin with /)")
	case strings.IndexByte(p, 0) >= 0:
		return fail("contains a NUL byte")
	case len(p) > 4*MaxPath:
		return fail("too long")
	}
	c := path.Clean(p)
	if len(c) > MaxPath {
		return fail(fmt.Sprintf("longer than %d bytes", MaxPath))
	}
	if c == "/" {
		return c, nil
	}
	for _, name := range strings.Split(c[1:], "/") {
		if err := checkName(name); err != nil {
			return "", storage.Ef("clean path", storage.Invalid, fmt.Sprintf("%.64q", p), err)
		}
	}
	return c, nil
}

// checkName reports why name cannot be one component of a path. The rule
// is the folder format's (cryptree.ValidName): 1..MaxName bytes of valid
// UTF-8, not "." or "..", no '/', '\' or control character. A name the
// drive accepts is one every reader of the folder accepts too.
func checkName(name string) error {
	return cryptree.ValidName(name)
}

// split returns the names of the components of a clean path; none for "/".
func split(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// cleanMove cleans the two paths of a rename and refuses the moves no
// namespace allows: the root, onto the root or itself, into itself.
func cleanMove(op, src, dst string) (string, string, error) {
	src, err := clean(op, src)
	if err != nil {
		return "", "", err
	}
	dst, err = clean(op, dst)
	if err != nil {
		return "", "", err
	}
	switch {
	case src == "/":
		return "", "", storage.Ef(op, storage.Invalid, src, errors.New("cannot move the root"))
	case dst == "/" || dst == src:
		return "", "", storage.Ef(op, storage.Exist, dst, nil)
	case strings.HasPrefix(dst, src+"/"):
		return "", "", storage.Ef(op, storage.Invalid, dst, errors.New("cannot move a folder into itself"))
	}
	return src, dst, nil
}

// clean is Clean for operation op.
func clean(op string, p string) (string, error) {
	c, err := Clean(p)
	if err != nil {
		return "", storage.E(op, storage.Invalid, err)
	}
	return c, nil
}

// wrap names op and p in err, keeping its kind; nil stays nil.
func wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return storage.Ef(op, storage.Other, p, err)
}
