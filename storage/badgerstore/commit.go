package badgerstore

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/storage"
)

// Group commit of durable puts (see "Durability" in doc.go).
//
// A put appends its record to the active segment in its own goroutine,
// then hands the location to the committer and waits. The committer's
// goroutine takes everything queued at once and, for that group:
//
//  1. fsyncs each segment file the group wrote to (the records' bytes);
//  2. commits the group's index entries in one badger transaction;
//  3. makes the index durable (syncIndex);
//  4. wakes every put of the group with the outcome.
//
// While one group is being synced the next one queues up, so under load a
// few fsyncs serve many puts. An index entry never becomes durable before
// the bytes it points to (step 1 before 2), so a power cut leaves at worst
// unreferenced bytes (which GC reclaims), never an index entry over
// unsynced bytes — except through badger writing its memtable out on its
// own, which can only happen after step 2.

// commitReq is one put waiting for the committer. A request with a zero
// value (no reservation) is a barrier: a put of a ref already held waits
// for a group to be made durable, since the entry it saw may have been
// committed by a group that is still syncing.
type commitReq struct {
	ref   storage.Ref
	value []byte      // the "f/" record; nil for a barrier
	size  int         // payload length
	r     reservation // the record's space; zero for a barrier
	// replace: the entry is there but its record is damaged; this one
	// takes its place (same ref, same size: Bytes does not change).
	replace bool
	added   bool // set by the committer: the entry was new
	err     error
	done    chan struct{}
}

// committer runs the group commits of one on-disk database.
type committer struct {
	f *Fragments

	mu      sync.Mutex
	wake    *sync.Cond
	queue   []*commitReq
	stopped bool
	exited  chan struct{}

	// trace, if set (tests), is told of each group's index commit (with
	// the refs added) and of each durable index ("synced", no refs).
	trace func(event string, refs []storage.Ref)
}

func newCommitter(f *Fragments, trace func(string, []storage.Ref)) *committer {
	c := &committer{f: f, exited: make(chan struct{}), trace: trace}
	c.wake = sync.NewCond(&c.mu)
	go c.run()
	return c
}

// submit queues req and waits until its group is durable (or failed).
func (c *committer) submit(req *commitReq) error {
	req.done = make(chan struct{})
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return storage.E("", storage.IO, errClosed)
	}
	c.queue = append(c.queue, req)
	c.wake.Signal()
	c.mu.Unlock()
	<-req.done
	return req.err
}

// stop ends the committer once the queue is empty and waits for it. The
// database calls it after every operation has left, so nothing is queued.
func (c *committer) stop() {
	c.mu.Lock()
	c.stopped = true
	c.wake.Signal()
	c.mu.Unlock()
	<-c.exited
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.stopped {
			c.wake.Wait()
		}
		group := c.queue
		c.queue = nil
		stopped := c.stopped
		c.mu.Unlock()
		if len(group) == 0 && stopped {
			return
		}
		err := c.commit(group)
		for _, req := range group {
			if req.err == nil {
				req.err = err
			}
			close(req.done)
		}
	}
}

// commit makes one group durable. The returned error applies to every
// request of the group that has none of its own.
func (c *committer) commit(group []*commitReq) error {
	f := c.f
	defer func() {
		for _, req := range group {
			if req.r.seg != nil {
				req.r.done()
			}
		}
	}()
	// 1. The records' bytes.
	synced := map[*segment]bool{}
	for _, req := range group {
		if seg := req.r.seg; seg != nil && !synced[seg] {
			synced[seg] = true
			if err := req.r.f.Sync(); err != nil {
				return storage.E("", storage.IO, err)
			}
		}
	}
	// 2. The index entries, all in one transaction when they fit.
	var added []storage.Ref
	err := f.db.update(func(txn *badger.Txn) error {
		added = added[:0]
		for _, req := range group {
			req.added = false
			if req.value == nil {
				continue
			}
			if _, found, err := f.sizeOf(txn, req.ref); err != nil || found {
				if err != nil {
					return err
				}
				if req.replace {
					if err := txn.Set(dataKey(req.ref), req.value); err != nil {
						return err
					}
				}
				continue
			}
			if err := txn.Set(dataKey(req.ref), req.value); err != nil {
				return err
			}
			if err := txn.Set(sizeKey(req.ref), encodeSize(req.size)); err != nil {
				return err
			}
			req.added = true
			added = append(added, req.ref)
		}
		return nil
	})
	if errors.Is(err, badger.ErrTxnTooBig) && len(group) > 1 {
		// Too many for one transaction: halve the group (the segments
		// are synced already, the halves do not sync them again).
		h := len(group) / 2
		first, second := group[:h:h], group[h:]
		for _, part := range [][]*commitReq{first, second} {
			e := c.commitParts(part)
			for _, req := range part {
				if req.err == nil {
					req.err = e
				}
			}
		}
		return nil
	}
	if err != nil {
		return translate("", "", err)
	}
	for _, req := range group {
		if req.added {
			f.bytes.Add(int64(req.size))
		}
	}
	if c.trace != nil {
		c.trace("commit", added)
	}
	// 3. The index on stable storage. If this fails the entries stay
	// committed (and counted) but the puts fail: not acknowledged.
	if err := f.db.syncIndex(); err != nil {
		return storage.E("", storage.IO, err)
	}
	if c.trace != nil {
		c.trace("synced", nil)
	}
	return nil
}

// commitParts commits part of a group that was too big for one
// transaction; the reservations are released by the caller's commit.
func (c *committer) commitParts(part []*commitReq) error {
	saved := make([]reservation, len(part))
	for i, req := range part {
		saved[i], req.r = req.r, reservation{}
	}
	err := c.commit(part)
	for i, req := range part {
		req.r = saved[i]
	}
	return err
}

// syncIndex puts every committed index entry on stable storage: badger's
// Sync (the active memtable's write-ahead log and the value log), then the
// write-ahead logs of memtables that were replaced but are not yet written
// out as tables. Badger's Sync covers only the active memtable, so an
// entry committed just before badger switched memtables would otherwise
// stay unsynced until that memtable is flushed. Those logs are the "*.mem"
// files of the database folder (badger's naming); the highest-numbered is
// the active one, which Sync covered. A log that is gone was flushed to a
// table, which badger syncs itself.
func (db *DB) syncIndex() error {
	if err := db.b.Sync(); err != nil {
		return err
	}
	dir := db.b.Opts().Dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var mems []string
	var top uint64
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), ".mem")
		n, err := strconv.ParseUint(digits, 10, 32)
		if !ok || err != nil {
			continue
		}
		mems = append(mems, e.Name())
		top = max(top, n)
	}
	for _, name := range mems {
		if n, _ := strconv.ParseUint(strings.TrimSuffix(name, ".mem"), 10, 32); n == top {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed meanwhile
		}
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
