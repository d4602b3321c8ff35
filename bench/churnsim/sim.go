package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/reputation"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/rendezvous"
)

// Chunk states.
const (
	chunkWaiting uint8 = iota // not uploaded yet
	chunkStored
	chunkLost    // fewer than K fragments left on peers that still exist
	chunkRetired // its owner left the network: no longer anyone's data
)

type chunk struct {
	owner      int32
	state      uint8
	onl, alive int32 // fragments in the manifest with their data, on online / on not-departed peers
	frags      []int32
	waiting    bool // in its owner's pending list
}

// frag is one placed fragment: the truth (gone: the holder no longer has
// its bytes) and the repairer's view (seen, since).
type frag struct {
	chunk, peer, pos int32 // pos: index in the holder's frags
	since            int32 // step the repairer last saw it held
	seen             reputation.Seen
	gone             bool
}

// event kinds
const (
	evToggle uint8 = iota // a peer's own schedule flips
	evDepart
	evArrive
	evBad
	evChunk // a chunk's upload or audit round
)

type event struct {
	kind uint8
	id   int32
}

// Sim is one run.
type Sim struct {
	cfg    Config
	spd    int
	end    int
	t0     time.Time
	w      world
	rng    *rand.Rand // chunk-side randomness
	book   *reputation.Book
	policy reputation.RepairPolicy

	peers  []peer
	groups []group
	byID   map[storage.PeerID]int32
	online []int32
	chunks []chunk
	frags  []frag
	free   []int32

	worldEv [][]event
	chunkEv [][]int32

	step     int
	blackout bool

	fragSize  int64
	auditSize int64

	// scratch
	stamp    []uint32
	stampGen uint32
	cands    []storage.PeerInfo
	states   []reputation.FragmentState

	st stats
}

type stats struct {
	unreadable, counted int // chunks now unreadable / stored-or-lost
	stored              int // chunks stored now
	onlTotal, alive     int64
	fragTotal           int64 // fragments in manifests of stored chunks

	chunkSteps, unreadSteps  float64
	storedSteps              float64
	onlSum, aliveSum         float64
	fragSum                  float64
	reads, readsOK           int64
	peerOn, peerAlive        [numClasses]float64
	repairBytes, auditBytes  float64
	repairs, blocked, audits int64
	repairsByHour            []int64
	repairBytesByDay         []float64
	storedByDay              []float64
	lost, retired, uploaded  int
	arrivals, departures     int
	badDetect                []float64 // days from going bad to exclusion
	badTotal, badExcluded    int
	honestExcluded           int
	restartRepairs           int64 // repairs while the mass restart lasts
}

// ranker adapts the Book to storage.Ranker, as the daemon's wiring does.
type ranker struct {
	b   *reputation.Book
	now time.Time
}

func (r ranker) Weight(p storage.PeerInfo) float64 { return r.b.Weight(string(p.ID), r.now) }

// NewSim builds the world and schedules its first events.
func NewSim(cfg Config) *Sim {
	s := &Sim{cfg: cfg, spd: cfg.spd(), t0: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.end = cfg.totalSteps(s.spd)
	s.w = world{cfg: &s.cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x776f726c64)), spd: s.spd, sph: float64(time.Hour) / float64(cfg.Step)}
	s.rng = rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.K)<<32|uint64(cfg.M)<<16|uint64(cfg.Margin)))
	s.book = reputation.New(reputation.Config{})
	s.policy = reputation.RepairPolicy{Margin: cfg.Margin, Grace: cfg.Grace}
	s.worldEv = make([][]event, s.end+1)
	s.chunkEv = make([][]int32, s.end+1)
	s.byID = map[storage.PeerID]int32{}
	s.st.repairsByHour = make([]int64, 24*(cfg.WarmupDays+cfg.Days+1))
	s.st.repairBytesByDay = make([]float64, cfg.WarmupDays+cfg.Days+1)
	s.st.storedByDay = make([]float64, cfg.WarmupDays+cfg.Days+1)

	// Byte accounting with the real formats: a fragment of a sealed
	// chunk is ceil(size/K); an audit is a PROVE request plus, per leaf,
	// a length-prefixed Merkle proof as erasure marshals it.
	s.fragSize = (cfg.ChunkSize + int64(cfg.K) - 1) / int64(cfg.K)
	s.auditSize = auditBytes(s.fragSize, cfg.AuditLeaves)

	// Network groups: the two big ones of the events, then small ones
	// (1–8 peers, geometric) for everyone else.
	w := &s.w
	var order []int32
	for i := range cfg.Peers {
		order = append(order, int32(i))
	}
	s.peers = make([]peer, 0, cfg.Peers*2)
	for range cfg.Peers {
		s.addPeer(0, false)
	}
	i := 0
	take := func(n int) {
		g := s.newGroup()
		for ; n > 0 && i < len(order); n-- {
			s.joinGroup(order[i], g)
			i++
		}
	}
	take(cfg.DarkPeers)
	take(cfg.GonePeers)
	for i < len(order) {
		take(1 + geometric(w.rng, 0.5, 7))
	}
	for p := range s.peers {
		s.startPeer(int32(p), 0)
	}
	// Arrivals: as many as departures, on average, as a Poisson process.
	if cfg.DepartPerMonth > 0 {
		rate := cfg.DepartPerMonth * float64(cfg.Peers) / (30 * float64(s.spd)) // per step
		for t := w.rng.ExpFloat64() / rate; int(t) < s.end; t += w.rng.ExpFloat64() / rate {
			s.worldAt(int(t), evArrive, 0)
		}
	}
	// The initial peers' chunks, uploaded at random moments of the first
	// half of the warm-up (each when its owner is online).
	upEnd := max(1, cfg.WarmupDays*s.spd/2)
	for range cfg.Chunks {
		o := int32(s.rng.IntN(cfg.Peers))
		s.newChunk(o, s.rng.IntN(upEnd))
	}
	s.stamp = make([]uint32, cap(s.peers))
	return s
}

func geometric(r *rand.Rand, p float64, max int) int {
	n := 0
	for n < max && r.Float64() > p {
		n++
	}
	return n
}

func (s *Sim) newGroup() int32 {
	g := int32(len(s.groups))
	s.groups = append(s.groups, group{name: netGroupOf(int(g), 0)})
	return g
}

func (s *Sim) joinGroup(p, g int32) {
	s.peers[p].group = g
	s.peers[p].info.Net = netGroupOf(int(g), len(s.groups[g].peers))
	s.groups[g].peers = append(s.groups[g].peers, p)
}

// addPeer creates a peer (behaviour drawn from the world RNG) joining at now.
func (s *Sim) addPeer(now int, arrival bool) int32 {
	id := int32(len(s.peers))
	s.peers = append(s.peers, peer{})
	p := &s.peers[id]
	p.info = storage.PeerInfo{ID: storage.PeerID(fmt.Sprintf("peer-%06d", id)), Free: -1}
	p.arrival = arrival
	s.byID[p.info.ID] = id
	s.w.newPeer(p, s.w.drawClass(), now)
	return id
}

// startPeer schedules a new peer's first state change, its departure and
// its going bad.
func (s *Sim) startPeer(id int32, now int) {
	p := &s.peers[id]
	switch p.class {
	case AlwaysOn:
		p.natOn = true
	case Flaky:
		p.natOn = s.w.rng.Float64() < 0.25
	}
	s.worldAt(s.w.next(p, now), evToggle, id)
	if s.cfg.DepartPerMonth > 0 {
		s.worldAt(now+int(s.w.rng.ExpFloat64()/s.cfg.DepartPerMonth*30*float64(s.spd)), evDepart, id)
	}
	if p.dropper {
		s.worldAt(p.badAt, evBad, id)
	}
	s.setOn(id)
}

func (s *Sim) worldAt(step int, kind uint8, id int32) {
	if step < s.step {
		step = s.step
	}
	if step <= s.end {
		s.worldEv[step] = append(s.worldEv[step], event{kind, id})
	}
}

func (s *Sim) chunkAt(step int, c int32) {
	if step <= s.step {
		step = s.step + 1
	}
	if step <= s.end {
		s.chunkEv[step] = append(s.chunkEv[step], c)
	}
}

func (s *Sim) newChunk(owner int32, at int) {
	c := int32(len(s.chunks))
	s.chunks = append(s.chunks, chunk{owner: owner})
	s.chunkAt(at, c)
}

func (s *Sim) now() time.Time { return s.t0.Add(time.Duration(s.step) * s.cfg.Step) }

// effective reachability of a peer
func (s *Sim) reach(p *peer) bool {
	return p.natOn && !p.departed && !s.blackout && !s.groups[p.group].dark
}

// setOn brings peer id's reachability up to date, with everything that
// counts on it.
func (s *Sim) setOn(id int32) {
	p := &s.peers[id]
	on := s.reach(p)
	if on == p.on {
		return
	}
	p.on = on
	d := int32(-1)
	if on {
		d = 1
		p.onPos = int32(len(s.online))
		s.online = append(s.online, id)
	} else {
		last := s.online[len(s.online)-1]
		s.online[p.onPos] = last
		s.peers[last].onPos = p.onPos
		s.online = s.online[:len(s.online)-1]
		p.onPos = -1
	}
	for _, f := range p.frags {
		if !s.frags[f].gone {
			s.addOnl(s.frags[f].chunk, d)
		}
	}
	if on && len(p.pending) > 0 {
		// The owner's (or repairer's) postponed work starts within its
		// first hour online.
		for _, c := range p.pending {
			s.chunks[c].waiting = false
			s.chunkAt(s.step+1+s.rng.IntN(max(1, s.spd/24)), c)
		}
		p.pending = p.pending[:0]
	}
}

func (s *Sim) counted(c *chunk) bool { return c.state == chunkStored || c.state == chunkLost }

func (s *Sim) addOnl(ci int32, d int32) {
	c := &s.chunks[ci]
	was := c.onl >= int32(s.cfg.K)
	c.onl += d
	if c.state == chunkStored {
		s.st.onlTotal += int64(d)
	}
	if s.counted(c) {
		if is := c.onl >= int32(s.cfg.K); is != was {
			if is {
				s.st.unreadable--
			} else {
				s.st.unreadable++
			}
		}
	}
}

func (s *Sim) addAlive(ci int32, d int32) {
	c := &s.chunks[ci]
	c.alive += d
	if c.state == chunkStored {
		s.st.alive += int64(d)
		if c.alive < int32(s.cfg.K) {
			c.state = chunkLost
			s.st.lost++
			s.st.stored--
			s.st.onlTotal -= int64(c.onl)
			s.st.alive -= int64(c.alive)
			s.st.fragTotal -= int64(len(c.frags))
		}
	}
}

// loseData: the holder of fragment f no longer has its bytes.
func (s *Sim) loseData(f int32) {
	fr := &s.frags[f]
	if fr.gone {
		return
	}
	fr.gone = true
	p := &s.peers[fr.peer]
	if p.on {
		s.addOnl(fr.chunk, -1)
	}
	if !p.departed {
		s.addAlive(fr.chunk, -1)
	}
}

// place puts a new fragment of chunk ci on peer pi (online).
func (s *Sim) place(ci, pi int32) {
	var f int32
	if n := len(s.free); n > 0 {
		f, s.free = s.free[n-1], s.free[:n-1]
	} else {
		f = int32(len(s.frags))
		s.frags = append(s.frags, frag{})
	}
	p := &s.peers[pi]
	s.frags[f] = frag{chunk: ci, peer: pi, pos: int32(len(p.frags)), since: int32(s.step), seen: reputation.Held, gone: p.bad}
	p.frags = append(p.frags, f)
	c := &s.chunks[ci]
	c.frags = append(c.frags, f)
	if c.state == chunkStored {
		s.st.fragTotal++
	}
	if !p.bad {
		s.addAlive(ci, 1)
		s.addOnl(ci, 1)
	}
}

// unplace removes fragment f from its chunk's manifest (its position
// there is ci's slot) and from its holder.
func (s *Sim) unplace(f int32) {
	fr := &s.frags[f]
	p := &s.peers[fr.peer]
	if !fr.gone {
		if p.on {
			s.addOnl(fr.chunk, -1)
		}
		if !p.departed {
			s.addAlive(fr.chunk, -1)
		}
	}
	last := p.frags[len(p.frags)-1]
	p.frags[fr.pos] = last
	s.frags[last].pos = fr.pos
	p.frags = p.frags[:len(p.frags)-1]
	if s.chunks[fr.chunk].state == chunkStored {
		s.st.fragTotal--
	}
	s.free = append(s.free, f)
}

// choose picks up to n online peers for new fragments of chunk ci with
// the real weighted rendezvous over the Book's weights, among a random
// sample of the online peers (a node's view of the network), skipping
// the chunk's holders and, with OnePer24, their network groups.
func (s *Sim) choose(ci int32, n int) []int32 {
	c := &s.chunks[ci]
	s.stampGen++
	if len(s.stamp) < len(s.peers) {
		s.stamp = append(s.stamp, make([]uint32, len(s.peers)-len(s.stamp))...)
	}
	usedNet := map[string]bool{}
	for _, f := range c.frags {
		s.stamp[s.frags[f].peer] = s.stampGen
		usedNet[s.peers[s.frags[f].peer].info.Net] = true
	}
	s.cands = s.cands[:0]
	want := s.cfg.Candidates
	if want > 0 {
		want = max(want, 4*(s.cfg.K+s.cfg.M))
	}
	add := func(pi int32) {
		if s.stamp[pi] == s.stampGen {
			return
		}
		s.stamp[pi] = s.stampGen
		if s.cfg.OnePer24 && usedNet[s.peers[pi].info.Net] {
			return
		}
		s.cands = append(s.cands, s.peers[pi].info)
	}
	if want <= 0 || want >= len(s.online) {
		for _, pi := range s.online {
			add(pi)
		}
	} else {
		for tries := 0; len(s.cands) < want && tries < 3*want; tries++ {
			add(s.online[s.rng.IntN(len(s.online))])
		}
	}
	var key [8]byte
	binary.LittleEndian.PutUint64(key[:], uint64(ci)^s.cfg.Seed<<40)
	ordered := rendezvous.Order(key[:], s.cands, ranker{s.book, s.now()})
	out := make([]int32, 0, n)
	for _, pi := range ordered {
		if len(out) == n {
			break
		}
		if s.cfg.OnePer24 {
			if usedNet[pi.Net] {
				continue
			}
			usedNet[pi.Net] = true
		}
		out = append(out, s.byID[pi.ID])
	}
	return out
}

// chunkEvent: the upload of a waiting chunk, or a stored chunk's audit
// round (and repair when the policy says so).
func (s *Sim) chunkEvent(ci int32) {
	c := &s.chunks[ci]
	if c.state == chunkLost || c.state == chunkRetired {
		return
	}
	owner := &s.peers[c.owner]
	if owner.departed {
		return
	}
	needOwner := c.state == chunkWaiting || !s.cfg.Delegate
	if needOwner && !owner.on {
		if !c.waiting {
			c.waiting = true
			owner.pending = append(owner.pending, ci)
		}
		return
	}
	if c.state == chunkWaiting {
		s.upload(ci)
		return
	}
	s.audit(ci)
}

func (s *Sim) upload(ci int32) {
	n := s.cfg.K + s.cfg.M
	chosen := s.choose(ci, n)
	if len(chosen) < n { // the placer needs K+M landed: try again in an hour
		s.chunkAt(s.step+s.spd/24, ci)
		return
	}
	c := &s.chunks[ci]
	for _, pi := range chosen {
		s.place(ci, pi)
	}
	c.state = chunkStored
	s.st.uploaded++
	s.st.stored++
	s.st.counted++
	s.st.onlTotal += int64(c.onl)
	s.st.alive += int64(c.alive)
	s.st.fragTotal += int64(len(c.frags))
	if c.onl < int32(s.cfg.K) {
		s.st.unreadable++
	}
	if c.alive < int32(s.cfg.K) { // every holder a dropper: lost at once
		c.state = chunkLost
		s.st.lost++
		s.st.stored--
		s.st.onlTotal -= int64(c.onl)
		s.st.alive -= int64(c.alive)
		s.st.fragTotal -= int64(len(c.frags))
	}
	owner := &s.peers[c.owner]
	owner.chunks = append(owner.chunks, ci)
	s.chunkAt(s.step+s.auditSteps(), ci)
}

func (s *Sim) auditSteps() int { return max(1, int(s.cfg.AuditEvery/s.cfg.Step)) }

// audit runs one audit round of a stored chunk: every fragment whose
// holder is reachable is audited (outcome to the Book, which also gets an
// availability probe for every holder tried), the repairer's view is
// updated, and RepairPolicy.Decide says whether to repair.
func (s *Sim) audit(ci int32) {
	c := &s.chunks[ci]
	now := s.now()
	s.states = s.states[:0]
	for _, f := range c.frags {
		fr := &s.frags[f]
		p := &s.peers[fr.peer]
		switch {
		case p.excluded:
			fr.seen = reputation.Lost
		case p.on:
			pass := !fr.gone
			st := s.book.Audit(string(p.info.ID), pass, now)
			s.book.Probe(string(p.info.ID), true, now)
			s.st.audits++
			if s.step >= s.cfg.dayStep(0) {
				s.st.auditBytes += float64(s.auditSize)
			}
			if st == reputation.Excluded {
				s.exclude(fr.peer)
				fr.seen = reputation.Lost
			} else if pass {
				fr.seen, fr.since = reputation.Held, int32(s.step)
			} else {
				fr.seen = reputation.Lost
			}
		default:
			s.book.Probe(string(p.info.ID), false, now)
			if fr.seen == reputation.Held {
				fr.seen = reputation.Away
			}
		}
		s.states = append(s.states, reputation.FragmentState{
			Seen: fr.seen, Since: s.t0.Add(time.Duration(fr.since) * s.cfg.Step)})
	}
	next := s.step + s.auditSteps()
	pl := s.policy.Decide(s.cfg.K, s.cfg.K+s.cfg.M, s.states, now)
	if pl.Repair && s.cfg.Repair {
		if !pl.Readable {
			s.st.blocked++
			next = s.step + max(1, s.spd/24) // try again in an hour
		} else {
			s.repair(ci, pl)
		}
	}
	s.chunkAt(next, ci)
}

func (s *Sim) exclude(pi int32) {
	p := &s.peers[pi]
	if p.excluded {
		return
	}
	p.excluded, p.excludedAt = true, s.step
	if p.dropper && p.bad {
		s.st.badExcluded++
		s.st.badDetect = append(s.st.badDetect, float64(s.step-p.badAt)/float64(s.spd))
	} else {
		s.st.honestExcluded++
	}
}

// repair rebuilds chunk ci from K held fragments and tops it up as the
// plan says: Drop leaves the manifest, Add new fragments are placed.
func (s *Sim) repair(ci int32, pl reputation.Plan) {
	c := &s.chunks[ci]
	drop := make([]int32, len(pl.Drop))
	for i, j := range pl.Drop {
		drop[i] = c.frags[j]
	}
	sort.Slice(pl.Drop, func(a, b int) bool { return pl.Drop[a] > pl.Drop[b] })
	for _, j := range pl.Drop { // from the end, so indices stay valid
		c.frags[j] = c.frags[len(c.frags)-1]
		c.frags = c.frags[:len(c.frags)-1]
	}
	for _, f := range drop {
		s.unplace(f)
	}
	if c.state != chunkStored {
		return // (cannot happen: Readable means K held)
	}
	chosen := s.choose(ci, pl.Add)
	for _, pi := range chosen {
		s.place(ci, pi)
	}
	s.st.repairs++
	day := s.step / s.spd
	s.st.repairsByHour[s.step*24/s.spd]++
	b := float64(int64(s.cfg.K+len(chosen)) * s.fragSize)
	s.st.repairBytesByDay[day] += b
	if s.step >= s.cfg.dayStep(0) {
		s.st.repairBytes += b
	}
	if s.blackout {
		s.st.restartRepairs++
	}
}

// worldEvent applies one world event.
func (s *Sim) worldEvent(e event) {
	switch e.kind {
	case evToggle:
		p := &s.peers[e.id]
		if p.departed {
			return
		}
		p.natOn = !p.natOn
		s.worldAt(s.w.next(p, s.step), evToggle, e.id)
		s.setOn(e.id)
	case evDepart:
		s.depart(e.id)
	case evArrive:
		id := s.addPeer(s.step, true)
		s.st.arrivals++
		// A small network group: a new one, or (30 %) a small existing one.
		g := int32(-1)
		if s.w.rng.Float64() < 0.3 && len(s.groups) > 2 {
			g = int32(2 + s.w.rng.IntN(len(s.groups)-2))
		}
		if g < 0 || len(s.groups[g].peers) >= 8 {
			g = s.newGroup()
		}
		s.joinGroup(id, g)
		s.startPeer(id, s.step)
		// Its own data: as many chunks as an initial peer has on average,
		// uploaded within its first week.
		n := poisson(s.w.rng, float64(s.cfg.Chunks)/float64(s.cfg.Peers))
		for range n {
			s.newChunk(id, s.step+s.w.rng.IntN(7*s.spd))
		}
	case evBad:
		p := &s.peers[e.id]
		if p.departed {
			return
		}
		p.bad = true
		p.heldAtBad = len(p.frags)
		for _, f := range p.frags {
			s.loseData(f)
		}
	}
}

func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p < l {
			return k
		}
		k++
	}
}

// depart: peer id leaves for good, without notice. Its fragments are
// gone; its own chunks are nobody's data any more (retired).
func (s *Sim) depart(id int32) {
	p := &s.peers[id]
	if p.departed {
		return
	}
	p.departed = true
	s.st.departures++
	s.setOn(id)
	for _, f := range p.frags {
		if !s.frags[f].gone {
			s.addAlive(s.frags[f].chunk, -1)
		}
	}
	for _, ci := range p.chunks {
		s.retire(ci)
	}
	p.chunks = nil
}

func (s *Sim) retire(ci int32) {
	c := &s.chunks[ci]
	if c.state == chunkStored {
		s.st.stored--
		s.st.onlTotal -= int64(c.onl)
		s.st.alive -= int64(c.alive)
		s.st.fragTotal -= int64(len(c.frags))
	}
	if s.counted(c) {
		s.st.counted--
		if c.onl < int32(s.cfg.K) {
			s.st.unreadable--
		}
	}
	c.state = chunkRetired
	s.st.retired++
	for _, f := range c.frags {
		s.unplace(f)
	}
	c.frags = nil
}

// Run simulates to the end and returns the results.
func (s *Sim) Run() Result {
	started := time.Now()
	cfg := &s.cfg
	restart0, restart1 := -1, -1
	if cfg.RestartDay >= 0 && cfg.RestartLen > 0 { // length 0: the counterfactual, same window, no restart
		restart0 = cfg.dayStep(cfg.RestartDay)
		restart1 = restart0 + max(1, int(cfg.RestartLen/cfg.Step))
	}
	dark0, dark1 := -1, -1
	if cfg.DarkPeers > 0 {
		dark0 = cfg.dayStep(cfg.DarkDay)
		dark1 = dark0 + int(cfg.DarkDays*float64(s.spd))
	}
	gone := -1
	if cfg.GonePeers > 0 {
		gone = cfg.dayStep(cfg.GoneDay)
	}
	measure := cfg.dayStep(0)
	for s.step = 0; s.step < s.end; s.step++ {
		switch s.step {
		case restart0, restart1:
			s.blackout = s.step == restart0
			for id := range s.peers {
				s.setOn(int32(id))
			}
		}
		if s.step == dark0 || s.step == dark1 {
			g := &s.groups[0]
			g.dark = s.step == dark0
			for _, id := range g.peers {
				s.setOn(id)
			}
		}
		if s.step == gone {
			for _, id := range append([]int32(nil), s.groups[1].peers...) {
				s.depart(id)
			}
		}
		for i := 0; i < len(s.worldEv[s.step]); i++ {
			s.worldEvent(s.worldEv[s.step][i])
		}
		s.worldEv[s.step] = nil
		for i := 0; i < len(s.chunkEv[s.step]); i++ {
			s.chunkEvent(s.chunkEv[s.step][i])
		}
		s.chunkEv[s.step] = nil
		if s.step%s.spd == 0 {
			s.daily()
		}
		if s.step >= measure {
			s.sample()
		}
	}
	return s.result(time.Since(started))
}

// daily: once a day, note which peers the Book now calls vetted.
func (s *Sim) daily() {
	now := s.now()
	for i := range s.peers {
		p := &s.peers[i]
		if p.vettedAt < 0 && !p.departed && s.book.Info(string(p.info.ID), now).Vetted {
			p.vettedAt = s.step
		}
	}
}

// sample adds one step to the time averages and makes a few owner reads.
func (s *Sim) sample() {
	st := &s.st
	st.chunkSteps += float64(st.counted)
	st.unreadSteps += float64(st.unreadable)
	st.storedSteps += float64(st.stored)
	st.onlSum += float64(st.onlTotal)
	st.aliveSum += float64(st.alive)
	st.fragSum += float64(st.fragTotal)
	st.storedByDay[s.step/s.spd] += float64(st.stored) / float64(s.spd)
	if s.step%4 == 0 { // peers' availability, every 4th step
		for i := range s.peers {
			p := &s.peers[i]
			if !p.departed {
				st.peerAlive[p.class]++
				if p.on {
					st.peerOn[p.class]++
				}
			}
		}
	}
	if len(s.online) == 0 {
		return
	}
	for range s.cfg.ReadsPerStep {
		o := &s.peers[s.online[s.rng.IntN(len(s.online))]]
		if len(o.chunks) == 0 {
			continue
		}
		c := &s.chunks[o.chunks[s.rng.IntN(len(o.chunks))]]
		st.reads++
		if c.onl >= int32(s.cfg.K) {
			st.readsOK++
		}
	}
}

// auditBytes is one audit on the wire: the PROVE request
// (network/audit.RequestSize, 171 bytes: version, op, ref, nonce, leaves,
// time, auditor, signature) and per leaf a 4-byte length and the proof as
// erasure marshals it (measured on a real proof of a fragment this size).
func auditBytes(fragSize int64, leaves int) int64 {
	const requestSize = 1 + 1 + 32 + 32 + 1 + 8 + 32 + 64
	data := make([]byte, fragSize)
	n := erasure.Leaves(fragSize)
	pr, err := erasure.Prove(data, n-2+n%2) // a full leaf, deep in the tree
	if err != nil || n < 2 {
		pr, err = erasure.Prove(data, 0)
	}
	if err != nil {
		panic(err)
	}
	b, err := pr.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return requestSize + int64(leaves)*(4+int64(len(b)))
}
