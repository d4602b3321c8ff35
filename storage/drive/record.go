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

// Journal KV key layout (docs/DESIGN.md, "The drive"). No key holds a
// path: the tag is derived from the user's metadata key, so several users
// can share one KV.
//
//	drive/j/ ‖ journal tag[8] ‖ upload id(16 hex) ‖ "/h"   → sealed journal header
//	drive/j/ ‖ journal tag[8] ‖ upload id(16 hex) ‖ "/c/" ‖ index(8, big endian) → sealed one-chunk manifest
//
// Every value is cryptree.SealRecord(metadata key, plaintext, ad = the KV key).
// (The keys drive/c/ and drive/i/ held the flat namespace's entries and
// rename intents before the Cryptree tree replaced it.)
const prefixJournal = "drive/j/"

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
//	journal: "CDJ" 0x01 | path | source | source size | source mtime | mtime | started
//	chunk:   a blob manifest with exactly one chunk and nothing inline
//
// Strings and the manifest are uvarint length ‖ bytes; a time is
// varint unix seconds ‖ uvarint nanoseconds (< 1e9).
const magicJournal = "CDJ\x01"

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
