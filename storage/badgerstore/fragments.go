package badgerstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Fragments is the database's storage.FragmentStore and storage.Lister.
//
// All methods are safe for concurrent use. Put does not retain data; Get
// returns a fresh slice the caller owns. Errors carry a storage.Kind:
// NotExist for a fragment not held, Invalid when Put's data does not hash
// to its ref or is larger than the database accepts, Corrupt when held
// bytes no longer match their ref (or their segment file is damaged or
// gone), Canceled when ctx is done, IO for a database or file failure or
// a closed database. Fragments over 64 MiB (of 1 MiB or more in memory)
// are Invalid.
type Fragments struct {
	db *DB
	// segs holds the payloads of an on-disk database; nil in memory, where
	// the "f/" records hold the payloads themselves.
	segs *segments
	// commit makes puts durable by group commit; nil when puts are not
	// synced by it (in memory, Options.NoSync, Options.SyncWrites).
	commit *committer
	max    int64 // largest fragment accepted
	bytes  atomic.Int64
}

var (
	_ storage.FragmentStore = (*Fragments)(nil)
	_ storage.Lister        = (*Fragments)(nil)
)

// Fragments returns the database's fragment store. Every call returns the
// same value.
func (db *DB) Fragments() *Fragments { return db.frags }

var (
	prefixData = []byte("f/")
	prefixSize = []byte("z/")
	formatKey  = []byte("meta/fragment-format")
)

// fragmentFormat is the value of formatKey in an on-disk database whose
// "f/" records are segment locations. Databases from before segments have
// no formatKey and hold payloads in "f/" records: Open refuses them.
const fragmentFormat = 2

func dataKey(ref storage.Ref) []byte {
	return append(append(make([]byte, 0, 34), prefixData...), ref[:]...)
}
func sizeKey(ref storage.Ref) []byte {
	return append(append(make([]byte, 0, 34), prefixSize...), ref[:]...)
}

func encodeSize(n int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

var errSizeRecord = errors.New("malformed size record")

// decodeSize parses a size record read from the database.
func decodeSize(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, errSizeRecord
	}
	n := binary.BigEndian.Uint64(b)
	if n > 1<<40 {
		return 0, errSizeRecord
	}
	return int64(n), nil
}

// sizeOf reads the size record of ref in txn: found is false if ref is not
// held. A damaged size record is not trusted: the size then comes from the
// fragment itself (0 if that is gone too).
func (f *Fragments) sizeOf(txn *badger.Txn, ref storage.Ref) (size int64, found bool, err error) {
	item, err := txn.Get(sizeKey(ref))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return f.sizeOfItem(txn, ref, item)
}

// sizeOfItem decodes the size record item of ref, falling back to the
// length of the fragment if the record is damaged (the length its location
// gives in an on-disk database, 0 if that is damaged too).
func (f *Fragments) sizeOfItem(txn *badger.Txn, ref storage.Ref, item *badger.Item) (size int64, found bool, err error) {
	var bad error
	err = item.Value(func(v []byte) error {
		size, bad = decodeSize(v)
		return nil
	})
	if err != nil || bad == nil {
		return size, err == nil, err
	}
	data, err := txn.Get(dataKey(ref))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	err = data.Value(func(v []byte) error {
		size = f.payloadLen(v)
		return nil
	})
	return size, err == nil, err
}

// payloadLen is the length of the fragment whose "f/" record is v.
func (f *Fragments) payloadLen(v []byte) int64 {
	if f.segs == nil {
		return int64(len(v))
	}
	l, err := decodeLocation(v)
	if err != nil {
		return 0
	}
	return l.n
}

// eachSize calls fn for every size record in txn, in ref order. Records
// with a malformed key are skipped.
func (f *Fragments) eachSize(ctx context.Context, txn *badger.Txn, fn func(ref storage.Ref, size int64) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixSize})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		item := it.Item()
		var ref storage.Ref
		if len(item.Key()) != len(prefixSize)+len(ref) {
			continue
		}
		copy(ref[:], item.Key()[len(prefixSize):])
		size, _, err := f.sizeOfItem(txn, ref, item)
		if err != nil {
			return err
		}
		if err := fn(ref, size); err != nil {
			return err
		}
	}
	return nil
}

// load checks the fragment format of an on-disk database (writing it into
// a database without fragments) and sums the size records into the byte
// counter.
func (f *Fragments) load() error {
	const op = "open fragment store"
	if f.segs != nil {
		if err := f.checkFormat(); err != nil {
			return translate(op, "", err)
		}
	}
	var total int64
	err := f.db.b.View(func(txn *badger.Txn) error {
		return f.eachSize(context.Background(), txn, func(_ storage.Ref, size int64) error {
			total += size
			return nil
		})
	})
	f.bytes.Store(total)
	return translate(op, "", err)
}

// checkFormat refuses a database whose fragments are not in segments.
func (f *Fragments) checkFormat() error {
	const op = "open fragment store"
	return f.db.update(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey)
		if err == nil {
			return item.Value(func(v []byte) error {
				if len(v) != 1 || v[0] != fragmentFormat {
					return storage.E(op, storage.Invalid, fmt.Errorf(
						"fragments are stored in format %x, this program reads format %d only", v, fragmentFormat))
				}
				return nil
			})
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixData})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			return storage.E(op, storage.Invalid, errors.New(
				"the database holds fragments in the format from before segment files; move its folder aside and start afresh"))
		}
		return txn.Set(formatKey, []byte{fragmentFormat})
	})
}

// Bytes returns the total size of the fragments held. It is a counter kept
// with every write and restored from the size records on Open.
func (f *Fragments) Bytes() int64 { return f.bytes.Load() }

var errMismatch = errors.New("data does not match ref")

// Put stores data under ref after checking that erasure.Root(data) is ref
// (storage.Invalid otherwise, and nothing is stored). Putting a ref that is
// already held does nothing and does not read it: to replace damaged bytes,
// Delete first.
func (f *Fragments) Put(ctx context.Context, ref storage.Ref, data []byte) error {
	return f.put(ctx, ref, data, true, true)
}

// PutVerified is Put for a caller that has itself just checked that
// erasure.Root(data) is ref (the fragment service does, before it records
// an owner): it stores without hashing the data a second time. A caller
// that has not checked must use Put; Get verifies either way, so bytes
// that do not match their ref are never returned, only reported Corrupt.
func (f *Fragments) PutVerified(ctx context.Context, ref storage.Ref, data []byte) error {
	return f.put(ctx, ref, data, false, false)
}

// PutVerifiedSum is PutVerified that also records the payload's CRC-32C
// with its location, which Get then checks instead of the Merkle root
// (about a tenth of the CPU: what serving a GET costs a holder). The
// caller vouches for the bytes more strongly than for PutVerified: a
// fragment that does not match its ref is then returned as it was put,
// while bit rot, a damaged record or a misplaced index entry still read
// as Corrupt. Only for a caller that has checked erasure.Root(data) ==
// ref itself just before (the fragment service does for every PUT); the
// GETs' client checks every fragment against the ref again anyway.
func (f *Fragments) PutVerifiedSum(ctx context.Context, ref storage.Ref, data []byte) error {
	return f.put(ctx, ref, data, false, true)
}

// put stores data; verify: check it against ref first; sum: record its
// checksum (in an on-disk database).
func (f *Fragments) put(ctx context.Context, ref storage.Ref, data []byte, verify, sum bool) error {
	const op = "put fragment"
	if err := ctx.Err(); err != nil {
		return storage.Ef(op, storage.Canceled, ref.Short(), err)
	}
	if int64(len(data)) > f.max {
		return storage.Ef(op, storage.Invalid, ref.Short(),
			fmt.Errorf("fragment of %d bytes is larger than the %d the store accepts", len(data), f.max))
	}
	if verify && erasure.Root(data) != ref {
		return storage.Ef(op, storage.Invalid, ref.Short(), errMismatch)
	}
	if err := f.db.enter(op); err != nil {
		return err
	}
	defer f.db.leave()
	value := data
	if f.segs != nil {
		// Payload first, index second: a crash in between leaves only
		// unreferenced bytes in a segment. A fragment already held is
		// not written again.
		held, err := f.held(ref)
		if err != nil {
			return translate(op, ref.Short(), err)
		}
		// A copy held but damaged (bit rot, a bad sector: it fails its
		// own check) is replaced by the good bytes a PUT brings, so
		// that an owner's repair that puts the fragment here again
		// heals it instead of being told it is kept.
		replace := false
		if held {
			if _, gerr := f.getSegment(nil, ref); storage.KindOf(gerr) == storage.Corrupt {
				held, replace = false, true
			}
		}
		if held {
			if f.commit != nil {
				// The entry seen may belong to a group still syncing:
				// acknowledge only once a later group is durable.
				return f.wrapCommit(ref, f.commit.submit(&commitReq{ref: ref}))
			}
			return nil
		}
		r, err := f.segs.write(ref, data)
		if err != nil {
			return storage.Ef(op, storage.IO, ref.Short(), err)
		}
		// data matches ref (checked here, or the caller vouches for
		// it): its checksum stands for the root from now on.
		if sum {
			r.loc.sum, r.loc.hasSum = checksum(data), true
		}
		if f.commit != nil {
			// The committer syncs the record, commits the index entry
			// and syncs the index, with those of concurrent puts.
			return f.wrapCommit(ref, f.commit.submit(&commitReq{
				ref: ref, value: r.loc.encode(), size: len(data), r: r, replace: replace}))
		}
		defer r.done()
		value = r.loc.encode()
		if replace {
			return translate(op, ref.Short(), f.db.update(func(txn *badger.Txn) error {
				return txn.Set(dataKey(ref), value)
			}))
		}
	}
	var added bool
	err := f.db.update(func(txn *badger.Txn) error {
		added = false
		if _, found, err := f.sizeOf(txn, ref); err != nil || found {
			return err
		}
		if err := txn.Set(dataKey(ref), value); err != nil {
			return err
		}
		added = true
		return txn.Set(sizeKey(ref), encodeSize(len(data)))
	})
	if err != nil {
		return translate(op, ref.Short(), err)
	}
	if added {
		f.bytes.Add(int64(len(data)))
	}
	return nil
}

// wrapCommit gives a committer's error the put's op and subject.
func (f *Fragments) wrapCommit(ref storage.Ref, err error) error {
	if err == nil {
		return nil
	}
	return storage.Ef("put fragment", storage.KindOf(err), ref.Short(), err)
}

// held reports whether ref has a size record.
func (f *Fragments) held(ref storage.Ref) (bool, error) {
	var found bool
	err := f.db.b.View(func(txn *badger.Txn) error {
		_, err := txn.Get(sizeKey(ref))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// Get returns the bytes held under ref, verified against ref.
func (f *Fragments) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	return f.GetTo(ctx, nil, ref)
}

// GetTo is Get reading into dst: the bytes are written over dst[:0] when
// dst has room for them (into a new slice otherwise) and the result is
// returned; it aliases dst when it fits. On error the contents of dst are
// unspecified. Callers that recycle buffers (the fragment service) use it
// to keep a fragment read from allocating.
func (f *Fragments) GetTo(ctx context.Context, dst []byte, ref storage.Ref) ([]byte, error) {
	const op = "get fragment"
	if err := ctx.Err(); err != nil {
		return nil, storage.Ef(op, storage.Canceled, ref.Short(), err)
	}
	if err := f.db.enter(op); err != nil {
		return nil, err
	}
	defer f.db.leave()
	if f.segs != nil {
		return f.getSegment(dst, ref)
	}
	var data []byte
	err := f.db.b.View(func(txn *badger.Txn) error {
		item, err := txn.Get(dataKey(ref))
		if err != nil {
			return err
		}
		data, err = item.ValueCopy(dst[:0])
		return err
	})
	if err != nil {
		return nil, translate(op, ref.Short(), err)
	}
	if erasure.Root(data) != ref {
		return nil, storage.Ef(op, storage.Corrupt, ref.Short(), nil)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// dataRecord returns a copy of ref's "f/" record, appended to buf[:0].
func (f *Fragments) dataRecord(buf []byte, ref storage.Ref) ([]byte, error) {
	err := f.db.b.View(func(txn *badger.Txn) error {
		item, err := txn.Get(dataKey(ref))
		if err != nil {
			return err
		}
		buf, err = item.ValueCopy(buf[:0])
		return err
	})
	return buf, err
}

// getSegment is GetTo for an on-disk database: look the location up, read
// the payload from its segment, verify. When the read or the check fails,
// the location is looked up again: if it moved meanwhile (GC compacted the
// segment, Corrupt re-pointed it), the read is tried again.
func (f *Fragments) getSegment(dst []byte, ref storage.Ref) ([]byte, error) {
	const op = "get fragment"
	var cur, again [locSize]byte
	rec, err := f.dataRecord(cur[:0], ref)
	for tries := 0; ; tries++ {
		if err != nil {
			return nil, translate(op, ref.Short(), err)
		}
		data, bad := f.readRecord(dst, ref, rec)
		if bad == nil {
			if data == nil {
				data = []byte{}
			}
			return data, nil
		}
		if tries == 3 {
			return nil, storage.Ef(op, storage.KindOf(bad), ref.Short(), bad)
		}
		var moved []byte
		moved, err = f.dataRecord(again[:0], ref)
		if err == nil && string(moved) == string(rec) {
			return nil, storage.Ef(op, storage.KindOf(bad), ref.Short(), bad)
		}
		rec = append(cur[:0], moved...)
	}
}

// readRecord reads and verifies the payload that the "f/" record rec
// locates. Errors carry Corrupt when the bytes are not what ref names
// (a damaged record, a missing or short segment, a mismatch), IO for a
// failed read.
func (f *Fragments) readRecord(dst []byte, ref storage.Ref, rec []byte) ([]byte, error) {
	l, err := decodeLocation(rec)
	if err != nil {
		return nil, storage.E("", storage.Corrupt, err)
	}
	data, err := f.segs.read(dst, l)
	switch {
	case errors.Is(err, errMissing), errors.Is(err, errShort):
		return nil, storage.E("", storage.Corrupt, err)
	case err != nil:
		return nil, storage.E("", storage.IO, err)
	case !l.verify(ref, data):
		return nil, storage.E("", storage.Corrupt, nil)
	}
	return data, nil
}

// Has reports whether ref is held, without reading or verifying it.
func (f *Fragments) Has(ctx context.Context, ref storage.Ref) (bool, error) {
	const op = "has fragment"
	if err := ctx.Err(); err != nil {
		return false, storage.Ef(op, storage.Canceled, ref.Short(), err)
	}
	if err := f.db.enter(op); err != nil {
		return false, err
	}
	defer f.db.leave()
	found, err := f.held(ref)
	return found, translate(op, ref.Short(), err)
}

// Delete removes ref. Deleting a ref that is not held is not an error.
func (f *Fragments) Delete(ctx context.Context, ref storage.Ref) error {
	const op = "delete fragment"
	if err := ctx.Err(); err != nil {
		return storage.Ef(op, storage.Canceled, ref.Short(), err)
	}
	if err := f.db.enter(op); err != nil {
		return err
	}
	defer f.db.leave()
	var removed int64
	err := f.db.update(func(txn *badger.Txn) error {
		removed = 0
		size, found, err := f.sizeOf(txn, ref)
		if err != nil {
			return err
		}
		if !found {
			// Clear a data record left without a size record, if any.
			if _, err := txn.Get(dataKey(ref)); err != nil {
				if errors.Is(err, badger.ErrKeyNotFound) {
					return nil
				}
				return err
			}
			return txn.Delete(dataKey(ref))
		}
		if err := txn.Delete(dataKey(ref)); err != nil {
			return err
		}
		removed = size
		return txn.Delete(sizeKey(ref))
	})
	if err != nil {
		return translate(op, ref.Short(), err)
	}
	f.bytes.Add(-removed)
	return nil
}

// List calls fn for every fragment held, with its size, in ref order,
// until fn returns an error, which List returns as is. It reads only the
// size records, not the fragments. fn runs inside a read transaction that
// sees the store as it was when List began; it may call the store's other
// methods (to delete what it is given, say) but must not call Close.
func (f *Fragments) List(ctx context.Context, fn func(ref storage.Ref, size int64) error) error {
	const op = "list fragments"
	if err := ctx.Err(); err != nil {
		return storage.E(op, storage.Canceled, err)
	}
	if err := f.db.enter(op); err != nil {
		return err
	}
	defer f.db.leave()
	var fnErr error
	err := f.db.b.View(func(txn *badger.Txn) error {
		return f.eachSize(ctx, txn, func(ref storage.Ref, size int64) error {
			fnErr = fn(ref, size)
			return fnErr
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return translate(op, "", err)
}

// Corrupt is a test hook: it replaces the bytes held under ref with
// f(a copy of them), without verification, so that the next Get reports
// storage.Corrupt; the size record and Bytes follow the new length. It
// returns a storage.NotExist error if ref is not held. fn may run more than
// once (when a concurrent write conflicts) and must not call the store. In
// an on-disk database the new bytes are a new record in the active
// segment and the index is pointed at it (fn gets no bytes if the old
// ones cannot be read).
func (f *Fragments) Corrupt(ref storage.Ref, fn func([]byte) []byte) error {
	const op = "corrupt fragment"
	if err := f.db.enter(op); err != nil {
		return err
	}
	defer f.db.leave()
	if f.segs != nil {
		return f.corruptSegment(ref, fn)
	}
	var delta int64
	err := f.db.update(func(txn *badger.Txn) error {
		size, found, err := f.sizeOf(txn, ref)
		if err != nil {
			return err
		}
		if !found {
			return badger.ErrKeyNotFound
		}
		item, err := txn.Get(dataKey(ref))
		if err != nil {
			return err
		}
		old, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		nb := fn(old)
		if int64(len(nb)) > f.max {
			return storage.Ef(op, storage.Invalid, ref.Short(), errors.New("too large"))
		}
		delta = int64(len(nb)) - size
		if err := txn.Set(dataKey(ref), nb); err != nil {
			return err
		}
		return txn.Set(sizeKey(ref), encodeSize(len(nb)))
	})
	if err != nil {
		return translate(op, ref.Short(), err)
	}
	f.bytes.Add(delta)
	return nil
}

// errMoved: the location changed while Corrupt worked; it starts again.
var errMoved = errors.New("fragment moved")

func (f *Fragments) corruptSegment(ref storage.Ref, fn func([]byte) []byte) error {
	const op = "corrupt fragment"
	for {
		rec, err := f.dataRecord(nil, ref)
		if err != nil {
			return translate(op, ref.Short(), err)
		}
		var old []byte
		var was location
		if l, err := decodeLocation(rec); err == nil {
			old, _ = f.segs.read(nil, l)
			was = l
		}
		nb := fn(old)
		if int64(len(nb)) > f.max {
			return storage.Ef(op, storage.Invalid, ref.Short(), errors.New("too large"))
		}
		r, err := f.segs.write(ref, nb)
		if err != nil {
			return storage.Ef(op, storage.IO, ref.Short(), err)
		}
		// Damage after the fact: the checksum stays the one taken when
		// the good bytes were stored.
		r.loc = r.loc.withSum(was)
		var delta int64
		err = f.db.update(func(txn *badger.Txn) error {
			size, found, err := f.sizeOf(txn, ref)
			if err != nil {
				return err
			}
			if !found {
				return badger.ErrKeyNotFound
			}
			if same, err := f.recordIs(txn, ref, rec); err != nil || !same {
				if err == nil {
					err = errMoved
				}
				return err
			}
			delta = int64(len(nb)) - size
			if err := txn.Set(dataKey(ref), r.loc.encode()); err != nil {
				return err
			}
			return txn.Set(sizeKey(ref), encodeSize(len(nb)))
		})
		r.done()
		if errors.Is(err, errMoved) {
			continue
		}
		if err != nil {
			return translate(op, ref.Short(), err)
		}
		f.bytes.Add(delta)
		return nil
	}
}

// recordIs reports whether ref's "f/" record in txn is rec.
func (f *Fragments) recordIs(txn *badger.Txn, ref storage.Ref, rec []byte) (bool, error) {
	item, err := txn.Get(dataKey(ref))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var same bool
	err = item.Value(func(v []byte) error {
		same = string(v) == string(rec)
		return nil
	})
	return same, err
}
