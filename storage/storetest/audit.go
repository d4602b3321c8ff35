package storetest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Auditor is a storage.Auditor for tests that audits by reading the
// fragment whole from its holder in net and checking its root: what an
// audit proves, without the protocol.
func Auditor(net storage.Network) storage.Auditor { return readAuditor{net} }

type readAuditor struct{ net storage.Network }

func (a readAuditor) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	b, err := a.net.Store(p).Get(ctx, ref)
	if err == nil && erasure.Root(b) != ref {
		err = storage.E("audit", storage.Corrupt, errors.New("wrong bytes"))
	}
	return err
}

// History is an in-memory blob.ProofHistory: when each fragment was last seen
// held by each holder. The zero value is not ready: use NewHistory.
type History struct {
	mu     sync.Mutex
	m      map[string]time.Time
	proved map[string]time.Time
}

// NewHistory returns an empty History.
func NewHistory() *History {
	return &History{m: map[string]time.Time{}, proved: map[string]time.Time{}}
}

// LastProved is when p last proved it holds ref (blob.ProofHistory).
func (h *History) LastProved(_ context.Context, ref storage.Ref, p storage.PeerID) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.proved[string(ref[:])+string(p)]
	return t, ok
}

// SetProved records that p proved ref at at.
func (h *History) SetProved(_ context.Context, ref storage.Ref, p storage.PeerID, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.proved[string(ref[:])+string(p)] = at
}

// LastHeld is when holder p was last seen holding ref.
func (h *History) LastHeld(_ context.Context, ref storage.Ref, p storage.PeerID) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.m[string(ref[:])+string(p)]
	return t, ok
}

// SetHeld records that p held ref at at.
func (h *History) SetHeld(_ context.Context, ref storage.Ref, p storage.PeerID, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[string(ref[:])+string(p)] = at
}
