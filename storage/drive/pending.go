package drive

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Anyone who knows a user id can send that user shares: a user id is
// public, it is how one shares. So shares from a sender the user has not
// accepted yet wait in a pending list (/.cairn/pending, encoded like the
// received list) until the user accepts or declines them; only accepted
// shares appear under /shared and cost anything to look up. A sender is
// accepted while the received list holds a share of theirs. The pending
// list is capped per sender and in all; what is over the caps is dropped
// from the inbox with a log line.
const (
	// MaxPendingPerSender is how many shares of one sender wait at most.
	MaxPendingPerSender = 8
	// MaxPending is how many shares wait at most, from all senders.
	MaxPending = 128
	// MaxReceivedPerSender and MaxReceived cap the received list, so that
	// an accepted sender cannot grow it past what can be saved (which
	// would stop every later share from arriving): over the caps, a new
	// share is dropped with a log line.
	MaxReceivedPerSender = 256
	MaxReceived          = 1024
)

// ShareInfo describes a received or a pending share.
type ShareInfo struct {
	// Name is its name under /shared (received) or in the pending list.
	Name string `json:"name"`
	// From is the start of the sender's user id (cryptree.SenderOf).
	From  string `json:"from"`
	IsDir bool   `json:"is_dir"`
	// Time is when it arrived (or was last re-keyed), UTC.
	Time time.Time `json:"time"`
}

func shareInfos(rs []received) []ShareInfo {
	out := make([]ShareInfo, len(rs))
	for i, r := range rs {
		out[i] = ShareInfo{Name: r.name, From: cryptree.SenderOf(ed25519.PublicKey(r.from[:])),
			IsDir: r.cap.Kind == cryptree.CapFolder, Time: r.time.UTC()}
	}
	return out
}

// Received lists the accepted shares, as they appear under /shared.
func (t *Tree) Received(ctx context.Context) ([]ShareInfo, error) {
	if t.view {
		return nil, nil
	}
	rs, err := t.newOp().received(ctx)
	if err != nil {
		return nil, storage.E("received shares", storage.Other, err)
	}
	return shareInfos(rs), nil
}

// Pending lists the shares waiting to be accepted or declined.
func (t *Tree) Pending(ctx context.Context) ([]ShareInfo, error) {
	if t.view {
		return nil, nil
	}
	ps, err := t.newOp().pending(ctx)
	if err != nil {
		return nil, storage.E("pending shares", storage.Other, err)
	}
	return shareInfos(ps), nil
}

// Accept moves pending shares to /shared: those named in names, or, with
// fromUserID, every pending share of that user. From then on that user's
// shares arrive in /shared directly. It returns the names they got under
// /shared (a name taken there gets "-2" and so on). Errors:
// storage.Invalid for both or neither of names and fromUserID, or a bad
// user id; storage.NotExist for a name that is not pending, or a user with
// nothing pending.
func (t *Tree) Accept(ctx context.Context, names []string, fromUserID string) ([]string, error) {
	const op = "accept share"
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	take, keep, err := o.pick(ctx, op, names, fromUserID)
	if err != nil {
		return nil, err
	}
	rs, err := o.received(ctx)
	if err != nil {
		return nil, storage.E(op, storage.Other, err)
	}
	rs = append([]received(nil), rs...)
	var out []string
	for _, p := range take {
		if at := findSame(rs, p.from, p.cap); at >= 0 {
			out = append(out, rs[at].name) // accepted before a crash
			continue
		}
		p.name = uniqueName(rs, p.cap)
		rs = append(rs, p)
		out = append(out, p.name)
	}
	// Received first: a crash in between leaves a share in both lists,
	// and accepting it again finds it received.
	if err := o.setReceived(ctx, rs); err != nil {
		return nil, storage.E(op, storage.Other, err)
	}
	if err := o.setPending(ctx, keep); err != nil {
		return out, storage.E(op, storage.Other, err)
	}
	return out, nil
}

// Decline drops pending shares: those named in names, or every pending
// share of user fromUserID. It returns how many were dropped. Errors as
// for Accept.
func (t *Tree) Decline(ctx context.Context, names []string, fromUserID string) (int, error) {
	const op = "decline share"
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.newOp()
	take, keep, err := o.pick(ctx, op, names, fromUserID)
	if err != nil {
		return 0, err
	}
	if err := o.setPending(ctx, keep); err != nil {
		return 0, storage.E(op, storage.Other, err)
	}
	return len(take), nil
}

// pick splits the pending list into what names or fromUserID select and
// the rest.
func (o *op) pick(ctx context.Context, op string, names []string, fromUserID string) (take, keep []received, err error) {
	if (len(names) == 0) == (fromUserID == "") {
		return nil, nil, storage.E(op, storage.Invalid, errors.New("give share names or a user id, not both"))
	}
	var from [32]byte
	if fromUserID != "" {
		sign, _, err := cryptree.ParseUserID(fromUserID)
		if err != nil {
			return nil, nil, storage.E(op, storage.Invalid, err)
		}
		copy(from[:], sign)
	}
	ps, err := o.pending(ctx)
	if err != nil {
		return nil, nil, storage.E(op, storage.Other, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, p := range ps {
		if want[p.name] || fromUserID != "" && p.from == from {
			take = append(take, p)
			delete(want, p.name)
		} else {
			keep = append(keep, p)
		}
	}
	for n := range want {
		return nil, nil, storage.Ef(op, storage.NotExist, n, errors.New("no such pending share ('cairn shares' lists them)"))
	}
	if len(take) == 0 {
		return nil, nil, storage.Ef(op, storage.NotExist, cryptree.SenderOf(ed25519.PublicKey(from[:])), errors.New("no pending share from this user"))
	}
	return take, keep, nil
}

// findSame returns the index of the entry of rs from the same sender with
// the same capability, or -1.
func findSame(rs []received, from [32]byte, c *cryptree.Capability) int {
	b := c.Marshal()
	for i := range rs {
		if rs[i].from == from && string(rs[i].cap.Marshal()) == string(b) {
			return i
		}
	}
	return -1
}

// offer adds a share from a sender not accepted yet to ps (or applies a
// re-delivery to the pending share it replaces) within the caps. It
// reports whether ps changed.
func offer(ps *[]received, from [32]byte, replaces cryptree.FolderID, c *cryptree.Capability, now time.Time) (bool, error) {
	if findSame(*ps, from, c) >= 0 {
		return false, nil
	}
	if replaces != (cryptree.FolderID{}) {
		for i, p := range *ps {
			if p.from == from && p.cap.Kind == c.Kind && p.cap.ID == replaces &&
				(c.Kind == cryptree.CapFolder || p.cap.Label == c.Label) {
				(*ps)[i].cap, (*ps)[i].time = c, now
				return true, nil
			}
		}
	}
	n := 0
	for _, p := range *ps {
		if p.from == from {
			n++
		}
	}
	switch {
	case n >= MaxPendingPerSender:
		return false, fmt.Errorf("%d shares of this sender wait already", n)
	case len(*ps) >= MaxPending:
		return false, fmt.Errorf("%d shares wait already", len(*ps))
	}
	*ps = append(*ps, received{name: uniqueName(*ps, c), from: from, time: now, cap: c})
	return true, nil
}

func (o *op) pending(ctx context.Context) ([]received, error) {
	b, err := o.readList(ctx, pendingFile)
	if err != nil || b == nil {
		return nil, err
	}
	ps, err := decodeShareList(magicPending, b)
	if err != nil {
		return nil, storage.Ef("read pending list", storage.Corrupt, CairnDir+"/"+pendingFile, err)
	}
	return ps, nil
}

func (o *op) setPending(ctx context.Context, ps []received) error {
	return o.writeList(ctx, pendingFile, encodeShareList(magicPending, ps))
}
