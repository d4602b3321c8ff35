// Package health keeps what a node learns of the health of its data and
// of the peers that hold it: Scores, the reputation of every storage
// peer (a reputation.Book fed by audits and transfers, persisted in a KV,
// adapted to storage.Ranker for placement), and History, when each placed
// fragment was last seen held (blob.History, for the repair policy's
// grace). The daemon wires both into blob.CheckOptions for
// drive.Maintenance's audit loop and `cairn check`.
package health

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/reputation"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// scoresKey is where the Book is kept in the KV.
var scoresKey = []byte("reputation/book")

// Scores is the reputation of the peers this node deals with. Safe for
// concurrent use.
type Scores struct {
	book *reputation.Book
	kv   storage.KV
	now  func() time.Time
	logf func(string, ...any)

	mu    sync.Mutex
	dirty bool
}

// Options configure OpenScores.
type Options struct {
	Policy reputation.Config
	Now    func() time.Time
	Logf   func(format string, args ...any)
}

// OpenScores loads the Book kept in kv (an empty one if none). A damaged
// record is logged and replaced by an empty Book: reputation is
// relearned, it guards nothing.
func OpenScores(ctx context.Context, kv storage.KV, o Options) (*Scores, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	s := &Scores{book: reputation.New(o.Policy), kv: kv, now: o.Now, logf: o.Logf}
	b, err := kv.Get(ctx, scoresKey)
	switch {
	case storage.KindOf(err) == storage.NotExist:
	case err != nil:
		return nil, storage.E("open reputation", storage.IO, err)
	default:
		if err := s.book.UnmarshalBinary(b); err != nil {
			o.Logf("reputation: the saved scores do not read (%v); starting afresh", err)
			s.book = reputation.New(o.Policy)
		}
	}
	return s, nil
}

// Save writes the Book if it changed since the last Save.
func (s *Scores) Save(ctx context.Context) error {
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = false
	s.mu.Unlock()
	if !dirty {
		return nil
	}
	b, err := s.book.MarshalBinary()
	if err == nil {
		err = s.kv.Set(ctx, scoresKey, b)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return storage.E("save reputation", storage.IO, err)
	}
	return nil
}

func (s *Scores) touch() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// Observe records the outcome of one audit of peer p (blob.CheckOptions'
// Observe): a pass or a failure goes to the audit score, and either
// counts as the peer being online; an audit that could not be made for
// want of the peer counts against its availability only. Refusals
// (Permission: not this user's fragment there) count for nothing.
func (s *Scores) Observe(p storage.PeerID, _ storage.Ref, err error, _ time.Duration) {
	now := s.now()
	id := string(p)
	switch k := storage.KindOf(err); {
	case err == nil || k == storage.NotExist || k == storage.Corrupt:
		before := s.book.Info(id, now).State
		after := s.book.Audit(id, err == nil, now)
		s.book.Probe(id, true, now)
		if after != before {
			s.logf("reputation: peer %s is now %s: %s", p.Short(), after, s.book.Info(id, now).Reason)
		}
	case k == storage.Unavailable || k == storage.Canceled:
		s.book.Probe(id, false, now)
	default:
		return
	}
	s.touch()
}

// Transfer records a fragment transfer to or from p.
func (s *Scores) Transfer(p storage.PeerID, ok bool, bytes int64, took time.Duration) {
	s.book.Transfer(string(p), ok, bytes, took, s.now())
	s.touch()
}

// Weight is p's placement weight (storage.Ranker).
func (s *Scores) Weight(p storage.PeerInfo) float64 { return s.book.Weight(string(p.ID), s.now()) }

// Excluded reports whether p is excluded from placement (its fragments
// count as lost and are repaired elsewhere).
func (s *Scores) Excluded(p storage.PeerID) bool {
	return s.book.Info(string(p), s.now()).State == reputation.Excluded
}

// Info is what is known of p.
func (s *Scores) Info(p storage.PeerID) reputation.Info { return s.book.Info(string(p), s.now()) }

// All is what is known of every peer, by id.
func (s *Scores) All() []reputation.Info { return s.book.All(s.now()) }

// History is a blob.ProofHistory kept in a KV: "health/held/" ‖ ref ‖
// holder → when the holder was last seen holding the fragment, and
// "health/proved/" ‖ ref ‖ holder → when it last proved it by an audit;
// Unix seconds, 8 bytes big-endian. Entries of fragments no manifest
// names any more are left behind (a few dozen bytes each) until Prune.
type History struct{ KV storage.KV }

const (
	heldPrefix   = "health/held/"
	provedPrefix = "health/proved/"
)

func historyKey(prefix string, ref storage.Ref, holder storage.PeerID) []byte {
	return append(append([]byte(prefix), ref[:]...), holder...)
}

func (h History) get(ctx context.Context, key []byte) (time.Time, bool) {
	b, err := h.KV.Get(ctx, key)
	if err != nil || len(b) != 8 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)), 0), true
}

// set records at under key. Failures are not reported: the next check
// records it again.
func (h History) set(ctx context.Context, key []byte, at time.Time) {
	_ = h.KV.Set(context.WithoutCancel(ctx), key, binary.BigEndian.AppendUint64(nil, uint64(at.Unix())))
}

// LastHeld is when holder was last seen holding ref.
func (h History) LastHeld(ctx context.Context, ref storage.Ref, holder storage.PeerID) (time.Time, bool) {
	return h.get(ctx, historyKey(heldPrefix, ref, holder))
}

// SetHeld records that holder held ref at at.
func (h History) SetHeld(ctx context.Context, ref storage.Ref, holder storage.PeerID, at time.Time) {
	h.set(ctx, historyKey(heldPrefix, ref, holder), at)
}

// LastProved is when holder last proved it holds ref.
func (h History) LastProved(ctx context.Context, ref storage.Ref, holder storage.PeerID) (time.Time, bool) {
	return h.get(ctx, historyKey(provedPrefix, ref, holder))
}

// SetProved records that holder proved ref at at.
func (h History) SetProved(ctx context.Context, ref storage.Ref, holder storage.PeerID, at time.Time) {
	h.set(ctx, historyKey(provedPrefix, ref, holder), at)
}

// Prune drops the records older than before (fragments not checked
// since: forgotten by their manifests, or on holders long gone).
func (h History) Prune(ctx context.Context, before time.Time) (int, error) {
	var old [][]byte
	for _, prefix := range []string{heldPrefix, provedPrefix} {
		err := h.KV.Scan(ctx, []byte(prefix), func(k, v []byte) error {
			if len(v) == 8 && time.Unix(int64(binary.BigEndian.Uint64(v)), 0).Before(before) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	for _, k := range old {
		if err := h.KV.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// Policy says how a check audits and repairs (blob.CheckOptions' fields
// of the same names): with Presence and ProveEvery, fragments proved less
// than ProveEvery ago are only checked for presence.
type Policy struct {
	Repair, Force bool
	Presence      storage.Auditor
	ProveEvery    time.Duration
}

// CheckOptions are the options of this node's audits and repairs: a
// audits, the scores learn from every audit and exclude, the history is
// kept in kv, as p says.
func (s *Scores) CheckOptions(a storage.Auditor, kv storage.KV, p Policy) blob.CheckOptions {
	return blob.CheckOptions{Auditor: a, Repair: p.Repair, Force: p.Force, Presence: p.Presence, ProveEvery: p.ProveEvery,
		History: History{KV: kv}, Excluded: s.Excluded, Observe: s.Observe, Now: s.now}
}

// Peer is one storage peer as `cairn peers --json` shows it: Score and
// Availability are nil until measured (no audit, no probe yet).
type Peer struct {
	PeerID       string   `json:"peer_id"`
	Score        *float64 `json:"score"`
	AuditsPassed int      `json:"audits_passed"`
	AuditsFailed int      `json:"audits_failed"`
	Availability *float64 `json:"availability"`
	Excluded     bool     `json:"excluded"`
	State        string   `json:"state"` // good, warned, excluded
	Reason       string   `json:"reason,omitempty"`
	Connected    bool     `json:"connected"`
	Net          string   `json:"net,omitempty"`
}

// Peers lists the peers known now (connected) and those with a
// reputation, by id.
func (s *Scores) Peers(known []storage.PeerInfo) []Peer {
	now := s.now()
	all := s.book.All(now)
	nets := map[string]string{}
	for _, p := range known {
		nets[string(p.ID)] = p.Net
		if !slices.ContainsFunc(all, func(in reputation.Info) bool { return in.Peer == string(p.ID) }) {
			all = append(all, s.book.Info(string(p.ID), now)) // not audited yet
		}
	}
	slices.SortFunc(all, func(a, b reputation.Info) int { return strings.Compare(a.Peer, b.Peer) })
	out := make([]Peer, 0, len(all))
	for _, in := range all {
		net, ok := nets[in.Peer]
		p := Peer{PeerID: in.Peer, AuditsPassed: in.AuditsPassed, AuditsFailed: in.AuditsFailed,
			Excluded: in.State == reputation.Excluded, State: in.State.String(), Reason: in.Reason, Connected: ok, Net: net}
		if in.Audited {
			p.Score = &in.Score
		}
		if in.Probed {
			p.Availability = &in.Availability
		}
		out = append(out, p)
	}
	return out
}
