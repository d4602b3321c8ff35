package fairness

import (
	"errors"
	"fmt"
	"sync"
)

// ErrQuota is returned (wrapped) when a counterpart asks for more than it
// has earned here.
var ErrQuota = errors.New("quota exceeded")

// Ledger counts bytes held for each counterpart and admits new ones. It is
// safe for concurrent use.
type Ledger struct {
	// Grace is what a counterpart that has earned nothing may store here.
	Grace int64
	// Earned, if set, returns the bytes a counterpart has earned with us
	// (proven storage × availability); nil means nothing is earned yet.
	Earned func(counterpart string) int64

	mu   sync.Mutex
	held map[string]int64
}

// NewLedger returns a ledger with the given grace.
func NewLedger(grace int64) *Ledger {
	return &Ledger{Grace: grace, held: map[string]int64{}}
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
// so, counts them as held. It returns an error wrapping ErrQuota if not.
func (l *Ledger) Admit(counterpart string, size int64) error {
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
	if h+size > allow {
		return fmt.Errorf("%w: holding %d bytes for this peer, %d more would pass its allowance of %d", ErrQuota, h, size, allow)
	}
	l.held[counterpart] = h + size
	return nil
}

// Release records that size bytes held for counterpart were dropped.
func (l *Ledger) Release(counterpart string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.held[counterpart] - size; h > 0 {
		l.held[counterpart] = h
	} else {
		delete(l.held, counterpart)
	}
}

// Held returns the bytes held for counterpart.
func (l *Ledger) Held(counterpart string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[counterpart]
}
