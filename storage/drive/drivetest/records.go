// Package drivetest holds fakes for testing code built on storage/drive:
// Records, an in-memory record layer that validates like the real one
// (the DHT and the storage peers' pointer service). It imports neither
// drive nor the network, so drive's own tests use it too.
package drivetest

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Records is a drive.Records in memory. Like the DHT and the storage
// peers, it refuses a record that does not parse or verify (Invalid) and
// one that does not follow the record it holds (Exist, cryptree's
// SelectRecord rule). Safe for concurrent use.
type Records struct {
	mu        sync.Mutex
	cur       map[cryptree.FolderID][]byte // current record, marshalled
	history   [][]byte                     // every accepted record, in order
	serve     func(id cryptree.FolderID) *cryptree.Record
	lookups   int
	publishes int
}

// NewRecords returns an empty record layer.
func NewRecords() *Records {
	return &Records{cur: map[cryptree.FolderID][]byte{}}
}

// Publish keeps rec if it verifies and follows the record held for its
// folder. Publishing the record held again is a no-op.
func (f *Records) Publish(ctx context.Context, rec *cryptree.Record) error {
	if err := ctx.Err(); err != nil {
		return storage.E("publish", storage.Canceled, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishes++
	b := rec.Marshal()
	r, err := cryptree.ParseRecord(b)
	if err != nil {
		return storage.E("publish", storage.Invalid, err)
	}
	if cur, ok := f.cur[r.ID]; ok {
		if bytes.Equal(cur, b) {
			return nil
		}
		c, err := cryptree.ParseRecord(cur)
		if err == nil && cryptree.SelectRecord([]*cryptree.Record{c, r}) != 1 {
			return storage.E("publish", storage.Exist, errors.New("stale record"))
		}
	}
	f.cur[r.ID] = b
	f.history = append(f.history, b)
	return nil
}

// Lookup returns what Serve says for id (as it is), else a copy of the
// record held, else storage.NotExist.
func (f *Records) Lookup(ctx context.Context, id cryptree.FolderID) (*cryptree.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, storage.E("lookup", storage.Canceled, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.serve != nil {
		if r := f.serve(id); r != nil {
			return r, nil // as served, even if it does not verify
		}
	}
	b, ok := f.cur[id]
	if !ok {
		return nil, storage.E("lookup", storage.NotExist, nil)
	}
	return cryptree.ParseRecord(b)
}

// Serve makes Lookup answer with fn(id) where it returns a record (a
// lying or lagging network); nil restores honest answers. fn runs with
// f's lock held and must not call f.
func (f *Records) Serve(fn func(id cryptree.FolderID) *cryptree.Record) {
	f.mu.Lock()
	f.serve = fn
	f.mu.Unlock()
}

// Current returns the record held for id, or nil.
func (f *Records) Current(id cryptree.FolderID) *cryptree.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.cur[id]
	if !ok {
		return nil
	}
	r, err := cryptree.ParseRecord(b)
	if err != nil {
		return nil
	}
	return r
}

// Forget drops the record held for id, as a network that lost it.
func (f *Records) Forget(id cryptree.FolderID) {
	f.mu.Lock()
	delete(f.cur, id)
	f.mu.Unlock()
}

// History returns every record accepted so far, marshalled, oldest first.
func (f *Records) History() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]byte, len(f.history))
	for i, b := range f.history {
		out[i] = bytes.Clone(b)
	}
	return out
}

// Lookups returns how many times Lookup was called.
func (f *Records) Lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// Publishes returns how many times Publish was called (accepted or not).
func (f *Records) Publishes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.publishes
}
