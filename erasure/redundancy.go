package erasure

import (
	"fmt"
	"math"
)

// Availability is the chance that a chunk coded k+m, with each fragment on
// a different peer that is online with probability a independently of the
// others, can be read at a random moment: at least k of the k+m holders
// online, P[Binomial(k+m, a) ≥ k]. When holders are drawn at random from a
// population whose availabilities average a, a is their mean.
func Availability(k, m int, a float64) float64 {
	n := k + m
	if k < 1 || m < 0 || n > MaxShards || math.IsNaN(a) {
		return 0
	}
	a = min(max(a, 0), 1)
	switch a {
	case 0:
		return 0
	case 1:
		return 1
	}
	// Sum the upper tail in log space: n is at most MaxShards.
	la, lb := math.Log(a), math.Log1p(-a)
	p := 0.0
	for i := k; i <= n; i++ {
		lc, _ := math.Lgamma(float64(n + 1))
		li, _ := math.Lgamma(float64(i + 1))
		lr, _ := math.Lgamma(float64(n - i + 1))
		p += math.Exp(lc - li - lr + float64(i)*la + float64(n-i)*lb)
	}
	return min(p, 1)
}

// Choice is a code chosen for a measured availability and a target.
type Choice struct {
	K, M int
	// Readable is Availability(K, M, the availability it was chosen for).
	Readable float64
	// Met reports whether Readable reaches the target; when no code within
	// the limits does, Choice is the most available one there is.
	Met bool
	// Reason says in one line why, for logs and 'cairn check --json'.
	Reason string
}

// Choose picks the code with the least storage overhead (k+m)/k that
// makes a chunk readable with probability at least target when each
// holder is online with probability a: k from ks (in the order given,
// which breaks ties: put the preferred k first), m at least minM, k+m at
// most maxN (≤ MaxShards). With ks = {10} and a target of 99.99 %, peers
// online 99 % of the time take 10+3, 90 % 10+8, 50 % 10+33 and 20 %
// (Wuala's planning figure) 10+113; allowing k = 20 brings the last to
// 20+174 (9.7× stored instead of 12.3×). A larger k costs more transfers
// per chunk and smaller fragments, so ks is the caller's policy.
func Choose(a, target float64, ks []int, minM, maxN int) Choice {
	maxN = min(maxN, MaxShards)
	var best, most Choice
	found := false
	for _, k := range ks {
		if k < 1 || k+minM > maxN {
			continue
		}
		// The smallest m that meets the target for this k.
		for m := max(minM, 0); k+m <= maxN; m++ {
			p := Availability(k, m, a)
			if p > most.Readable || most.K == 0 {
				most = Choice{K: k, M: m, Readable: p}
			}
			if p < target {
				continue
			}
			c := Choice{K: k, M: m, Readable: p, Met: true}
			if !found || float64(k+m)/float64(k) < float64(best.K+best.M)/float64(best.K)-1e-12 {
				best, found = c, true
			}
			break
		}
	}
	if !found {
		most.Reason = fmt.Sprintf("no code within %d fragments reaches %.4g%% readable with peers online %.0f%% of the time; %d+%d gives %.4g%%",
			maxN, target*100, a*100, most.K, most.M, most.Readable*100)
		return most
	}
	best.Reason = fmt.Sprintf("%d+%d (%.2f× stored) is %.6g%% readable with peers online %.0f%% of the time (target %.4g%%)",
		best.K, best.M, float64(best.K+best.M)/float64(best.K), best.Readable*100, a*100, target*100)
	return best
}
