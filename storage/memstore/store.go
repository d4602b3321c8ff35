package memstore

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Store is an in-memory storage.FragmentStore and storage.Lister.
//
// All methods are safe for concurrent use. Put copies its data; Get returns
// a fresh copy the caller owns. Errors carry a storage.Kind: NotExist for a
// fragment not held, Invalid when Put's data does not hash to its ref,
// Corrupt when held bytes no longer hash to their ref, Canceled when the
// context is done before the call starts.
type Store struct {
	mu    sync.RWMutex
	m     map[storage.Ref][]byte // values are never modified in place
	bytes int64
}

var (
	_ storage.FragmentStore = (*Store)(nil)
	_ storage.Lister        = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{m: make(map[storage.Ref][]byte)}
}

var errMismatch = errors.New("data does not match ref")

// Put stores a copy of data under ref after checking that erasure.Root(data)
// is ref (storage.Invalid otherwise, and nothing is stored). Putting a ref
// that is already held does nothing: to replace damaged bytes, Delete first.
func (s *Store) Put(ctx context.Context, ref storage.Ref, data []byte) error {
	const op = "put fragment"
	if err := ctx.Err(); err != nil {
		return storage.Ef(op, storage.Canceled, ref.Short(), err)
	}
	if erasure.Root(data) != ref {
		return storage.Ef(op, storage.Invalid, ref.Short(), errMismatch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[ref]; ok {
		return nil
	}
	s.m[ref] = append([]byte{}, data...)
	s.bytes += int64(len(data))
	return nil
}

// Get returns a copy of the bytes held under ref, verified against ref:
// storage.NotExist if not held, storage.Corrupt if they no longer match.
func (s *Store) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	const op = "get fragment"
	if err := ctx.Err(); err != nil {
		return nil, storage.Ef(op, storage.Canceled, ref.Short(), err)
	}
	s.mu.RLock()
	b, ok := s.m[ref]
	s.mu.RUnlock()
	if !ok {
		return nil, storage.Ef(op, storage.NotExist, ref.Short(), nil)
	}
	// b is never written after it is stored, so it is safe to read unlocked.
	if erasure.Root(b) != ref {
		return nil, storage.Ef(op, storage.Corrupt, ref.Short(), nil)
	}
	return append([]byte{}, b...), nil
}

// Has reports whether ref is held, without verifying it.
func (s *Store) Has(ctx context.Context, ref storage.Ref) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, storage.Ef("has fragment", storage.Canceled, ref.Short(), err)
	}
	s.mu.RLock()
	_, ok := s.m[ref]
	s.mu.RUnlock()
	return ok, nil
}

// Delete forgets ref. Deleting a ref that is not held is not an error.
func (s *Store) Delete(ctx context.Context, ref storage.Ref) error {
	if err := ctx.Err(); err != nil {
		return storage.Ef("delete fragment", storage.Canceled, ref.Short(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[ref]; ok {
		s.bytes -= int64(len(b))
		delete(s.m, ref)
	}
	return nil
}

// List calls fn for every fragment held when List was called, with its
// size, in no particular order, until fn returns an error, which List
// returns as is. fn may call the Store's other methods. List returns a
// storage.Canceled error if ctx is done between calls.
func (s *Store) List(ctx context.Context, fn func(ref storage.Ref, size int64) error) error {
	type entry struct {
		ref  storage.Ref
		size int64
	}
	s.mu.RLock()
	all := make([]entry, 0, len(s.m))
	for r, b := range s.m {
		all = append(all, entry{r, int64(len(b))})
	}
	s.mu.RUnlock()
	for _, e := range all {
		if err := ctx.Err(); err != nil {
			return storage.E("list fragments", storage.Canceled, err)
		}
		if err := fn(e.ref, e.size); err != nil {
			return err
		}
	}
	return nil
}

// Corrupt is a test hook: it replaces the bytes held under ref with
// f(copy of the held bytes), without verifying them, so that the next Get
// reports storage.Corrupt. The size accounting follows the new length. It
// returns a storage.NotExist error if ref is not held. f runs with the
// Store locked and must not call the Store.
func (s *Store) Corrupt(ref storage.Ref, f func([]byte) []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[ref]
	if !ok {
		return storage.Ef("corrupt fragment", storage.NotExist, ref.Short(), nil)
	}
	nb := bytes.Clone(f(bytes.Clone(b)))
	if nb == nil {
		nb = []byte{}
	}
	s.m[ref] = nb
	s.bytes += int64(len(nb)) - int64(len(b))
	return nil
}

// Len returns the number of fragments held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Bytes returns the total size of the fragments held.
func (s *Store) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}
