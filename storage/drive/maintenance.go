package drive

import (
	"context"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// MaintenanceOptions are the intervals of a Drive's background work. A
// zero interval turns that loop off.
type MaintenanceOptions struct {
	// Inbox is how often the inbox is fetched for shares from other
	// users (Drive.Receive). The daemon polls every 2 s.
	Inbox time.Duration
	// Republish is how often every folder record seen is published again
	// (Drive.Republish), well inside the DHT's 48-hour record lifetime:
	// the daemon does it every 4 h.
	Republish time.Duration
	// Resume, if set, finishes the uploads a crash interrupted
	// (Drive.Resume) once the Tree is open.
	Resume bool
	// Audit, if set, audits and repairs the drive continuously
	// (audit.go).
	Audit *AuditOptions
	// Logf receives what the loops did and what failed.
	Logf func(format string, args ...any)
}

// Maintenance is a Drive's background work: once its Tree is open, it
// resumes the journal (if asked), then polls the inbox and republishes
// folder records, each loop at its own interval. A round that fails is
// logged and tried again at the next tick. Made with NewMaintenance and
// owned by the daemon, which Closes it before closing the Drive.
type Maintenance struct {
	d      *Drive
	o      MaintenanceOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup // the resume
	loops  []*storage.Loop
	audit  *auditor
}

// NewMaintenance starts d's background work. It runs until ctx ends or
// Close is called.
func NewMaintenance(ctx context.Context, d *Drive, o MaintenanceOptions) *Maintenance {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Maintenance{d: d, o: o, cancel: cancel}
	if o.Resume {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.resume(ctx)
		}()
	}
	if o.Inbox > 0 {
		m.every(ctx, o.Inbox, m.receive)
	}
	if o.Republish > 0 {
		m.every(ctx, o.Republish, m.republish)
	}
	if o.Audit != nil && o.Audit.Every > 0 && o.Audit.Check.Auditor != nil {
		m.audit = &auditor{o: *o.Audit, pending: map[string]int{}}
		m.every(ctx, o.Audit.Every, func(ctx context.Context) { m.audit.round(ctx, d, o.Logf) })
	}
	return m
}

// Close stops the loops and waits for them: a round in progress is
// cancelled through its context. Close may be called more than once.
func (m *Maintenance) Close() {
	m.cancel()
	for _, l := range m.loops {
		l.Close()
	}
	m.wg.Wait()
}

// every runs fn at each tick of interval once the Tree is open.
func (m *Maintenance) every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	m.loops = append(m.loops, storage.Every(ctx, interval, m.d.WaitOpen, fn))
}

func (m *Maintenance) resume(ctx context.Context) {
	if m.d.WaitOpen(ctx) != nil {
		return
	}
	resumed, dropped, err := m.d.Resume(ctx, m.o.Logf)
	switch {
	case err != nil && ctx.Err() == nil:
		m.o.Logf("resuming journaled uploads: %v", err)
	case resumed+dropped > 0:
		m.o.Logf("journal: %d interrupted uploads resumed, %d dropped", resumed, dropped)
	}
}

func (m *Maintenance) receive(ctx context.Context) {
	k, err := m.d.Receive(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		m.o.Logf("inbox: %v", err)
	case k > 0:
		m.o.Logf("inbox: %d new shares under %s", k, SharedDir)
	}
}

func (m *Maintenance) republish(ctx context.Context) {
	k, err := m.d.Republish(ctx)
	if ctx.Err() != nil {
		return
	}
	m.o.Logf("republished %d folder records (%v)", k, err)
}
