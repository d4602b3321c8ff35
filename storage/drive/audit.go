package drive

import (
	"context"
	"io/fs"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/storage/blob"
)

// AuditOptions turn on Maintenance's audit loop: continuous, low-rate
// checking (and repair) of everything the user stores, so that every
// fragment is audited over time (renewing its lease on its holder) and
// chunks that lose fragments are repaired before they are lost.
type AuditOptions struct {
	// Every is how often a round starts (the daemon: every minute).
	Every time.Duration
	// Budget is how many audits a round makes at most (at least one
	// file is checked per round). With the daemon's 512 a minute, about
	// 46,000 chunks of 16 fragments are covered a day: some 180 GB at
	// 4 MiB chunks, far inside the 30-day lease.
	Budget int
	// Pass is how often a pass over the whole drive starts: one that
	// ends sooner waits for it (the daemon: a day, so every fragment is
	// audited about daily, as docs/DURABILITY.md assumes, whatever the
	// size of the drive; a drive too large for one pass a day within
	// the budget is gone over as fast as the budget allows). Zero: no
	// wait between passes.
	Pass time.Duration
	// Check configures the audits and the repair (Repair turns it on).
	Check blob.CheckOptions
	// Round, if set, is called after each round (to save scores).
	Round func(ctx context.Context)
}

// auditor is the state of the audit loop: the files and folders of the
// current pass over the tree, and what the pass found.
type auditor struct {
	o AuditOptions

	todo      []Entry // left in this pass, in walk order
	passStart time.Time

	mu      sync.Mutex
	pending map[string]int // chunks due for repair and not repaired, by file
	passes  int
}

func (a *auditor) round(ctx context.Context, d *Drive, logf func(string, ...any)) {
	t, err := d.tree(ctx)
	if err != nil {
		return
	}
	if len(a.todo) == 0 && !a.passStart.IsZero() && time.Since(a.passStart) < a.o.Pass {
		return // this pass is done; the next starts Pass after it began
	}
	if len(a.todo) == 0 {
		a.passStart = time.Now()
		// A new pass: the whole tree with every version kept, but for
		// the trash, folders as the walk yields them. /shared is in it:
		// what this user wrote into others' folders is its to renew;
		// what others wrote answers Permission, which counts as held.
		err := t.Walk(ctx, "/", func(e Entry) error {
			switch e.Path {
			case TrashDir:
				// Removed things are not renewed: their leases run out
				// on the holders after the lease period, which is how
				// removed files are collected. Fragments still used by
				// a live file (deduplicated chunks) stay renewed by its
				// audits, so no refcount is needed.
				return fs.SkipDir
			}
			e.Manifest = nil
			a.todo = append(a.todo, e)
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				logf("audit: walking the drive: %v", err)
			}
			a.todo = nil
			return
		}
		a.todo = append([]Entry{{Path: "/", IsDir: true}}, a.todo...)
		a.mu.Lock()
		a.passes++
		a.mu.Unlock()
	}
	budget := max(a.o.Budget, 1)
	for len(a.todo) > 0 && budget > 0 && ctx.Err() == nil {
		e := a.todo[0]
		a.todo = a.todo[1:]
		if e.IsDir {
			t.checkFolderBody(ctx, e.Path, a.o.Check)
			continue
		}
		h, err := t.checkFile(ctx, e.Path, a.o.Check)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			logf("audit: %s: %v", e.Path, err)
			continue
		}
		budget -= max(h.Audits, 1)
		if h.Repaired > 0 {
			logf("repair: %s: %d chunks repaired", e.Path, h.Repaired)
		}
		if h.Unrepaired > 0 {
			logf("repair: %s: %d chunks due could not be repaired yet: %v", e.Path, h.Unrepaired, h.Err)
		}
		a.mu.Lock()
		if h.Unrepaired > 0 || (!h.OK && !a.o.Check.Repair) {
			a.pending[e.Path] = max(h.Unrepaired, 1)
		} else {
			delete(a.pending, e.Path)
		}
		a.mu.Unlock()
	}
	if a.o.Round != nil {
		a.o.Round(ctx)
	}
}

// RepairQueue is how many chunks the audit loop found due for repair and
// could not repair yet (a file not checked for repair counts one), over
// the files checked since the daemon started; 0 without an audit loop.
func (m *Maintenance) RepairQueue() int {
	if m.audit == nil {
		return 0
	}
	m.audit.mu.Lock()
	defer m.audit.mu.Unlock()
	n := 0
	for _, c := range m.audit.pending {
		n += c
	}
	return n
}

// AuditPasses is how many passes over the whole drive the audit loop has
// begun.
func (m *Maintenance) AuditPasses() int {
	if m.audit == nil {
		return 0
	}
	m.audit.mu.Lock()
	defer m.audit.mu.Unlock()
	return m.audit.passes
}
