package reputation

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Config is the policy. Zero fields take the defaults in parentheses.
type Config struct {
	// Lambda is how much of a peer's audit history each new audit keeps
	// (0.999: about the last thousand audits count).
	Lambda float64
	// InitAlpha is the prior: a new peer starts as if it had passed this
	// many audits and failed none (20), so one failure warns and a run of
	// failures excludes, while a peer that fails now and then settles at
	// its pass ratio.
	InitAlpha float64
	// WarnScore and ExcludeScore are the audit scores below which a peer
	// is warned (0.9) and excluded (0.6). Exclusion is final until
	// Reinstate.
	WarnScore, ExcludeScore float64
	// ExcludeAfter failed audits in a row exclude a peer whatever its
	// score (12): a peer with a long honest history that lost its data
	// would otherwise need hundreds of failures to fall below
	// ExcludeScore (the churn simulation saw it). The run is not kept
	// across restarts (MarshalBinary): it starts again from 0.
	ExcludeAfter int
	// WarnedWeight multiplies a warned peer's placement weight (0.1), so
	// that it gets few new fragments while it is in doubt.
	WarnedWeight float64
	// VetAudits and VetTime: a peer is vetted once it has passed this
	// many audits (10) and been known this long (72 h). Until then it
	// gets UnvettedWeight (0.05) of the placement weight it would have.
	VetAudits      int
	VetTime        time.Duration
	UnvettedWeight float64
	// AvailabilityHalfLife is how fast old availability probes fade
	// (30 days).
	AvailabilityHalfLife time.Duration
}

func (c *Config) defaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Lambda, 0.999)
	def(&c.InitAlpha, 20)
	def(&c.WarnScore, 0.9)
	def(&c.ExcludeScore, 0.6)
	def(&c.UnvettedWeight, 0.05)
	def(&c.WarnedWeight, 0.1)
	if c.ExcludeAfter == 0 {
		c.ExcludeAfter = 12
	}
	if c.VetAudits == 0 {
		c.VetAudits = 10
	}
	if c.VetTime == 0 {
		c.VetTime = 72 * time.Hour
	}
	if c.AvailabilityHalfLife == 0 {
		c.AvailabilityHalfLife = 30 * 24 * time.Hour
	}
}

// State is where a peer stands.
type State uint8

const (
	Good     State = iota // placement uses it by its weight
	Warned                // its audit score fell below WarnScore; still used
	Excluded              // not used for placement; its fragments are to be repaired elsewhere
)

func (s State) String() string {
	switch s {
	case Good:
		return "good"
	case Warned:
		return "warned"
	case Excluded:
		return "excluded"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Info is what is known of one peer. Measured reports which of the
// figures rest on measurements: a peer never audited has no audit score,
// one never probed no availability.
type Info struct {
	Peer string
	// Score is the audit score α/(α+β) in [0,1]; meaningful only when
	// Audited.
	Score                      float64
	Audited                    bool
	AuditsPassed, AuditsFailed int
	// Availability is the time-weighted share of probes that found the
	// peer online; meaningful only when Probed.
	Availability float64
	Probed       bool
	// TransferSuccess is the moving share of transfers that succeeded,
	// BytesPerSecond their moving speed; meaningful only when
	// Transfers > 0.
	TransferSuccess float64
	BytesPerSecond  float64
	Transfers       int
	FirstSeen       time.Time
	LastAudit       time.Time
	Vetted          bool
	State           State
	// Reason says why the peer is warned or excluded ("" when good).
	Reason string
}

// peer is one peer's record.
type peer struct {
	alpha, beta            float64
	passed, failed         int
	on, off                float64 // decayed probe counts
	probedAt               time.Time
	txOK, txRate           float64 // moving averages
	transfers              int
	firstSeen, lastAudit   time.Time
	state                  State
	reason                 string
	audited, probedAtLeast bool
	streak                 int // failed audits in a row (not persisted)
}

// Book keeps the reputation of every peer this node deals with: events
// in (audit outcomes, availability probes, transfers), decisions out
// (state, placement weight). It is pure policy: the caller supplies the
// time of each event, so tests run on a fake clock. Safe for concurrent
// use.
type Book struct {
	cfg   Config
	mu    sync.Mutex
	peers map[string]*peer
}

// New returns an empty Book with policy cfg.
func New(cfg Config) *Book {
	cfg.defaults()
	return &Book{cfg: cfg, peers: map[string]*peer{}}
}

func (b *Book) get(id string, now time.Time) *peer {
	p := b.peers[id]
	if p == nil {
		p = &peer{alpha: b.cfg.InitAlpha, firstSeen: now}
		b.peers[id] = p
	}
	return p
}

// Audit records the outcome of one audit of peer id at now and returns
// the peer's state afterwards, which the caller logs when it changed.
func (b *Book) Audit(id string, passed bool, now time.Time) State {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.get(id, now)
	l := b.cfg.Lambda
	if passed {
		p.alpha, p.beta = l*p.alpha+1, l*p.beta
		p.passed++
		p.streak = 0
	} else {
		p.alpha, p.beta = l*p.alpha, l*p.beta+1
		p.failed++
		p.streak++
	}
	p.audited, p.lastAudit = true, now
	if p.state == Excluded {
		return p.state
	}
	score := p.alpha / (p.alpha + p.beta)
	switch {
	case p.streak >= b.cfg.ExcludeAfter:
		p.state = Excluded
		p.reason = fmt.Sprintf("%d audits failed in a row (%d of %d in all)", p.streak, p.failed, p.passed+p.failed)
	case score < b.cfg.ExcludeScore:
		p.state = Excluded
		p.reason = fmt.Sprintf("audit score %.2f fell below %.2f (%d of %d audits failed)",
			score, b.cfg.ExcludeScore, p.failed, p.passed+p.failed)
	case score < b.cfg.WarnScore:
		p.state = Warned
		p.reason = fmt.Sprintf("audit score %.2f is below %.2f (%d of %d audits failed)",
			score, b.cfg.WarnScore, p.failed, p.passed+p.failed)
	default:
		p.state, p.reason = Good, ""
	}
	return p.state
}

// Probe records whether peer id answered an availability probe at now.
func (b *Book) Probe(id string, online bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.get(id, now)
	if p.probedAtLeast {
		f := b.decay(now.Sub(p.probedAt))
		p.on, p.off = p.on*f, p.off*f
	}
	if online {
		p.on++
	} else {
		p.off++
	}
	p.probedAt, p.probedAtLeast = now, true
}

// decay is the weight left to a probe d old.
func (b *Book) decay(d time.Duration) float64 {
	if d <= 0 {
		return 1
	}
	return math.Exp2(-float64(d) / float64(b.cfg.AvailabilityHalfLife))
}

// Transfer records one transfer to or from peer id: whether it worked,
// and how many bytes it moved in how long.
func (b *Book) Transfer(id string, ok bool, bytes int64, took time.Duration, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.get(id, now)
	const w = 0.1 // weight of the newest transfer in the moving averages
	v := 0.0
	if ok {
		v = 1
	}
	if p.transfers == 0 {
		p.txOK = v
	} else {
		p.txOK = (1-w)*p.txOK + w*v
	}
	if ok && bytes > 0 && took > 0 {
		rate := float64(bytes) / took.Seconds()
		if p.txRate == 0 {
			p.txRate = rate
		} else {
			p.txRate = (1-w)*p.txRate + w*rate
		}
	}
	p.transfers++
}

// Reinstate lifts an exclusion (an operator's decision): the peer starts
// again from the prior, unvetted.
func (b *Book) Reinstate(id string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.peers[id]; p != nil {
		*p = peer{alpha: b.cfg.InitAlpha, firstSeen: now}
	}
}

// Info returns what is known of peer id; a peer never seen is a new,
// good, unvetted one with nothing measured.
func (b *Book) Info(id string, now time.Time) Info {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[id]
	if p == nil {
		return Info{Peer: id, Score: 1, FirstSeen: now}
	}
	return b.info(id, p, now)
}

func (b *Book) info(id string, p *peer, now time.Time) Info {
	in := Info{
		Peer: id, Score: p.alpha / (p.alpha + p.beta), Audited: p.audited,
		AuditsPassed: p.passed, AuditsFailed: p.failed,
		Probed: p.probedAtLeast, TransferSuccess: p.txOK, BytesPerSecond: p.txRate, Transfers: p.transfers,
		FirstSeen: p.firstSeen, LastAudit: p.lastAudit, State: p.state, Reason: p.reason,
	}
	if p.on+p.off > 0 {
		in.Availability = p.on / (p.on + p.off)
	}
	in.Vetted = p.passed >= b.cfg.VetAudits && now.Sub(p.firstSeen) >= b.cfg.VetTime
	return in
}

// All returns every known peer's Info, sorted by peer id.
func (b *Book) All(now time.Time) []Info {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Info, 0, len(b.peers))
	for id, p := range b.peers {
		out = append(out, b.info(id, p, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// Weight is peer id's placement weight at now (for weighted rendezvous):
// 0 when excluded; else its audit score (times WarnedWeight while
// warned) times its availability (when
// probed; never below 0.05, so a peer seen offline once still gets a
// little), times UnvettedWeight until it is vetted. A peer never seen
// weighs UnvettedWeight.
func (b *Book) Weight(id string, now time.Time) float64 {
	in := b.Info(id, now)
	if in.State == Excluded {
		return 0
	}
	w := in.Score
	if in.State == Warned {
		w *= b.cfg.WarnedWeight
	}
	if in.Probed {
		w *= max(in.Availability, 0.05)
	}
	if !in.Vetted {
		w *= b.cfg.UnvettedWeight
	}
	return w
}
