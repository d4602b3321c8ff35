package fairness

import "time"

// Uptime is a node's availability as Wuala measured it: the time it was
// online over its lifetime. It is a value; the caller keeps Before (in
// its own store) and passes the clock.
type Uptime struct {
	// Created is when the node was made (cairn init).
	Created time.Time
	// Before is the time the node was online before this run.
	Before time.Duration
	// Since is when this run started.
	Since time.Time
}

// Online is the time the node has been online by now, this run included.
func (u Uptime) Online(now time.Time) time.Duration {
	return u.Before + max(now.Sub(u.Since), 0)
}

// Availability is the fraction of its lifetime by now that the node was
// online, in [0, 1]; a node younger than a minute counts as always on.
func (u Uptime) Availability(now time.Time) float64 {
	life := now.Sub(u.Created)
	if life <= time.Minute {
		return 1
	}
	f := float64(u.Online(now)) / float64(life)
	return min(max(f, 0), 1)
}

// Quota is what a node may store with others by Wuala's rule: what it
// contributes times its availability (clamped to [0, 1]).
func Quota(contributed int64, availability float64) int64 {
	if contributed <= 0 {
		return 0
	}
	return int64(float64(contributed) * min(max(availability, 0), 1))
}
