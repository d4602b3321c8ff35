package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Segment files and record layout (see doc.go for the contract).
const (
	segmentDir    = "segments"
	segmentSuffix = ".seg"

	// recordMagic starts every record in a segment.
	recordMagic = "CFR\x01"
	// headerSize is a record's header: magic, ref, payload length (uint32
	// big-endian). The payload follows it.
	headerSize = 4 + storage.RefSize + 4

	// maxFragment caps a fragment in an on-disk database (the fragment
	// protocol carries at most 16 MiB).
	maxFragment = 64 << 20
	// maxOffset bounds an offset in a segment: a location beyond it is
	// not one we wrote.
	maxOffset = 1 << 40

	locTag    = 1                // first byte of a location value
	locTagSum = 2                // first byte of a location with a checksum
	locSize1  = 1 + 4 + 8 + 4    // tag, segment, offset, length
	locSize   = locSize1 + 4     // the same and the payload's CRC-32C (tag 2)
	minSeg    = int64(64 << 10)  // smallest Options.SegmentSize
	maxSeg    = int64(4<<30 - 1) // largest Options.SegmentSize
	defSeg    = int64(256 << 20) // Options.SegmentSize 0
)

// location says where a fragment's payload lives: n bytes at off in
// segment seg. off is the payload's offset, after the record header.
// With hasSum, sum is the CRC-32C (Castagnoli) of the payload, taken when
// it was stored from bytes verified against the ref: a read checks that
// instead of the ref's Merkle root (erasure.Root), at a tenth of the
// cost, which is what a GET pays on a holder (see doc.go).
type location struct {
	seg    uint32
	off    int64
	n      int64
	sum    uint32
	hasSum bool
}

// crcTable is CRC-32C's, computed with the CPU's instruction where there
// is one.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// checksum is the payload checksum of a tag-2 location.
func checksum(data []byte) uint32 { return crc32.Checksum(data, crcTable) }

// encode returns the location's value for the "f/" record: the tag byte
// 0x01, then segment (uint32), offset (uint64) and length (uint32), all
// big-endian; with a checksum the tag is 0x02 and the CRC-32C (uint32
// big-endian) follows.
func (l location) encode() []byte {
	b := make([]byte, 0, locSize)
	if l.hasSum {
		b = append(b, locTagSum)
	} else {
		b = append(b, locTag)
	}
	b = binary.BigEndian.AppendUint32(b, l.seg)
	b = binary.BigEndian.AppendUint64(b, uint64(l.off))
	b = binary.BigEndian.AppendUint32(b, uint32(l.n))
	if l.hasSum {
		b = binary.BigEndian.AppendUint32(b, l.sum)
	}
	return b
}

// withSum returns l carrying the checksum of another location (a copy
// of the same payload: GC's, Corrupt's), or none if it has none.
func (l location) withSum(of location) location {
	l.sum, l.hasSum = of.sum, of.hasSum
	return l
}

// verify checks data, read from l, against l's checksum if it has one,
// else against ref's Merkle root.
func (l location) verify(ref storage.Ref, data []byte) bool {
	if l.hasSum {
		return checksum(data) == l.sum
	}
	return erasure.Root(data) == ref
}

var errLocation = errors.New("malformed fragment location")

// decodeLocation parses a location read from the database. It is strict:
// anything encode would not have produced for a record we wrote (wrong
// length or tag, segment 0, an offset inside the first header or past
// maxOffset, a length over maxFragment) is errLocation.
func decodeLocation(b []byte) (location, error) {
	switch {
	case len(b) == locSize1 && b[0] == locTag:
	case len(b) == locSize && b[0] == locTagSum:
	default:
		return location{}, errLocation
	}
	seg := binary.BigEndian.Uint32(b[1:])
	off := binary.BigEndian.Uint64(b[5:])
	n := binary.BigEndian.Uint32(b[13:])
	if seg == 0 || off < headerSize || off > maxOffset || n > maxFragment {
		return location{}, errLocation
	}
	l := location{seg: seg, off: int64(off), n: int64(n)}
	if b[0] == locTagSum {
		l.sum, l.hasSum = binary.BigEndian.Uint32(b[17:]), true
	}
	return l, nil
}

// segFile is what the store needs of an open segment file: *os.File, or
// a test's stand-in (see fileSystem).
type segFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// fileSystem is the layer the segment files are opened through: the
// operating system's, or in a test one that records the order of writes
// and syncs and can "cut the power" (throw away what was not synced).
// Listing, stat and removal go to the os package directly.
type fileSystem interface {
	OpenFile(name string, flag int, perm fs.FileMode) (segFile, error)
	// SyncDir fsyncs a directory, so that the files created in it
	// survive a power failure.
	SyncDir(dir string) error
}

// osFS is the operating system's file layer.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (segFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// segment is one segment file. Its fields other than no are guarded by
// segments.mu, except pending.
type segment struct {
	no   uint32
	f    segFile // nil until first opened in this run
	size int64   // bytes reserved so far (the active segment only)
	// written is set for segments written in this run: Close syncs them.
	written bool
	// pending counts writers that reserved space in the segment and have
	// not yet committed (or given up on) their index entry. It only rises
	// while the segment is active (under segments.mu).
	pending atomic.Int64
}

// segments manages the segment files of one database: one active segment
// that writers append to, the others read-only until GC removes them.
// Safe for concurrent use.
type segments struct {
	dir   string
	limit int64
	sync  bool // fsync after every record (Options.SyncWrites)
	// syncDir: fsync the directory when a segment is created, before any
	// record in it is acknowledged (durable puts, Options.SyncWrites).
	syncDir bool
	fs      fileSystem

	mu     sync.RWMutex
	all    map[uint32]*segment // every segment file we know of
	active *segment            // nil until the first write of this run
	next   uint32              // number of the next segment to create
	closed bool
}

func segmentName(no uint32) string { return fmt.Sprintf("%06d%s", no, segmentSuffix) }

// parseSegmentName returns the number of a segment file name, or false for
// a name segmentName would not produce.
func parseSegmentName(name string) (uint32, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n == 0 || segmentName(uint32(n)) != name {
		return 0, false
	}
	return uint32(n), true
}

// openSegments makes dir (0700) if needed and learns the segments in it.
// It creates no file: the first write of this run starts a new segment
// after the highest one found. With syncDir, dir's parent is fsynced so
// that dir itself survives a power failure.
func openSegments(fsys fileSystem, dir string, limit int64, sync, syncDir bool) (*segments, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if syncDir {
		if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &segments{dir: dir, limit: limit, sync: sync, syncDir: syncDir, fs: fsys, all: map[uint32]*segment{}, next: 1}
	for _, e := range entries {
		no, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		s.all[no] = &segment{no: no}
		if no >= s.next {
			s.next = no + 1
		}
	}
	if s.next == 0 {
		return nil, errors.New("segment numbers exhausted")
	}
	return s, nil
}

func (s *segments) path(no uint32) string { return filepath.Join(s.dir, segmentName(no)) }

var errSegmentsClosed = errors.New("segment files closed")

// reservation is space for one record in the active segment. done must be
// called once the index entry pointing at it is committed or abandoned.
type reservation struct {
	seg *segment
	f   segFile
	loc location
}

func (r reservation) done() { r.seg.pending.Add(-1) }

// reserve makes room for a record with an n-byte payload in the active
// segment, starting a new segment when the record would take the active
// one past the limit (a record larger than the limit gets a segment of its
// own).
func (s *segments) reserve(n int64) (reservation, error) {
	rec := int64(headerSize) + n
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return reservation{}, errSegmentsClosed
	}
	a := s.active
	if a == nil || (a.size > 0 && a.size+rec > s.limit) || a.size+rec > maxOffset {
		var err error
		if a, err = s.create(); err != nil {
			return reservation{}, err
		}
	}
	r := reservation{seg: a, f: a.f, loc: location{seg: a.no, off: a.size + headerSize, n: n}}
	a.size += rec
	a.pending.Add(1)
	return r, nil
}

// create starts a new active segment. s.mu is held. With s.syncDir the
// directory is fsynced before the segment is used, so that no record in it
// is acknowledged while the file's name could still vanish in a power cut.
func (s *segments) create() (*segment, error) {
	for {
		no := s.next
		if no == 0 {
			return nil, errors.New("segment numbers exhausted")
		}
		s.next++
		f, err := s.fs.OpenFile(s.path(no), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // made behind our back: leave it alone
		}
		if err != nil {
			return nil, err
		}
		if s.syncDir {
			if err := s.fs.SyncDir(s.dir); err != nil {
				_ = f.Close()
				_ = os.Remove(s.path(no))
				return nil, err
			}
		}
		seg := &segment{no: no, f: f, written: true}
		s.all[no] = seg
		s.active = seg
		return seg, nil
	}
}

// write appends a record for ref and data to the active segment. The
// caller commits the returned location to the index, then calls done.
func (s *segments) write(ref storage.Ref, data []byte) (reservation, error) {
	r, err := s.reserve(int64(len(data)))
	if err != nil {
		return r, err
	}
	var h [headerSize]byte
	copy(h[:], recordMagic)
	copy(h[len(recordMagic):], ref[:])
	binary.BigEndian.PutUint32(h[len(recordMagic)+storage.RefSize:], uint32(len(data)))
	if _, err = r.f.WriteAt(h[:], r.loc.off-headerSize); err == nil && len(data) > 0 {
		_, err = r.f.WriteAt(data, r.loc.off)
	}
	if err == nil && s.sync {
		err = r.f.Sync()
	}
	if err != nil {
		r.done()
		return reservation{}, err
	}
	return r, nil
}

// errMissing, errShort: the payload is not where the index says.
var (
	errMissing = errors.New("segment file missing")
	errShort   = errors.New("segment file too short")
)

// file returns segment no open for reading, opening it if needed.
// errMissing means there is no such segment.
func (s *segments) file(no uint32) (segFile, error) {
	s.mu.RLock()
	seg, closed := s.all[no], s.closed
	var f segFile
	if seg != nil {
		f = seg.f
	}
	s.mu.RUnlock()
	switch {
	case closed:
		return nil, errSegmentsClosed
	case seg == nil:
		return nil, errMissing
	case f != nil:
		return f, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errSegmentsClosed
	}
	if seg = s.all[no]; seg == nil {
		return nil, errMissing
	}
	if seg.f == nil {
		f, err := s.fs.OpenFile(s.path(no), os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errMissing
		}
		if err != nil {
			return nil, err
		}
		seg.f = f
	}
	return seg.f, nil
}

// read reads the payload at l into dst (reused when it has room).
// errMissing and errShort mean the bytes are not there; other errors are
// I/O failures (os.ErrClosed if GC removed the segment meanwhile).
func (s *segments) read(dst []byte, l location) ([]byte, error) {
	f, err := s.file(l.seg)
	if err != nil {
		return nil, err
	}
	var buf []byte
	if int64(cap(dst)) >= l.n {
		buf = dst[:l.n]
	} else {
		buf = make([]byte, l.n)
	}
	if l.n == 0 {
		return buf, nil
	}
	n, err := f.ReadAt(buf, l.off)
	if int64(n) == l.n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errShort
	}
	return nil, err
}

// sealed returns the segments GC may work on: every known segment but the
// active one, with no writer pending. No writer can reserve space in them
// any more, so every index entry pointing into them is committed.
func (s *segments) sealed() []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []uint32
	for no, seg := range s.all {
		if seg != s.active && seg.pending.Load() == 0 {
			out = append(out, no)
		}
	}
	slices.Sort(out)
	return out
}

// fileSize returns the size of segment no on disk.
func (s *segments) fileSize(no uint32) (int64, error) {
	fi, err := os.Stat(s.path(no))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// remove forgets segment no and deletes its file. Readers still holding
// it see os.ErrClosed and look the location up again.
func (s *segments) remove(no uint32) error {
	s.mu.Lock()
	seg := s.all[no]
	delete(s.all, no)
	s.mu.Unlock()
	if seg != nil && seg.f != nil {
		_ = seg.f.Close()
	}
	err := os.Remove(s.path(no))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// syncWritten fsyncs the segments in nos that were written in this run.
func (s *segments) syncWritten(nos map[uint32]bool) error {
	s.mu.RLock()
	var files []segFile
	for no := range nos {
		if seg := s.all[no]; seg != nil && seg.written && seg.f != nil {
			files = append(files, seg.f)
		}
	}
	s.mu.RUnlock()
	var first error
	for _, f := range files {
		if err := f.Sync(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close fsyncs every segment written in this run and closes all files.
// Later calls fail with errSegmentsClosed.
func (s *segments) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var first error
	for _, seg := range s.all {
		if seg.f == nil {
			continue
		}
		if seg.written {
			if err := seg.f.Sync(); err != nil && first == nil {
				first = err
			}
		}
		if err := seg.f.Close(); err != nil && first == nil {
			first = err
		}
		seg.f = nil
	}
	return first
}
