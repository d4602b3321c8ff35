package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/storage"
)

// Class is a peer's behaviour.
type Class uint8

const (
	// Evening: a home machine on for ~5 h most evenings (local time),
	// skipping one day in ten, with a holiday or two a year.
	Evening Class = iota
	// Office: a machine on ~8.5 h on weekdays (local time).
	Office
	// AlwaysOn: a NAS or server, down for a few hours about once a month.
	AlwaysOn
	// Flaky: short random sessions (mean 1.5 h on, 4.5 h off).
	Flaky
	numClasses
)

func (c Class) String() string {
	return [...]string{"evening", "office", "always-on", "flaky"}[c]
}

// peer is one simulated peer: its behaviour (drawn from the world RNG
// only, so every redundancy setting sees the same peers do the same
// things) and what the simulation keeps about it.
type peer struct {
	info  storage.PeerInfo
	class Class
	tz    float64 // UTC offset, hours
	pref  float64 // preferred local start of a session, hours
	dur   float64 // mean session length, hours
	group int32

	natOn    bool // on by its own schedule
	on       bool // effectively reachable (schedule, not departed, no blackout, network up)
	departed bool
	joined   int
	arrival  bool // joined after the start
	vacUntil int  // day index: no sessions before it
	sessEnd  int  // step the current scheduled session ends

	dropper   bool // silently drops its data from badAt on
	badAt     int
	bad       bool
	heldAtBad int // fragments it held when it went bad

	excluded   bool // the Book said Excluded (cached from Book.Audit's answer)
	excludedAt int
	vettedAt   int // step the Book first reported it vetted, -1 before

	onPos   int32   // index in sim.online, -1 when offline
	frags   []int32 // fragment ids it holds (in some manifest)
	chunks  []int32 // chunks it owns that are stored (or lost)
	pending []int32 // chunk events waiting for it (as owner/repairer) to be online
}

// group is one network group (an IPv4 /24).
type group struct {
	name  string
	peers []int32
	dark  bool
}

// world draws peer behaviour. It has its own RNG stream, touched only by
// world events, so the churn is identical for every redundancy setting run
// with the same seed.
type world struct {
	cfg *Config
	rng *rand.Rand
	spd int // steps per day
	sph float64
}

func (w *world) hours(h float64) int { return int(math.Round(h * w.sph)) }

// drawClass picks a class by the configured shares.
func (w *world) drawClass() Class {
	u := w.rng.Float64()
	switch {
	case u < w.cfg.AlwaysOn:
		return AlwaysOn
	case u < w.cfg.AlwaysOn+w.cfg.Flaky:
		return Flaky
	case u < w.cfg.AlwaysOn+w.cfg.Flaky+w.cfg.Office:
		return Office
	}
	return Evening
}

// drawTZ: 55 % Europe (UTC+0..+2), 30 % Americas (UTC-8..-5), 15 % Asia
// and Oceania (UTC+8..+10): Wuala's users were mostly European.
func (w *world) drawTZ() float64 {
	u := w.rng.Float64()
	switch {
	case u < 0.55:
		return float64(w.rng.IntN(3))
	case u < 0.85:
		return -5 - float64(w.rng.IntN(4))
	}
	return 8 + float64(w.rng.IntN(3))
}

// newPeer fills in the behaviour of peer p joining at step now.
func (w *world) newPeer(p *peer, class Class, now int) {
	p.class = class
	p.tz = w.drawTZ()
	p.joined = now
	p.vettedAt = -1
	p.onPos = -1
	switch class {
	case Evening:
		p.pref = clamp(19+w.rng.NormFloat64()*1.5, 7, 23)
		p.dur = 4 + w.rng.Float64()*3 // 4–7 h
	case Office:
		p.pref = clamp(8.5+w.rng.NormFloat64(), 6, 11)
		p.dur = 7.5 + w.rng.Float64()*2
	}
	if w.rng.Float64() < w.cfg.Droppers {
		p.dropper = true
		end := w.cfg.totalSteps(w.spd)
		if d := w.cfg.DropWithinDays; d > 0 {
			end = min(end, now+int(d*float64(w.spd)))
		}
		p.badAt = now + w.rng.IntN(max(end-now, 1))
	}
}

func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }

// next returns the step of the peer's next own state change after now,
// and the state it changes to. A peer's schedule is drawn as it goes.
func (w *world) next(p *peer, now int) int {
	switch p.class {
	case AlwaysOn:
		if p.natOn { // next outage: about monthly
			return now + max(1, int(w.rng.ExpFloat64()*30*float64(w.spd)))
		}
		return now + max(1, w.hours(1+w.rng.Float64()*7))
	case Flaky:
		mean := 4.5
		if p.natOn {
			mean = 1.5
		}
		return now + max(1, w.hours(w.rng.ExpFloat64()*mean))
	}
	if p.natOn {
		return max(p.sessEnd, now+1)
	}
	start, end := w.session(p, now)
	p.sessEnd = end
	return start
}

// session draws the next daily session of an Evening or Office peer
// starting after now: the preferred local start with 45 minutes of jitter,
// a length of 0.7–1.3 times its mean, days skipped (10 %, office: 5 % and
// weekends), and holidays (each day a 1/180 chance to start 5–16 days
// away).
func (w *world) session(p *peer, now int) (int, int) {
	for d := now/w.spd - 1; ; d++ {
		if d < p.vacUntil {
			continue
		}
		localDay := d + 7000 // keep it positive for the weekday
		if p.class == Office && localDay%7 >= 5 {
			continue
		}
		startH := p.pref - p.tz + w.rng.NormFloat64()*0.75
		start := d*w.spd + w.hours(startH)
		if start <= now {
			continue
		}
		if w.rng.Float64() < 1.0/180 {
			p.vacUntil = d + 5 + w.rng.IntN(12)
			continue
		}
		skip := 0.10
		if p.class == Office {
			skip = 0.05
		}
		if w.rng.Float64() < skip {
			continue
		}
		return start, start + max(1, w.hours(p.dur*(0.7+0.6*w.rng.Float64())))
	}
}

// address gives group g a public-looking IPv4 /24 and peer i an address
// in it; the group name is what network.NetGroup makes of it (the real
// placement-diversity rule).
func groupAddr(g int, host int) string {
	return fmt.Sprintf("/ip4/%d.%d.%d.%d/tcp/4001", 11+g/65536%200, g/256%256, g%256, 1+host%250)
}

func netGroupOf(g, host int) string {
	n := network.NetGroup(groupAddr(g, host))
	if n == "" {
		panic("no net group for " + groupAddr(g, host))
	}
	return n
}
