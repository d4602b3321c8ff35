package drive

import (
	"context"
	"io/fs"

	"github.com/cairn-storage/cairn/storage/blob"
)

// Delegated repair (network/delegate): the owner hands the placement of
// its chunks, stripped of keys and names (blob.CapabilityOf), to a node
// that audits and repairs them while the owner is away, and folds the
// delegate's placement back into its manifests when it returns.

// Manifests returns the manifests of every kept version of the files
// under p (a file or a folder; /shared and the trash left out unless p
// is in them), with the file's path and version number of each.
func (d *Drive) Manifests(ctx context.Context, p string) ([]*blob.Manifest, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return nil, err
	}
	var out []*blob.Manifest
	err = t.eachVersion(ctx, p, func(string, int, *blob.Manifest) error {
		return nil
	}, &out)
	return out, err
}

// Fold takes a delegate's placement (blob.Fold) into every kept version
// of the files under p and writes the changed manifests back in place.
// It returns how many chunks changed.
func (d *Drive) Fold(ctx context.Context, p string, capa *blob.Capability) (int, error) {
	t, err := d.tree(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	err = t.eachVersion(ctx, p, func(file string, i int, m *blob.Manifest) error {
		f, _, err := t.file(ctx, "fold", file)
		if err != nil {
			return err
		}
		old := f.Meta.Versions[i]
		k := blob.Fold([]*blob.Manifest{m}, capa)
		if k == 0 {
			return nil
		}
		n += k
		return t.rewriteVersion(ctx, file, old, m)
	}, nil)
	return n, err
}

// eachVersion calls fn with every kept version's manifest of the files
// under p (i: the version's position in the file's list), and collects
// the manifests in *all if it is not nil.
func (t *Tree) eachVersion(ctx context.Context, p string, fn func(file string, i int, m *blob.Manifest) error, all *[]*blob.Manifest) error {
	p, err := clean("manifests", p)
	if err != nil {
		return err
	}
	visit := func(e Entry) error {
		if e.Path != p && (e.Path == SharedDir || e.Path == TrashDir) {
			return fs.SkipDir
		}
		if e.IsDir {
			return nil
		}
		f, _, err := t.file(ctx, "manifests", e.Path)
		if err != nil {
			return err
		}
		for i := range f.Meta.Versions {
			m, err := t.manifest(ctx, &f.Meta.Versions[i])
			if err != nil {
				return err
			}
			if all != nil {
				*all = append(*all, m)
			}
			if err := fn(e.Path, i, m); err != nil {
				return err
			}
		}
		return nil
	}
	st, err := t.Stat(ctx, p)
	if err != nil {
		return err
	}
	if !st.IsDir {
		return visit(st)
	}
	return t.Walk(ctx, p, visit)
}
