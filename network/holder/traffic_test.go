package holder

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// countingNet counts the fragment bytes moved through a node's network.
type countingNet struct {
	h        *Holder
	fc       *fragment.Client
	got, put atomic.Int64
}

func (n *countingNet) Peers(ctx context.Context) ([]storage.PeerInfo, error) {
	return n.h.Net.Peers(ctx, fragment.ProtocolID)
}

func (n *countingNet) Store(p storage.PeerID) storage.FragmentStore {
	return countingStore{n.fc.Store(p), n}
}

type countingStore struct {
	storage.FragmentStore
	n *countingNet
}

func (s countingStore) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	b, err := s.FragmentStore.Get(ctx, ref)
	s.n.got.Add(int64(len(b)))
	return b, err
}

func (s countingStore) Put(ctx context.Context, ref storage.Ref, b []byte) error {
	err := s.FragmentStore.Put(ctx, ref, b)
	if err == nil {
		s.n.put.Add(int64(len(b)))
	}
	return err
}

// BenchmarkMaintenanceTraffic measures, on 20 real holders in this
// process with the default 10+6 code and chunking, what keeping data
// costs in bytes: one pass of proofs over everything stored and one of
// presence checks (the daemon makes a pass a day and proves each fragment
// once a week: audit-MB/GB-day is their daily mean), and the
// repair after 4 of the 20 holders die (a forced check --repair: fetch K
// fragments of each chunk, place the missing ones). It runs once whatever
// b.N; the figures are reported as metrics.
//
//	go test -run - -bench MaintenanceTraffic -benchtime 1x ./network/holder/
func BenchmarkMaintenanceTraffic(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 21
	hs, err := StartCluster(ctx, b.TempDir(), n, func(ctx context.Context, i int, c Config) (*Holder, error) {
		c.Contribute, c.Grace = 8<<30, 8<<30
		return Start(ctx, c)
	}, (*Holder).Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer CloseAll(hs)
	if _, err := hs[0].Net.WaitPeers(ctx, fragment.ProtocolID, n-1, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	kr := cryptree.KeyringFromRoot([32]byte{3})
	key := kr.SigningKey()
	net := &countingNet{h: hs[0], fc: fragment.NewClient(hs[0].Net.Host(), key)}
	bc, err := blob.New(blob.Config{Network: net, Secret: kr.ChunkSecret(), ChunkerKey: kr.ChunkerKey()})
	if err != nil {
		b.Fatal(err)
	}
	const size = 128 << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	m, err := bc.Put(ctx, bytes.NewReader(data), blob.PutOptions{})
	if err != nil {
		b.Fatal(err)
	}
	stored := m.StoredBytes()
	ac := audit.NewClient(hs[0].Net.Host(), key)
	hist := storetest.NewHistory()
	opts := blob.CheckOptions{Auditor: ac.Auditor(audit.DefaultLeaves), History: hist}
	b.ResetTimer()
	h, err := bc.Check(ctx, m, opts)
	if err != nil || !h.OK() {
		b.Fatalf("audit pass: %+v, %v", h, err)
	}
	sent, recv, audits := ac.Traffic()
	gb := float64(size) / 1e9
	proofPass := float64(sent + recv)
	b.ReportMetric(proofPass/gb/1e6, "proof-pass-MB/GB")
	b.ReportMetric(proofPass/float64(audits), "B/audit")
	b.ReportMetric(float64(audits), "audits/pass")
	// A pass between proofs: presence only (HAS: a 38-byte request, a
	// 6-byte answer, network/PROTOCOL.md). The daemon: a pass a day, a
	// proof a week.
	var has atomic.Int64
	opts.Presence = countingAuditor{blob.Presence(net), &has}
	opts.ProveEvery = 7 * 24 * time.Hour
	if h, err := bc.Check(ctx, m, opts); err != nil || !h.OK() {
		b.Fatalf("presence pass: %+v, %v", h, err)
	}
	if _, _, again := ac.Traffic(); again != audits {
		b.Fatalf("the presence pass made %d proofs", again-audits)
	}
	presencePass := float64(has.Load() * (38 + 6))
	b.ReportMetric((presencePass+proofPass/7)/gb/1e6, "audit-MB/GB-day")
	opts.Presence, opts.ProveEvery = nil, 0

	// 4 of 20 die; a forced repair brings every chunk back to 16.
	killed := 0
	for _, hh := range hs[1:] {
		if killed == 4 {
			break
		}
		for _, p := range m.Holders() {
			if p == hh.Net.ID() {
				hh.Close()
				killed++
				break
			}
		}
	}
	got0, put0 := net.got.Load(), net.put.Load()
	opts.Repair, opts.Force = true, true
	h, err = bc.Check(ctx, m, opts)
	if err != nil || !h.OK() {
		b.Fatalf("repair: %+v, %v", h, err)
	}
	repaired := 0
	for _, c := range h.Chunks {
		if c.Repaired {
			repaired++
		}
	}
	moved := net.got.Load() - got0 + net.put.Load() - put0
	b.ReportMetric(float64(moved)/gb/1e6, "repair-MB/GB-after-4-of-20")
	b.ReportMetric(float64(moved)/float64(stored), "repair-bytes/stored-byte")
	b.ReportMetric(float64(repaired), "chunks-repaired")
	b.Logf("stored %d bytes of fragments for %d of data in %d chunks; proof pass: %d audits, %d bytes sent, %d received; presence pass: %d HAS; repair of %d chunks after 4 of 20 died: %d bytes fetched, %d placed",
		stored, size, len(m.Chunks), audits, sent, recv, has.Load(), repaired, net.got.Load()-got0, net.put.Load()-put0)
}

type countingAuditor struct {
	storage.Auditor
	n *atomic.Int64
}

func (c countingAuditor) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	c.n.Add(1)
	return c.Auditor.Audit(ctx, p, ref)
}
