package badgerstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/storage"
)

// gcMaxCopy bounds the bytes one collect copies.
const gcMaxCopy = 1 << 30

// collect reclaims sealed segments (not active, no writer pending): those
// no index entry points into are removed; those whose live records take
// less than half the file are compacted — their live records copied into
// the active segment, the index re-pointed (only where it still points at
// the old record), the file removed. The live bytes per segment come from
// a scan of the index, so they cannot drift from it. Before it removes
// anything, collect fsyncs the copies and the index, so a power failure
// cannot lose a fragment that a file removal made depend on them. The
// caller holds db.gcMu.
func (f *Fragments) collect() error {
	if f.segs == nil {
		return nil
	}
	sealed := f.segs.sealed()
	if len(sealed) == 0 {
		return nil
	}
	// Every index entry pointing into a sealed segment was committed before
	// sealed returned, so this scan sees them all; and nothing new will
	// point into a sealed segment but GC's own copies.
	live := make(map[uint32]int64, len(sealed))
	for _, no := range sealed {
		live[no] = 0
	}
	err := f.eachLocation(func(_ storage.Ref, _ []byte, l location) {
		if n, ok := live[l.seg]; ok {
			live[l.seg] = n + headerSize + l.n
		}
	})
	if err != nil {
		return err
	}

	type cand struct {
		no         uint32
		live, size int64
	}
	var remove []uint32
	var compact []cand
	for _, no := range sealed {
		size, err := f.segs.fileSize(no)
		if errors.Is(err, fs.ErrNotExist) {
			if err := f.segs.remove(no); err != nil { // forget it
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case live[no] == 0:
			remove = append(remove, no)
		case 2*live[no] < size:
			compact = append(compact, cand{no, live[no], size})
		}
	}
	// Emptiest first, within the budget.
	slices.SortFunc(compact, func(a, b cand) int {
		// a.live/a.size < b.live/b.size, without division.
		x, y := float64(a.live)*float64(b.size), float64(b.live)*float64(a.size)
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
		return cmp.Compare(a.no, b.no)
	})
	budget := min(4*f.segs.limit, gcMaxCopy)
	moving := map[uint32]bool{}
	for _, c := range compact {
		if c.live > budget {
			break
		}
		budget -= c.live
		moving[c.no] = true
	}

	dest := map[uint32]bool{}
	var failed map[uint32]bool
	if len(moving) > 0 {
		dest, failed, err = f.compact(moving)
		if err != nil {
			return err
		}
	}
	for no := range moving {
		if !failed[no] {
			remove = append(remove, no)
		}
	}
	if len(remove) == 0 {
		return nil
	}
	if err := f.segs.syncWritten(dest); err != nil {
		return fmt.Errorf("sync copies: %w", err)
	}
	if err := f.db.syncIndex(); err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	for _, no := range remove {
		if err := f.segs.remove(no); err != nil {
			return err
		}
	}
	return nil
}

// eachLocation calls fn for every "f/" record that decodes as a location,
// with a copy of the record. Records that do not decode are skipped.
func (f *Fragments) eachLocation(fn func(ref storage.Ref, rec []byte, l location)) error {
	return f.db.b.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixData})
		defer it.Close()
		var buf [locSize]byte
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			var ref storage.Ref
			if len(item.Key()) != len(prefixData)+len(ref) {
				continue
			}
			copy(ref[:], item.Key()[len(prefixData):])
			rec, err := item.ValueCopy(buf[:0])
			if err != nil {
				return err
			}
			if l, err := decodeLocation(rec); err == nil {
				fn(ref, rec, l)
			}
		}
		return nil
	})
}

// compact copies the live records of the segments in moving into the
// active segment and re-points their index entries. It returns the
// segments it wrote to and those it could not finish (their files must
// stay). A record that can no longer be read in full (a short or missing
// file) is left pointing where it was: it is already lost, and Get reports
// it Corrupt either way. Bytes are copied as they are, not verified. All
// copies are written and fsynced before any index entry is re-pointed.
func (f *Fragments) compact(moving map[uint32]bool) (dest, failed map[uint32]bool, err error) {
	type rec struct {
		ref storage.Ref
		rec []byte
		loc location
	}
	var recs []rec
	err = f.eachLocation(func(ref storage.Ref, r []byte, l location) {
		if moving[l.seg] {
			recs = append(recs, rec{ref, slices.Clone(r), l})
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// In file order: sequential reads.
	slices.SortFunc(recs, func(a, b rec) int {
		if c := cmp.Compare(a.loc.seg, b.loc.seg); c != 0 {
			return c
		}
		return cmp.Compare(a.loc.off, b.loc.off)
	})
	dest, failed = map[uint32]bool{}, map[uint32]bool{}
	// Copy first, sync the copies, re-point the index last: an index
	// entry must never become durable (by a group commit's sync, or badger
	// flushing a memtable) while it points at bytes that are not.
	type copied struct {
		r rec
		w reservation
	}
	var copies []copied
	defer func() {
		for _, c := range copies {
			c.w.done()
		}
	}()
	var buf []byte
	for _, r := range recs {
		if failed[r.loc.seg] {
			continue
		}
		if f.db.closing() {
			failed[r.loc.seg] = true
			continue
		}
		data, err := f.segs.read(buf, r.loc)
		if errors.Is(err, errMissing) || errors.Is(err, errShort) {
			continue
		}
		if err != nil {
			failed[r.loc.seg] = true
			continue
		}
		buf = data
		w, err := f.segs.write(r.ref, data)
		if err != nil {
			failed[r.loc.seg] = true
			continue
		}
		// Not verified, so the copy keeps the original's checksum: bytes
		// damaged before the copy still read as Corrupt after it.
		w.loc = w.loc.withSum(r.loc)
		dest[w.loc.seg] = true
		copies = append(copies, copied{r, w})
	}
	if len(copies) == 0 {
		return dest, failed, nil
	}
	if err := f.segs.syncWritten(dest); err != nil {
		return nil, nil, fmt.Errorf("sync copies: %w", err)
	}
	for _, c := range copies {
		if failed[c.r.loc.seg] {
			continue
		}
		err := f.db.update(func(txn *badger.Txn) error {
			same, err := f.recordIs(txn, c.r.ref, c.r.rec)
			if err != nil || !same {
				return err // deleted or replaced meanwhile: the copy is garbage
			}
			return txn.Set(dataKey(c.r.ref), c.w.loc.encode())
		})
		if err != nil {
			failed[c.r.loc.seg] = true
		}
	}
	return dest, failed, nil
}

// Collector runs DB.GC in the background at a fixed interval: the daemon's
// segment and value-log collection. Made with NewCollector, stopped by
// Close (which waits for a GC in progress) or by the end of its context.
type Collector struct {
	loop *storage.Loop
	runs atomic.Int64 // GCs run, for tests
}

// NewCollector starts calling db.GC every interval (the daemon: 15 min)
// until ctx ends or Close is called. interval must be positive.
func NewCollector(ctx context.Context, db *DB, interval time.Duration) *Collector {
	c := &Collector{}
	c.loop = storage.Every(ctx, interval, nil, func(context.Context) {
		db.GC()
		c.runs.Add(1)
	})
	return c
}

// Close stops the collector and waits for a GC in progress to finish
// (DB.GC stops early once the database is closing). Call it before
// closing the DB; calling it again is a no-op.
func (c *Collector) Close() { c.loop.Close() }
