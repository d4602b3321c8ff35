package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/holder"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// slowStore holds every Put for a long time (until the caller gives up).
type slowStore struct{ storage.FragmentStore }

func (s slowStore) Put(ctx context.Context, ref storage.Ref, b []byte) error {
	select {
	case <-time.After(5 * time.Minute):
		return s.FragmentStore.Put(ctx, ref, b)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// liarStore returns other bytes than it was given.
type liarStore struct{ storage.FragmentStore }

func (l liarStore) Get(ctx context.Context, ref storage.Ref) ([]byte, error) {
	b, err := l.FragmentStore.Get(ctx, ref)
	if err == nil && len(b) > 0 {
		b[len(b)/2] ^= 0x5a
	}
	return b, err
}

func startAlice(t *testing.T, ctx context.Context, dir string, boot string) *node {
	t.Helper()
	kr, err := cryptree.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	ident, err := network.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(ctx, nodeConfig{
		Home: dir, Identity: ident, Keyring: kr,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{boot},
		Contribute: 1 << 30, Grace: 1 << 30, WaitPeers: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// TestSlowAndLyingPeers runs real libp2p hosts on 127.0.0.1: one storage
// peer never finishes a store, another returns garbage. The upload must
// not wait for the slow one (spare fragments land elsewhere and its
// transfer is cancelled), and the download must detect and skip the liar.
func TestSlowAndLyingPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	peers, err := startPeers(ctx, dir, 18, nodeConfig{Contribute: 1 << 30, Grace: 1 << 30}, func(i int, c *nodeConfig) {
		switch i {
		case 1:
			c.WrapStore = func(s storage.FragmentStore) storage.FragmentStore { return slowStore{s} }
		case 2, 3:
			c.WrapStore = func(s storage.FragmentStore) storage.FragmentStore { return liarStore{s} }
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.CloseAll(peers)
	alice := startAlice(t, ctx, t.TempDir(), bootstrapAddr(peers[0]))
	needPeers(t, ctx, alice, 18)
	data := make([]byte, 6<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	start := time.Now()
	ent, err := alice.drive.Put(ctx, "/f.bin", bytes.NewReader(data), drive.PutOptions{})
	if err != nil {
		t.Fatalf("put with a slow peer: %v", err)
	}
	if el := time.Since(start); el > time.Minute {
		t.Fatalf("put took %v: the slow peer stalled it", el)
	}
	slow, liars := peers[1].net.ID(), map[storage.PeerID]bool{peers[2].net.ID(): true, peers[3].net.ID(): true}
	onLiar := 0
	for _, ck := range ent.Manifest.Chunks {
		for _, f := range ck.Frags {
			if f.Holder == slow {
				t.Fatal("a fragment is recorded on the peer that never finished storing it")
			}
			if liars[f.Holder] {
				onLiar++
			}
		}
	}
	if onLiar == 0 {
		t.Fatal("no fragment landed on the lying peers; the test proves nothing")
	}
	// Read back: the liars' fragments fail verification and others are
	// fetched instead.
	rd, _, err := alice.drive.Open(ctx, "/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := rd.WriteTo(&buf); err != nil {
		t.Fatalf("get with lying peers: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("read back different bytes")
	}
}

// TestTooFewPeersUnavailable: with fewer storage peers than k+m a put fails
// with Unavailable and nothing becomes visible.
func TestTooFewPeersUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	peers, err := startPeers(ctx, t.TempDir(), 12, nodeConfig{Contribute: 1 << 30, Grace: 1 << 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.CloseAll(peers)
	alice := startAlice(t, ctx, t.TempDir(), bootstrapAddr(peers[0]))
	alice.cfg.WaitPeers = 0
	needPeers(t, ctx, alice, 12)
	_, err = alice.drive.Put(ctx, "/x.bin", bytes.NewReader(make([]byte, 1<<20)), drive.PutOptions{})
	if !errors.Is(err, storage.Unavailable) {
		t.Fatalf("put to 12 peers: %v, want Unavailable", err)
	}
	if _, err := alice.drive.Stat(ctx, "/x.bin"); !errors.Is(err, storage.NotExist) {
		t.Fatalf("failed put visible: %v", err)
	}
}

// TestRecordAttacks: storage peers that serve an old (rolled back) or a
// forged folder record are outvoted or ignored, and honest peers refuse to
// store a stale record.
func TestRecordAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	peers, err := startPeers(ctx, t.TempDir(), 16, nodeConfig{Contribute: 1 << 30, Grace: 1 << 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.CloseAll(peers)
	alice := startAlice(t, ctx, t.TempDir(), bootstrapAddr(peers[0]))
	needPeers(t, ctx, alice, 16)
	put := func(p, s string) {
		t.Helper()
		if _, err := alice.drive.Put(ctx, p, strings.NewReader(s), drive.PutOptions{}); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	put("/first.txt", "one")
	_, rootW := alice.cfg.Keyring.RootFolder()
	recs := alice.records
	old, err := recs.Lookup(ctx, rootW.ID())
	if err != nil {
		t.Fatal(err)
	}
	put("/second.txt", "two")
	cur, err := recs.Lookup(ctx, rootW.ID())
	if err != nil || cur.Seq <= old.Seq {
		t.Fatalf("root record did not advance: %v", err)
	}
	key := cryptree.RecordKey(rootW.ID())
	// The DHT copy is written in the background: wait for it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := alice.net.GetValue(ctx, key)
		if err == nil {
			if r, perr := cryptree.ParseRecord(v); perr == nil && r.Seq == cur.Seq {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DHT never got the current root record: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Honest peers refuse the old record.
	holders, err := recs.Holders(ctx, key)
	if err != nil || len(holders) == 0 {
		t.Fatalf("holders: %v", err)
	}
	if err := alice.ptr.PutRecord(ctx, holders[0], key, old.Marshal()); !errors.Is(err, storage.Exist) {
		t.Fatalf("stale record put: %v, want Exist", err)
	}
	// Now every storage peer turns: half serve the old record, half a forged one.
	forged := *cur
	forged.Seq = cur.Seq + 100
	forged.Sig[0] ^= 1
	for i, p := range peers {
		v := old.Marshal()
		if i%2 == 1 {
			v = forged.Marshal()
		}
		if err := p.db.KV("pointers").Set(ctx, append([]byte("pointer/rec/"), key...), v); err != nil {
			t.Fatal(err)
		}
	}
	recs.Forget(rootW.ID()) // no shortcut through the node's recent records
	// Alice, and a second device of hers with an empty cache, still see
	// the current tree: the forged record fails its signature, the old one
	// loses to the DHT's current one and to what the device has seen.
	for _, tr := range []interface {
		Stat(context.Context, string) (drive.Entry, error)
	}{alice.drive, secondDevice(t, ctx, alice)} {
		if _, err := tr.Stat(ctx, "/second.txt"); err != nil {
			t.Fatalf("after the attack: %v", err)
		}
	}
}

// needPeers waits until n sees want storage peers (30 s at most).
func needPeers(t *testing.T, ctx context.Context, n *node, want int) {
	t.Helper()
	ps, err := n.net.WaitPeers(ctx, fragmentProtocol, want, 30*time.Second)
	if err != nil || len(ps) < want {
		t.Fatalf("found %d of %d storage peers: %v", len(ps), want, err)
	}
}

// secondDevice opens alice's drive afresh over her node, with an empty cache.
func secondDevice(t *testing.T, ctx context.Context, n *node) *drive.Tree {
	t.Helper()
	keys, w := n.cfg.Keyring.RootFolder()
	tr, err := drive.NewTree(ctx, drive.TreeConfig{
		Objects: n.blob, Records: n.records, Cache: memstore.NewKV(),
		Root: w.ID(), RootKeys: keys, RootWriter: &w,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
