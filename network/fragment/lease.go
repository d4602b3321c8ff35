package fragment

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// Leases. An owner record (ServiceConfig.Owners) is also the owner's
// lease on the fragment: its time is when the owner last asked for it, by
// a PUT or by an audit it signed (Renew). A lease not renewed for the
// lease period is collected (Expire): the record goes, the owner is given
// its charge back, and a fragment whose last owner is gone is deleted.
// So what a peer keeps for others shrinks back after the owners stop
// caring, whether or not they ever send a DELETE, and no central
// collector is needed.

// DefaultLease is how long a fragment is kept without renewal.
const DefaultLease = 30 * 24 * time.Hour

// IsOwner reports whether owner (an Ed25519 public key) keeps ref here:
// whom the holder answers audits of ref for.
func (s *Service) IsOwner(ctx context.Context, ref storage.Ref, owner [32]byte) (bool, error) {
	return s.ownerRecorded(ctx, ref, &owner)
}

// Renew moves owner's lease on ref to at (a later time only). It reports
// false, and does nothing, when owner keeps no such fragment here.
func (s *Service) Renew(ctx context.Context, ref storage.Ref, owner [32]byte, at time.Time) (bool, error) {
	if s.cfg.Owners == nil {
		return false, nil
	}
	mu := s.lock(ref)
	mu.Lock()
	defer mu.Unlock()
	key := ownerKey(ref, &owner)
	if _, err := s.cfg.Owners.Get(ctx, key); errors.Is(err, storage.NotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, s.renewLocked(ctx, key, at)
}

// renewLocked moves the owner record under key to at, if later; the
// caller holds the ref's lock and knows the record exists.
func (s *Service) renewLocked(ctx context.Context, key []byte, at time.Time) error {
	v, err := s.cfg.Owners.Get(ctx, key)
	if err != nil {
		return err
	}
	if !at.After(recordedAt(v)) {
		return nil
	}
	return s.cfg.Owners.Set(ctx, key, ownerRecord(at, chargedIn(v)))
}

// recordedAt is the time an owner record was written or last renewed.
func recordedAt(v []byte) time.Time {
	if len(v) < 8 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(v[:8])), 0)
}

// Expired is what one Expire collected.
type Expired struct {
	Leases    int   // owner records dropped
	Fragments int   // fragments deleted: no owner was left
	Bytes     int64 // their bytes
}

// Expire collects every lease last renewed before before: see Leases.
// It scans the owner records once; a lease renewed while it runs is kept.
func (s *Service) Expire(ctx context.Context, before time.Time) (Expired, error) {
	var out Expired
	if s.cfg.Owners == nil {
		return out, nil
	}
	type lease struct {
		ref   storage.Ref
		owner [ownerSize]byte
	}
	var old []lease
	prefix := []byte("fragment/owner/")
	err := s.cfg.Owners.Scan(ctx, prefix, func(k, v []byte) error {
		if len(k) != len(prefix)+len(storage.Ref{})+ownerSize || !recordedAt(v).Before(before) {
			return nil
		}
		var l lease
		copy(l.ref[:], k[len(prefix):])
		copy(l.owner[:], k[len(prefix)+len(l.ref):])
		old = append(old, l)
		return nil
	})
	if err != nil {
		return out, err
	}
	for _, l := range old {
		if ctx.Err() != nil {
			return out, storage.E("expire leases", storage.Canceled, ctx.Err())
		}
		dropped, deleted, err := s.expireOne(ctx, l.ref, &l.owner, before)
		if err != nil {
			return out, err
		}
		if dropped {
			out.Leases++
		}
		if deleted >= 0 {
			out.Fragments++
			out.Bytes += deleted
		}
	}
	return out, nil
}

// expireOne drops owner's lease on ref if it is still older than before
// (dropped), and deletes the fragment when no owner is left: deleted is
// then its size, else -1.
func (s *Service) expireOne(ctx context.Context, ref storage.Ref, owner *[ownerSize]byte, before time.Time) (dropped bool, deleted int64, err error) {
	mu := s.lock(ref)
	mu.Lock()
	defer mu.Unlock()
	key := ownerKey(ref, owner)
	v, err := s.cfg.Owners.Get(ctx, key)
	switch {
	case errors.Is(err, storage.NotExist):
		return false, -1, nil
	case err != nil:
		return false, -1, err
	}
	if !recordedAt(v).Before(before) {
		return false, -1, nil // renewed meanwhile
	}
	if err := s.cfg.Owners.Delete(ctx, key); err != nil {
		return false, -1, err
	}
	charged := chargedIn(v)
	s.release(ctx, OwnerName(owner[:]), charged)
	err = s.cfg.Owners.Scan(ctx, ownerPrefix(ref), func(_, _ []byte) error { return errDone })
	switch {
	case errors.Is(err, errDone):
		return true, -1, nil // others still keep it
	case err != nil:
		return true, -1, err
	}
	if err := s.cfg.Store.Delete(ctx, ref); err != nil && !errors.Is(err, storage.NotExist) {
		return true, -1, err
	}
	s.cfg.Logf("fragment service: the last lease on %x ran out; fragment deleted", ref[:6])
	return true, charged, nil
}
