package reputation

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestNewPeerMeasuresNothing(t *testing.T) {
	b := New(Config{})
	in := b.Info("p", t0)
	if in.Audited || in.Probed || in.Transfers != 0 || in.Vetted || in.State != Good {
		t.Fatalf("a peer never seen: %+v", in)
	}
	if w := b.Weight("p", t0); w != 0.05 {
		t.Fatalf("weight of a peer never seen: %v, want the unvetted share 0.05", w)
	}
}

// One failure warns; a run of failures excludes, and the exclusion holds
// however many audits it passes afterwards; the reason says why.
func TestWarnThenExclude(t *testing.T) {
	b := New(Config{})
	now := t0
	for range 30 {
		now = now.Add(time.Hour)
		if s := b.Audit("p", true, now); s != Good {
			t.Fatalf("passing audits: %v", s)
		}
	}
	if s := b.Audit("p", false, now); s != Good {
		t.Fatalf("one failure after 30 passes: %v (score %.3f)", s, b.Info("p", now).Score)
	}
	var states []State
	for i := 0; i < 40 && b.Info("p", now).State != Excluded; i++ {
		states = append(states, b.Audit("p", false, now))
	}
	in := b.Info("p", now)
	if in.State != Excluded || !contains(states, Warned) {
		t.Fatalf("after failures: %v, passing through %v", in.State, states)
	}
	if in.Reason == "" || b.Weight("p", now) != 0 {
		t.Fatalf("excluded without a reason or with weight: %q %v", in.Reason, b.Weight("p", now))
	}
	for range 100 {
		b.Audit("p", true, now)
	}
	if b.Info("p", now).State != Excluded {
		t.Fatal("passing audits lifted an exclusion")
	}
	b.Reinstate("p", now)
	if in := b.Info("p", now); in.State != Good || in.Vetted || in.AuditsFailed != 0 {
		t.Fatalf("reinstated: %+v", in)
	}
}

func contains(s []State, x State) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// A peer that fails a share of its audits settles near its pass ratio:
// 3 % keeps it good, 15 % warns it, 50 % excludes it.
func TestScoreSettlesAtPassRatio(t *testing.T) {
	for _, c := range []struct {
		failEvery int
		want      State
	}{{33, Good}, {7, Warned}, {2, Excluded}} {
		b := New(Config{})
		for i := 1; i <= 5000; i++ {
			b.Audit("p", i%c.failEvery != 0, t0)
		}
		in := b.Info("p", t0)
		if in.State != c.want {
			t.Errorf("failing 1 in %d: %v (score %.3f), want %v", c.failEvery, in.State, in.Score, c.want)
		}
		if c.want != Excluded {
			ratio := 1 - 1/float64(c.failEvery)
			if math.Abs(in.Score-ratio) > 0.02 {
				t.Errorf("failing 1 in %d: score %.3f, want about %.3f", c.failEvery, in.Score, ratio)
			}
		}
	}
}

// Vetting needs both enough passed audits and enough time.
func TestVetting(t *testing.T) {
	b := New(Config{VetAudits: 5, VetTime: 24 * time.Hour})
	for i := range 5 {
		b.Audit("p", true, t0.Add(time.Duration(i)*time.Minute))
	}
	if b.Info("p", t0.Add(time.Hour)).Vetted {
		t.Fatal("vetted after an hour")
	}
	later := t0.Add(25 * time.Hour)
	if !b.Info("p", later).Vetted {
		t.Fatal("not vetted after 5 audits and a day")
	}
	if w, wu := b.Weight("p", later), b.Weight("p", t0.Add(time.Hour)); math.Abs(w-20*wu) > 1e-9 {
		t.Fatalf("vetted weight %v, unvetted %v: want 20×", w, wu)
	}
	b2 := New(Config{VetAudits: 5, VetTime: time.Hour})
	b2.Audit("q", true, t0)
	if b2.Info("q", t0.Add(48*time.Hour)).Vetted {
		t.Fatal("vetted with one audit")
	}
}

// Availability weighs recent probes more: a peer online 20 % of the time
// measures about 0.2, and a change shows within a half-life.
func TestAvailability(t *testing.T) {
	b := New(Config{AvailabilityHalfLife: 7 * 24 * time.Hour})
	now := t0
	for i := range 24 * 60 { // hourly for 60 days, online 1 hour in 5
		now = t0.Add(time.Duration(i) * time.Hour)
		b.Probe("p", i%5 == 0, now)
	}
	if a := b.Info("p", now).Availability; math.Abs(a-0.2) > 0.02 {
		t.Fatalf("availability %.3f, want about 0.2", a)
	}
	for i := range 24 * 14 { // then always online for two weeks
		b.Probe("p", true, now.Add(time.Duration(i+1)*time.Hour))
	}
	if a := b.Info("p", now.Add(14*24*time.Hour)).Availability; a < 0.75 {
		t.Fatalf("availability %.3f two half-lives after coming online for good", a)
	}
}

func TestTransfers(t *testing.T) {
	b := New(Config{})
	for range 50 {
		b.Transfer("p", true, 1<<20, 100*time.Millisecond, t0)
	}
	in := b.Info("p", t0)
	if in.TransferSuccess != 1 || math.Abs(in.BytesPerSecond-10<<20) > 1 || in.Transfers != 50 {
		t.Fatalf("%+v", in)
	}
	for range 50 {
		b.Transfer("p", false, 0, time.Second, t0)
	}
	if s := b.Info("p", t0).TransferSuccess; s > 0.01 {
		t.Fatalf("success %.3f after 50 failures", s)
	}
}

// Weight ranks by audit score and availability; the excluded weigh 0.
func TestWeightOrder(t *testing.T) {
	b := New(Config{VetAudits: 1, VetTime: time.Nanosecond})
	now := t0.Add(time.Hour)
	for _, id := range []string{"good", "flaky", "offline", "bad"} {
		b.Audit(id, true, t0)
	}
	for range 3 {
		b.Audit("flaky", false, now)
	}
	for range 50 {
		b.Audit("bad", false, now)
	}
	b.Probe("good", true, now)
	b.Probe("offline", false, now)
	wg, wf, wo, wb := b.Weight("good", now), b.Weight("flaky", now), b.Weight("offline", now), b.Weight("bad", now)
	if !(wg > wf && wf > wo && wo > 0 && wb == 0) {
		t.Fatalf("weights good %v flaky %v offline %v bad %v", wg, wf, wo, wb)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	b := New(Config{})
	b.Audit("a", true, t0)
	b.Audit("a", false, t0.Add(time.Minute))
	b.Probe("a", true, t0)
	b.Transfer("b", true, 1000, time.Millisecond, t0)
	for range 50 {
		b.Audit("c", false, t0)
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b2 := New(Config{})
	if err := b2.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	if got, want := b2.All(now), b.All(now); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a round trip:\n%+v\nwant\n%+v", got, want)
	}
	for n := range len(raw) {
		if err := New(Config{}).UnmarshalBinary(raw[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if err := b2.UnmarshalBinary(append(raw, 0)); !errors.Is(err, ErrFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
	if len(b2.All(now)) != 3 {
		t.Fatal("a failed unmarshal changed the book")
	}
}

func FuzzUnmarshal(f *testing.F) {
	b := New(Config{})
	b.Audit("a", true, t0)
	b.Probe("a", false, t0)
	raw, _ := b.MarshalBinary()
	f.Add(raw)
	f.Add([]byte(bookMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := New(Config{})
		if err := b.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		out, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b2 := New(Config{})
		if err := b2.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-encoding does not parse: %v", err)
		}
		for _, in := range b.All(t0) {
			if in.Score < 0 || in.Score > 1 || math.IsNaN(in.Score) || in.Availability < 0 || in.Availability > 1 {
				t.Fatalf("figures out of range: %+v", in)
			}
		}
	})
}
