// Command churnsim simulates a year of a Wuala-like peer-to-peer network
// under churn and measures what Cairn's policies make of it: chunks lost,
// availability, repair and audit traffic per GB stored per day, for a few
// redundancy settings. It calls the real policy code: reputation.Book
// (audit scores, exclusion, vetting, placement weight),
// reputation.RepairPolicy.Decide (when to repair, what to drop and add),
// storage/rendezvous.Order (weighted placement), network.NetGroup (the
// /24 rule) and erasure (analytic availability, proof sizes).
//
//	go run ./bench/churnsim -peers 10000 -days 365 -chunks 100000 -codes 10+6:2
//
// docs/DURABILITY.md describes the model and reports the results.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	cfg := Default()
	codes := flag.String("codes", "10+6:2,10+6:4,8+8:2,10+10:2", "redundancy settings, K+M[:margin][@chunks], comma-separated")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "RNG seed (same seed: same churn, same results)")
	flag.IntVar(&cfg.Peers, "peers", cfg.Peers, "initial peers")
	flag.IntVar(&cfg.Days, "days", cfg.Days, "measured days")
	flag.IntVar(&cfg.WarmupDays, "warmup", cfg.WarmupDays, "warm-up days before them (first uploads, vetting)")
	flag.DurationVar(&cfg.Step, "step", cfg.Step, "time step")
	flag.IntVar(&cfg.Chunks, "chunks", cfg.Chunks, "chunks the initial peers upload (4 MiB each by default)")
	flag.Int64Var(&cfg.ChunkSize, "chunk-size", cfg.ChunkSize, "sealed chunk size in bytes")
	flag.DurationVar(&cfg.Grace, "grace", cfg.Grace, "RepairPolicy.Grace")
	flag.BoolVar(&cfg.Repair, "repair", cfg.Repair, "run repairs (false: audits only)")
	delegate := flag.Bool("delegate", false, "repair and audit by an always-on delegate instead of the owner")
	flag.DurationVar(&cfg.AuditEvery, "audit-every", cfg.AuditEvery, "audit round of each chunk (all its fragments)")
	flag.IntVar(&cfg.AuditLeaves, "audit-leaves", cfg.AuditLeaves, "leaves per audit (1–8)")
	flag.IntVar(&cfg.Candidates, "candidates", cfg.Candidates, "online peers a placement samples (0: all)")
	flag.BoolVar(&cfg.OnePer24, "one-per-24", cfg.OnePer24, "at most one fragment of a chunk per /24")
	flag.Float64Var(&cfg.AlwaysOn, "always-on", cfg.AlwaysOn, "share of always-on peers")
	flag.Float64Var(&cfg.Flaky, "flaky", cfg.Flaky, "share of flaky peers")
	flag.Float64Var(&cfg.Office, "office", cfg.Office, "share of office (weekday) peers; the rest are evening peers")
	flag.Float64Var(&cfg.DepartPerMonth, "depart", cfg.DepartPerMonth, "permanent departures per 30 days (share of peers; as many arrive)")
	flag.Float64Var(&cfg.Droppers, "droppers", cfg.Droppers, "share of peers that silently drop their data at a random moment")
	flag.IntVar(&cfg.DarkPeers, "dark-peers", cfg.DarkPeers, "peers of the /24 that goes dark for -dark-days")
	flag.Float64Var(&cfg.DarkDay, "dark-day", cfg.DarkDay, "day it goes dark")
	flag.Float64Var(&cfg.DarkDays, "dark-days", cfg.DarkDays, "days it stays dark")
	flag.IntVar(&cfg.GonePeers, "gone-peers", cfg.GonePeers, "peers of the /24 that goes dark for good")
	flag.Float64Var(&cfg.GoneDay, "gone-day", cfg.GoneDay, "day it goes")
	flag.Float64Var(&cfg.RestartDay, "restart-day", cfg.RestartDay, "day (fraction: time of day, UTC) of the mass restart; negative: none")
	flag.DurationVar(&cfg.RestartLen, "restart-len", cfg.RestartLen, "how long every peer is offline in the mass restart (0: no restart, its 24 h window still reported)")
	asJSON := flag.Bool("json", false, "print the results as JSON")
	flag.Parse()
	cfg.Delegate = *delegate
	cs, err := ParseCodes(*codes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnsim:", err)
		os.Exit(2)
	}
	var rs []Result
	for _, c := range cs {
		run := cfg
		run.K, run.M, run.Margin = c.K, c.M, c.Margin
		if c.Chunks > 0 {
			run.Chunks = c.Chunks
		}
		t := time.Now()
		r := NewSim(run).Run()
		r.Seconds = time.Since(t).Seconds()
		fmt.Fprintf(os.Stderr, "churnsim: %s done in %.0f s: %d lost, availability %.5f\n", c, r.Seconds, r.ChunksLost, r.Availability)
		rs = append(rs, r)
	}
	if *asJSON {
		e := json.NewEncoder(os.Stdout)
		e.SetIndent("", "  ")
		if err := e.Encode(rs); err != nil {
			fmt.Fprintln(os.Stderr, "churnsim:", err)
			os.Exit(1)
		}
		return
	}
	WriteTable(os.Stdout, rs)
}
