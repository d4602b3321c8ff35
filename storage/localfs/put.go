package localfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Sender is the drive as Put sees it. Its methods are called from up to
// Options.Parallel goroutines at once.
type Sender interface {
	// IsDir reports whether remote exists in the drive as a folder.
	IsDir(ctx context.Context, remote string) bool
	// Mkdir makes the folder remote and any missing parents; an existing
	// folder is not an error.
	Mkdir(ctx context.Context, remote string) error
	// PutFile uploads the regular file at local (an absolute path) to
	// remote, counting the bytes stored into p as they are, and returns
	// the entry stored.
	PutFile(ctx context.Context, local, remote string, p storage.Progress) (Entry, error)
}

// Put uploads local, a file or a folder, to the absolute drive path
// remote, or into it if remote ends in "/" or is a folder. A link named as
// local is followed; inside a folder, links and special files are skipped
// with a warning (Options.Warn). A local path that is neither a regular
// file nor a folder is refused before the Sender is asked to open it.
func Put(ctx context.Context, to Sender, local, remote string, o Options) (*Result, error) {
	abs, err := filepath.Abs(local)
	if err != nil {
		return nil, storage.Ef("put", storage.Invalid, showPath(local), err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, storage.Ef("put", storage.NotExist, local, errors.New("no such local file or folder"))
		}
		return nil, storage.Ef("put", storage.IO, local, err)
	}
	if err := checkPutSource(local, fi); err != nil {
		return nil, err // a named pipe or device: the daemon would block opening it
	}
	if strings.HasSuffix(remote, "/") || to.IsDir(ctx, remote) {
		remote = path.Join(remote, filepath.Base(abs))
	}
	remote = path.Clean(remote)
	p := o.progress()
	if !fi.IsDir() {
		p.SetTotal(fi.Size())
		e, err := to.PutFile(ctx, abs, remote, p)
		if err != nil {
			return nil, err
		}
		return &Result{Path: e.Path, Files: 1, Bytes: e.Size}, nil
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // a link to a folder, named on the command line
	}
	return putTree(ctx, to, abs, remote, o)
}

// putTree uploads a local folder: what planTree chooses, folders first (so
// empty ones exist too), then files, Options.Parallel at a time.
func putTree(ctx context.Context, to Sender, root, remote string, o Options) (*Result, error) {
	plan, err := planTree(root, remote, o.warn)
	if err != nil {
		return nil, err
	}
	res := &Result{Path: remote}
	for _, d := range plan.dirs {
		if err := to.Mkdir(ctx, d); err != nil {
			return nil, err
		}
		res.Dirs++
	}
	p := o.progress()
	p.SetTotal(plan.bytes)
	var mu sync.Mutex
	err = inParallel(ctx, o.parallel(), plan.files, func(j putJob) string { return j.local }, func(ctx context.Context, j putJob) error {
		e, err := to.PutFile(ctx, j.local, j.remote, p)
		if err == nil {
			mu.Lock()
			res.Files++
			res.Bytes += e.Size
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
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
				warn(fmt.Sprintf("skipping %s: the drive cannot hold its name (%v)", showPath(p), nerr))
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
			warn(fmt.Sprintf("skipping %s %s", specialKind(t), showPath(p)))
		}
		return nil
	})
	if err != nil {
		return nil, walkErr(err)
	}
	return plan, nil
}

func walkErr(err error) error {
	if storage.KindOf(err) != storage.Other {
		return err
	}
	return storage.E("read local folder", storage.IO, err)
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
