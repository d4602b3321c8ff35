package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cairn-storage/cairn/erasure"
)

// Result is what one run measured. Byte rates are per GB (10^9 bytes) of
// sealed chunk data stored (not of fragment bytes), per day.
type Result struct {
	Code     string `json:"code"`
	K        int    `json:"k"`
	M        int    `json:"m"`
	Margin   int    `json:"margin"`
	Repairer string `json:"repairer"`
	Repair   bool   `json:"repair"`
	Seed     uint64 `json:"seed"`
	Peers    int    `json:"peers"`
	Days     int    `json:"days"`

	Chunks        int     `json:"chunks_uploaded"`
	ChunksRetired int     `json:"chunks_retired"`
	ChunksLost    int     `json:"chunks_lost"`
	StoredGB      float64 `json:"stored_gb_mean"`
	FragsPerChunk float64 `json:"fragments_per_chunk_mean"`

	Availability     float64            `json:"availability"`      // share of chunk-time readable
	ReadAvailability float64            `json:"read_availability"` // share of sampled owner reads that could read
	Reads            int64              `json:"reads"`
	HolderOnline     float64            `json:"holder_online"` // share of fragments on online holders
	PeerOnline       float64            `json:"peer_online"`   // share of peers online
	ClassOnline      map[string]float64 `json:"class_online"`
	AnalyticHolders  float64            `json:"analytic_availability_holders"` // erasure.Availability(K, M, HolderOnline)
	AnalyticPeers    float64            `json:"analytic_availability_peers"`   // erasure.Availability(K, M, PeerOnline)
	ChooseForPeers   string             `json:"erasure_choose_9999"`

	RepairPerGBDay     float64 `json:"repair_bytes_per_gb_day"`
	AuditPerGBDay      float64 `json:"audit_bytes_per_gb_day"`
	PeakRepairDayBytes float64 `json:"peak_repair_bytes_day"`
	PeakRepairPerGB    float64 `json:"peak_repair_bytes_per_gb_day"`
	PeakDay            int     `json:"peak_day"`
	Repairs            int64   `json:"repairs"`
	RepairsBlocked     int64   `json:"repairs_blocked"` // rounds that wanted a repair with fewer than K held
	Audits             int64   `json:"audits"`
	AuditBytes         int64   `json:"audit_bytes_each"`
	FragmentBytes      int64   `json:"fragment_bytes"`

	RepairPerDay     float64 `json:"repair_bytes_per_day_mean"`
	DarkRepairPerDay float64 `json:"repair_bytes_per_day_dark_window"` // from the /24 going dark to 3 days after it is back
	GoneRepairPerDay float64 `json:"repair_bytes_per_day_gone_week"`   // the week from the /24 going for good

	RestartRepairs24h    int64   `json:"restart_repairs_24h"`
	RepairsPerDayBefore  float64 `json:"repairs_per_day_week_before_restart"`
	RepairsWeekBefore24h int64   `json:"repairs_same_24h_week_before_restart"`
	RestartRepairsDuring int64   `json:"restart_repairs_during"`

	Droppers         int     `json:"droppers_gone_bad"`
	DroppersExcluded int     `json:"droppers_excluded"`
	HonestExcluded   int     `json:"honest_excluded"`
	DetectDays       float64 `json:"dropper_detect_days_median"`
	Arrivals         int     `json:"arrivals"`
	Departures       int     `json:"departures"`
	ArrivalsVetted   int     `json:"arrivals_vetted"`
	VetDays          float64 `json:"arrival_vet_days_median"`

	Seconds float64 `json:"seconds"`
}

// analytic is erasure.Availability, which answers 0 for codes wider than
// erasure.MaxShards (256); for those (Wuala's 100-of-500) the same
// binomial tail P[Binomial(k+m, a) ≥ k] is summed here in log space.
func analytic(k, m int, a float64) float64 {
	if k+m <= erasure.MaxShards {
		return erasure.Availability(k, m, a)
	}
	if a <= 0 || a >= 1 {
		return min(max(a, 0), 1)
	}
	n := k + m
	lc, _ := math.Lgamma(float64(n + 1))
	p := 0.0
	for i := k; i <= n; i++ {
		li, _ := math.Lgamma(float64(i + 1))
		lr, _ := math.Lgamma(float64(n - i + 1))
		p += math.Exp(lc - li - lr + float64(i)*math.Log(a) + float64(n-i)*math.Log1p(-a))
	}
	return min(p, 1)
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	sort.Float64s(x)
	return x[len(x)/2]
}

func (s *Sim) result(took time.Duration) Result {
	cfg, st := &s.cfg, &s.st
	r := Result{
		Code: fmt.Sprintf("%d+%d", cfg.K, cfg.M), K: cfg.K, M: cfg.M, Margin: cfg.Margin,
		Repairer: "owner", Repair: cfg.Repair, Seed: cfg.Seed, Peers: cfg.Peers, Days: cfg.Days,
		Chunks: st.uploaded, ChunksRetired: st.retired, ChunksLost: st.lost,
		Repairs: st.repairs, RepairsBlocked: st.blocked, Audits: st.audits,
		AuditBytes: s.auditSize, FragmentBytes: s.fragSize,
		Arrivals: st.arrivals, Departures: st.departures,
		HonestExcluded: st.honestExcluded, DroppersExcluded: st.badExcluded,
		RestartRepairsDuring: st.restartRepairs,
		Seconds:              took.Seconds(),
	}
	if cfg.Delegate {
		r.Repairer = "delegate"
	}
	measured := float64(s.end - cfg.dayStep(0))
	stepDays := cfg.Step.Hours() / 24
	gb := float64(cfg.ChunkSize) / 1e9
	r.StoredGB = st.storedSteps / measured * gb
	if st.chunkSteps > 0 {
		r.Availability = 1 - st.unreadSteps/st.chunkSteps
	}
	if st.storedSteps > 0 {
		r.FragsPerChunk = st.fragSum / st.storedSteps
		gbDays := st.storedSteps * stepDays * gb
		r.RepairPerGBDay = st.repairBytes / gbDays
		r.AuditPerGBDay = st.auditBytes / gbDays
	}
	if st.reads > 0 {
		r.ReadAvailability = float64(st.readsOK) / float64(st.reads)
	}
	r.Reads = st.reads
	if st.aliveSum > 0 {
		r.HolderOnline = st.onlSum / st.aliveSum
	}
	var on, alive float64
	r.ClassOnline = map[string]float64{}
	for c := range numClasses {
		on += st.peerOn[c]
		alive += st.peerAlive[c]
		if st.peerAlive[c] > 0 {
			r.ClassOnline[c.String()] = st.peerOn[c] / st.peerAlive[c]
		}
	}
	if alive > 0 {
		r.PeerOnline = on / alive
	}
	r.AnalyticHolders = analytic(cfg.K, cfg.M, r.HolderOnline)
	r.AnalyticPeers = analytic(cfg.K, cfg.M, r.PeerOnline)
	r.ChooseForPeers = erasure.Choose(r.PeerOnline, 0.9999, []int{cfg.K}, 0, erasure.MaxShards).Reason
	for d := cfg.WarmupDays; d < cfg.WarmupDays+cfg.Days; d++ {
		if b := st.repairBytesByDay[d]; b > r.PeakRepairDayBytes {
			r.PeakRepairDayBytes, r.PeakDay = b, d-cfg.WarmupDays
			if st.storedByDay[d] > 0 {
				r.PeakRepairPerGB = b / (st.storedByDay[d] * gb)
			}
		}
	}
	window := func(from, days float64) float64 {
		d0 := cfg.WarmupDays + int(from)
		var b float64
		n := 0
		for d := d0; d < d0+int(math.Ceil(days)) && d < len(st.repairBytesByDay); d++ {
			b += st.repairBytesByDay[d]
			n++
		}
		return b / float64(max(n, 1))
	}
	r.RepairPerDay = window(0, float64(cfg.Days))
	if cfg.DarkPeers > 0 && cfg.DarkDay < float64(cfg.Days) {
		r.DarkRepairPerDay = window(cfg.DarkDay, cfg.DarkDays+3)
	}
	if cfg.GonePeers > 0 && cfg.GoneDay < float64(cfg.Days) {
		r.GoneRepairPerDay = window(cfg.GoneDay, 7)
	}
	if h0 := cfg.dayStep(cfg.RestartDay) * 24 / s.spd; cfg.RestartDay >= 0 && h0 < s.end*24/s.spd {
		var after, before int64
		for h := h0; h < h0+24 && h < len(st.repairsByHour); h++ {
			after += st.repairsByHour[h]
		}
		for h := max(0, h0-7*24); h < h0; h++ {
			before += st.repairsByHour[h]
		}
		r.RestartRepairs24h = after
		r.RepairsPerDayBefore = float64(before) / 7
		for h := max(0, h0-7*24); h < h0-6*24; h++ {
			r.RepairsWeekBefore24h += st.repairsByHour[h]
		}
	}
	var vet []float64
	for i := range s.peers {
		p := &s.peers[i]
		if p.bad {
			r.Droppers++
		}
		if p.arrival && p.vettedAt >= 0 {
			r.ArrivalsVetted++
			vet = append(vet, float64(p.vettedAt-p.joined)/float64(s.spd))
		}
	}
	r.DetectDays = median(append([]float64(nil), st.badDetect...))
	r.VetDays = median(vet)
	return r
}

func pct(x float64) string {
	if x >= 1 {
		return "100 %"
	}
	// as many nines as it has, at least two decimals
	d := 2
	for y := 1 - x; y < 0.01 && d < 8; y *= 10 {
		d++
	}
	return fmt.Sprintf("%.*f %%", d, 100*x)
}

func human(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// WriteTable prints the results, one column per run.
func WriteTable(w io.Writer, rs []Result) {
	rows := []struct {
		name string
		f    func(r Result) string
	}{
		{"code (margin)", func(r Result) string { return fmt.Sprintf("%s (%d)", r.Code, r.Margin) }},
		{"repairer", func(r Result) string {
			if !r.Repair {
				return r.Repairer + ", repair off"
			}
			return r.Repairer
		}},
		{"chunks uploaded / retired", func(r Result) string { return fmt.Sprintf("%d / %d", r.Chunks, r.ChunksRetired) }},
		{"chunks lost", func(r Result) string { return fmt.Sprint(r.ChunksLost) }},
		{"stored (mean), fragments/chunk", func(r Result) string {
			return fmt.Sprintf("%.0f GB, %.2f", r.StoredGB, r.FragsPerChunk)
		}},
		{"availability (chunk-time)", func(r Result) string { return pct(r.Availability) }},
		{"availability (owner reads)", func(r Result) string { return pct(r.ReadAvailability) }},
		{"holders online / analytic", func(r Result) string {
			return fmt.Sprintf("%.1f %% / %s", 100*r.HolderOnline, pct(r.AnalyticHolders))
		}},
		{"peers online / analytic", func(r Result) string {
			return fmt.Sprintf("%.1f %% / %s", 100*r.PeerOnline, pct(r.AnalyticPeers))
		}},
		{"repair per GB stored per day", func(r Result) string { return human(r.RepairPerGBDay) }},
		{"audit per GB stored per day", func(r Result) string { return human(r.AuditPerGBDay) }},
		{"peak repair day (per GB)", func(r Result) string {
			return fmt.Sprintf("%s (%s) d%d", human(r.PeakRepairDayBytes), human(r.PeakRepairPerGB), r.PeakDay)
		}},
		{"repair/day: mean, dark /24, gone /24", func(r Result) string {
			return fmt.Sprintf("%s, %s, %s", human(r.RepairPerDay), human(r.DarkRepairPerDay), human(r.GoneRepairPerDay))
		}},
		{"repairs / blocked rounds", func(r Result) string { return fmt.Sprintf("%d / %d", r.Repairs, r.RepairsBlocked) }},
		{"restart: repairs 24h / per day before", func(r Result) string {
			return fmt.Sprintf("%d / %.0f, a week before %d (%d during)", r.RestartRepairs24h, r.RepairsPerDayBefore, r.RepairsWeekBefore24h, r.RestartRepairsDuring)
		}},
		{"droppers excluded (median days)", func(r Result) string {
			return fmt.Sprintf("%d of %d (%.1f d), honest %d", r.DroppersExcluded, r.Droppers, r.DetectDays, r.HonestExcluded)
		}},
		{"arrivals vetted (median days)", func(r Result) string {
			return fmt.Sprintf("%d of %d (%.1f d)", r.ArrivalsVetted, r.Arrivals, r.VetDays)
		}},
		{"run time", func(r Result) string { return fmt.Sprintf("%.0f s", r.Seconds) }},
	}
	width := 0
	for _, row := range rows {
		width = max(width, len(row.name))
	}
	for _, row := range rows {
		cells := []string{fmt.Sprintf("%-*s", width, row.name)}
		for _, r := range rs {
			cells = append(cells, fmt.Sprintf("%-26s", row.f(r)))
		}
		fmt.Fprintln(w, strings.TrimRight(strings.Join(cells, " | "), " "))
	}
}
