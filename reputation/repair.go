package reputation

import (
	"fmt"
	"time"
)

// Seen is what an owner (or its delegate) last learned of one placed
// fragment of a chunk.
type Seen uint8

const (
	// Held: the holder answered for the fragment (an audit passed, or a
	// read returned bytes that verified).
	Held Seen = iota
	// Away: the holder could not be reached. The fragment may well still
	// be there; it counts for the chunk until the holder has been away
	// longer than RepairPolicy.Grace (Carbonite: a peer back from a short
	// outage brings its fragments back, nothing is re-uploaded).
	Away
	// Lost: the holder failed the audit (the fragment is missing, or its
	// bytes do not prove against the ref), or the holder is excluded.
	Lost
)

func (s Seen) String() string {
	switch s {
	case Held:
		return "held"
	case Away:
		return "away"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("seen(%d)", uint8(s))
}

// FragmentState is one placed fragment as the repairer sees it. Since is
// when the holder was last seen to hold it; it matters only for Away.
type FragmentState struct {
	Seen  Seen
	Since time.Time
}

// RepairPolicy decides when a chunk is repaired and which of its placed
// fragments still count. Zero fields take the defaults in parentheses.
type RepairPolicy struct {
	// Margin: a chunk is repaired when the fragments that count fall to
	// K + Margin or fewer (2). With K = 10 and 16 placed, repair starts
	// once 4 of 16 are gone, leaving two more losses before the chunk is
	// at its last K.
	Margin int
	// Grace is how long a fragment on an unreachable holder still counts
	// (72 h: a weekend away, a reboot storm, a home router's outage).
	Grace time.Duration
}

// DefaultRepairMargin and DefaultRepairGrace are RepairPolicy's defaults.
const (
	DefaultRepairMargin = 2
	DefaultRepairGrace  = 72 * time.Hour
)

func (p RepairPolicy) margin() int {
	if p.Margin <= 0 {
		return DefaultRepairMargin
	}
	return p.Margin
}

func (p RepairPolicy) grace() time.Duration {
	if p.Grace <= 0 {
		return DefaultRepairGrace
	}
	return p.Grace
}

// Plan is RepairPolicy's decision for one chunk.
type Plan struct {
	// Held is how many fragments were seen held; Counted adds those
	// away for less than Grace.
	Held, Counted int
	// Repair says the chunk is to be rebuilt and topped up now.
	Repair bool
	// Drop lists, by position in the slice given to Decide, the
	// fragments to forget (lost, or away past Grace): the repaired
	// manifest no longer names them, and their holders' leases run out.
	// Empty unless Repair.
	Drop []int
	// Add is how many new fragments to place so that Held reaches the
	// target again. Zero unless Repair. Fragments away within Grace are
	// kept in the manifest but not counted towards the target: if their
	// holder comes back the chunk simply has more than the target.
	Add int
	// Readable reports that at least K fragments were seen held: the
	// chunk can be rebuilt now. A chunk to repair that is not readable
	// waits for holders to come back (or is lost if none do).
	Readable bool
}

// Decide plans the repair of one chunk coded with k data fragments,
// placed on target fragments when healthy (K+M), whose placed fragments
// are frags, at now. The margin used is at most target-k-1, so that a
// chunk at full health is never due.
func (p RepairPolicy) Decide(k, target int, frags []FragmentState, now time.Time) Plan {
	var pl Plan
	for _, f := range frags {
		switch {
		case f.Seen == Held:
			pl.Held++
			pl.Counted++
		case f.Seen == Away && now.Sub(f.Since) < p.grace():
			pl.Counted++
		}
	}
	pl.Readable = pl.Held >= k
	// The margin leaves at least one loss before repair on codes with
	// little parity (4+2 repairs at 5, not at 6 = healthy).
	margin := min(p.margin(), max(target-k-1, 0))
	if pl.Counted > k+margin {
		return pl
	}
	pl.Repair = true
	for i, f := range frags {
		if f.Seen == Lost || (f.Seen == Away && now.Sub(f.Since) >= p.grace()) {
			pl.Drop = append(pl.Drop, i)
		}
	}
	pl.Add = max(target-pl.Held, 0)
	return pl
}

// Healthy reports whether a chunk in state pl is at full health: every
// one of target fragments seen held.
func (pl Plan) Healthy(target int) bool { return pl.Held >= target }
