package main

// The local side of get and put. Remote names come from other people's
// folders (shares, links), so get turns each remote path into checked
// single components under the destination and never follows or writes
// through a symbolic link there. put uploads folders and regular files and
// skips, with a warning, what it must not open (symbolic links, named
// pipes, sockets, devices).

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// unsafeNameHint is the advice for a remote name refused as a local one.
const unsafeNameHint = "the remote folder holds a name that cannot be a local file name (it may come from a tampered share); nothing was written"

// checkLocalName reports why a remote name cannot be one component of a
// local path: the folder format's rule (cryptree.ValidName), which refuses
// "", ".", "..", '/', '\', NUL and other control characters, invalid UTF-8
// and names over 255 bytes. Such a name can only come from a folder that
// was written around the format's checks, so it is storage.Corrupt.
func checkLocalName(name string) error {
	if err := cryptree.ValidName(name); err != nil {
		return storage.Ef("get", storage.Corrupt, fmt.Sprintf("%.80q", name), fmt.Errorf("not a safe local file name: %w", err))
	}
	return nil
}

// splitRel splits rel, a slash-separated path relative to a destination,
// into its components, each checked by checkLocalName. An absolute or
// empty path is refused, and so is any "." or ".." component or one with a
// separator of any platform ('/' splits; '\' is refused).
func splitRel(rel string) ([]string, error) {
	if rel == "" {
		return nil, storage.E("get", storage.Corrupt, errors.New("empty remote path"))
	}
	if strings.HasPrefix(rel, "/") {
		return nil, storage.Ef("get", storage.Corrupt, fmt.Sprintf("%.80q", rel), errors.New("remote path is absolute"))
	}
	comps := strings.Split(rel, "/")
	for _, c := range comps {
		if err := checkLocalName(c); err != nil {
			return nil, err
		}
	}
	return comps, nil
}

// safeJoin returns the local path of rel under dest: dest joined with the
// checked components of rel (splitRel), and verified to lie strictly
// inside dest. Nothing on disk is looked at.
func safeJoin(dest, rel string) (string, error) {
	comps, err := splitRel(rel)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dest, filepath.Join(comps...))
	r, err := filepath.Rel(dest, p)
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return "", storage.Ef("get", storage.Corrupt, fmt.Sprintf("%.80q", rel), errors.New("remote path leads outside the destination"))
	}
	return p, nil
}

// openDest opens dest, an existing local folder, as an os.Root: nothing
// done through it can reach outside dest, even if a folder in it is
// swapped for a link while get runs.
func openDest(dest string) (*os.Root, error) {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, storage.E("get", storage.IO, err)
	}
	return root, nil
}

// mkdirIn makes the folders of comps under root one at a time, each
// checked with Lstat: an existing folder is entered, a missing one made,
// and anything else in the way — a symbolic link above all — is an error.
// dest is root's path, for messages.
func mkdirIn(root *os.Root, dest string, comps []string) error {
	for i := range comps {
		rel := filepath.Join(comps[:i+1]...)
		fi, err := root.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			err = root.Mkdir(rel, 0o755)
			if err != nil && !errors.Is(err, fs.ErrExist) { // made by a parallel download: check it below
				return storage.E("get", storage.IO, err)
			}
			fi, err = root.Lstat(rel)
		}
		if err != nil {
			return storage.E("get", storage.IO, err)
		}
		if err := mustBe(fi, fs.ModeDir, filepath.Join(dest, rel)); err != nil {
			return err
		}
	}
	return nil
}

// mustBe refuses a local entry in the way that is not of the wanted type
// (fs.ModeDir for a folder, 0 for a regular file).
func mustBe(fi fs.FileInfo, want fs.FileMode, p string) error {
	got := fi.Mode().Type()
	switch {
	case got == want:
		return nil
	case got&fs.ModeSymlink != 0:
		return withHint(storage.Ef("get", storage.Exist, showPath(p), errors.New("is a symbolic link: cairn does not write through links")),
			"move the link away, or get into an empty folder")
	case want == fs.ModeDir:
		return storage.Ef("get", storage.Exist, showPath(p), errors.New("is in the way: not a folder"))
	}
	return storage.Ef("get", storage.Exist, showPath(p), errors.New("is in the way: not a regular file"))
}

// mkdirUnder makes the folder rel (slash-separated, "" for dest itself)
// under the existing folder dest, as mkdirIn.
func mkdirUnder(dest, rel string) error {
	if rel == "" {
		return nil
	}
	comps, err := splitRel(rel)
	if err != nil {
		return err
	}
	if _, err := safeJoin(dest, rel); err != nil {
		return err
	}
	root, err := openDest(dest)
	if err != nil {
		return err
	}
	defer root.Close()
	return mkdirIn(root, dest, comps)
}

// createFile writes what fetch produces to the file rel (slash-separated)
// under the existing folder dest, making its folders as mkdirUnder does.
// The bytes go to a new temporary file beside it, created with O_EXCL and
// O_NOFOLLOW, which is renamed into place only when fetch succeeded. A
// regular file already at rel is replaced; a link, folder or anything
// else there is an error, and nothing is written through it. It returns
// the local path and fetch's count.
func createFile(dest, rel string, fetch func(io.Writer) (int64, error)) (string, int64, error) {
	comps, err := splitRel(rel)
	if err != nil {
		return "", 0, err
	}
	local, err := safeJoin(dest, rel)
	if err != nil {
		return "", 0, err
	}
	root, err := openDest(dest)
	if err != nil {
		return "", 0, err
	}
	defer root.Close()
	if err := mkdirIn(root, dest, comps[:len(comps)-1]); err != nil {
		return "", 0, err
	}
	name := filepath.Join(comps...)
	if fi, err := root.Lstat(name); err == nil {
		if err := mustBe(fi, 0, local); err != nil {
			return "", 0, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", 0, storage.E("get", storage.IO, err)
	}
	f, tmp, err := createTemp(root, filepath.Join(comps[:len(comps)-1]...), comps[len(comps)-1])
	if err != nil {
		return "", 0, err
	}
	n, err := fetch(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = storage.E("get", storage.IO, cerr)
	}
	if err == nil {
		// The check above stands: rename replaces a link rather than
		// writing through it, should one appear meanwhile.
		if rerr := root.Rename(tmp, name); rerr != nil {
			err = storage.E("get", storage.IO, rerr)
		}
	}
	if err != nil {
		_ = root.Remove(tmp)
		return "", 0, err
	}
	return local, n, nil
}

// createTemp makes a new empty file in the folder dir of root, named after
// base, with O_CREATE|O_EXCL|O_NOFOLLOW: never an existing file or link.
func createTemp(root *os.Root, dir, base string) (*os.File, string, error) {
	if len(base) > 200 {
		base = base[:200] // keep the temporary name under 255 bytes
	}
	for try := 0; ; try++ {
		name := filepath.Join(dir, "."+base+".cairn-"+rand.Text()[:10])
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil {
			return f, name, nil
		}
		if !errors.Is(err, fs.ErrExist) || try == 9 {
			return nil, "", storage.E("get", storage.IO, err)
		}
	}
}

// relBelow returns p's path below the remote folder top, slash-separated
// ("a/b" for top "/x" and p "/x/a/b"), or an error if p is not below top.
func relBelow(top, p string) (string, error) {
	prefix := strings.TrimSuffix(top, "/") + "/"
	rel, ok := strings.CutPrefix(p, prefix)
	if !ok || rel == "" {
		return "", storage.Ef("get", storage.Corrupt, fmt.Sprintf("%.80q", p), fmt.Errorf("remote entry is not inside %.80q", top))
	}
	return rel, nil
}

// showPath returns p as it can be printed on a terminal: quoted if it holds
// anything unprintable.
func showPath(p string) string {
	if strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

// putJob is one local regular file and the remote path it goes to.
type putJob struct{ local, remote string }

// putPlan is what putTree uploads: the remote folders (parents first, the
// top included) and the regular files, with their total size.
type putPlan struct {
	dirs  []string
	files []putJob
	bytes int64
}

// planTree walks the local folder root without following links and
// returns what put uploads under remote: folders and regular files.
// Symbolic links, named pipes, sockets, devices and names the drive cannot
// hold are skipped, each with one warning line through warn, and never
// opened (a named pipe would block forever). A folder that cannot be read
// fails the walk.
func planTree(root, remote string, warn func(string)) (*putPlan, error) {
	plan := &putPlan{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel != "." {
			if nerr := cryptree.ValidName(d.Name()); nerr != nil {
				warn(fmt.Sprintf("cairn: skipping %s: the drive cannot hold its name (%v)", showPath(p), nerr))
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		rp := path.Join(remote, filepath.ToSlash(rel))
		switch t := d.Type(); {
		case t.IsDir():
			plan.dirs = append(plan.dirs, rp)
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			plan.bytes += fi.Size()
			plan.files = append(plan.files, putJob{p, rp})
		default:
			warn(fmt.Sprintf("cairn: skipping %s %s", specialKind(t), showPath(p)))
		}
		return nil
	})
	if err != nil {
		return nil, walkErr(err)
	}
	return plan, nil
}

// specialKind names a file type that put does not upload.
func specialKind(t fs.FileMode) string {
	switch {
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// checkPutSource refuses a single local path given to put that is neither
// a regular file nor a folder, before the daemon is asked to open it.
func checkPutSource(local string, fi fs.FileInfo) error {
	if fi.IsDir() || fi.Mode().IsRegular() {
		return nil
	}
	return withHint(storage.Ef("put", storage.Invalid, showPath(local), fmt.Errorf("is a %s: only regular files and folders can be uploaded", specialKind(fi.Mode().Type()))),
		"to upload what a program writes, pipe it: ... | cairn put - REMOTE")
}

// remoteItem is one entry of a remote folder being downloaded.
type remoteItem struct {
	path  string // the remote path
	isDir bool
	size  int64
}

// getFileJob is one remote file and where it goes under the destination.
type getFileJob struct {
	remote, rel string
	size        int64
}

// getPlan is where get writes a remote folder: dest is an existing local
// folder, top the folder's copy under it ("" for dest itself), dirs and
// files the entries' slash-separated paths under dest.
type getPlan struct {
	dest, top string
	dirs      []string
	files     []getFileJob
}

// planGet maps the entries of the remote folder remoteTop to paths under
// dest/top, checking every one (safeJoin) before anything is written: one
// unsafe name, or an entry outside remoteTop, refuses the whole download.
func planGet(dest, top, remoteTop string, items []remoteItem) (*getPlan, error) {
	plan := &getPlan{dest: dest, top: top}
	if top != "" {
		if _, err := safeJoin(dest, top); err != nil {
			return nil, withHint(err, unsafeNameHint)
		}
	}
	for _, it := range items {
		if it.path == remoteTop {
			continue // the folder itself
		}
		rel, err := relBelow(remoteTop, it.path)
		if err != nil {
			return nil, withHint(err, unsafeNameHint)
		}
		if top != "" {
			rel = top + "/" + rel
		}
		if _, err := safeJoin(dest, rel); err != nil {
			return nil, withHint(err, unsafeNameHint)
		}
		if it.isDir {
			plan.dirs = append(plan.dirs, rel)
		} else {
			plan.files = append(plan.files, getFileJob{it.path, rel, it.size})
		}
	}
	return plan, nil
}

// getDest decides where a remote folder or file named name goes for the
// LOCAL argument local: into local if it is an existing folder (as name,
// checked; "" puts a folder's contents straight in), else at local itself
// (dest local and top "" for a folder, which fetchInto makes; dest "" for
// a file, which the caller writes at local). local is the user's own path,
// so links in it are followed; below it nothing is.
func getDest(local, name string, isDir bool) (dest, top string, err error) {
	if fi, serr := os.Stat(local); serr == nil && fi.IsDir() {
		if name != "" {
			if err := checkLocalName(name); err != nil {
				return "", "", withHint(err, unsafeNameHint)
			}
		}
		return local, name, nil
	}
	if !isDir {
		return "", "", nil
	}
	return local, "", nil
}

// fetchInto downloads the planned folder: its folders first, then the
// files, parallelFiles at a time, each through createFile.
func fetchInto(ctx context.Context, plan *getPlan, b *bar, fetch func(ctx context.Context, remote string, w io.Writer) (int64, error)) (*putResult, error) {
	res := &putResult{Path: filepath.Join(plan.dest, filepath.FromSlash(plan.top)), Dirs: 1}
	if err := os.MkdirAll(plan.dest, 0o755); err != nil { // the user's LOCAL
		return nil, storage.E("get", storage.IO, err)
	}
	if err := mkdirUnder(plan.dest, plan.top); err != nil {
		return nil, err
	}
	for _, d := range plan.dirs {
		if err := mkdirUnder(plan.dest, d); err != nil {
			return nil, err
		}
		res.Dirs++
	}
	for _, f := range plan.files {
		b.addTotal(f.size)
	}
	var mu sync.Mutex
	err := inParallel(ctx, plan.files, func(j getFileJob) string { return j.remote }, func(ctx context.Context, j getFileJob) error {
		_, n, err := createFile(plan.dest, j.rel, func(w io.Writer) (int64, error) { return fetch(ctx, j.remote, w) })
		if err == nil {
			mu.Lock()
			res.Files++
			res.Bytes += n
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
