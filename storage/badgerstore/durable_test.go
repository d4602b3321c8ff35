package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// The power-cut test. Segment files go through cutFS, which writes
// through to real files (so reads work) but keeps, per file, the content
// as of its last Sync and the writes made since; a file whose directory
// was not synced after its creation has no durable name. "Cutting the
// power" takes the durable images and makes every later operation fail.
//
// Badger's own files cannot be intercepted: the test relies on badger's
// documented Sync (its write-ahead log) and snapshots the database folder
// at a moment when everything badger holds is synced — from the
// committer's "synced" trace, when the committer is badger's only writer
// and has just synced. The cut then happens a little later, at the next
// group's index commit (after that group's segments were synced, before
// its index is): the badger snapshot stands for a badger that lost its
// unsynced commit, the segment images for what the disk kept. The store
// reopened from the two must hold every fragment acknowledged before the
// cut, and every event log must show each acknowledgement after the
// syncs that cover it.

type cutEvent struct {
	kind   string // create, write, sync, dirsync, commit, synced, ack
	path   string // file or directory (create, write, sync, dirsync)
	off, n int64  // write
	refs   []storage.Ref
}

type cutState struct {
	durable []byte     // content as of the last Sync
	pending []cutWrite // writes since
	named   bool       // the directory was synced after creation
}

type cutWrite struct {
	off  int64
	data []byte
}

type cutFS struct {
	mu     sync.Mutex
	off    bool // the power is out: every operation fails
	files  map[string]*cutState
	events []cutEvent
}

var errPowerOut = errors.New("power is out")

func newCutFS() *cutFS { return &cutFS{files: map[string]*cutState{}} }

func (c *cutFS) log(e cutEvent) { c.events = append(c.events, e) }

func (c *cutFS) OpenFile(name string, flag int, perm fs.FileMode) (segFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return nil, errPowerOut
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		c.files[name] = &cutState{}
		c.log(cutEvent{kind: "create", path: name})
	}
	return &cutFile{c: c, f: f, name: name}, nil
}

func (c *cutFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return errPowerOut
	}
	for name, st := range c.files {
		if filepath.Dir(name) == dir {
			st.named = true
		}
	}
	c.log(cutEvent{kind: "dirsync", path: dir})
	return nil
}

// cut turns the power off and writes what the disk kept of every segment
// file created through c into dir: the durable image of each file with a
// durable name.
func (c *cutFS) cut(t *testing.T, dir string) {
	c.off = true
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Error(err)
		return
	}
	for name, st := range c.files {
		if !st.named {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), st.durable, 0o600); err != nil {
			t.Error(err)
		}
	}
}

type cutFile struct {
	c    *cutFS
	f    *os.File
	name string
}

func (f *cutFile) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }
func (f *cutFile) Close() error                            { return f.f.Close() }

func (f *cutFile) WriteAt(p []byte, off int64) (int, error) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if f.c.off {
		return 0, errPowerOut
	}
	st := f.c.files[f.name]
	if st == nil {
		return 0, fmt.Errorf("write to %s, which was not created through the test layer", f.name)
	}
	st.pending = append(st.pending, cutWrite{off, slices.Clone(p)})
	f.c.log(cutEvent{kind: "write", path: f.name, off: off, n: int64(len(p))})
	return f.f.WriteAt(p, off)
}

func (f *cutFile) Sync() error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if f.c.off {
		return errPowerOut
	}
	if st := f.c.files[f.name]; st != nil {
		for _, w := range st.pending {
			if end := w.off + int64(len(w.data)); end > int64(len(st.durable)) {
				st.durable = append(st.durable, make([]byte, end-int64(len(st.durable)))...)
			}
			copy(st.durable[w.off:], w.data)
		}
		st.pending = nil
	}
	f.c.log(cutEvent{kind: "sync", path: f.name})
	return nil
}

// copyDBFiles copies badger's files (not LOCK, not the segments) from
// src to dst.
func copyDBFiles(t *testing.T, src, dst string) {
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Error(err)
		return
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Error(err)
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "LOCK" {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Error(err)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestPowerCut(t *testing.T) {
	for _, k := range []int{1, 4, 12, 40} {
		t.Run(fmt.Sprintf("after%dgroups", k), func(t *testing.T) { testPowerCut(t, k) })
	}
}

func testPowerCut(t *testing.T, cutAfter int) {
	dir, snap := filepath.Join(t.TempDir(), "db"), filepath.Join(t.TempDir(), "snap")
	cfs := newCutFS()
	synced := 0
	snapshotted := false
	trace := func(event string, refs []storage.Ref) {
		cfs.mu.Lock()
		defer cfs.mu.Unlock()
		if cfs.off {
			return // after the cut nothing happened
		}
		cfs.log(cutEvent{kind: event, refs: slices.Clone(refs)})
		switch {
		case event == "synced":
			synced++
			// At the cutAfter-th sync, or the first one after it once
			// something was acknowledged (the acks of a group come after
			// its sync: cutting right after the first one could beat
			// them all, and the test would prove nothing).
			acks := slices.ContainsFunc(cfs.events, func(e cutEvent) bool { return e.kind == "ack" })
			if synced >= cutAfter && !snapshotted && (acks || synced > cutAfter+50) {
				// The committer is badger's only writer and has just
				// synced: this copy is badger's synced state.
				copyDBFiles(t, dir, snap)
				snapshotted = true
			}
		case event == "commit" && snapshotted:
			cfs.cut(t, filepath.Join(snap, segmentDir))
		}
	}
	db, err := Open(dir, Options{SegmentSize: minSeg, MemTableSize: 4 << 20, files: cfs, trace: trace})
	if err != nil {
		t.Fatal(err)
	}
	f := db.Fragments()

	// Writers put fragments of 1 to 40 KiB (64 KiB segments: many
	// rotations) until the power goes out.
	type frag struct {
		ref  storage.Ref
		data []byte
	}
	var (
		wg    sync.WaitGroup
		ackMu sync.Mutex
		acked []frag
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(cutAfter)))
			for i := 0; i < 10000; i++ {
				ref, data := storetest.Fragment(uint64(w)<<32|uint64(i), 1+rng.IntN(40<<10))
				err := f.Put(t.Context(), ref, data)
				cfs.mu.Lock()
				off := cfs.off
				if err == nil && !off {
					cfs.log(cutEvent{kind: "ack", refs: []storage.Ref{ref}})
				}
				cfs.mu.Unlock()
				if off {
					return
				}
				if err != nil {
					t.Errorf("Put before the cut: %v", err)
					return
				}
				ackMu.Lock()
				acked = append(acked, frag{ref, data})
				ackMu.Unlock()
			}
		}()
	}
	wg.Wait()
	_ = db.Close() // fails: the power is out
	if !cfs.off {
		t.Fatal("the power was never cut")
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the cut")
	}

	// Restart on what the disk kept.
	db2, err := Open(snap, Options{})
	if err != nil {
		t.Fatalf("reopen after the cut: %v", err)
	}
	defer db2.Close()
	f2 := db2.Fragments()
	for _, fr := range acked {
		got, err := f2.Get(t.Context(), fr.ref) // verified against its ref
		if err != nil {
			t.Errorf("acknowledged fragment %s after the cut: %v", fr.ref.Short(), err)
			continue
		}
		if !bytes.Equal(got, fr.data) {
			t.Errorf("acknowledged fragment %s: wrong bytes", fr.ref.Short())
			continue
		}
		// What an audit asks: a leaf and its Merkle path.
		leaf := int(fr.ref[0]) % erasure.Leaves(int64(len(got)))
		p, err := erasure.Prove(got, leaf)
		if err != nil || !p.Verify(fr.ref) {
			t.Errorf("acknowledged fragment %s: leaf %d does not prove (%v)", fr.ref.Short(), leaf, err)
		}
	}

	// The order: for every acknowledgement, its record was written, its
	// segment synced, its index entry committed, the index synced — in
	// that order, all before the ack; and the segment's directory synced
	// after the segment was created.
	checkAckOrder(t, cfs.events, func(ref storage.Ref) (string, location) {
		l := locationOf(t, db2, ref)
		return filepath.Join(dir, segmentDir, segmentName(l.seg)), l
	})
	t.Logf("cut after %d index syncs: %d fragments acknowledged, %d events", cutAfter, len(acked), len(cfs.events))
}

// checkAckOrder checks the event log: each ack is preceded, in order, by
// the write of its payload, a sync of that file, the commit of its index
// entry and an index sync; and by a directory sync after its file's
// creation.
func checkAckOrder(t errorer, events []cutEvent, where func(storage.Ref) (string, location)) {
	t.Helper()
	find := func(from, to int, match func(e cutEvent) bool) int {
		for i := from; i < to; i++ {
			if match(events[i]) {
				return i
			}
		}
		return -1
	}
	for ai, e := range events {
		if e.kind != "ack" {
			continue
		}
		ref := e.refs[0]
		path, l := where(ref)
		wi := find(0, ai, func(e cutEvent) bool {
			return e.kind == "write" && e.path == path && e.off == l.off && e.n == l.n
		})
		hi := find(0, ai, func(e cutEvent) bool {
			return e.kind == "write" && e.path == path && e.off == l.off-headerSize && e.n == headerSize
		})
		if wi < 0 || hi < 0 {
			t.Errorf("ack of %s: no write of its record before it", ref.Short())
			continue
		}
		si := find(max(wi, hi)+1, ai, func(e cutEvent) bool { return e.kind == "sync" && e.path == path })
		if si < 0 {
			t.Errorf("ack of %s: its segment was not synced between its write and the ack", ref.Short())
			continue
		}
		ci := find(si+1, ai, func(e cutEvent) bool { return e.kind == "commit" && slices.Contains(e.refs, ref) })
		if ci < 0 {
			t.Errorf("ack of %s: its index entry was not committed between the segment sync and the ack", ref.Short())
			continue
		}
		if find(ci+1, ai, func(e cutEvent) bool { return e.kind == "synced" }) < 0 {
			t.Errorf("ack of %s: the index was not synced between its commit and the ack", ref.Short())
		}
		cr := find(0, ai, func(e cutEvent) bool { return e.kind == "create" && e.path == path })
		if cr < 0 || find(cr+1, ai, func(e cutEvent) bool { return e.kind == "dirsync" && e.path == filepath.Dir(path) }) < 0 {
			t.Errorf("ack of %s: the directory was not synced between its segment's creation and the ack", ref.Short())
		}
	}
}

// With NoSync the same checker finds acknowledgements that no sync
// covers: the test above would catch a store that acknowledged early.
func TestPowerCutCheckerCatchesNoSync(t *testing.T) {
	dir := t.TempDir()
	cfs := newCutFS()
	db, err := Open(dir, Options{SegmentSize: minSeg, NoSync: true, files: cfs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := db.Fragments()
	ref, data := storetest.Fragment(1, 10<<10)
	if err := f.Put(t.Context(), ref, data); err != nil {
		t.Fatal(err)
	}
	cfs.mu.Lock()
	cfs.log(cutEvent{kind: "ack", refs: []storage.Ref{ref}})
	events := slices.Clone(cfs.events)
	cfs.mu.Unlock()
	rec := &recorder{}
	checkAckOrder(rec, events, func(ref storage.Ref) (string, location) {
		l := locationOf(t, db, ref)
		return filepath.Join(dir, segmentDir, segmentName(l.seg)), l
	})
	if len(rec.errs) == 0 {
		t.Error("the order checker accepted an acknowledgement with no sync before it")
	}
	// And the disk kept nothing of it.
	cfs.mu.Lock()
	st := cfs.files[filepath.Join(dir, segmentDir, segmentName(1))]
	cfs.mu.Unlock()
	if st == nil || st.named || len(st.durable) != 0 {
		t.Errorf("NoSync: segment state %+v, want unsynced", st)
	}
}

// errorer is the part of testing.T that checkAckOrder reports to.
type errorer interface {
	Helper()
	Errorf(format string, args ...any)
}

// recorder is an errorer that keeps what it is told.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
