package records

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Namespace is the DHT and pointer-service namespace of folder records
// ("/cairn-folder/<id>"): register Validator under it with both.
const Namespace = "cairn-folder"

// Validator accepts a folder record only under its own key with a valid
// signature, and prefers the record cryptree.SelectRecord picks (the
// highest seq reachable in steps of at most cryptree.MaxSeqStep). It has
// the shape of network.Validator: wired into the DHT and into every
// storage peer's pointer service, so neither a forged record nor a
// rollback to an older one is stored. Safe for concurrent use.
type Validator struct{}

// verified remembers records whose signature checked out, by the SHA-256
// of their bytes: the DHT validates every record it sees, often the same
// one many times, and an Ed25519 verification costs ~50 µs.
var verified struct {
	sync.Mutex
	m map[[32]byte]*cryptree.Record
}

const maxVerified = 8192

// parseRecord is cryptree.ParseRecord with the verified-record cache.
func parseRecord(value []byte) (*cryptree.Record, error) {
	h := sha256.Sum256(value)
	verified.Lock()
	rec := verified.m[h]
	verified.Unlock()
	if rec != nil {
		return rec, nil
	}
	rec, err := cryptree.ParseRecord(value)
	if err != nil {
		return nil, err
	}
	verified.Lock()
	if verified.m == nil || len(verified.m) >= maxVerified {
		verified.m = make(map[[32]byte]*cryptree.Record)
	}
	verified.m[h] = rec
	verified.Unlock()
	return rec, nil
}

// Validate returns an Invalid error unless value is a well-formed,
// validly signed record of the folder key names.
func (Validator) Validate(key string, value []byte) error {
	id, err := cryptree.ParseRecordKey(key)
	if err != nil {
		return storage.E("validate record", storage.Invalid, err)
	}
	rec, err := parseRecord(value)
	if err != nil {
		return storage.E("validate record", storage.Invalid, err)
	}
	if rec.ID != id {
		return storage.E("validate record", storage.Invalid, errors.New("record stored under another folder's key"))
	}
	return nil
}

// Select returns the index of the record cryptree.SelectRecord picks
// among the values that parse; Invalid if none does.
func (Validator) Select(key string, values [][]byte) (int, error) {
	recs := make([]*cryptree.Record, len(values))
	for i, v := range values {
		if r, err := parseRecord(v); err == nil {
			recs[i] = r
		}
	}
	best := cryptree.SelectRecord(recs)
	if best < 0 {
		return 0, storage.E("select record", storage.Invalid, fmt.Errorf("no valid record among %d", len(values)))
	}
	return best, nil
}
