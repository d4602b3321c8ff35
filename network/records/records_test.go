package records

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/pointer"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// member is one real libp2p node on 127.0.0.1, optionally with a pointer
// service (a storage peer that holds records), and a records client.
type member struct {
	node *network.Node
	svc  *pointer.Service // nil: not a holder
	kv   *memstore.KV
	ptr  *pointer.Client
	recs *Client
}

func (m *member) close() {
	m.recs.Close()
	if m.svc != nil {
		m.svc.Close()
	}
	m.node.Close()
}

func newMember(t *testing.T, boot []string, holder bool) *member {
	t.Helper()
	ident, err := network.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := network.Config{
		Identity:   ident,
		Listen:     []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap:  boot,
		Validators: map[string]network.Validator{Namespace: Validator{}},
	}
	if testing.Verbose() {
		cfg.Logf = t.Logf
	}
	n, err := network.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{node: n, kv: memstore.NewKV(), ptr: pointer.NewClient(n.Host())}
	if holder {
		m.svc, err = pointer.NewService(n.Host(), pointer.ServiceConfig{
			KV:         m.kv,
			Validators: map[string]network.Validator{Namespace: Validator{}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	m.recs, err = New(context.Background(), Config{Node: n, Pointer: m.ptr, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.close)
	return m
}

// cluster starts holders storage peers, then users plain nodes (clients
// only), all joined through the first peer, and waits until each user
// sees every storage peer.
func cluster(t *testing.T, holders, users int) (peers, clients []*member) {
	t.Helper()
	first := newMember(t, nil, holders > 0)
	peers = append(peers, first)
	boot := first.node.Addrs()
	for i := 1; i < holders; i++ {
		peers = append(peers, newMember(t, boot, true))
	}
	for range users {
		clients = append(clients, newMember(t, boot, false))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := holders
	for _, c := range clients {
		ps, err := c.node.WaitPeers(ctx, pointer.ProtocolID, want, 30*time.Second)
		if err != nil || len(ps) < want {
			t.Fatalf("a client sees %d of %d storage peers: %v", len(ps), want, err)
		}
		// Every node speaks the DHT: wait until it knows them all, so DHT
		// puts reach more than the bootstrap peer.
		if _, err := c.node.WaitPeers(ctx, "", holders+users-1, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return peers, clients
}

func sign(t *testing.T, w cryptree.Writer, seq uint64, value string) *cryptree.Record {
	t.Helper()
	r, err := cryptree.SignRecord(w, seq, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newWriter(t *testing.T) cryptree.Writer {
	t.Helper()
	w, err := cryptree.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wantKind(t *testing.T, what string, err error, k storage.Kind) {
	t.Helper()
	if !errors.Is(err, k) {
		t.Fatalf("%s: %v, want %v", what, err, k)
	}
}

func wantSeq(t *testing.T, what string, rec *cryptree.Record, err error, seq uint64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if rec.Seq != seq {
		t.Fatalf("%s: seq %d, want %d", what, rec.Seq, seq)
	}
}

// member returns the storage peer with id p.
func memberOf(t *testing.T, peers []*member, p storage.PeerID) *member {
	t.Helper()
	for _, m := range peers {
		if m.node.ID() == p {
			return m
		}
	}
	t.Fatalf("no storage peer %s", p)
	return nil
}

// waitDHT waits until the DHT, asked from m, holds seq for w's folder.
func waitDHT(t *testing.T, m *member, id cryptree.FolderID, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := m.node.GetValue(ctx, cryptree.RecordKey(id))
		cancel()
		if err == nil {
			if r, perr := cryptree.ParseRecord(v); perr == nil && r.Seq == seq {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DHT never got seq %d: %v", seq, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNewNeedsNodeAndPointer(t *testing.T) {
	_, err := New(context.Background(), Config{})
	wantKind(t, "New without a node", err, storage.Invalid)
}

// TestPublishLookup: a record lands on its Replicas holders (the first of
// the key's rendezvous order), another user finds it, a newer one
// replaces it, a stale one is refused, and a folder never published is
// NotExist.
func TestPublishLookup(t *testing.T) {
	peers, users := cluster(t, 8, 2)
	alice, bob := users[0], users[1]
	ctx := context.Background()
	w := newWriter(t)
	key := cryptree.RecordKey(w.ID())

	r1 := sign(t, w, 1, "one")
	if err := alice.recs.Publish(ctx, r1); err != nil {
		t.Fatal(err)
	}
	hs, err := alice.recs.Holders(ctx, key)
	if err != nil || len(hs) != Replicas {
		t.Fatalf("holders: %v, %v", hs, err)
	}
	// Both users choose the same holders, and each keeps the record.
	if hb, _ := bob.recs.Holders(ctx, key); strings.Join(ids(hb), ",") != strings.Join(ids(hs), ",") {
		t.Fatalf("alice's holders %v, bob's %v", hs, hb)
	}
	for _, p := range hs {
		v, err := alice.ptr.GetRecord(ctx, p, key)
		if err != nil || !bytes.Equal(v, r1.Marshal()) {
			t.Fatalf("holder %s: %v", p.Short(), err)
		}
	}
	rec, err := bob.recs.Lookup(ctx, w.ID())
	wantSeq(t, "bob's lookup", rec, err, 1)

	r2 := sign(t, w, 2, "two")
	if err := alice.recs.Publish(ctx, r2); err != nil {
		t.Fatal(err)
	}
	bob.recs.Forget(w.ID())
	rec, err = bob.recs.Lookup(ctx, w.ID())
	wantSeq(t, "bob's lookup after seq 2", rec, err, 2)

	// A stale write loses (Exist) and drops the writer's recent copy.
	err = bob.recs.Publish(ctx, r1)
	wantKind(t, "stale publish", err, storage.Exist)
	if bob.recs.recent.get(w.ID()) != nil {
		t.Fatal("a lost write left the recent record")
	}

	// A record seen within TTL is answered without asking.
	for _, p := range peers {
		if err := p.kv.Set(ctx, []byte("pointer/rec/"+key), r1.Marshal()); err != nil {
			t.Fatal(err)
		}
	}
	rec, err = alice.recs.Lookup(ctx, w.ID())
	wantSeq(t, "alice's recent record", rec, err, 2)

	_, err = bob.recs.Lookup(ctx, newWriter(t).ID())
	wantKind(t, "lookup of a folder never published", err, storage.NotExist)
}

func ids(ps []storage.PeerID) []string {
	var out []string
	for _, p := range ps {
		out = append(out, string(p))
	}
	return out
}

// TestOutvoted: a holder serving an old record, one serving a forged one,
// one serving another folder's record, one serving garbage and one
// serving the owner's key's record that jumps too far ahead are all
// outvoted by the honest holder; when every holder serves the old record,
// the DHT outvotes them.
func TestOutvoted(t *testing.T) {
	peers, users := cluster(t, 8, 2)
	alice, bob := users[0], users[1]
	ctx := context.Background()
	w := newWriter(t)
	key := cryptree.RecordKey(w.ID())
	r1 := sign(t, w, 1, "one")
	r2 := sign(t, w, 2, "two")
	for _, r := range []*cryptree.Record{r1, r2} {
		if err := alice.recs.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitDHT(t, bob, w.ID(), 2)
	hs, err := bob.recs.Holders(ctx, key)
	if err != nil || len(hs) != Replicas {
		t.Fatalf("holders: %v, %v", hs, err)
	}
	forged := *r2
	forged.Seq = 100
	other := sign(t, newWriter(t), 50, "another folder")
	jump := sign(t, w, 2+cryptree.MaxSeqStep+1, "too far")
	lies := [][]byte{r1.Marshal(), forged.Marshal(), other.Marshal(), []byte("garbage"), jump.Marshal()}
	set := func(p storage.PeerID, v []byte) {
		t.Helper()
		if err := memberOf(t, peers, p).kv.Set(ctx, []byte("pointer/rec/"+key), v); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range lies {
		set(hs[i], v)
	}
	rec, err := bob.recs.Lookup(ctx, w.ID())
	wantSeq(t, "lookup among lying holders", rec, err, 2)
	if !bytes.Equal(rec.Value, []byte("two")) {
		t.Fatalf("lookup returned %q", rec.Value)
	}

	for _, p := range hs {
		set(p, r1.Marshal())
	}
	bob.recs.Forget(w.ID())
	rec, err = bob.recs.Lookup(ctx, w.ID())
	wantSeq(t, "lookup with every holder rolled back", rec, err, 2)
}

// TestDHTFallback: with no storage peer a publish waits for the DHT and a
// lookup finds the record there; when a folder's holders are gone, a
// lookup still finds it in the DHT.
func TestDHTFallback(t *testing.T) {
	t.Run("no storage peers", func(t *testing.T) {
		_, users := cluster(t, 0, 4)
		ctx := context.Background()
		w := newWriter(t)
		if err := users[0].recs.Publish(ctx, sign(t, w, 1, "one")); err != nil {
			t.Fatalf("publish without holders: %v", err)
		}
		rec, err := users[1].recs.Lookup(ctx, w.ID())
		wantSeq(t, "lookup through the DHT", rec, err, 1)
	})
	t.Run("holders gone", func(t *testing.T) {
		peers, users := cluster(t, 8, 2)
		alice := users[0]
		ctx := context.Background()
		w := newWriter(t)
		key := cryptree.RecordKey(w.ID())
		if err := alice.recs.Publish(ctx, sign(t, w, 1, "one")); err != nil {
			t.Fatal(err)
		}
		waitDHT(t, users[1], w.ID(), 1)
		hs, err := alice.recs.Holders(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var left []*member
		for _, p := range peers {
			if strings.Contains(strings.Join(ids(hs), ","), string(p.node.ID())) {
				p.close()
			} else {
				left = append(left, p)
			}
		}
		// A user who joins now through a remaining peer knows none of the
		// old holders: it asks the two left (which never held the record)
		// and the DHT.
		carol := newMember(t, left[0].node.Addrs(), false)
		if ps, err := carol.node.WaitPeers(ctx, pointer.ProtocolID, len(left), 30*time.Second); err != nil || len(ps) < len(left) {
			t.Fatalf("carol sees %d storage peers: %v", len(ps), err)
		}
		rec, err := carol.recs.Lookup(ctx, w.ID())
		wantSeq(t, "lookup with the holders gone", rec, err, 1)
		// And alice, who still lists the old holders, too.
		alice.recs.Forget(w.ID())
		rec, err = alice.recs.Lookup(ctx, w.ID())
		wantSeq(t, "alice's lookup with the holders gone", rec, err, 1)
	})
}

// ours counts the goroutines running this package's background work.
func ours() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "network/records.(*publisher).run") || strings.Contains(g, "network/records.(*Client).spawn") {
			n++
		}
	}
	return n
}

// TestCloseStopsPublisher: the background DHT copies are the client's;
// Close stops them (even mid-put and mid-wait) and waits, and nothing
// starts afterwards.
func TestCloseStopsPublisher(t *testing.T) {
	_, users := cluster(t, 7, 1)
	alice := users[0]
	ctx := context.Background()
	var ws []cryptree.Writer
	for i := range 5 {
		w := newWriter(t)
		ws = append(ws, w)
		if err := alice.recs.Publish(ctx, sign(t, w, 1, "one")); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if err := alice.recs.Publish(ctx, sign(t, w, 2, "two")); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if n := ours(); n == 0 {
		t.Fatal("no DHT copy running after five publishes")
	}
	start := time.Now()
	alice.recs.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if n := ours(); n != 0 {
		t.Fatalf("%d background goroutines outlived Close", n)
	}
	err := alice.recs.Publish(ctx, sign(t, ws[0], 3, "three"))
	wantKind(t, "publish after Close", err, storage.Unavailable)
	alice.recs.Forget(ws[0].ID())
	_, err = alice.recs.Lookup(ctx, ws[0].ID())
	wantKind(t, "lookup after Close", err, storage.Unavailable)
	if n := ours(); n != 0 {
		t.Fatalf("%d goroutines started after Close", n)
	}
	alice.recs.dht.publish(sign(t, ws[1], 3, "three"))
	if n := ours(); n != 0 || len(alice.recs.dht.running) != 0 {
		t.Fatalf("a DHT copy started after Close (%d goroutines)", n)
	}
}

// TestInbox: a message sent to a user lands on the inbox's holders, its
// owner fetches it once and deletes it everywhere.
func TestInbox(t *testing.T) {
	peers, users := cluster(t, 8, 2)
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alice := users[0].recs.Inbox(priv)
	bob := users[1].recs.Inbox(nil)
	msg := []byte("a sealed share")
	if err := bob.Send(ctx, pub, msg); err != nil {
		t.Fatal(err)
	}
	inbox := cryptree.InboxID(pub)
	hs, err := users[1].recs.holders(ctx, inbox[:])
	if err != nil || len(hs) != Replicas {
		t.Fatalf("inbox holders: %v, %v", hs, err)
	}
	for _, p := range hs {
		ms, err := users[1].ptr.InboxList(ctx, p, inbox)
		if err != nil || len(ms) != 1 {
			t.Fatalf("holder %s lists %d messages: %v", p.Short(), len(ms), err)
		}
	}
	got, err := alice.Fetch(ctx)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, msg) || got[0].ID != pointer.MessageID(msg) {
		t.Fatalf("fetch: %d messages, %v", len(got), err)
	}
	if err := alice.Delete(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Fetch(ctx); err != nil || len(got) != 0 {
		t.Fatalf("fetch after delete: %d messages, %v", len(got), err)
	}
	// Deleting again is not an error; without the owner's key there is
	// nothing to fetch or delete.
	if err := alice.Delete(ctx, pointer.MessageID(msg)); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err = bob.Fetch(ctx)
	wantKind(t, "fetch without the owner's key", err, storage.Invalid)
	wantKind(t, "delete without the owner's key", bob.Delete(ctx, got[0].ID), storage.Invalid)

	// With every holder gone, a send fails.
	for _, p := range peers {
		p.close()
	}
	err = bob.Send(ctx, pub, msg)
	wantKind(t, "send with no holder", err, storage.Unavailable)
}
