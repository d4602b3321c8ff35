package blob

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/reputation"
	"github.com/cairn-storage/cairn/storage"
)

// Checking and repair. Check audits every placed fragment of a manifest
// (storage.Auditor: the holder proves leaves of the fragment against its
// ref, which renews the owner's lease there), reads what it learns
// through the RepairPolicy, and with Repair rebuilds each chunk due for
// it: any K fragments are fetched and verified, decoded to the sealed
// chunk (ciphertext: no key is needed, so a delegate can do this), coded
// again, and the fragments the chunk lacks are placed on peers that hold
// none of it yet. The manifest is updated in place: same chunks, same
// refs, other holders.

// CheckOptions configures Check. Auditor is required.
type CheckOptions struct {
	Auditor storage.Auditor
	// Policy decides when a chunk is repaired (its zero value: the
	// defaults).
	Policy reputation.RepairPolicy
	// Repair rebuilds and tops up chunks the policy says are due.
	Repair bool
	// Force (with Repair) tops up every chunk with fewer than K+M
	// fragments held, counting none of those away (a user's explicit
	// `cairn check --repair`): the manifest then forgets the away ones
	// too (their code indices are reused), and their leases run out.
	Force bool
	// History remembers when each fragment was last seen held, so that
	// one on a holder away for a while still counts (nil: an away
	// holder's fragments count until this check finds them away again
	// past the grace, i.e. never).
	History History
	// Excluded reports holders whose fragments count as lost (excluded
	// by reputation); nil excludes none.
	Excluded func(storage.PeerID) bool
	// Observe, if set, is told the outcome of every audit (reputation);
	// presence checks are not audits and are not told.
	Observe func(p storage.PeerID, ref storage.Ref, err error, took time.Duration)
	// Presence, if set with ProveEvery, is a cheap check that a holder
	// still has a fragment (a HAS request, Presence(net)), used in place
	// of an audit for a fragment proved less than ProveEvery ago (by
	// History, which must then also be a ProofHistory). It keeps the
	// repair's view of who holds what fresh (the grace counts from the
	// last time a fragment was seen held) at a few bytes a fragment,
	// while the proofs, which renew the leases and feed the scores, come
	// less often. A holder that lies to presence checks is caught by the
	// next proof.
	Presence   storage.Auditor
	ProveEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *CheckOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
}

// History keeps, per placed fragment, when its holder was last seen to
// hold it. Safe for concurrent use.
type History interface {
	LastHeld(ctx context.Context, ref storage.Ref, holder storage.PeerID) (time.Time, bool)
	SetHeld(ctx context.Context, ref storage.Ref, holder storage.PeerID, at time.Time)
}

// ProofHistory is a History that also remembers when each fragment was
// last proved by an audit (not only seen present).
type ProofHistory interface {
	History
	LastProved(ctx context.Context, ref storage.Ref, holder storage.PeerID) (time.Time, bool)
	SetProved(ctx context.Context, ref storage.Ref, holder storage.PeerID, at time.Time)
}

// Presence is an Auditor that only asks holders whether they have a
// fragment (FragmentStore.Has): NotExist when one says no.
func Presence(net storage.Network) storage.Auditor { return presence{net} }

type presence struct{ net storage.Network }

func (p presence) Audit(ctx context.Context, holder storage.PeerID, ref storage.Ref) error {
	ok, err := p.net.Store(holder).Has(ctx, ref)
	if err == nil && !ok {
		err = storage.Ef("presence", storage.NotExist, ref.Short(), nil)
	}
	return err
}

// ChunkHealth is what Check found of one chunk.
type ChunkHealth struct {
	// Held fragments passed their audit; Counted adds those on holders
	// away within the grace.
	Held, Counted int
	K, Target     int
	// Due: the policy says the chunk is to be repaired (before any
	// repair this check made).
	Due bool
	// Repaired: the chunk was rebuilt and topped up; Added fragments
	// were placed, Dropped forgotten.
	Repaired       bool
	Added, Dropped int
	// Err is why a repair due did not happen (fewer than K held, too few
	// peers to place on), nil otherwise.
	Err error
}

// Health is what Check found of one manifest.
type Health struct {
	Chunks []ChunkHealth
	// Audits made, and how many of them failed (the holder had lost or
	// damaged the fragment) or could not be made (the holder was away).
	Audits, Failed, Away int
	// Changed says the manifest now names other holders (repaired).
	Changed bool
}

// MinHeld is the fewest held fragments of any chunk (0 for a manifest
// with no chunks); MinK the K of that chunk.
func (h *Health) MinHeld() (held, k int) {
	for i, c := range h.Chunks {
		if i == 0 || c.Held < held {
			held, k = c.Held, c.K
		}
	}
	return held, k
}

// OK reports that every chunk is readable and none is due for repair,
// counting the repairs this check made.
func (h *Health) OK() bool {
	for _, c := range h.Chunks {
		if c.Held < c.K || (c.Due && !c.Repaired) {
			return false
		}
	}
	return true
}

// auditParallel bounds the audits in flight per Check.
const auditParallel = 16

// Check audits the fragments of m and, with o.Repair, repairs the chunks
// due for it, changing m's holders in place (Health.Changed). Errors:
// storage.Invalid for options without an Auditor, storage.Canceled. A
// chunk that cannot be repaired now is reported in its ChunkHealth, not
// as an error: the next check tries again.
func (c *Client) Check(ctx context.Context, m *Manifest, o CheckOptions) (*Health, error) {
	if o.Auditor == nil {
		return nil, storage.E("check", storage.Invalid, errors.New("no auditor"))
	}
	o.defaults()
	h := &Health{Chunks: make([]ChunkHealth, len(m.Chunks))}
	for i := range m.Chunks {
		if err := ctx.Err(); err != nil {
			return h, storage.E("check", storage.Canceled, err)
		}
		ck := &m.Chunks[i]
		states := c.auditChunk(ctx, ck, &o, h)
		target := min(ck.K+c.cfg.M, ck.N)
		plan := o.Policy.Decide(ck.K, target, states, o.Now())
		if o.Force && plan.Held < target {
			plan.Drop = plan.Drop[:0]
			plan.Repair, plan.Add = true, target-plan.Held
			for j, st := range states {
				if st.Seen != reputation.Held {
					plan.Drop = append(plan.Drop, j)
				}
			}
		}
		ch := &h.Chunks[i]
		ch.Held, ch.Counted, ch.K, ch.Target, ch.Due = plan.Held, plan.Counted, ck.K, target, plan.Repair
		if !plan.Repair || !o.Repair {
			continue
		}
		if !plan.Readable {
			ch.Err = storage.E("repair", storage.Unavailable,
				fmt.Errorf("%d of %d needed fragments held: waiting for holders to come back", plan.Held, ck.K))
			continue
		}
		before := map[Frag]bool{}
		for _, f := range ck.Frags {
			before[f] = true
		}
		added, err := c.repairChunk(ctx, ck, states, plan)
		if err != nil {
			ch.Err = err
			continue
		}
		ch.Repaired, ch.Added, ch.Dropped = true, added, len(plan.Drop)
		ch.Held += added
		if o.Force {
			ch.Counted = ch.Held // the away ones were dropped too
		} else {
			ch.Counted += added // the dropped ones were not counted
		}
		h.Changed = true
		// The new fragments were just stored: seen held now (not proved:
		// the next pass proves them).
		for _, f := range ck.Frags {
			if !before[f] && o.History != nil {
				o.History.SetHeld(ctx, f.Ref, f.Holder, o.Now())
			}
		}
	}
	return h, nil
}

// auditChunk audits every placed fragment of ck, auditParallel at once.
func (c *Client) auditChunk(ctx context.Context, ck *Chunk, o *CheckOptions, h *Health) []reputation.FragmentState {
	states := make([]reputation.FragmentState, len(ck.Frags))
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, auditParallel)
	for i, f := range ck.Frags {
		if o.Excluded != nil && o.Excluded(f.Holder) {
			states[i] = reputation.FragmentState{Seen: reputation.Lost}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			auditor, proof := o.Auditor, true
			ph, _ := o.History.(ProofHistory)
			if o.Presence != nil && o.ProveEvery > 0 && ph != nil {
				if t, ok := ph.LastProved(ctx, f.Ref, f.Holder); ok && o.Now().Sub(t) < o.ProveEvery {
					auditor, proof = o.Presence, false
				}
			}
			err := auditor.Audit(ctx, f.Holder, f.Ref)
			took := time.Since(t0)
			now := o.Now()
			var st reputation.FragmentState
			switch {
			case err == nil:
				st = reputation.FragmentState{Seen: reputation.Held, Since: now}
				if o.History != nil {
					o.History.SetHeld(ctx, f.Ref, f.Holder, now)
				}
				if proof && ph != nil {
					ph.SetProved(ctx, f.Ref, f.Holder, now)
				}
			case storage.KindOf(err) == storage.NotExist || storage.KindOf(err) == storage.Corrupt:
				st = reputation.FragmentState{Seen: reputation.Lost}
			case storage.KindOf(err) == storage.Permission:
				// Held there for someone else (a file another writer put
				// in a shared folder): its owner's audits renew it. It
				// counts as held, and is not asked for a proof again
				// before ProveEvery.
				st = reputation.FragmentState{Seen: reputation.Held, Since: now}
				if ph != nil {
					ph.SetProved(ctx, f.Ref, f.Holder, now)
				}
			default:
				// Away: since it was last seen holding it, or now if never
				// recorded (a first check counts it until proven gone).
				st = reputation.FragmentState{Seen: reputation.Away, Since: now}
				if o.History != nil {
					if t, ok := o.History.LastHeld(ctx, f.Ref, f.Holder); ok {
						st.Since = t
					}
				}
			}
			if o.Observe != nil && proof && ctx.Err() == nil {
				o.Observe(f.Holder, f.Ref, err, took)
			}
			mu.Lock()
			states[i] = st
			h.Audits++
			switch st.Seen {
			case reputation.Lost:
				h.Failed++
			case reputation.Away:
				h.Away++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return states
}

// repairChunk rebuilds ck from K fragments of those held and places
// plan.Add new ones on peers holding none of ck, then rewrites ck.Frags:
// the dropped ones out, the new ones in. It returns how many were added.
func (c *Client) repairChunk(ctx context.Context, ck *Chunk, states []reputation.FragmentState, plan reputation.Plan) (int, error) {
	const op = "repair chunk"
	// Fetch from the holders seen holding their fragment only.
	held := Chunk{K: ck.K, N: ck.N}
	for i, f := range ck.Frags {
		if states[i].Seen == reputation.Held {
			held.Frags = append(held.Frags, f)
		}
	}
	frags, err := c.placer.fetch(ctx, &held, c.cfg.FetchExtra)
	if err != nil {
		return 0, err
	}
	code, err := c.code(ck.K, ck.N-ck.K)
	if err != nil {
		return 0, storage.E(op, storage.Corrupt, err)
	}
	sealed, err := code.Decode(frags, nil)
	if err != nil {
		return 0, storage.E(op, storage.Corrupt, err)
	}
	if len(sealed) != ck.SealedLen {
		return 0, storage.E(op, storage.Corrupt, fmt.Errorf("sealed length %d, manifest says %d", len(sealed), ck.SealedLen))
	}
	all, err := code.Encode(sealed)
	if err != nil {
		return 0, storage.E(op, storage.Corrupt, err)
	}
	// The refs of the fragments already placed must come out the same:
	// the code is deterministic. If not, the manifest and the fragments
	// disagree, and nothing is placed.
	for _, f := range held.Frags {
		if storage.Ref(erasure.Root(all[f.Index])) != f.Ref {
			return 0, storage.E(op, storage.Corrupt, fmt.Errorf("fragment %d coded again does not match its ref", f.Index))
		}
	}
	// New fragments: code indices no kept fragment uses, unused ones
	// first, then those of dropped fragments (the same bytes on a new
	// holder). Holders of the chunk's fragments, kept or dropped, are not
	// candidates.
	dropped := map[int]bool{}
	for _, i := range plan.Drop {
		dropped[i] = true
	}
	kept := make([]Frag, 0, len(ck.Frags))
	usedIndex := map[int]bool{}
	busy := map[storage.PeerID]bool{}
	var droppedIdx []int
	for i, f := range ck.Frags {
		busy[f.Holder] = true // a holder that just lost its fragment gets no new one
		if dropped[i] {
			droppedIdx = append(droppedIdx, f.Index)
			continue
		}
		kept = append(kept, f)
		usedIndex[f.Index] = true
		busy[f.Holder] = true
	}
	var idx []int
	for i := 0; i < ck.N; i++ {
		if !usedIndex[i] && !slices.Contains(droppedIdx, i) {
			idx = append(idx, i)
		}
	}
	for _, i := range droppedIdx {
		if !usedIndex[i] && !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	need := min(plan.Add, len(idx))
	if need == 0 {
		ck.Frags = kept
		return 0, nil
	}
	sub := make([][]byte, len(idx))
	refs := make([]storage.Ref, len(idx))
	for j, i := range idx {
		sub[j] = all[i]
		refs[j] = storage.Ref(erasure.Root(all[i]))
	}
	p := &placer{net: excluding{c.placer.net, busy}, ranker: c.placer.ranker, logf: c.placer.logf}
	landed, err := p.place(ctx, ck.ID, sub, refs, need, func() {})
	if err != nil {
		return 0, err
	}
	for _, f := range landed {
		f.Index = idx[f.Index]
		kept = append(kept, f)
	}
	slices.SortFunc(kept, func(a, b Frag) int { return a.Index - b.Index })
	ck.Frags = kept
	return len(landed), nil
}

// excluding is a Network without some peers: placement of a repaired
// chunk's new fragments skips the holders of its kept ones.
type excluding struct {
	storage.Network
	busy map[storage.PeerID]bool
}

func (e excluding) Peers(ctx context.Context) ([]storage.PeerInfo, error) {
	ps, err := e.Network.Peers(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ps, func(p storage.PeerInfo) bool { return e.busy[p.ID] }), nil
}

// CheckObject audits the holders of a small object (renewing its leases)
// and reports how many hold it. Objects are whole copies: repair is
// storing it again (PutObject), which the caller does with the bytes it
// can read, when held falls below ObjectQuorum.
func (c *Client) CheckObject(ctx context.Context, l Locator, o CheckOptions) (held int, err error) {
	if o.Auditor == nil {
		return 0, storage.E("check object", storage.Invalid, errors.New("no auditor"))
	}
	o.defaults()
	ck := Chunk{K: 1, N: len(l.Holders)}
	for _, p := range l.Holders {
		ck.Frags = append(ck.Frags, Frag{Ref: l.Ref, Holder: p})
	}
	h := &Health{}
	for _, s := range c.auditChunk(ctx, &ck, &o, h) {
		if s.Seen == reputation.Held {
			held++
		}
	}
	return held, ctx.Err()
}
