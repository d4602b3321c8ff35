package erasure

import (
	"math"
	"strings"
	"testing"
)

// Availability against a brute-force sum over every up/down pattern of
// small codes.
func TestAvailabilityBruteForce(t *testing.T) {
	for _, c := range []struct{ k, m int }{{1, 0}, {1, 2}, {2, 2}, {3, 4}, {5, 5}} {
		for _, a := range []float64{0.1, 0.5, 0.77, 0.99} {
			n := c.k + c.m
			want := 0.0
			for mask := 0; mask < 1<<n; mask++ {
				up := 0
				p := 1.0
				for i := 0; i < n; i++ {
					if mask>>i&1 == 1 {
						up++
						p *= a
					} else {
						p *= 1 - a
					}
				}
				if up >= c.k {
					want += p
				}
			}
			if got := Availability(c.k, c.m, a); math.Abs(got-want) > 1e-12 {
				t.Errorf("Availability(%d, %d, %v) = %v, want %v", c.k, c.m, a, got, want)
			}
		}
	}
	if Availability(10, 6, 0) != 0 || Availability(10, 6, 1) != 1 || Availability(0, 6, 0.5) != 0 || Availability(200, 100, 0.5) != 0 {
		t.Fatal("edge cases")
	}
}

func TestChoose(t *testing.T) {
	const target = 0.9999
	for _, c := range []struct {
		a    float64
		ks   []int
		k, m int
	}{
		{0.99, []int{10}, 10, 3},
		{0.9, []int{10}, 10, 8},
		{0.5, []int{10}, 10, 33},
		{0.2, []int{10}, 10, 113},
		{0.2, []int{10, 20}, 20, 174},
	} {
		got := Choose(c.a, target, c.ks, 2, MaxShards)
		if got.K != c.k || got.M != c.m || !got.Met || got.Readable < target {
			t.Errorf("Choose(%v, %v): %+v, want %d+%d", c.a, c.ks, got, c.k, c.m)
		}
		// Minimal: one parity fragment less misses the target.
		if Availability(got.K, got.M-1, c.a) >= target {
			t.Errorf("Choose(%v): %d+%d is not the smallest", c.a, got.K, got.M)
		}
		if !strings.Contains(got.Reason, "readable") {
			t.Errorf("reason %q", got.Reason)
		}
	}
	// The minimum parity holds even when peers never fail.
	if got := Choose(1, target, []int{10}, 2, MaxShards); got.M != 2 {
		t.Errorf("always-on peers: %+v", got)
	}
	// Out of reach: the most readable code there is, and a reason.
	got := Choose(0.05, target, []int{10}, 2, 64)
	if got.Met || got.K != 10 || got.M != 54 || !strings.Contains(got.Reason, "no code") {
		t.Errorf("out of reach: %+v", got)
	}
}
