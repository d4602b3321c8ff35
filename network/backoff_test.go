package network

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffCapsDouble(t *testing.T) {
	top := func(n int64) int64 { return n - 1 } // always the largest delay
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second, Rand: top}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("delay %d = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if b.Attempts() != len(want) {
		t.Fatalf("Attempts = %d", b.Attempts())
	}
	b.Reset()
	if got := b.Next(); got != 100*time.Millisecond {
		t.Fatalf("after Reset: %v", got)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := Backoff{Base: 10 * time.Millisecond, Max: 5 * time.Second, Rand: r.Int64N}
	var prevCap time.Duration
	for i := range 20 {
		c := b.Cap()
		if c < prevCap || c > b.Max {
			t.Fatalf("step %d: cap %v after %v (max %v)", i, c, prevCap, b.Max)
		}
		prevCap = c
		if d := b.Next(); d < 0 || d > c {
			t.Fatalf("step %d: delay %v outside [0, %v]", i, d, c)
		}
	}
	// Full jitter: at the cap, delays spread over the whole range, mean ≈ cap/2.
	const draws = 4000
	var sum, lo, hi time.Duration
	lo = b.Max
	for range draws {
		d := b.Next()
		sum += d
		lo, hi = min(lo, d), max(hi, d)
	}
	mean := sum / draws
	if mean < 2*time.Second || mean > 3*time.Second || lo > 100*time.Millisecond || hi < 4900*time.Millisecond {
		t.Fatalf("at cap 5s: mean %v, min %v, max %v; want mean ≈ 2.5s spanning [0, 5s]", mean, lo, hi)
	}
}

func TestBackoffEdgeCases(t *testing.T) {
	cases := []struct {
		name string
		b    Backoff
		want time.Duration // upper bound of every delay
	}{
		{"zero value", Backoff{}, time.Millisecond},
		{"max below base", Backoff{Base: time.Second, Max: time.Millisecond}, time.Second},
		{"huge max", Backoff{Base: 1, Max: math.MaxInt64}, math.MaxInt64},
		{"negative rand", Backoff{Base: time.Second, Max: time.Second, Rand: func(int64) int64 { return -5 }}, time.Second},
		{"rand too large", Backoff{Base: time.Second, Max: time.Second, Rand: func(n int64) int64 { return n * 3 }}, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 200 {
				d := c.b.Next()
				if d < 0 || d > c.want {
					t.Fatalf("delay %d = %v outside [0, %v]", i, d, c.want)
				}
			}
			if c.b.Attempts() > 62 {
				t.Fatalf("attempt counter unbounded: %d", c.b.Attempts())
			}
		})
	}
}

func TestJitter(t *testing.T) {
	for range 100 {
		if d := jitter(time.Second); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("jitter(1s) = %v", d)
		}
	}
	if jitter(0) != 0 {
		t.Fatal("jitter(0) != 0")
	}
}
