package drive

import (
	"context"
	"path"

	"github.com/cairn-storage/cairn/storage"
)

// The rules of the Unix commands the CLI, the FUSE drive and the web page
// share, over the Drive's calls.

// Ls lists p as ls(1) does: a folder's children (recursive: everything
// below it, in walk order), or a file itself. Errors as Stat and List.
func (d *Drive) Ls(ctx context.Context, p string, recursive bool) ([]Entry, error) {
	if !recursive {
		es, err := d.List(ctx, p)
		if storage.KindOf(err) == storage.NotDir {
			if st, serr := d.Stat(ctx, p); serr == nil && !st.IsDir {
				return []Entry{st}, nil
			}
		}
		return es, err
	}
	st, err := d.Stat(ctx, p)
	if err != nil || !st.IsDir {
		return []Entry{st}, err
	}
	var out []Entry
	err = d.Walk(ctx, p, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Move renames src to dst as mv(1) does: onto an existing folder, src
// moves into it. It returns the path src has now.
func (d *Drive) Move(ctx context.Context, src, dst string) (string, error) {
	if st, err := d.Stat(ctx, dst); err == nil && st.IsDir {
		dst = path.Join(dst, path.Base(src))
	}
	return dst, d.Rename(ctx, src, dst)
}
