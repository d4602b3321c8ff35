package blob

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Small objects: byte strings (sealed by the caller: folder bodies, large
// manifests) stored whole, not erasure-coded, on ObjectReplicas distinct
// peers. To a peer a small object is a fragment like any other: it is put
// and fetched by its ref, erasure.Root(data), through storage.Network.
// Placement is the chunks' weighted rendezvous on the ref with network
// spreading, so the same bytes go to the same peers.
const (
	// ObjectReplicas is how many peers a small object is put on.
	ObjectReplicas = 6
	// ObjectQuorum is how many copies PutObject needs before it succeeds
	// (ceil(ObjectReplicas/2)+1), or every candidate peer when fewer are
	// reachable.
	ObjectQuorum = (ObjectReplicas+1)/2 + 1
	// MaxObject caps the size of a small object (the fragment cap of the
	// network protocol).
	MaxObject = 16 << 20
	// MaxLocatorHolders caps the holders a Locator may list.
	MaxLocatorHolders = 32
	// objectParallel is how many holders GetObject asks at once.
	objectParallel = 2
	// objectGrace bounds how long PutObject waits for the slowest copies
	// once it has a quorum: twice the time to the quorum, within these.
	objectGraceMin = 50 * time.Millisecond
	objectGraceMax = 2 * time.Second
)

// Locator says where a small object is: its ref and the peers that took it.
type Locator struct {
	Ref     storage.Ref
	Holders []storage.PeerID
}

// Locator encoding (all of it, nothing may follow):
//
//	version 0x01 | ref [32] | count u8 (1..MaxLocatorHolders) | count × (len u8 (1..128) | peer id bytes)
//
// Holders are distinct.
const locatorVersion = 0x01

var errLocator = errors.New("malformed locator")

// Marshal encodes l. Holders beyond MaxLocatorHolders and holder ids
// longer than 128 bytes are left out (a Locator made by PutObject has
// neither).
func (l Locator) Marshal() []byte {
	b := make([]byte, 0, 34+len(l.Holders)*54)
	b = append(b, locatorVersion)
	b = append(b, l.Ref[:]...)
	n := 0
	for _, h := range l.Holders {
		if len(h) > 0 && len(h) <= maxHolderLen && n < MaxLocatorHolders {
			n++
		}
	}
	b = append(b, byte(n))
	n = 0
	for _, h := range l.Holders {
		if len(h) > 0 && len(h) <= maxHolderLen && n < MaxLocatorHolders {
			b = append(b, byte(len(h)))
			b = append(b, h...)
			n++
		}
	}
	return b
}

// ParseLocator decodes a Locator strictly: a wrong version, a count of 0
// or over MaxLocatorHolders, empty, overlong or repeated holders, and
// trailing bytes are errors of Kind storage.Corrupt. The result does not
// share memory with b.
func ParseLocator(b []byte) (Locator, error) {
	fail := func(why string) (Locator, error) {
		return Locator{}, storage.E("parse locator", storage.Corrupt, fmt.Errorf("%w: %s", errLocator, why))
	}
	if len(b) < 1+storage.RefSize+1 {
		return fail("too short")
	}
	if b[0] != locatorVersion {
		return fail(fmt.Sprintf("unknown version %d", b[0]))
	}
	var l Locator
	copy(l.Ref[:], b[1:])
	n := int(b[1+storage.RefSize])
	if n == 0 || n > MaxLocatorHolders {
		return fail(fmt.Sprintf("%d holders", n))
	}
	rest := b[2+storage.RefSize:]
	l.Holders = make([]storage.PeerID, 0, n)
	seen := make(map[storage.PeerID]bool, n)
	for i := 0; i < n; i++ {
		if len(rest) < 1 {
			return fail("truncated")
		}
		hl := int(rest[0])
		if hl == 0 || hl > maxHolderLen || len(rest) < 1+hl {
			return fail("bad holder length")
		}
		h := storage.PeerID(rest[1 : 1+hl])
		if seen[h] {
			return fail("repeated holder")
		}
		seen[h] = true
		l.Holders = append(l.Holders, h)
		rest = rest[1+hl:]
	}
	if len(rest) != 0 {
		return fail(fmt.Sprintf("%d trailing bytes", len(rest)))
	}
	return l, nil
}

// PutObject stores data whole on up to ObjectReplicas distinct peers,
// chosen by weighted rendezvous on its ref and spread over networks, and
// returns its Locator (the holders in placement order). A transfer that
// fails is retried on the next candidate peer. Once ObjectQuorum copies
// have landed (or every candidate, when fewer peers are reachable), the
// slowest transfers get a short grace period and are then cancelled; a
// copy that lands after that is not listed.
//
// data is not retained after PutObject returns. Errors: storage.Invalid
// for data over MaxObject; storage.Unavailable when no peer is reachable
// or fewer copies than the quorum landed (storage.Quota if the peers
// refused by admission); storage.Canceled when ctx ends.
func (c *Client) PutObject(ctx context.Context, data []byte) (Locator, error) {
	const op = "put object"
	if len(data) > MaxObject {
		return Locator{}, storage.E(op, storage.Invalid, fmt.Errorf("%d bytes, limit %d", len(data), MaxObject))
	}
	ref := storage.Ref(erasure.Root(data))
	peers, err := c.placer.net.Peers(ctx)
	if err != nil {
		return Locator{}, storage.Ef(op, storage.Unavailable, ref.Short(), err)
	}
	cands, _ := spread(order(ref, peers, c.placer.ranker), ObjectReplicas)
	if len(cands) == 0 {
		return Locator{}, storage.Ef(op, storage.Unavailable, ref.Short(), errors.New("no storage peers reachable"))
	}
	want := min(ObjectReplicas, len(cands))
	need := min(ObjectQuorum, want)
	// Transfers may outlive this call (cancelled, not awaited): they get
	// their own copy.
	own := append([]byte(nil), data...)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan putResult, len(cands))
	start := func(p storage.PeerInfo) {
		go func() {
			err := c.placer.net.Store(p.ID).Put(ctx, ref, own)
			results <- putResult{peer: p, err: err}
		}()
	}
	next, inflight := 0, 0
	for ; next < want; next++ {
		start(cands[next])
		inflight++
	}
	began := time.Now()
	var grace <-chan time.Time
	var landed []storage.PeerID
	var lastErr error
	failures := 0
loop:
	for inflight > 0 && len(landed) < want {
		select {
		case r := <-results:
			inflight--
			if r.err == nil {
				landed = append(landed, r.peer.ID)
				if len(landed) == need && grace == nil {
					g := min(max(2*time.Since(began), objectGraceMin), objectGraceMax)
					grace = time.After(g)
				}
				continue
			}
			failures++
			lastErr = r.err
			if c.cfg.Logf != nil {
				c.cfg.Logf("object %s on %s failed: %v", ref.Short(), r.peer.ID.Short(), r.err)
			}
			if parent.Err() != nil {
				break loop
			}
			if next < len(cands) {
				start(cands[next])
				next++
				inflight++
			}
		case <-grace:
			break loop
		case <-parent.Done():
			break loop
		}
	}
	if len(landed) < need {
		kind := storage.Unavailable
		if parent.Err() != nil {
			kind, lastErr = storage.Canceled, parent.Err()
		} else if storage.KindOf(lastErr) == storage.Quota {
			kind = storage.Quota
		}
		return Locator{}, storage.Ef(op, kind, ref.Short(),
			fmt.Errorf("%d of %d copies placed on %d peers (%d failed); last error: %v", len(landed), need, len(cands), failures, lastErr))
	}
	// Holders in placement order, whichever landed first.
	rank := make(map[storage.PeerID]int, len(cands))
	for i, p := range cands {
		rank[p.ID] = i
	}
	sort.Slice(landed, func(i, j int) bool { return rank[landed[i]] < rank[landed[j]] })
	return Locator{Ref: ref, Holders: landed}, nil
}

// GetObject fetches the small object l names: it asks two holders at once
// and another whenever one fails, keeps the first answer whose root is
// l.Ref, and, if every listed holder fails, tries the peers placement
// would choose for the ref now (copies may have been repaired elsewhere).
//
// The returned slice belongs to the caller. Errors: storage.Corrupt when
// every peer that answered returned bytes that do not match the ref;
// storage.Unavailable when no copy could be fetched; storage.Canceled.
func (c *Client) GetObject(ctx context.Context, l Locator) ([]byte, error) {
	const op = "get object"
	tried := map[storage.PeerID]bool{}
	data, answered, corrupt, lastErr := c.fetchObject(ctx, l.Ref, l.Holders, tried)
	if data != nil {
		return data, nil
	}
	if ctx.Err() == nil {
		if peers, err := c.placer.net.Peers(ctx); err == nil {
			cands, _ := spread(order(l.Ref, peers, c.placer.ranker), ObjectReplicas)
			var more []storage.PeerID
			for _, p := range cands[:min(len(cands), ObjectReplicas)] {
				if !tried[p.ID] {
					more = append(more, p.ID)
				}
			}
			d, a, cr, le := c.fetchObject(ctx, l.Ref, more, tried)
			if d != nil {
				return d, nil
			}
			answered, corrupt = answered+a, corrupt+cr
			if le != nil {
				lastErr = le
			}
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil, storage.Ef(op, storage.Canceled, l.Ref.Short(), ctx.Err())
	case answered > 0 && corrupt == answered:
		return nil, storage.Ef(op, storage.Corrupt, l.Ref.Short(),
			fmt.Errorf("%d peers returned bytes that do not match the ref", corrupt))
	}
	return nil, storage.Ef(op, storage.Unavailable, l.Ref.Short(),
		fmt.Errorf("no copy reachable among %d peers (%d corrupt); last error: %v", len(tried), corrupt, lastErr))
}

type objResult struct {
	data []byte
	err  error
}

// fetchObject asks holders (objectParallel at a time) for ref and returns
// the first verified copy. answered counts peers that returned bytes (or
// said Corrupt), corrupt those whose bytes did not verify.
func (c *Client) fetchObject(ctx context.Context, ref storage.Ref, holders []storage.PeerID, tried map[storage.PeerID]bool) (data []byte, answered, corrupt int, lastErr error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan objResult, len(holders))
	next, inflight := 0, 0
	startNext := func() {
		for next < len(holders) {
			h := holders[next]
			next++
			if tried[h] {
				continue
			}
			tried[h] = true
			inflight++
			go func() {
				b, err := c.placer.net.Store(h).Get(ctx, ref)
				if err == nil && storage.Ref(erasure.Root(b)) != ref {
					b, err = nil, storage.Ef("get object", storage.Corrupt, string(h), errors.New("content does not match its ref"))
				}
				results <- objResult{b, err}
			}()
			return
		}
	}
	for i := 0; i < objectParallel; i++ {
		startNext()
	}
	for inflight > 0 {
		r := <-results
		inflight--
		if r.err == nil {
			return r.data, answered + 1, corrupt, nil
		}
		lastErr = r.err
		if storage.KindOf(r.err) == storage.Corrupt {
			answered++
			corrupt++
		}
		if c.cfg.Logf != nil {
			c.cfg.Logf("object %s: %v", ref.Short(), r.err)
		}
		if ctx.Err() == nil {
			startNext()
		}
	}
	return nil, answered, corrupt, lastErr
}
