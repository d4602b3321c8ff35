package drive

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// Versioned is implemented by namespaces that keep earlier versions of
// files (Tree). Drive falls back to the current version alone for those
// that do not (Flat).
type Versioned interface {
	// Versions lists the kept versions of file p, oldest first.
	Versions(ctx context.Context, p string) ([]VersionInfo, error)
	// Version returns version n of file p with its Manifest.
	Version(ctx context.Context, p string, n uint64) (Entry, error)
}

var _ Versioned = (*Tree)(nil)

// Versions lists the kept versions of file p, oldest first (the last is
// the current one). With a namespace that keeps no versions, the current
// file is version 1. storage.NotExist if missing, storage.Invalid for a
// folder.
func (d *Drive) Versions(ctx context.Context, p string) ([]VersionInfo, error) {
	if v, ok := d.ns.(Versioned); ok {
		return v.Versions(ctx, p)
	}
	e, err := d.ns.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	if e.IsDir {
		return nil, storage.Ef("versions", storage.Invalid, e.Path, errors.New("is a folder"))
	}
	return []VersionInfo{{N: 1, Size: e.Size, Mtime: e.Mtime}}, nil
}

// OpenVersion returns a random-access reader for version n of file p and
// that version's entry. storage.NotExist if the file or the version is
// missing, storage.Invalid for a folder. The Reader's fetches are bounded
// by ctx.
func (d *Drive) OpenVersion(ctx context.Context, p string, n uint64) (*blob.Reader, Entry, error) {
	v, ok := d.ns.(Versioned)
	if !ok {
		if n != 1 {
			return nil, Entry{}, storage.Ef("open version", storage.NotExist, fmt.Sprintf("%s version %d", p, n), nil)
		}
		return d.Open(ctx, p)
	}
	e, err := v.Version(ctx, p, n)
	if err != nil {
		return nil, Entry{}, err
	}
	return d.bc.Open(ctx, e.Manifest), e, nil
}
