package fuse

import (
	"context"
	"errors"
	"io"
	"path"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
)

// File is an open file of the drive: random access, fetching only what a
// read covers (blob.Reader). Safe for concurrent ReadAt.
type File interface {
	io.ReaderAt
	Size() int64
}

// Reader is the part of the drive a read-only mount uses. Errors are
// *storage.Error with a Kind (mapped to errno by one table, errno.go).
// Calls are made from many goroutines at once and bounded by ctx; the
// File Open returns reads with the ctx it was opened with (the mount
// passes one that lasts as long as the open file).
type Reader interface {
	Stat(ctx context.Context, p string) (drive.Entry, error)
	List(ctx context.Context, dir string) ([]drive.Entry, error)
	Open(ctx context.Context, p string) (File, drive.Entry, error)
}

// Drive is the part of the drive a writable mount uses: Reader, and the
// calls of *drive.Drive with the same names and meanings (Mkdir without
// parents, Remove without recursion, Rename refusing an existing
// destination, Put of a whole file, Usage for statfs).
type Drive interface {
	Reader
	Mkdir(ctx context.Context, p string, parents bool) error
	Remove(ctx context.Context, p string, recursive bool) ([]drive.Entry, error)
	Rename(ctx context.Context, src, dst string) error
	Put(ctx context.Context, p string, r io.Reader, o drive.PutOptions) (drive.Entry, error)
	Usage(ctx context.Context) (files int, size, stored int64, err error)
}

// Own adapts a user's own *drive.Drive (its Open returns a *blob.Reader).
func Own(d *drive.Drive) Drive { return own{d} }

type own struct{ *drive.Drive }

func (o own) Open(ctx context.Context, p string) (File, drive.Entry, error) {
	r, e, err := o.Drive.Open(ctx, p)
	if err != nil {
		return nil, e, err
	}
	return r, e, nil
}

// Link adapts the read-only view of a link (drive.OpenCapability). A
// folder link is the mount's root; a file link appears as the one file
// of the root, under the name it carries ("file" if none).
func Link(v *drive.CapView) Reader {
	l := link{v: v}
	if !v.IsDir() {
		l.name = v.Name()
		if cryptree.ValidName(l.name) != nil {
			l.name = "file"
		}
	}
	return l
}

type link struct {
	v    *drive.CapView
	name string // the file's name for a file link; "" for a folder
}

// inner maps a mount path to the view's: the file link's file is "/".
func (l link) inner(op, p string) (string, error) {
	if l.name == "" {
		return p, nil
	}
	c, err := drive.Clean(p)
	if err != nil {
		return "", err
	}
	if c != "/"+l.name {
		return "", storage.Ef(op, storage.NotExist, c, errors.New("a file link holds one file"))
	}
	return "/", nil
}

func (l link) Stat(ctx context.Context, p string) (drive.Entry, error) {
	if l.name != "" && p == "/" {
		return drive.Entry{Path: "/", IsDir: true}, nil
	}
	q, err := l.inner("stat", p)
	if err != nil {
		return drive.Entry{}, err
	}
	e, err := l.v.Stat(ctx, q)
	if l.name != "" {
		e.Path = path.Join("/", l.name)
	}
	return e, err
}

func (l link) List(ctx context.Context, dir string) ([]drive.Entry, error) {
	if l.name == "" {
		return l.v.List(ctx, dir)
	}
	if dir != "/" {
		if _, err := l.Stat(ctx, dir); err != nil {
			return nil, err
		}
		return nil, storage.Ef("list", storage.NotDir, dir, nil)
	}
	e, err := l.Stat(ctx, "/"+l.name)
	if err != nil {
		return nil, err
	}
	e.Manifest = nil
	return []drive.Entry{e}, nil
}

func (l link) Open(ctx context.Context, p string) (File, drive.Entry, error) {
	q, err := l.inner("open", p)
	if err != nil {
		return nil, drive.Entry{}, err
	}
	r, e, err := l.v.Open(ctx, q)
	if err != nil {
		return nil, e, err
	}
	if l.name != "" {
		e.Path = "/" + l.name
	}
	return r, e, nil
}

var _ File = (*blob.Reader)(nil)
