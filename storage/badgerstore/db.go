package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/cairn-storage/cairn/storage"
)

// Options tunes Open. The zero value is a good choice for a node.
type Options struct {
	// SyncWrites makes every write reach the disk before it returns:
	// every fragment record and every badger commit (KV writes and
	// deletes included) is fsynced on its own.
	SyncWrites bool
	// NoSync turns off durable puts: a fragment put returns once its
	// bytes and index entry are written (in the page cache), before they
	// are on stable storage, as before durable acknowledgements. For
	// benchmarks and tests that want speed; SyncWrites overrides it.
	// Without either, puts of an on-disk database are durable by group
	// commit (see doc.go).
	NoSync bool
	// InMemory keeps everything in memory and ignores dir (for tests).
	// In-memory databases cannot hold values of 1 MiB or more: such
	// fragments and KV values are refused with storage.Invalid.
	InMemory bool
	// Logger receives badger's warnings and errors; nil keeps it quiet.
	Logger io.Writer

	// MemTableSize is the size of each of the two memtables; 0 means 8 MiB.
	MemTableSize int64
	// BlockCacheSize is badger's block cache; 0 means 8 MiB.
	BlockCacheSize int64
	// IndexCacheSize bounds the memory for table indices and bloom
	// filters; 0 means 4 MiB.
	IndexCacheSize int64
	// ValueLogFileSize is the size of a value-log file and the largest
	// KV value the database accepts; 0 means 32 MiB. Badger reads the
	// whole last value-log file on open, so this bounds the file-backed
	// RSS of a freshly opened database. Fragments do not go to the value
	// log (see SegmentSize).
	ValueLogFileSize int64
	// SegmentSize is the size at which a segment file holding fragment
	// payloads is closed for writing and the next one started; 0 means
	// 256 MiB, and it must be from 64 KiB to under 4 GiB. A fragment
	// larger than it gets a segment of its own. Fragments up to 64 MiB
	// are accepted whatever the SegmentSize. Ignored in memory.
	SegmentSize int64

	// files replaces the operating system's layer for segment files
	// (tests: the power-cut test); nil is the OS.
	files fileSystem
	// trace is told of the committer's index commits and syncs (tests).
	trace func(event string, refs []storage.Ref)
}

const (
	valueThreshold = 1 << 10 // values this size or larger go to the value log
	maxKeySize     = 60000   // badger refuses keys over 65000 bytes
	inMemoryMax    = 1 << 20 // badger's largest value in an in-memory db
)

// DB is one open badger database. Its methods and the stores it hands out
// are safe for concurrent use; after Close they return storage.IO errors.
type DB struct {
	b        *badger.DB
	maxValue int64 // largest KV value
	frags    *Fragments
	log      *logger // nil: quiet

	mu     sync.Mutex // guards active and closed
	idle   *sync.Cond // signalled when active drops to zero
	active int
	closed bool

	closeOnce sync.Once
	closeErr  error
	gcMu      sync.Mutex
}

// Open opens (creating if needed) the database in dir, which it makes with
// mode 0700 if missing. A database is opened by one process at a time: a
// second Open of the same dir fails with a storage.IO error.
func Open(dir string, o Options) (*DB, error) {
	const op = "open database"
	if o.MemTableSize <= 0 {
		o.MemTableSize = 8 << 20
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = 8 << 20
	}
	if o.IndexCacheSize <= 0 {
		o.IndexCacheSize = 4 << 20
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = 32 << 20
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = defSeg
	}
	if o.MemTableSize < 4<<20 || o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30 ||
		o.SegmentSize < minSeg || o.SegmentSize > maxSeg {
		return nil, storage.Ef(op, storage.Invalid, dir, errors.New(
			"MemTableSize must be at least 4 MiB, ValueLogFileSize from 1 MiB to under 2 GiB, SegmentSize from 64 KiB to under 4 GiB"))
	}
	bo := badger.DefaultOptions(dir)
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, storage.Ef(op, storage.IO, dir, err)
	}
	threshold := int64(valueThreshold)
	maxValue := o.ValueLogFileSize
	if o.InMemory {
		// Nothing goes to a value log: every value must stay below the
		// threshold (badger v4.9.6 panics on a value equal to it).
		threshold, maxValue = inMemoryMax, inMemoryMax-1
	}
	bo = bo.
		WithSyncWrites(o.SyncWrites).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithValueThreshold(threshold).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None). // fragments are ciphertext; keys are hashes
		WithMetricsEnabled(false).
		WithLogger(nil)
	if o.Logger != nil {
		bo = bo.WithLogger(&logger{w: o.Logger})
	}
	var segs *segments
	fragMax := int64(maxFragment)
	if o.InMemory {
		fragMax = maxValue
	} else {
		var err error
		fsys := o.files
		if fsys == nil {
			fsys = osFS{}
		}
		durable := o.SyncWrites || !o.NoSync
		segs, err = openSegments(fsys, filepath.Join(dir, segmentDir), o.SegmentSize, o.SyncWrites, durable)
		if err != nil {
			return nil, storage.Ef(op, storage.IO, dir, err)
		}
	}
	b, err := badger.Open(bo)
	if err != nil {
		return nil, storage.Ef(op, storage.IO, dir, err)
	}
	db := &DB{b: b, maxValue: maxValue}
	if o.Logger != nil {
		db.log = &logger{w: o.Logger}
	}
	db.idle = sync.NewCond(&db.mu)
	db.frags = &Fragments{db: db, segs: segs, max: fragMax}
	if err := db.frags.load(); err != nil {
		_ = b.Close()
		return nil, err
	}
	if segs != nil && !o.SyncWrites && !o.NoSync {
		db.frags.commit = newCommitter(db.frags, o.trace)
	}
	return db, nil
}

var errClosed = errors.New("database closed")

// enter registers an operation; it fails once Close has begun. Operations
// may nest (a Scan callback calling Set): enter never blocks.
func (db *DB) enter(op string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return storage.E(op, storage.IO, errClosed)
	}
	db.active++
	return nil
}

// closing reports whether Close has begun (long work such as GC stops
// early then).
func (db *DB) closing() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.closed
}

func (db *DB) leave() {
	db.mu.Lock()
	db.active--
	if db.active == 0 && db.closed {
		db.idle.Broadcast()
	}
	db.mu.Unlock()
}

// Close waits for operations in progress, stops the committer of durable
// puts, fsyncs the segment files written since Open, then closes the
// database and waits for badger's
// background work. Calling it again returns the first call's result.
// Close must not be called from a Scan or List callback.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		for db.active > 0 {
			db.idle.Wait()
		}
		db.mu.Unlock()
		db.gcMu.Lock() // wait for a GC in progress
		defer db.gcMu.Unlock()
		if c := db.frags.commit; c != nil {
			c.stop() // nothing is queued: every put has left
		}
		var segErr error
		if s := db.frags.segs; s != nil {
			segErr = s.close()
		}
		if err := db.b.Close(); err != nil {
			db.closeErr = storage.E("close database", storage.IO, err)
		} else if segErr != nil {
			db.closeErr = storage.E("close database", storage.IO, segErr)
		}
	})
	return db.closeErr
}

// GC reclaims the space of deleted fragments and KV values: it removes
// segment files that hold no live fragment, compacts a few whose live
// records take less than half the file (copying them into the active
// segment, then removing the file), and runs badger's value-log garbage
// collection until it finds nothing more worth rewriting (at most a few
// rounds). Work per call is bounded (about 4 segments' worth of copying).
// It blocks while it works; the daemon may call it periodically from a
// goroutine of its own. It does nothing on an in-memory or closed
// database, and one GC runs at a time. Failures are only logged (to
// Options.Logger): the next GC tries again.
func (db *DB) GC() {
	if db.enter("gc") != nil {
		return
	}
	defer db.leave()
	if db.b.Opts().InMemory {
		return
	}
	db.gcMu.Lock()
	defer db.gcMu.Unlock()
	if err := db.frags.collect(); err != nil && db.log != nil {
		db.log.printf("error", "segment gc: %v", err)
	}
	for range 16 {
		if db.closing() || db.b.RunValueLogGC(0.5) != nil {
			return
		}
	}
}

// translate maps a badger error to a storage error.
func translate(op, subject string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return storage.Ef(op, storage.NotExist, subject, nil)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return storage.Ef(op, storage.Canceled, subject, err)
	}
	var se *storage.Error
	if errors.As(err, &se) {
		return err
	}
	return storage.Ef(op, storage.IO, subject, err)
}

// update runs fn in a read-write transaction, retrying on conflicts with
// concurrent transactions.
func (db *DB) update(fn func(txn *badger.Txn) error) error {
	for {
		err := db.b.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}

// logger passes badger's warnings and errors to a writer, a line each.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(level, format string, args ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "badger %s: %s\n", level, msg)
}

func (l *logger) Errorf(format string, args ...any)   { l.printf("error", format, args...) }
func (l *logger) Warningf(format string, args ...any) { l.printf("warning", format, args...) }
func (l *logger) Infof(string, ...any)                {}
func (l *logger) Debugf(string, ...any)               {}
