package reputation

import (
	"slices"
	"testing"
	"time"
)

func TestRepairPolicy(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	held := FragmentState{Seen: Held, Since: now}
	lost := FragmentState{Seen: Lost, Since: now.Add(-time.Hour)}
	awayShort := FragmentState{Seen: Away, Since: now.Add(-time.Hour)}
	awayLong := FragmentState{Seen: Away, Since: now.Add(-100 * time.Hour)}
	n := func(s FragmentState, c int) []FragmentState { return slices.Repeat([]FragmentState{s}, c) }
	var p RepairPolicy // 2 and 72 h
	cases := []struct {
		name   string
		frags  []FragmentState
		repair bool
		drop   int
		add    int
		read   bool
	}{
		{"full", n(held, 16), false, 0, 0, true},
		{"three lost", append(n(held, 13), n(lost, 3)...), false, 0, 0, true},
		{"four lost", append(n(held, 12), n(lost, 4)...), true, 4, 4, true},
		// Away for an hour still counts: a restart is no reason to repair.
		{"eight away briefly", append(n(held, 8), n(awayShort, 8)...), false, 0, 0, false},
		{"away too long", append(n(held, 12), n(awayLong, 4)...), true, 4, 4, true},
		// Repair keeps the briefly-away ones and adds as if they were gone.
		{"mixed", append(append(n(held, 10), n(awayShort, 2)...), n(lost, 4)...), true, 4, 6, true},
		{"unreadable", append(n(held, 9), n(lost, 7)...), true, 7, 7, false},
	}
	for _, c := range cases {
		pl := p.Decide(10, 16, c.frags, now)
		if pl.Repair != c.repair || len(pl.Drop) != c.drop || pl.Add != c.add || pl.Readable != c.read {
			t.Errorf("%s: got %+v, want repair %v drop %d add %d readable %v", c.name, pl, c.repair, c.drop, c.add, c.read)
		}
		for _, i := range pl.Drop {
			if c.frags[i].Seen == Held {
				t.Errorf("%s: drops held fragment %d", c.name, i)
			}
		}
	}
	if pl := (RepairPolicy{Margin: 5}).Decide(10, 16, append(n(held, 15), lost), now); !pl.Repair {
		t.Errorf("margin 5 with 15 held: no repair planned")
	}
	// A code with little parity: full health is never due, one loss is.
	if pl := p.Decide(4, 6, n(held, 6), now); pl.Repair {
		t.Errorf("4+2 at full health planned for repair: %+v", pl)
	}
	if pl := p.Decide(4, 6, append(n(held, 5), lost), now); !pl.Repair || pl.Add != 1 {
		t.Errorf("4+2 with one lost: %+v", pl)
	}
	if !(Plan{Held: 16}).Healthy(16) || (Plan{Held: 15}).Healthy(16) {
		t.Error("Healthy is not Held >= target")
	}
}

// A peer with a long honest history that loses its data is excluded by
// a run of failures, long before its score would fall that far; a warned
// peer weighs less.
func TestExcludeAfterARun(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b := New(Config{})
	for i := 0; i < 2000; i++ {
		now = now.Add(time.Hour)
		b.Audit("veteran", true, now)
		b.Audit("other", true, now)
	}
	for i := 0; i < 11; i++ {
		if st := b.Audit("veteran", false, now); st == Excluded {
			t.Fatalf("excluded after %d failures in a row", i+1)
		}
	}
	if st := b.Audit("veteran", false, now); st != Excluded {
		t.Fatalf("12 failures in a row: %v (%s)", st, b.Info("veteran", now).Reason)
	}
	// Failures with passes between them do not make a run.
	for i := 0; i < 30; i++ {
		b.Audit("other", i%2 == 0, now)
	}
	in := b.Info("other", now)
	if in.State == Excluded {
		t.Fatalf("alternating failures excluded a peer: %s", in.Reason)
	}
	// A fresh peer that fails three of its first audits is warned: it
	// weighs a tenth of a fresh one that passed.
	for i := 0; i < 3; i++ {
		b.Audit("shaky", false, now)
		b.Audit("steady", true, now)
	}
	if st := b.Info("shaky", now).State; st != Warned {
		t.Fatalf("three failures from the prior: %v", st)
	}
	if ws, wg := b.Weight("shaky", now), b.Weight("steady", now); !(ws < 0.12*wg) {
		t.Fatalf("a warned peer weighs %v, a good one %v", ws, wg)
	}
}
