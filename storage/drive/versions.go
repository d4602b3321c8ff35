package drive

import (
	"context"

	"github.com/cairn-storage/cairn/storage/blob"
)

// Versions lists the kept versions of file p, oldest first (the last is
// the current one). storage.NotExist if missing, storage.IsDir for a
// folder.
func (d *Drive) Versions(ctx context.Context, p string) ([]VersionInfo, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	return t.Versions(ctx, p)
}

// OpenVersion returns a random-access reader for version n of file p and
// that version's entry. storage.NotExist if the file or the version is
// missing, storage.IsDir for a folder. The Reader's fetches are bounded
// by ctx.
func (d *Drive) OpenVersion(ctx context.Context, p string, n uint64) (*blob.Reader, Entry, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, Entry{}, err
	}
	e, err := t.Version(ctx, p, n)
	if err != nil {
		return nil, Entry{}, err
	}
	return d.bc.Open(ctx, e.Manifest), e, nil
}
