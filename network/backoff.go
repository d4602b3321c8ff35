package network

import (
	"math/rand/v2"
	"time"
)

// Backoff computes retry delays: exponential growth with full jitter.
// The n-th delay (counting from 0 since the last Reset) is drawn uniformly
// from [0, min(Max, Base·2ⁿ)], so that many nodes retrying the same peer
// after an outage spread their attempts instead of arriving together.
//
// The zero value is not useful: set Base and Max (Max ≥ Base > 0). Rand,
// if set, returns a uniform value in [0, n) for n > 0 and makes delays
// reproducible in tests; nil uses math/rand/v2.
//
// A Backoff is not safe for concurrent use; give each retry loop its own.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	Rand func(n int64) int64

	attempt int
}

// Cap returns the upper bound of the next delay without consuming it.
func (b *Backoff) Cap() time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = time.Millisecond
	}
	if maxd < base {
		maxd = base
	}
	c := base
	for i := 0; i < b.attempt && c < maxd; i++ {
		if c > maxd/2 {
			c = maxd
			break
		}
		c *= 2
	}
	if c > maxd {
		c = maxd
	}
	return c
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	c := b.Cap()
	b.attempt++
	if b.attempt > 62 {
		b.attempt = 62 // Cap stops doubling at Max anyway; keep the counter bounded.
	}
	rnd := b.Rand
	if rnd == nil {
		rnd = rand.Int64N
	}
	d := time.Duration(rnd(int64(c) + 1))
	if d < 0 || d > c { // a misbehaving injected source must not break callers
		d = c
	}
	return d
}

// Attempts returns how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts the sequence over, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// sleep waits for d or until done is closed; it reports whether d elapsed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
