package delegate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/network/holder"
	"github.com/cairn-storage/cairn/reputation"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/chunker"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/drive/drivetest"
	"github.com/cairn-storage/cairn/storage/health"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// nodeNet is a holder's view of the others, through a fragment client.
type nodeNet struct {
	h  *holder.Holder
	fc *fragment.Client
}

func (n nodeNet) Peers(ctx context.Context) ([]storage.PeerInfo, error) {
	return n.h.Net.Peers(ctx, fragment.ProtocolID)
}
func (n nodeNet) Store(p storage.PeerID) storage.FragmentStore { return n.fc.Store(p) }

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// The whole delegation on real holders (libp2p on 127.0.0.1, badger): the
// owner grants, the delegate accepts; while the owner is away three
// holders die and the delegate repairs on ciphertext, in the owner's
// name; the owner returns, folds the delegate's placement in, and reads
// everything back without the dead holders. Nothing the delegate keeps
// holds a key, a name or a byte of content. Then the owner revokes.
func TestDelegation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 14
	hs, err := holder.StartCluster(ctx, t.TempDir(), n, func(ctx context.Context, i int, c holder.Config) (*holder.Holder, error) {
		c.Contribute, c.Grace = 1<<30, 1<<30
		return holder.Start(ctx, c)
	}, (*holder.Holder).Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { holder.CloseAll(hs) }()
	for _, h := range hs[:2] {
		if _, err := h.Net.WaitPeers(ctx, fragment.ProtocolID, n-1, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	small := chunker.Params{Min: 8 << 10, Avg: 32 << 10, Max: 128 << 10}
	bcfg := blob.Config{K: 4, M: 3, Extra: 1, Chunking: small}

	// The owner, on holder 0.
	kr := cryptree.KeyringFromRoot([32]byte{7})
	ownerKey := kr.SigningKey()
	ocfg := bcfg
	ocfg.Network, ocfg.Secret, ocfg.ChunkerKey = nodeNet{hs[0], fragment.NewClient(hs[0].Net.Host(), ownerKey)}, kr.ChunkSecret(), kr.ChunkerKey()
	obc, err := blob.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, w := kr.RootFolder()
	dr, err := drive.Open(ctx, drive.Config{
		Tree:    drive.TreeConfig{Objects: obc, Records: drivetest.NewRecords(), Cache: memstore.NewKV(), Root: w.ID(), RootKeys: keys, RootWriter: &w},
		Journal: memstore.NewKV(), MetaKey: kr.MetadataKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	files := map[string][]byte{"/plans/secret-plan.txt": random(1, 300<<10), "/photos/holiday-beach.raw": random(2, 200<<10)}
	for p, b := range files {
		if _, err := dr.Put(ctx, p, bytes.NewReader(b), drive.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	owner := &Owner{Drive: dr, Key: ownerKey, Audit: audit.NewClient(hs[0].Net.Host(), ownerKey), KV: memstore.NewKV()}

	// The delegate, on holder 1, with a user key of its own.
	delegateKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'d'}, 32))
	kkv := memstore.NewKV()
	keeper := &Keeper{Host: hs[1].Net.Host(), Key: delegateKey, KV: kkv, Blob: bcfg, Logf: t.Logf,
		Self: hs[1].Net.ID(), Local: hs[1].DB.Fragments(),
		Peers: nodeNet{h: hs[1]}.Peers,
		Check: func(a storage.Auditor) blob.CheckOptions {
			// A grace of a nanosecond: the dead holders are taken as gone
			// for good at once, not waited for the 72 h of a restart.
			return blob.CheckOptions{Auditor: a, History: health.History{KV: kkv}, Policy: reputation.RepairPolicy{Grace: time.Nanosecond}}
		}}
	dir := t.TempDir()
	capFile, back := filepath.Join(dir, "cap"), filepath.Join(dir, "back")
	to := cryptree.FormatUserID(delegateKey.Public().(ed25519.PublicKey), [32]byte{1})
	g, err := owner.Grant(ctx, GrantRequest{Path: "/", To: to, Days: 7, Out: capFile})
	if err != nil || g.Serial != 1 || g.Chunks == 0 {
		t.Fatalf("grant: %+v, %v", g, err)
	}
	if _, err := keeper.Accept(ctx, FileRequest{File: capFile}); err != nil {
		t.Fatal(err)
	}
	other := &Keeper{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'x'}, 32)), KV: memstore.NewKV()}
	if _, err := other.Accept(ctx, FileRequest{File: capFile}); storage.KindOf(err) != storage.Permission {
		t.Fatalf("another node accepting the capability: %v", err)
	}

	// The owner is away; three holders of its data die.
	ms, err := dr.Manifests(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	dead := map[storage.PeerID]bool{}
	for _, h := range hs[2:] {
		if len(dead) == 3 {
			break
		}
		if id := h.Net.ID(); holds(ms, id) {
			dead[id] = true
			h.Close()
		}
	}
	keeper.Round(ctx)
	list, err := keeper.List(ctx, struct{}{})
	if err != nil || len(list) != 1 || list[0].Repaired == 0 {
		t.Fatalf("the delegate's list after its round: %+v, %v", list, err)
	}
	// What the delegate keeps: no key, no name, no content.
	_ = kkv.Scan(ctx, nil, func(k, v []byte) error {
		for _, m := range ms {
			for _, ck := range m.Chunks {
				if bytes.Contains(v, ck.Key[:]) || bytes.Contains(v, ck.ID[:]) {
					t.Errorf("the delegate keeps a chunk key or id under %q", k)
				}
			}
		}
		for p, b := range files {
			if bytes.Contains(v, []byte(filepath.Base(p))) || bytes.Contains(v, b[1000:1032]) {
				t.Errorf("the delegate keeps the name or content of %s under %q", p, k)
			}
		}
		return nil
	})

	// The owner is back: it folds the delegate's placement in and reads
	// everything with the dead holders gone.
	if _, err := keeper.Return(ctx, ReturnRequest{Owner: kr.UserID(), Out: back}); err != nil {
		t.Fatal(err)
	}
	f, err := owner.Fold(ctx, FileRequest{File: back})
	if err != nil || f.Chunks == 0 {
		t.Fatalf("fold: %+v, %v", f, err)
	}
	ms, _ = dr.Manifests(ctx, "/")
	for id := range dead {
		if holds(ms, id) {
			t.Fatalf("after the fold a manifest still names dead holder %s", id.Short())
		}
	}
	for p, want := range files {
		r, _, err := dr.Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s after the fold: %v", p, err)
		}
	}
	// The new fragments are the owner's: its own audits pass on them.
	for _, m := range ms {
		h, err := obc.Check(ctx, m, blob.CheckOptions{Auditor: audit.NewClient(hs[0].Net.Host(), ownerKey).Auditor(4)})
		if err != nil || !h.OK() || h.Failed != 0 {
			t.Fatalf("the owner's own check after the fold: %+v, %v", h, err)
		}
	}

	// Revoked: the delegate's audits are refused from now on.
	rv, err := owner.Revoke(ctx, struct{}{})
	if err != nil || rv.Serial != 1 || rv.Holders == 0 {
		t.Fatalf("revoke: %+v, %v", rv, err)
	}
	dc, err := audit.NewClient(hs[1].Net.Host(), delegateKey).Delegated(mustRead(t, capFile).Cert)
	if err != nil {
		t.Fatal(err)
	}
	var f0 blob.Frag // on a holder that is neither the owner's node nor the delegate's (no node dials itself)
	for _, f := range ms[0].Chunks[0].Frags {
		if f.Holder != hs[0].Net.ID() && f.Holder != hs[1].Net.ID() {
			f0 = f
		}
	}
	if err := dc.Audit(ctx, f0.Holder, f0.Ref, 1); storage.KindOf(err) != storage.Permission {
		t.Fatalf("a delegated audit at %s after the revocation (%+v; delegate is %s): %v, want Permission", f0.Holder.Short(), rv, hs[1].Net.ID().Short(), err)
	}
	if _, err := owner.Fold(ctx, FileRequest{File: filepath.Join(dir, "missing")}); storage.KindOf(err) != storage.IO {
		t.Fatalf("fold of a missing file: %v", err)
	}
}

func holds(ms []*blob.Manifest, id storage.PeerID) bool {
	for _, m := range ms {
		for _, p := range m.Holders() {
			if p == id {
				return true
			}
		}
	}
	return false
}

func mustRead(t *testing.T, p string) *blob.Capability {
	t.Helper()
	c, _, err := readFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
