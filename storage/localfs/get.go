package localfs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Fetcher is the drive, or a shared folder or file, as Get sees it. Get
// is called from up to Options.Parallel goroutines at once.
type Fetcher interface {
	// List returns the entries below the folder dir, at every depth
	// (dir itself may be among them). The slice is the caller's.
	List(ctx context.Context, dir string) ([]Entry, error)
	// Get writes the bytes of the remote file p to w and returns how
	// many. Errors of w are returned as they are (or as storage.IO).
	Get(ctx context.Context, p string, w io.Writer) (int64, error)
}

// Get downloads the remote file or folder e, named name, for the local
// path local: into local as name if local is an existing folder ("" puts a
// folder's contents straight in), else at local itself. Every remote path
// of a folder is checked before anything is written (planGet) and written
// without following links (createFile); local is the user's own path, so
// links in it are followed, and below it none is.
func Get(ctx context.Context, from Fetcher, e Entry, name, local string, o Options) (*Result, error) {
	dest, top, err := getDest(local, name, e.IsDir)
	if err != nil {
		return nil, err
	}
	p := o.progress()
	if !e.IsDir {
		p.SetTotal(e.Size)
		f, n, err := writeFile(local, dest, top, func(w io.Writer) (int64, error) { return from.Get(ctx, e.Path, counter{w, p}) })
		if err != nil {
			return nil, err
		}
		return &Result{Path: f, Files: 1, Bytes: n}, nil
	}
	items, err := from.List(ctx, e.Path)
	if err != nil {
		return nil, err
	}
	plan, err := planGet(dest, top, e.Path, items)
	if err != nil {
		return nil, err
	}
	return fetchInto(ctx, plan, from, o)
}

// WriteFile writes what fetch produces as a remote file named name for the
// local path local, as Get places a file, and returns the local path
// written and fetch's count. Nothing is left at the destination if fetch
// fails.
func WriteFile(local, name string, fetch func(io.Writer) (int64, error)) (string, int64, error) {
	dest, top, err := getDest(local, name, false)
	if err != nil {
		return "", 0, err
	}
	return writeFile(local, dest, top, fetch)
}

// writeFile writes a file where getDest placed it: at local if dest is "",
// else as top under dest.
func writeFile(local, dest, top string, fetch func(io.Writer) (int64, error)) (string, int64, error) {
	if dest != "" {
		return createFile(dest, top, fetch)
	}
	n, err := writeAt(local, fetch)
	return local, n, err
}

// writeAt writes what fetch produces into a temporary file beside dst and
// renames it into place only when fetch succeeded. dst is a path the user
// named (LOCAL), not one built from remote names: those go through
// createFile.
func writeAt(dst string, fetch func(io.Writer) (int64, error)) (int64, error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, storage.E("get", storage.IO, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".cairn-*")
	if err != nil {
		return 0, storage.E("get", storage.IO, err)
	}
	n, err := fetch(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = storage.E("get", storage.IO, cerr)
	}
	if err == nil {
		if rerr := os.Rename(f.Name(), dst); rerr != nil {
			err = storage.E("get", storage.IO, rerr)
		}
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}

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
func planGet(dest, top, remoteTop string, items []Entry) (*getPlan, error) {
	plan := &getPlan{dest: dest, top: top}
	if top != "" {
		if _, err := safeJoin(dest, top); err != nil {
			return nil, withHint(err, unsafeNameHint)
		}
	}
	for _, it := range items {
		if it.Path == remoteTop {
			continue // the folder itself
		}
		rel, err := relBelow(remoteTop, it.Path)
		if err != nil {
			return nil, withHint(err, unsafeNameHint)
		}
		if top != "" {
			rel = top + "/" + rel
		}
		if _, err := safeJoin(dest, rel); err != nil {
			return nil, withHint(err, unsafeNameHint)
		}
		if it.IsDir {
			plan.dirs = append(plan.dirs, rel)
		} else {
			plan.files = append(plan.files, getFileJob{it.Path, rel, it.Size})
		}
	}
	return plan, nil
}

// getDest decides where a remote folder or file named name goes for the
// LOCAL argument local: into local if it is an existing folder (as name,
// checked; "" puts a folder's contents straight in), else at local itself
// (dest local and top "" for a folder, which fetchInto makes; dest "" for
// a file, which writeFile writes at local). local is the user's own path,
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
// files, Options.Parallel at a time, each through createFile.
func fetchInto(ctx context.Context, plan *getPlan, from Fetcher, o Options) (*Result, error) {
	res := &Result{Path: filepath.Join(plan.dest, filepath.FromSlash(plan.top)), Dirs: 1}
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
	var total int64
	for _, f := range plan.files {
		total += f.size
	}
	p := o.progress()
	p.SetTotal(total)
	var mu sync.Mutex
	err := inParallel(ctx, o.parallel(), plan.files, func(j getFileJob) string { return j.remote }, func(ctx context.Context, j getFileJob) error {
		_, n, err := createFile(plan.dest, j.rel, func(w io.Writer) (int64, error) { return from.Get(ctx, j.remote, counter{w, p}) })
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
