package fairness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrQuota is returned (wrapped) when a counterpart asks for more than it
// has earned here.
var ErrQuota = errors.New("quota exceeded")

// ErrCorrupt is returned (wrapped) by OpenLedger for a stored entry it
// cannot read.
var ErrCorrupt = errors.New("ledger entry unreadable")

// Store is where a Ledger keeps its counts so that they survive a
// restart: one entry per counterpart, under the counterpart's name as
// the key. It is the part of a key-value store the ledger uses (the
// daemon passes a namespace of its badger KV); it must be safe for
// concurrent use and must not retain the slices it is given.
type Store interface {
	Set(ctx context.Context, key, value []byte) error
	Delete(ctx context.Context, key []byte) error
	Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error
}

// Ledger counts bytes held for each counterpart and admits new ones. It is
// safe for concurrent use.
//
// A ledger opened with a Store writes through: every change is in the
// store before Admit or Release returns, so a crash loses at most the
// change being made.
type Ledger struct {
	// Grace is what a counterpart that has earned nothing may store here.
	Grace int64
	// Earned, if set, returns the bytes a counterpart has earned with us
	// (proven storage × availability); nil means nothing is earned yet.
	Earned func(counterpart string) int64

	st   Store // nil: in memory only
	mu   sync.Mutex
	held map[string]int64
}

// NewLedger returns a ledger with the given grace, kept in memory only.
func NewLedger(grace int64) *Ledger {
	return &Ledger{Grace: grace, held: map[string]int64{}}
}

// OpenLedger returns a ledger with the given grace that starts from what
// st holds and writes every change to it. An error comes from st, or
// wraps ErrCorrupt for an entry this version cannot read.
func OpenLedger(ctx context.Context, grace int64, st Store) (*Ledger, error) {
	l := NewLedger(grace)
	err := st.Scan(ctx, nil, func(k, v []byte) error {
		h, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("%w: counterpart %q: %v", ErrCorrupt, k, err)
		}
		if h > 0 {
			l.held[string(k)] = h
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.st = st
	return l, nil
}

// Entry format, version 1: 0x01 · held bytes (8, big-endian, ≥ 0).
const (
	entryV1   = 1
	entrySize = 9
)

func encodeEntry(held int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{entryV1}, uint64(held))
}

func decodeEntry(b []byte) (int64, error) {
	if len(b) == 0 || b[0] != entryV1 {
		return 0, errors.New("unknown version")
	}
	if len(b) != entrySize {
		return 0, fmt.Errorf("%d bytes, want %d", len(b), entrySize)
	}
	h := int64(binary.BigEndian.Uint64(b[1:]))
	if h < 0 {
		return 0, errors.New("negative count")
	}
	return h, nil
}

// save writes counterpart's count through to the store; l.mu is held.
func (l *Ledger) save(ctx context.Context, counterpart string, held int64) error {
	if l.st == nil {
		return nil
	}
	if held == 0 {
		return l.st.Delete(ctx, []byte(counterpart))
	}
	return l.st.Set(ctx, []byte(counterpart), encodeEntry(held))
}

// Allowance is what counterpart may hold here in all.
func (l *Ledger) Allowance(counterpart string) int64 {
	a := l.Grace
	if l.Earned != nil {
		a += l.Earned(counterpart)
	}
	return a
}

// Admit decides whether to keep size more bytes for counterpart and, if
// so, counts them as held. It returns an error wrapping ErrQuota if not,
// and the store's error if the count could not be saved (then nothing is
// counted).
func (l *Ledger) Admit(ctx context.Context, counterpart string, size int64) error {
	if size < 0 {
		return fmt.Errorf("negative size %d", size)
	}
	allow := l.Allowance(counterpart)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]int64{}
	}
	h := l.held[counterpart]
	if h+size > allow || h+size < h {
		return fmt.Errorf("%w: holding %d bytes for this peer, %d more would pass its allowance of %d", ErrQuota, h, size, allow)
	}
	if size == 0 {
		return nil
	}
	if err := l.save(ctx, counterpart, h+size); err != nil {
		return err
	}
	l.held[counterpart] = h + size
	return nil
}

// Release records that size bytes held for counterpart were dropped (or
// never stored). The count never goes below 0. An error means the store
// could not be updated; the count is released in memory all the same,
// and the store catches up with the next change for counterpart.
func (l *Ledger) Release(ctx context.Context, counterpart string, size int64) error {
	if size <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := max(l.held[counterpart]-size, 0)
	if h > 0 {
		l.held[counterpart] = h
	} else {
		delete(l.held, counterpart)
	}
	return l.save(ctx, counterpart, h)
}

// Held returns the bytes held for counterpart.
func (l *Ledger) Held(counterpart string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[counterpart]
}
