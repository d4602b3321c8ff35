package drive

import (
	"bytes"
	"context"
	"errors"
	"io/fs"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// FileHealth is what Check found of one file, over every version kept.
// Its JSON form is an element of `cairn check --json`.
type FileHealth struct {
	Path     string `json:"path"`
	Versions int    `json:"versions"`
	// Chunks is the number of chunks of all versions; an inline file has
	// none and is always healthy.
	Chunks int `json:"chunks"`
	// MinHeld is the fewest fragments seen held of any chunk, Needed
	// that chunk's K (how many rebuild it).
	MinHeld int `json:"min_healthy"`
	Needed  int `json:"needed"`
	// OK: every chunk is readable and none is due for repair.
	OK bool `json:"ok"`
	// Repaired counts the chunks repaired; Unrepaired those due for it
	// that could not be repaired now (Err says why, for the first; Error
	// is its text).
	Repaired   int    `json:"repaired"`
	Unrepaired int    `json:"unrepaired"`
	Err        error  `json:"-"`
	Error      string `json:"error,omitempty"`
	// Audits made, failed (fragment lost or damaged) and not made
	// (holder away).
	Audits int `json:"audits"`
	Failed int `json:"audits_failed"`
	Away   int `json:"audits_away"`
}

// Check audits the fragments of every file under p (a file, or a folder
// and everything below it but /shared and the trash unless p is in them;
// every version kept) and of the small objects
// that hold their manifests and the folders' bodies (which renews this
// user's leases on all of them), and reports each file to fn. With
// o.Repair it repairs what the policy says is due and writes the
// repaired manifests back into their versions in place: the file gets no
// new version, and a version changed meanwhile is left as it is (its
// repaired fragments' leases then run out). Errors: the walk's, fn's,
// storage.Canceled.
func (t *Tree) Check(ctx context.Context, p string, o blob.CheckOptions, fn func(FileHealth) error) error {
	const op = "check"
	p, err := clean(op, p)
	if err != nil {
		return err
	}
	if o.Auditor == nil {
		return storage.Ef(op, storage.Invalid, p, errors.New("no auditor"))
	}
	visit := func(e Entry) error {
		if e.Path == SharedDir || e.Path == TrashDir {
			return fs.SkipDir // others' data, and what is left to expire; named, they are checked
		}
		if e.IsDir {
			t.checkFolderBody(ctx, e.Path, o)
			return nil
		}
		h, err := t.checkFile(ctx, e.Path, o)
		if storage.KindOf(err) == storage.Canceled {
			return err
		}
		if err != nil {
			h = FileHealth{Path: e.Path, Err: err}
		}
		if h.Err != nil {
			h.OK, h.Error = false, h.Err.Error()
		}
		return fn(h)
	}
	st, err := t.Stat(ctx, p)
	if err != nil {
		return err
	}
	if !st.IsDir {
		return visit(st)
	}
	t.checkFolderBody(ctx, p, o)
	return t.Walk(ctx, p, visit)
}

// checkFolderBody audits the small object holding folder dir's body, if
// it has one. Failures are logged: the walk goes on.
func (t *Tree) checkFolderBody(ctx context.Context, dir string, o blob.CheckOptions) {
	n, err := t.newOp().dir(ctx, dir)
	if err != nil || n.rec == nil || n.shared || len(n.rec.Value) == 0 || n.rec.Value[0] != valueLocator {
		return
	}
	l, err := blob.ParseLocator(n.rec.Value[1:])
	if err != nil {
		return
	}
	if held, err := t.cfg.Objects.CheckObject(ctx, l, o); err == nil && held < blob.ObjectQuorum {
		t.logf("check: the body of %s is held by %d of %d peers", dir, held, len(l.Holders))
	}
}

// checkFile checks every version of file p.
func (t *Tree) checkFile(ctx context.Context, p string, o blob.CheckOptions) (FileHealth, error) {
	h := FileHealth{Path: p, OK: true}
	f, _, err := t.file(ctx, "check", p)
	if err != nil {
		return h, err
	}
	h.Versions = len(f.Meta.Versions)
	first := true
	for i := range f.Meta.Versions {
		v := f.Meta.Versions[i]
		if !v.Inline && len(v.Manifest) > 16 {
			if l, err := blob.ParseLocator(v.Manifest[16:]); err == nil {
				_, _ = t.cfg.Objects.CheckObject(ctx, l, o)
			}
		}
		m, err := t.manifest(ctx, &v)
		if err != nil {
			return h, err
		}
		health, err := t.cfg.Objects.Check(ctx, m, o)
		if err != nil {
			return h, err
		}
		h.Chunks += len(health.Chunks)
		h.Audits, h.Failed, h.Away = h.Audits+health.Audits, h.Failed+health.Failed, h.Away+health.Away
		if len(health.Chunks) > 0 {
			held, k := health.MinHeld()
			if first || held < h.MinHeld {
				h.MinHeld, h.Needed = held, k
			}
			first = false
		}
		h.OK = h.OK && health.OK()
		for _, c := range health.Chunks {
			switch {
			case c.Repaired:
				h.Repaired++
			case c.Err != nil:
				h.Unrepaired++
				if h.Err == nil {
					h.Err = c.Err
				}
			}
		}
		if health.Changed {
			if err := t.rewriteVersion(ctx, p, v, m); err != nil {
				return h, err
			}
		}
	}
	return h, nil
}

// rewriteVersion replaces the manifest of version old of file p with m,
// keeping its number and times, if the version is still as it was.
func (t *Tree) rewriteVersion(ctx context.Context, p string, old cryptree.Version, m *blob.Manifest) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	parent, _, f, err := o.lookup(ctx, p)
	if err != nil {
		return err
	}
	if f == nil || parent.w == nil || parent.shared {
		return nil // gone, or not ours to write: the repair stays unrecorded
	}
	for i := range f.Meta.Versions {
		v := &f.Meta.Versions[i]
		if v.N != old.N || !bytes.Equal(v.Manifest, old.Manifest) {
			continue
		}
		nv, err := t.version(ctx, m, v.N, v.Mtime)
		if err != nil {
			return err
		}
		*v = nv
		return o.save(ctx, parent)
	}
	t.logf("check: %s version %d changed while it was repaired; repair not recorded", p, old.N)
	return nil
}

// Check is Tree.Check once the drive is open.
func (d *Drive) Check(ctx context.Context, p string, o blob.CheckOptions, fn func(FileHealth) error) error {
	t, err := d.tree(ctx)
	if err != nil {
		return err
	}
	return t.Check(ctx, p, o, fn)
}

// CheckAll is Check collecting every file's health (an empty list, not
// nil, for none).
func (d *Drive) CheckAll(ctx context.Context, p string, o blob.CheckOptions) ([]FileHealth, error) {
	out := []FileHealth{}
	err := d.Check(ctx, p, o, func(h FileHealth) error {
		out = append(out, h)
		return nil
	})
	return out, err
}
