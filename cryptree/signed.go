package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"sort"
)

// Record is a folder record (SPEC.md §11): the signed, sequence-numbered
// pointer to a folder's current body. Value is opaque here (the drive puts a
// locator of the body there, or a small body itself). A Record made by
// SignRecord or ParseRecord has a valid signature; changing a field after
// that makes Marshal's output fail to parse.
type Record struct {
	ID    FolderID
	Seq   uint64
	Value []byte
	Sig   [64]byte
}

// MaxRecordValue is the largest Record.Value.
const MaxRecordValue = 8 << 10

// Folder record layout (SPEC.md §11).
const (
	recordV1       = 0x01
	recordSigCtx   = "cairn folder record v1\x00"
	recordHeadLen  = 1 + 32 + 8 + 4
	recordKeyStart = "/cairn-folder/"
	// MaxRecordLen is the longest marshalled Record.
	MaxRecordLen = recordHeadLen + MaxRecordValue + 64
)

// SignRecord returns the record of w's folder with sequence number seq and
// value, signed by w.Sign. It returns ErrInvalid if the value is longer
// than MaxRecordValue or w.Sign is malformed. value is copied.
func SignRecord(w Writer, seq uint64, value []byte) (*Record, error) {
	if len(value) > MaxRecordValue {
		return nil, invalid("record value larger than 8 KiB")
	}
	id := w.ID()
	if err := w.check(id); err != nil {
		return nil, err
	}
	r := &Record{ID: id, Seq: seq, Value: bytes.Clone(value)}
	if r.Value == nil {
		r.Value = []byte{}
	}
	copy(r.Sig[:], ed25519.Sign(w.Sign, r.signed()))
	return r, nil
}

// head returns version || ID || seq || len(value).
func (r *Record) head() []byte {
	b := make([]byte, 0, recordHeadLen+len(r.Value)+64)
	b = append(b, recordV1)
	b = append(b, r.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	return binary.BigEndian.AppendUint32(b, uint32(len(r.Value)))
}

// signed returns the bytes the signature covers.
func (r *Record) signed() []byte {
	b := append([]byte(recordSigCtx), r.head()...)
	return append(b, r.Value...)
}

// Marshal returns the record's bytes: version, ID, seq, value length,
// value, signature. The result is a new slice.
func (r *Record) Marshal() []byte {
	b := append(r.head(), r.Value...)
	return append(b, r.Sig[:]...)
}

// ParseRecord parses and verifies a marshalled record. It returns ErrInvalid
// for a malformed or oversized record and ErrBadSignature (which is also
// ErrCannotDecrypt) if the signature is not the folder key's over these
// exact bytes. b is only read; the Record is new.
func ParseRecord(b []byte) (*Record, error) {
	if len(b) < recordHeadLen+64 || len(b) > MaxRecordLen {
		return nil, invalid(fmt.Sprintf("folder record of %d bytes", len(b)))
	}
	if b[0] != recordV1 {
		return nil, invalid(fmt.Sprintf("folder record version %d is not supported", b[0]))
	}
	n := binary.BigEndian.Uint32(b[41:45])
	if uint64(n) != uint64(len(b)-recordHeadLen-64) {
		return nil, invalid("folder record value length does not match")
	}
	r := &Record{
		ID:    FolderID(b[1:33]),
		Seq:   binary.BigEndian.Uint64(b[33:41]),
		Value: bytes.Clone(b[recordHeadLen : recordHeadLen+int(n)]),
		Sig:   [64]byte(b[len(b)-64:]),
	}
	if !ed25519.Verify(ed25519.PublicKey(r.ID[:]), r.signed(), r.Sig[:]) {
		return nil, ErrBadSignature
	}
	return r, nil
}

// RecordKey returns the DHT key of a folder's record: "/cairn-folder/"
// followed by the 32 raw bytes of the ID.
func RecordKey(id FolderID) string { return recordKeyStart + string(id[:]) }

// ParseRecordKey returns the folder of a DHT key made by RecordKey, or
// ErrInvalid.
func ParseRecordKey(key string) (FolderID, error) {
	if len(key) != len(recordKeyStart)+32 || key[:len(recordKeyStart)] != recordKeyStart {
		return FolderID{}, invalid("not a folder record key")
	}
	return FolderID([]byte(key[len(recordKeyStart):])), nil
}

// MaxSeqStep is the largest step by which a folder's sequence number may
// grow from one record to the next that peers, the DHT and clients take
// (SPEC.md §11). A folder writer steps by 1; the bound keeps a hostile
// co-writer from pushing the sequence to its end (2^64 - 1) in one record,
// after which nobody could write the folder again: it would need 2^32
// accepted publications in a row.
const MaxSeqStep = 1 << 32

// Follows reports whether next may replace cur as the record of a folder:
// a higher Seq no more than MaxSeqStep above cur's, or the same Seq and
// the bytewise larger Value. It does not verify signatures or compare IDs.
func Follows(cur, next *Record) bool {
	switch {
	case next.Seq > cur.Seq:
		return next.Seq-cur.Seq <= MaxSeqStep
	case next.Seq == cur.Seq:
		return bytes.Compare(next.Value, cur.Value) > 0
	}
	return false
}

// SelectRecord returns the index of the best record among candidates of one
// folder: starting from the lowest Seq, each record that Follows the best
// so far replaces it, so the result is the highest Seq reachable in steps
// of at most MaxSeqStep (among equal Seqs the bytewise larger Value; the
// first of equals). A record that jumps further ahead of every other
// candidate loses to them. nil entries are skipped; it returns -1 if there
// is none. It does not verify signatures or compare IDs.
func SelectRecord(recs []*Record) int {
	idx := make([]int, 0, len(recs))
	for i, r := range recs {
		if r != nil {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return -1
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := recs[idx[a]], recs[idx[b]]
		if ra.Seq != rb.Seq {
			return ra.Seq < rb.Seq
		}
		return bytes.Compare(ra.Value, rb.Value) < 0
	})
	best := idx[0]
	for _, i := range idx[1:] {
		if Follows(recs[best], recs[i]) {
			best = i
		}
	}
	return best
}
