package holder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/chunker"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// peers is a storage.Network of some holders of a cluster, reached
// through one fragment client, without the ones that died.
type peers struct {
	fc  *fragment.Client
	ids []storage.PeerID
	mu  sync.Mutex
	off map[storage.PeerID]bool
}

func (p *peers) Peers(context.Context) ([]storage.PeerInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []storage.PeerInfo
	for _, id := range p.ids {
		if !p.off[id] {
			out = append(out, storage.PeerInfo{ID: id, Free: -1})
		}
	}
	return out, nil
}

func (p *peers) Store(id storage.PeerID) storage.FragmentStore { return p.fc.Store(id) }

// The whole delegation on real holders: the owner puts a file and hands
// a delegate (another node, its own key, no keys of the owner's) a
// capability; holders die; the delegate's audits under the certificate
// and its repair bring the chunks back, its new fragments are the
// owner's on their holders; the owner folds the capability back, reads
// the file and audits the new fragments itself.
func TestDelegatedRepairOnHolders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 12
	hs, err := StartCluster(ctx, t.TempDir(), n, func(ctx context.Context, i int, c Config) (*Holder, error) {
		c.Contribute, c.Grace = 1<<30, 1<<30
		return Start(ctx, c)
	}, (*Holder).Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { CloseAll(hs) }()
	if _, err := hs[0].Net.WaitPeers(ctx, fragment.ProtocolID, n-1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := hs[1].Net.WaitPeers(ctx, fragment.ProtocolID, n-1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var ids []storage.PeerID // hs[0] is the owner's node, hs[1] the delegate's
	byID := map[storage.PeerID]*Holder{}
	for _, h := range hs[2:] {
		ids = append(ids, h.Net.ID())
		byID[h.Net.ID()] = h
	}
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'o'}, 32))
	var ownerPub [32]byte
	copy(ownerPub[:], owner.Public().(ed25519.PublicKey))
	delegate := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'d'}, 32))
	small := chunker.Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}
	cfg := blob.Config{K: 3, M: 2, Extra: 1, Chunking: small}

	onet := &peers{fc: fragment.NewClient(hs[0].Net.Host(), owner), ids: ids, off: map[storage.PeerID]bool{}}
	ocfg := cfg
	ocfg.Network, ocfg.Secret = onet, cryptree.ChunkSecret{1, 2, 3}
	oc, err := blob.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("cairn delegated repair "), 3000) // ~67 KiB
	m, err := oc.Put(ctx, bytes.NewReader(data), blob.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := audit.SignCert(owner, delegate.Public().(ed25519.PublicKey), time.Now().Add(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := blob.CapabilityOf([]*blob.Manifest{m}, cert).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	// The delegate's side, from the bytes alone.
	capa, err := blob.ParseCapability(wire)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := audit.NewClient(hs[1].Net.Host(), delegate).Delegated(capa.Cert)
	if err != nil {
		t.Fatal(err)
	}
	dfc, err := fragment.NewDelegateClient(hs[1].Net.Host(), delegate, capa.Cert)
	if err != nil {
		t.Fatal(err)
	}
	dnet := &peers{fc: dfc, ids: ids, off: onet.off}
	dcfg := cfg
	dcfg.Network, dcfg.Secret = dnet, cryptree.ChunkSecret{0xde}
	dc, err := blob.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	opts := blob.CheckOptions{Auditor: ac.Auditor(4), History: storetest.NewHistory(),
		Now: func() time.Time { return now }, Repair: true}
	h, changed, err := dc.CheckCapability(ctx, capa, opts)
	if err != nil || changed || !h.OK() || h.Failed+h.Away != 0 {
		t.Fatalf("the delegate's first check: %+v, %v, %v", h, changed, err)
	}
	// Two holders of the first chunk die and stay away past the grace.
	dead := map[storage.PeerID]bool{}
	for _, f := range capa.Chunks[0].Frags[:2] {
		dead[f.Holder] = true
		onet.mu.Lock()
		onet.off[f.Holder] = true
		onet.mu.Unlock()
		byID[f.Holder].Close()
	}
	now = now.Add(100 * time.Hour)
	h, changed, err = dc.CheckCapability(ctx, capa, opts)
	if err != nil || !changed || !h.OK() || !h.Chunks[0].Repaired || h.Chunks[0].Added < 2 {
		t.Fatalf("the delegate's check after two holders died: %+v, changed %v, %v", h, changed, err)
	}
	// The new fragments are the owner's where they landed.
	for _, cc := range capa.Chunks {
		for _, f := range cc.Frags {
			if dead[f.Holder] {
				t.Fatalf("the capability still names dead holder %s", f.Holder.Short())
			}
			if ok, err := byID[f.Holder].Fragments.IsOwner(ctx, f.Ref, ownerPub); err != nil || !ok {
				t.Fatalf("fragment %d on %s is not the owner's: %v, %v", f.Index, f.Holder.Short(), ok, err)
			}
		}
	}
	back, err := capa.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	// The owner is back.
	ret, err := blob.ParseCapability(back)
	if err != nil {
		t.Fatal(err)
	}
	if got := blob.Fold([]*blob.Manifest{m}, ret); got < 1 {
		t.Fatalf("Fold changed %d chunks", got)
	}
	for _, p := range m.Holders() {
		if dead[p] {
			t.Fatalf("the folded manifest names dead holder %s", p.Short())
		}
	}
	var out bytes.Buffer
	if _, err := oc.Open(ctx, m).WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("the owner reads back %d bytes, %v", out.Len(), err)
	}
	own := audit.NewClient(hs[0].Net.Host(), owner)
	for _, f := range m.Chunks[0].Frags {
		if err := own.Audit(ctx, f.Holder, f.Ref, 2); err != nil {
			t.Fatalf("the owner's audit of fragment %d on %s: %v", f.Index, f.Holder.Short(), err)
		}
	}
}
