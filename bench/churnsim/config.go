package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is one simulation run: the world (peers and their churn), the
// code and the policies. Default gives the documented model.
type Config struct {
	Seed       uint64
	Peers      int
	Days       int // measured days
	WarmupDays int // days before them in which the first chunks are uploaded
	Step       time.Duration

	// World.
	AlwaysOn, Flaky, Office float64 // shares of peers; the rest are Evening
	DepartPerMonth          float64 // permanent departures (and as many arrivals), share of peers per 30 days
	Droppers                float64 // share of peers that silently drop all their data at a random moment
	DropWithinDays          float64 // ... within this many days of joining (0: any time in the run)
	DarkPeers               int     // size of the /24 that goes dark for DarkDays (0: none)
	DarkDay, DarkDays       float64
	GonePeers               int // size of the /24 that goes dark for good
	GoneDay                 float64
	RestartDay              float64 // mass restart: every peer offline at once (negative: none)
	RestartLen              time.Duration

	// Data.
	Chunks    int // chunks uploaded by the initial peers during the warm-up
	ChunkSize int64

	// Code and policy.
	K, M, Margin int
	Grace        time.Duration
	Repair       bool
	Delegate     bool // repair and audits by an always-on delegate, not by the owner
	AuditEvery   time.Duration
	AuditLeaves  int
	Candidates   int  // peers a placement considers (a random sample of the online ones); 0: all
	OnePer24     bool // at most one fragment of a chunk per network group
	ReadsPerStep int  // sampled owner reads per step
}

// Default is the model of docs/DURABILITY.md at full size.
func Default() Config {
	return Config{
		Seed: 1, Peers: 10000, Days: 365, WarmupDays: 30, Step: 15 * time.Minute,
		AlwaysOn: 0.10, Flaky: 0.05, Office: 0.15,
		DepartPerMonth: 0.015, Droppers: 0.01,
		DarkPeers: 200, DarkDay: 100, DarkDays: 7,
		GonePeers: 200, GoneDay: 250,
		RestartDay: 200.8125, RestartLen: 45 * time.Minute, // 19:30 UTC: Europe's evening
		Chunks: 100000, ChunkSize: 4 << 20,
		K: 10, M: 6, Margin: 2, Grace: 72 * time.Hour,
		Repair: true, AuditEvery: 24 * time.Hour, AuditLeaves: 1,
		Candidates: 128, OnePer24: true, ReadsPerStep: 20,
	}
}

func (c *Config) spd() int { return int(24 * time.Hour / c.Step) }

func (c *Config) totalSteps(spd int) int { return (c.WarmupDays + c.Days) * spd }

// dayStep is the step of measured day d (fractions allowed).
func (c *Config) dayStep(d float64) int {
	return c.WarmupDays*c.spd() + int(d*float64(c.spd()))
}

// Code is one redundancy setting: K+M[:margin][@chunks].
type Code struct {
	K, M, Margin int
	Chunks       int // 0: the run's -chunks
}

func (c Code) String() string {
	s := fmt.Sprintf("%d+%d m%d", c.K, c.M, c.Margin)
	if c.Chunks > 0 {
		s += fmt.Sprintf(" (%d chunks)", c.Chunks)
	}
	return s
}

// ParseCodes parses a comma-separated list of codes such as
// "10+6:2,8+8,100+400:50@5000" (margin default 2).
func ParseCodes(s string) ([]Code, error) {
	var out []Code
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		c := Code{Margin: 2}
		if i := strings.IndexByte(f, '@'); i >= 0 {
			n, err := strconv.Atoi(f[i+1:])
			if err != nil {
				return nil, fmt.Errorf("code %q: chunks: %v", f, err)
			}
			c.Chunks, f = n, f[:i]
		}
		if i := strings.IndexByte(f, ':'); i >= 0 {
			n, err := strconv.Atoi(f[i+1:])
			if err != nil {
				return nil, fmt.Errorf("code %q: margin: %v", f, err)
			}
			c.Margin, f = n, f[:i]
		}
		km := strings.Split(f, "+")
		if len(km) != 2 {
			return nil, fmt.Errorf("code %q: want K+M", f)
		}
		var err1, err2 error
		c.K, err1 = strconv.Atoi(km[0])
		c.M, err2 = strconv.Atoi(km[1])
		if err1 != nil || err2 != nil || c.K < 1 || c.M < 0 {
			return nil, fmt.Errorf("code %q: want K+M with K ≥ 1", f)
		}
		out = append(out, c)
	}
	return out, nil
}
