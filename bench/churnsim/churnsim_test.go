package main

import (
	"testing"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/reputation"
)

// small is the model at test size: 1,000 peers, a week of warm-up and 30
// measured days, 2,000 chunks of 10+6, no scheduled events.
func small() Config {
	c := Default()
	c.Peers, c.Days, c.WarmupDays, c.Chunks = 1000, 30, 7, 2000
	c.DarkPeers, c.GonePeers, c.RestartDay = 0, 0, -1
	c.ReadsPerStep = 5
	return c
}

func run(t *testing.T, c Config) (*Sim, Result) {
	t.Helper()
	s := NewSim(c)
	r := s.Run()
	t.Logf("%s repair=%v delegate=%v grace=%v: uploaded %d, lost %d, repairs %d (blocked %d), availability %.4f, read %.4f, repair %s/GB/day, audit %s/GB/day",
		r.Code, c.Repair, c.Delegate, c.Grace, r.Chunks, r.ChunksLost, r.Repairs, r.RepairsBlocked,
		r.Availability, r.ReadAvailability, human(r.RepairPerGBDay), human(r.AuditPerGBDay))
	if r.Chunks < c.Chunks*9/10 {
		t.Fatalf("only %d of %d chunks uploaded", r.Chunks, c.Chunks)
	}
	return s, r
}

// Heavy churn (20 % of peers leave in the month, 3 % drop their data) in
// a network with 40 % always-on peers: without repair chunks are lost,
// with the owners' repair none is. (With the default mix, mostly peers
// online a fifth of the day, the same churn loses chunks even with repair:
// a repair needs K holders online at once; see DURABILITY.md.)
func TestRepairKeepsChunks(t *testing.T) {
	c := small()
	c.AlwaysOn = 0.4
	c.DepartPerMonth, c.Droppers = 0.2, 0.03
	c.Repair = false
	_, off := run(t, c)
	if off.ChunksLost == 0 {
		t.Errorf("repair off: no chunk lost under heavy churn; the test cannot tell repair from none")
	}
	c.Repair = true
	_, on := run(t, c)
	if on.ChunksLost != 0 {
		t.Errorf("repair on: %d chunks lost", on.ChunksLost)
	}
	if on.Repairs == 0 || on.RepairPerGBDay <= 0 || on.AuditPerGBDay <= 0 {
		t.Errorf("repair on: %d repairs, %.0f repair and %.0f audit bytes per GB-day", on.Repairs, on.RepairPerGBDay, on.AuditPerGBDay)
	}
}

// Every peer offline for an hour at once. With the 72 h grace the
// delegate, auditing right through the restart, never wants a repair;
// with a grace of a minute the same restart would have it rebuild chunks.
func TestMassRestartNoRepair(t *testing.T) {
	c := small()
	c.AlwaysOn, c.Flaky, c.Office = 1, 0, 0
	c.DepartPerMonth, c.Droppers = 0, 0
	c.RestartDay, c.RestartLen = 10.5, time.Hour
	c.Delegate = true
	_, r := run(t, c)
	if r.Repairs != 0 || r.RepairsBlocked != 0 {
		t.Errorf("grace 72 h: %d repairs and %d rounds that wanted one after a 1 h restart", r.Repairs, r.RepairsBlocked)
	}
	c.Grace = time.Minute
	_, r = run(t, c)
	if r.RepairsBlocked == 0 {
		t.Errorf("grace 1 min: the restart made no round want a repair; the test cannot see the grace")
	}
}

// A /24 holding 30 % of the peers goes dark for good, with no repair:
// one fragment per /24 means no chunk is lost; without the rule many are.
func TestSlash24GoingDark(t *testing.T) {
	c := small()
	c.DepartPerMonth, c.Droppers = 0, 0
	c.GonePeers, c.GoneDay = 300, 5
	c.Repair = false
	_, r := run(t, c)
	if r.ChunksLost != 0 {
		t.Errorf("one per /24: %d chunks lost when one /24 went", r.ChunksLost)
	}
	c.OnePer24 = false
	_, r = run(t, c)
	if r.ChunksLost == 0 {
		t.Errorf("no /24 rule: no chunk lost when 30 %% of the peers went; the test cannot see the rule")
	}
}

// Peers that silently drop their data (in their first 10 days) fail
// audits; within the month the real Book excludes every one that held
// fragments, and no honest peer.
func TestDroppersExcluded(t *testing.T) {
	c := small()
	c.DepartPerMonth, c.Droppers, c.DropWithinDays = 0, 0.05, 10
	s, r := run(t, c)
	now := s.now()
	caught, bad := 0, 0
	for i := range s.peers {
		p := &s.peers[i]
		st := s.book.Info(string(p.info.ID), now).State
		switch {
		case !p.bad:
			if st == reputation.Excluded {
				t.Errorf("honest peer %s excluded: %s", p.info.ID, s.book.Info(string(p.info.ID), now).Reason)
			}
		case p.heldAtBad >= 5:
			bad++
			if st == reputation.Excluded {
				caught++
			} else if p.heldAtBad >= 20 {
				t.Errorf("dropper %s (bad on day %d, %d fragments) is %v", p.info.ID, p.badAt/s.spd, p.heldAtBad, st)
			} else {
				// Few fragments: each fails once, is repaired away,
				// and the peer stays warned (DURABILITY.md).
				t.Logf("dropper %s (bad on day %d, %d fragments) is %v", p.info.ID, p.badAt/s.spd, p.heldAtBad, st)
			}
		}
	}
	if bad < 10 || caught < bad*9/10 {
		t.Errorf("%d of %d droppers excluded", caught, bad)
	}
	if r.ChunksLost != 0 {
		t.Errorf("%d chunks lost", r.ChunksLost)
	}
	t.Logf("%d of %d droppers excluded, median %.1f days after going bad", caught, bad, r.DetectDays)
}

func TestReproducible(t *testing.T) {
	c := small()
	c.Peers, c.Chunks, c.Days = 300, 500, 10
	a := NewSim(c).Run()
	b := NewSim(c).Run()
	a.Seconds, b.Seconds = 0, 0
	if a.ChunksLost != b.ChunksLost || a.Repairs != b.Repairs || a.Audits != b.Audits || a.Availability != b.Availability || a.ReadAvailability != b.ReadAvailability {
		t.Errorf("same seed, different runs:\n%+v\n%+v", a, b)
	}
	c.RestartDay, c.DarkPeers, c.GonePeers = 200, 50, 50 // events past the end: nothing happens, nothing breaks
	c.Seed++
	if d := NewSim(c).Run(); d.Audits == a.Audits && d.Repairs == a.Repairs {
		t.Errorf("another seed, the same run")
	}
}

func TestParseCodes(t *testing.T) {
	cs, err := ParseCodes("10+6:2, 8+8,100+400:50@5000")
	if err != nil || len(cs) != 3 || cs[1] != (Code{8, 8, 2, 0}) || cs[2] != (Code{100, 400, 50, 5000}) {
		t.Errorf("got %+v, %v", cs, err)
	}
	for _, bad := range []string{"10", "a+6", "10+6:x", "0+4"} {
		if _, err := ParseCodes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestAnalytic(t *testing.T) {
	if a, b := analytic(10, 6, 0.6), erasure.Availability(10, 6, 0.6); a != b || a <= 0 {
		t.Errorf("analytic(10, 6) = %v, erasure says %v", a, b)
	}
	// Wide codes: erasure.Availability gives up (0); the local sum does not.
	if a := analytic(100, 400, 0.3); a < 0.999999 {
		t.Errorf("analytic(100, 400, 0.3) = %v", a)
	}
	if a := analytic(100, 400, 0.15); a > 0.05 {
		t.Errorf("analytic(100, 400, 0.15) = %v", a)
	}
}
