package drive

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// KV key layout (docs/DESIGN.md, "The drive"). No key holds a name: names
// are hashed under a key derived from the user's metadata key, and folders
// are named by random ids.
//
//	drive/c/ ‖ folder id[16] ‖ HMAC(names key, name)[:16]  → sealed entry record
//	drive/i/ ‖ root id[16]                                 → sealed rename intent
//	drive/j/ ‖ journal tag[8] ‖ upload id(16 hex) ‖ "/h"   → sealed journal header
//	drive/j/ ‖ journal tag[8] ‖ upload id(16 hex) ‖ "/c/" ‖ index(8, big endian) → sealed one-chunk manifest
//
// Every value is cryptree.SealRecord(metadata key, plaintext, ad = the KV key).
const (
	prefixChild   = "drive/c/"
	prefixIntent  = "drive/i/"
	prefixJournal = "drive/j/"
)

type folderID [16]byte

// subkey derives a 32-byte value for one purpose from the metadata key
// (HMAC-SHA256 as a PRF with a label).
func subkey(key cryptree.Key, label string) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("cairn drive v1 " + label))
	return [32]byte(m.Sum(nil))
}

// seal and open wrap cryptree's records with storage kinds.
func seal(key cryptree.Key, kvKey, plain []byte) ([]byte, error) {
	b, err := cryptree.SealRecord(key, plain, kvKey)
	if err != nil {
		return nil, storage.E("seal record", storage.IO, err)
	}
	return b, nil
}

func open(key cryptree.Key, kvKey, sealed []byte) ([]byte, error) {
	b, err := cryptree.OpenRecord(key, sealed, kvKey)
	if err != nil {
		return nil, storage.E("open record", storage.CannotDecrypt, err)
	}
	return b, nil
}

// getSealed reads and opens one record; found is false if the key is absent.
func getSealed(ctx context.Context, kv storage.KV, key cryptree.Key, kvKey []byte) (plain []byte, found bool, err error) {
	v, err := kv.Get(ctx, kvKey)
	if errors.Is(err, storage.NotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	plain, err = open(key, kvKey, v)
	return plain, err == nil, err
}

func setSealed(ctx context.Context, kv storage.KV, key cryptree.Key, kvKey, plain []byte) error {
	v, err := seal(key, kvKey, plain)
	if err != nil {
		return err
	}
	return kv.Set(ctx, kvKey, v)
}

var errRecord = errors.New("malformed record")

// Record encodings. Integers are varints (signed) or uvarints.
//
//	entry:   "CDE" 0x01 | name | kind (0 file, 1 folder) | size | mtime
//	         folder: id[16]    file: manifest (blob.Manifest.MarshalBinary)
//	intent:  "CDI" 0x01 | src folder id[16] | src name | dst folder id[16] | dst name
//	journal: "CDJ" 0x01 | path | source | source size | source mtime | mtime | started
//	chunk:   a blob manifest with exactly one chunk and nothing inline
//
// Strings and the manifest are uvarint length ‖ bytes; a time is
// varint unix seconds ‖ uvarint nanoseconds (< 1e9).
const (
	magicEntry   = "CDE\x01"
	magicIntent  = "CDI\x01"
	magicJournal = "CDJ\x01"
)

// entryRec is the stored form of one child of a folder.
type entryRec struct {
	name     string
	dir      bool
	size     int64
	mtime    time.Time
	id       folderID // folders
	manifest []byte   // files: the encoded manifest
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// maxUnix bounds the seconds of a stored time (about ±35,000 years), so
// that every stored time converts back and forth exactly.
const maxUnix = 1 << 40

// clampTime brings t within the range a record can hold.
func clampTime(t time.Time) time.Time {
	switch s := t.Unix(); {
	case s > maxUnix:
		return time.Unix(maxUnix, 0)
	case s < -maxUnix:
		return time.Unix(-maxUnix, 0)
	}
	return t
}

func appendTime(b []byte, t time.Time) []byte {
	t = clampTime(t)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func encodeEntry(e entryRec) []byte {
	b := make([]byte, 0, 64+len(e.name)+len(e.manifest))
	b = append(b, magicEntry...)
	b = appendString(b, e.name)
	if e.dir {
		b = append(b, 1)
		b = binary.AppendUvarint(b, 0)
		b = appendTime(b, e.mtime)
		return append(b, e.id[:]...)
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(e.size))
	b = appendTime(b, e.mtime)
	b = binary.AppendUvarint(b, uint64(len(e.manifest)))
	return append(b, e.manifest...)
}

// decoder reads a record strictly: every read checks what is left.
type decoder struct {
	r   *bytes.Reader
	err error
}

func newDecoder(b []byte, magic string) *decoder {
	d := &decoder{r: bytes.NewReader(b)}
	if !bytes.HasPrefix(b, []byte(magic)) {
		d.err = fmt.Errorf("%w: bad magic or version", errRecord)
		return d
	}
	d.r.Seek(int64(len(magic)), 0)
	return d
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errRecord, why)
	}
}

func (d *decoder) uint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.fail("truncated")
		return 0
	}
	if v > max {
		d.fail(fmt.Sprintf("value %d over limit %d", v, max))
		return 0
	}
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.fail("truncated")
	}
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(d.r.Len()) < n {
		d.fail("truncated")
		return nil
	}
	b := make([]byte, n)
	_, _ = d.r.Read(b)
	return b
}

func (d *decoder) string(max uint64) string {
	return string(d.bytes(d.uint(max)))
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	c, err := d.r.ReadByte()
	if err != nil {
		d.fail("truncated")
	}
	return c
}

func (d *decoder) time() time.Time {
	sec := d.int()
	if sec > maxUnix || sec < -maxUnix {
		d.fail("time out of range")
	}
	nsec := d.uint(999_999_999)
	return time.Unix(sec, int64(nsec))
}

func (d *decoder) id() (id folderID) {
	copy(id[:], d.bytes(16))
	return id
}

func (d *decoder) name() string {
	s := d.string(MaxName)
	if d.err == nil {
		if err := checkName(s); err != nil {
			d.fail(err.Error())
		}
	}
	return s
}

func (d *decoder) done() error {
	if d.err == nil && d.r.Len() != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", d.r.Len()))
	}
	return d.err
}

// decodeEntry decodes an entry record. The manifest bytes are checked for
// length only; parseManifest parses them.
func decodeEntry(b []byte) (entryRec, error) {
	d := newDecoder(b, magicEntry)
	var e entryRec
	e.name = d.name()
	switch d.byte() {
	case 0:
		e.size = int64(d.uint(1 << 62))
		e.mtime = d.time()
		e.manifest = d.bytes(d.uint(blob.MaxManifest))
	case 1:
		e.dir = true
		if d.uint(0) != 0 {
			d.fail("folder with a size")
		}
		e.mtime = d.time()
		e.id = d.id()
	default:
		d.fail("unknown kind")
	}
	if err := d.done(); err != nil {
		return entryRec{}, err
	}
	return e, nil
}

// parseManifest parses a file entry's manifest and checks it against the
// entry's size.
func (e entryRec) parseManifest() (*blob.Manifest, error) {
	m, err := blob.ParseManifest(e.manifest)
	if err != nil {
		return nil, err
	}
	if m.Size != e.size {
		return nil, storage.E("parse entry", storage.Corrupt, fmt.Errorf("%w: size %d, manifest says %d", errRecord, e.size, m.Size))
	}
	return m, nil
}

// intent is a rename in progress: the child srcName of src becomes dstName
// of dst.
type intent struct {
	src, dst         folderID
	srcName, dstName string
}

func encodeIntent(in intent) []byte {
	b := append([]byte(nil), magicIntent...)
	b = append(b, in.src[:]...)
	b = appendString(b, in.srcName)
	b = append(b, in.dst[:]...)
	return appendString(b, in.dstName)
}

func decodeIntent(b []byte) (intent, error) {
	d := newDecoder(b, magicIntent)
	var in intent
	in.src = d.id()
	in.srcName = d.name()
	in.dst = d.id()
	in.dstName = d.name()
	if err := d.done(); err != nil {
		return intent{}, err
	}
	return in, nil
}

// journal is the header of one upload in the journal.
type journal struct {
	path     string    // where the file goes
	source   string    // local file the bytes come from; "" if none
	srcSize  int64     // source size and mtime when the upload started
	srcMtime time.Time //
	mtime    time.Time // the mtime the file is committed with
	started  time.Time
}

func encodeJournal(j journal) []byte {
	b := append([]byte(nil), magicJournal...)
	b = appendString(b, j.path)
	b = appendString(b, j.source)
	b = binary.AppendVarint(b, j.srcSize)
	b = appendTime(b, j.srcMtime)
	b = appendTime(b, j.mtime)
	return appendTime(b, j.started)
}

func decodeJournal(b []byte) (journal, error) {
	d := newDecoder(b, magicJournal)
	var j journal
	j.path = d.string(MaxPath)
	j.source = d.string(4 * MaxPath)
	j.srcSize = d.int()
	j.srcMtime = d.time()
	j.mtime = d.time()
	j.started = d.time()
	if err := d.done(); err != nil {
		return journal{}, err
	}
	if c, err := Clean(j.path); err != nil || c != j.path || c == "/" {
		return journal{}, fmt.Errorf("%w: bad path", errRecord)
	}
	if j.srcSize < 0 {
		return journal{}, fmt.Errorf("%w: negative size", errRecord)
	}
	return j, nil
}

func encodeChunk(c blob.Chunk) ([]byte, error) {
	m := blob.Manifest{Size: int64(c.Size), Chunks: []blob.Chunk{c}}
	return m.MarshalBinary()
}

func decodeChunk(b []byte) (blob.Chunk, error) {
	m, err := blob.ParseManifest(b)
	if err != nil {
		return blob.Chunk{}, err
	}
	if len(m.Chunks) != 1 {
		return blob.Chunk{}, storage.E("parse journal chunk", storage.Corrupt, fmt.Errorf("%w: %d chunks", errRecord, len(m.Chunks)))
	}
	return m.Chunks[0], nil
}
