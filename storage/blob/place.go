package blob

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/rendezvous"
)

// order returns the candidates in weighted-rendezvous order for key
// (rendezvous.Order: the same rule as record holders), dropping peers r
// weighs at 0. The order of a chunk's peers changes little when peers
// come and go, and a peer with twice the weight wins about twice as often.
func order(key [32]byte, peers []storage.PeerInfo, r storage.Ranker) []storage.PeerInfo {
	return rendezvous.Order(key[:], peers, r)
}

// spread reorders ranked so that the first peers come from distinct
// networks where possible: one pass takes the best peer of every network
// not yet used, then the rest follow in rank order. It reports whether the
// first n peers had to share networks (the rule relaxed).
func spread(ranked []storage.PeerInfo, n int) ([]storage.PeerInfo, bool) {
	used := map[string]bool{}
	first := make([]storage.PeerInfo, 0, len(ranked))
	var rest []storage.PeerInfo
	for _, p := range ranked {
		if p.Net == "" || !used[p.Net] {
			if p.Net != "" {
				used[p.Net] = true
			}
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	relaxed := len(first) < n && len(rest) > 0
	return append(first, rest...), relaxed
}

// placer puts the fragments of chunks on peers and fetches them back.
type placer struct {
	net    storage.Network
	ranker storage.Ranker
	logf   func(string, ...any)

	relaxOnce sync.Once
}

// putResult is the outcome of one fragment transfer.
type putResult struct {
	frag int // index into the fragment slice
	peer storage.PeerInfo
	err  error
}

// Hedging: place starts need transfers, keeping the spare fragments back.
// Once half of them have landed it knows how long a transfer takes; a
// transfer still running hedgeFactor times that long later (plus
// hedgeSlack) is a straggler, and each one still running then gets a
// spare fragment on another peer (or a second copy of its own fragment
// when no spare is left); the same wait again finds stragglers among
// those. Whichever need land first are kept.
// Starting the spares at once (as place first did) cost ~11 % of every
// byte sent and of the peers' work for transfers that were then
// cancelled; a slow peer now costs a short wait instead.
const (
	hedgeFactor = 3
	hedgeSlack  = 25 * time.Millisecond
)

// stragglers lists the fragments with a transfer in flight and none landed.
func stragglers(running []int, landed []bool) []int {
	var out []int
	for i, n := range running {
		if n > 0 && !landed[i] {
			out = append(out, i)
		}
	}
	return out
}

// place stores fragments (frags[i] has refs[i], code index i) on distinct
// peers until need of them have landed, then cancels the transfers still
// running. When there are more fragments than need, the rest are spares
// for stragglers (see hedgeFactor) and for failures: a failed transfer is
// followed by another fragment on the next unused peer. It returns the
// landed fragments sorted by index.
//
// release is called once no transfer uses frags any more (possibly after
// place has returned: cancelled transfers are not waited for).
func (p *placer) place(ctx context.Context, key [32]byte, frags [][]byte, refs []storage.Ref, need int, release func()) ([]Frag, error) {
	var wg sync.WaitGroup
	defer func() { go func() { wg.Wait(); release() }() }()
	peers, err := p.net.Peers(ctx)
	if err != nil {
		return nil, storage.E("place", storage.Unavailable, err)
	}
	cands, relaxed := spread(order(key, peers, p.ranker), len(frags))
	if len(cands) < need {
		return nil, storage.E("place", storage.Unavailable,
			fmt.Errorf("need %d distinct storage peers for %d fragments, %d reachable", need, need, len(cands)))
	}
	if relaxed && p.logf != nil {
		p.relaxOnce.Do(func() {
			p.logf("placement: fewer distinct networks than fragments among %d peers; spreading rule relaxed (several fragments per network)", len(cands))
		})
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Buffered for every transfer we may start, so that goroutines of
	// cancelled transfers never block.
	results := make(chan putResult, len(frags)+len(cands))
	start := func(i int, peer storage.PeerInfo) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.net.Store(peer.ID).Put(ctx, refs[i], frags[i])
			results <- putResult{frag: i, peer: peer, err: err}
		}()
	}

	next := 0 // next unused candidate
	inflight := 0
	running := make([]int, len(frags)) // transfers in flight per fragment
	isLanded := make([]bool, len(frags))
	// Fragments not started yet, by index (after the first launch: the
	// spares, then fragments whose transfer failed).
	waiting := make([]int, 0, len(frags))
	for i := range frags {
		waiting = append(waiting, i)
	}
	var landed []Frag
	launch := func(i int) {
		start(i, cands[next])
		next++
		inflight++
		running[i]++
	}
	// fill starts waiting fragments until need are landed or in flight.
	fill := func() {
		for len(waiting) > 0 && next < len(cands) && inflight+len(landed) < need {
			launch(waiting[0])
			waiting = waiting[1:]
		}
	}
	fill()

	t0 := time.Now()
	var hedgeAfter time.Duration
	var hedge <-chan time.Time
	var hedgeTimer *time.Timer
	defer func() {
		if hedgeTimer != nil {
			hedgeTimer.Stop()
		}
	}()
	var lastErr error
	failures := 0
	for inflight > 0 && len(landed) < need {
		var r putResult
		select {
		case r = <-results:
		case <-hedge:
			// The transfers still running are stragglers: each gets a
			// spare fragment on another peer, or, when the spares are
			// used up, a second copy of its own fragment elsewhere. Then
			// the same wait again, for stragglers among those.
			for _, i := range stragglers(running, isLanded) {
				if next == len(cands) {
					break
				}
				if len(waiting) > 0 {
					i = waiting[0]
					waiting = waiting[1:]
				}
				launch(i)
			}
			hedgeTimer.Reset(hedgeAfter)
			continue
		}
		inflight--
		running[r.frag]--
		if r.err == nil {
			if isLanded[r.frag] {
				continue // a second copy of a hedged fragment: not referenced
			}
			isLanded[r.frag] = true
			landed = append(landed, Frag{Index: r.frag, Ref: refs[r.frag], Holder: r.peer.ID})
			if hedgeTimer == nil && 2*len(landed) >= need {
				hedgeAfter = hedgeFactor*time.Since(t0) + hedgeSlack
				hedgeTimer = time.NewTimer(hedgeAfter)
				hedge = hedgeTimer.C
			}
			continue
		}
		failures++
		lastErr = r.err
		if p.logf != nil {
			p.logf("placement: fragment %d on %s failed: %v", r.frag, r.peer.ID.Short(), r.err)
		}
		if parent.Err() != nil {
			break
		}
		// Another fragment on another peer: a spare if one is left, else
		// this one again (unless a copy of it landed or is still running).
		if !isLanded[r.frag] && running[r.frag] == 0 {
			waiting = append(waiting, r.frag)
		}
		fill()
	}
	if len(landed) < need {
		kind := storage.Unavailable
		if parent.Err() != nil {
			kind, lastErr = storage.Canceled, parent.Err()
		} else if storage.KindOf(lastErr) == storage.Quota {
			kind = storage.Quota
		}
		return nil, storage.E("place", kind,
			fmt.Errorf("only %d of %d fragments placed on %d peers (%d failed transfers); last error: %v", len(landed), need, len(cands), failures, lastErr))
	}
	// Transfers still running are cancelled by the deferred cancel; we do
	// not wait for them (a slow peer must not stall the chunk). One that
	// lands all the same leaves an unreferenced fragment behind.
	sort.Slice(landed, func(i, j int) bool { return landed[i].Index < landed[j].Index })
	return landed, nil
}

type getResult struct {
	frag int // index into c.Frags
	data []byte
	buf  *[]byte // data's pooled buffer, or nil
	err  error
}

// verifiedGetter is a store whose GetToVerified reads a fragment into dst
// (when it has room) and returns only bytes whose erasure.Root is the ref,
// checked in this process after the last byte arrived: the fragment
// protocol's client (network/fragment). fetch does not hash what such a
// store returns a second time; from any other store (a test's, a
// wrapper) it checks every fragment itself.
type verifiedGetter interface {
	GetToVerified(ctx context.Context, dst []byte, ref storage.Ref) ([]byte, error)
}

// fetch gets c.K verified fragments of c (fetchTo without recycled
// buffers). The result has length c.N with nil for fragments not fetched.
func (p *placer) fetch(ctx context.Context, c *Chunk, extra int) ([][]byte, error) {
	out, _, err := p.fetchTo(ctx, c, extra, false)
	return out, err
}

// fetchTo gets c.K verified fragments of c, data fragments first: it asks
// K holders, another for each that fails, and when the transfers are slow
// to finish it hedges like place: once half of K have landed it knows how
// long a transfer takes, and a transfer still running hedgeFactor times
// that long later (plus hedgeSlack) is a straggler; then up to extra more
// holders are asked beside the ones still running, and the same wait
// again finds stragglers among those. Asking K+extra at once (as fetch
// first did) cost every peer and the client ~20 % more bytes served,
// sent, decrypted and hashed for transfers that were then cancelled.
//
// With pooled, fragments are read into recycled buffers, and release
// gives them back: call it once the fragments are no longer used (it is
// never nil). The result has length c.N with nil for fragments not
// fetched.
func (p *placer) fetchTo(ctx context.Context, c *Chunk, extra int, pooled bool) (out [][]byte, release func(), err error) {
	if len(c.Frags) < c.K {
		return nil, func() {}, storage.E("get chunk", storage.Unavailable,
			fmt.Errorf("manifest lists %d fragments, %d needed", len(c.Frags), c.K))
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Data fragments first: decoding needs no reconstruction when all of
	// them come back.
	todo := make([]int, len(c.Frags))
	for i := range todo {
		todo[i] = i
	}
	sort.SliceStable(todo, func(a, b int) bool { return c.Frags[todo[a]].Index < c.Frags[todo[b]].Index })
	fragSize := erasure.FragmentSize(c.K, c.SealedLen)
	// Each entry of c.Frags is started at most once: the buffer holds
	// every result, so late goroutines never block.
	results := make(chan getResult, len(c.Frags))
	start := func(i int) {
		go func() {
			f := c.Frags[i]
			st := p.net.Store(f.Holder)
			var r getResult
			r.frag = i
			if vg, ok := st.(verifiedGetter); ok {
				var dst []byte
				if pooled && fragSize > 0 {
					r.buf = bufs.get(fragSize)
					dst = (*r.buf)[:0]
				}
				r.data, r.err = vg.GetToVerified(ctx, dst, f.Ref)
			} else {
				r.data, r.err = st.Get(ctx, f.Ref)
				// Stores verify what they return, but a store is not
				// trusted: only fragments matching the manifest count.
				if r.err == nil && storage.Ref(erasure.Root(r.data)) != f.Ref {
					r.err = storage.Ef("get fragment", storage.Corrupt, f.Ref.Short(), errors.New("content does not match its ref"))
				}
			}
			if r.err != nil {
				r.data = nil
				if r.buf != nil {
					bufs.put(r.buf)
					r.buf = nil
				}
			}
			results <- r
		}()
	}
	out = make([][]byte, c.N)
	var held []*[]byte // pooled buffers in out
	release = func() {
		for _, b := range held {
			bufs.put(b)
		}
		held = nil
	}
	got, inflight := 0, 0
	// fill starts fragments until need of them are in flight beside the
	// ones landed.
	fill := func(need int) {
		for inflight < need && len(todo) > 0 && parent.Err() == nil {
			start(todo[0])
			todo = todo[1:]
			inflight++
		}
	}
	fill(c.K)

	t0 := time.Now()
	var hedgeAfter time.Duration
	var hedge <-chan time.Time
	var hedgeTimer *time.Timer
	defer func() {
		if hedgeTimer != nil {
			hedgeTimer.Stop()
		}
	}()
	var lastErr error
	corrupt := 0
	for inflight > 0 && got < c.K {
		var r getResult
		select {
		case r = <-results:
		case <-hedge:
			fill(c.K - got + extra)
			hedgeTimer.Reset(hedgeAfter)
			continue
		}
		inflight--
		if r.err == nil {
			idx := c.Frags[r.frag].Index
			if idx < 0 || idx >= c.N || out[idx] != nil {
				// A second holder of the same index (or an index the
				// code has not): not one more distinct fragment.
				if r.buf != nil {
					bufs.put(r.buf)
				}
				fill(c.K - got)
				continue
			}
			out[idx] = r.data
			if r.buf != nil {
				held = append(held, r.buf)
			}
			got++
			if hedgeTimer == nil && 2*got >= c.K && got < c.K {
				hedgeAfter = hedgeFactor*time.Since(t0) + hedgeSlack
				hedgeTimer = time.NewTimer(hedgeAfter)
				hedge = hedgeTimer.C
			}
			continue
		}
		lastErr = r.err
		if storage.KindOf(r.err) == storage.Corrupt {
			corrupt++
		}
		if p.logf != nil {
			p.logf("fetch: fragment %d from %s: %v", c.Frags[r.frag].Index, c.Frags[r.frag].Holder.Short(), r.err)
		}
		fill(c.K - got)
	}
	if got < c.K {
		release()
		kind := storage.Unavailable
		if parent.Err() != nil {
			kind, lastErr = storage.Canceled, parent.Err()
		}
		return nil, func() {}, storage.E("get chunk", kind,
			fmt.Errorf("%d of %d needed fragments reachable and intact (%d corrupt); last error: %v", got, c.K, corrupt, lastErr))
	}
	return out, release, nil
}
