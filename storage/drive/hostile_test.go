package drive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// Tests of what a hostile owner of a share, or a hostile write grantee,
// can do to the other side with nothing but the keys they legitimately
// hold: they run their own code, so these tests edit folders through the
// package's internals, below every check Tree's own writes make.

// errRunaway stops a walk that does not end by itself.
var errRunaway = errors.New("the walk did not stop by itself")

// hostileOpen opens folder p of u's tree, as u's own code would.
func hostileOpen(t *testing.T, u *user, p string) (*op, *node) {
	t.Helper()
	ctx := context.Background()
	o := u.tree.newOp()
	parent, d, _, err := o.lookup(ctx, p)
	if err != nil || d == nil {
		t.Fatalf("hostile: lookup %s: %v", p, err)
	}
	n, err := o.child(ctx, parent, d)
	if err != nil {
		t.Fatalf("hostile: open %s: %v", p, err)
	}
	return o, n
}

// hostileList makes folder p of u's tree list folder target of it under
// name: a cycle when target is p or one of its ancestors.
func hostileList(t *testing.T, u *user, p, name, target string) {
	t.Helper()
	o, n := hostileOpen(t, u, p)
	_, tn := hostileOpen(t, u, target)
	if tn.id == n.id {
		tn = n
	}
	label, err := newLabel(n)
	if err != nil {
		t.Fatal(err)
	}
	n.f.Dirs = append(n.f.Dirs, cryptree.DirEntry{Label: label, Name: name, ID: tn.id, SK: tn.keys.SK, Writer: tn.w})
	if err := o.save(context.Background(), n); err != nil {
		t.Fatalf("hostile: save %s: %v", p, err)
	}
}

// boundedWalk walks dir of ns and gives up (errRunaway) after max entries
// or 20 seconds.
func boundedWalk(ns interface {
	Walk(context.Context, string, func(Entry) error) error
}, dir string, max int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	err := ns.Walk(ctx, dir, func(e Entry) error {
		if n++; n > max || len(e.Path) > 1000 {
			return errRunaway
		}
		return nil
	})
	return n, err
}

func checkCycle(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, errRunaway) || !errors.Is(err, storage.Corrupt) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("%s: %v (kind %v), want a Corrupt error that names the cycle", what, err, kindOf(err))
	}
}

// A malicious owner shares a folder that lists itself (and one that lists
// its parent): the recipient's walks, through /shared and through a link,
// stop at once with a clear error instead of running until memory is gone.
func TestHostileSelfContainingShare(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/evil/a", "A")
	put(t, a.tree, "/evil/sub/b", "B")
	hostileList(t, a, "/evil", "me", "/evil")
	hostileList(t, a, "/evil/sub", "up", "/evil")
	if err := a.tree.Share(ctx, "/evil", b.id, false); err != nil {
		t.Fatal(err)
	}
	acceptAll(t, b, 1)
	_, err := boundedWalk(b.tree, "/shared/evil", 1000)
	checkCycle(t, "bob's walk of /shared/evil", err)
	_, err = boundedWalk(b.tree, "/shared", 1000)
	checkCycle(t, "bob's walk of /shared", err)
	// Reading single things still works, and the listing shows the loop.
	if read(t, b.tree, "/shared/evil/a") != "A" || read(t, b.tree, "/shared/evil/me/me/sub/b") != "B" {
		t.Fatal("bob cannot read the files")
	}

	link, err := a.tree.Link(ctx, "/evil")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cryptree.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}
	v, err := OpenCapability(ctx, e.objects, e.recs, c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = boundedWalk(v, "/", 1000)
	checkCycle(t, "the link's walk", err)

	// The owner's own walk refuses it too.
	_, err = boundedWalk(a.tree, "/", 1000)
	checkCycle(t, "alice's walk", err)
}

// The same folder listed in two places (a DAG, as a crash in the middle of
// a move can leave, or as a hostile owner can make to blow a walk up
// exponentially) is yielded in both places but entered once.
func TestHostileFolderListedTwice(t *testing.T) {
	e := newShareEnv(t)
	a := e.alice
	// Each level lists the next twice: without the check a walk would
	// yield 2^12 copies of the last folder.
	p := "/dag"
	var levels []string
	for i := 0; i < 12; i++ {
		p += "/x"
		levels = append(levels, p)
	}
	put(t, a.tree, p+"/leaf", "L")
	for _, l := range levels {
		hostileList(t, a, parentOf(l), "y", l)
	}
	n, err := boundedWalk(a.tree, "/dag", 10000)
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	// 12 x's, 12 y's, the leaf once.
	if n != 25 {
		t.Fatalf("walk yielded %d entries, want 25", n)
	}
}

// A write grantee makes the shared folder list itself and its subfolder
// list its parent: the owner's revocation, removal and usage still work
// (before, the re-key recursed until the stack overflowed and killed the
// daemon).
func TestHostileGranteeCycleRevoke(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/proj/plan", "P")
	put(t, a.tree, "/proj/sub/notes", "N")
	put(t, a.tree, "/proj2/x", "X")
	for _, p := range []string{"/proj", "/proj2"} {
		if err := a.tree.Share(ctx, p, b.id, true); err != nil {
			t.Fatal(err)
		}
	}
	acceptAll(t, b, 2)
	hostileList(t, b, "/shared/proj", "loop", "/shared/proj")
	hostileList(t, b, "/shared/proj/sub", "up", "/shared/proj")
	hostileList(t, b, "/shared/proj2", "loop", "/shared/proj2")

	if err := a.tree.Unshare(ctx, "/proj", b.id, ""); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	// The re-keyed copy dropped the entries that listed an ancestor.
	n, err := boundedWalk(a.tree, "/proj", 1000)
	if err != nil || n != 3 {
		t.Fatalf("alice's walk after the re-key: %d entries, %v; want 3", n, err)
	}
	if read(t, a.tree, "/proj/plan") != "P" || read(t, a.tree, "/proj/sub/notes") != "N" {
		t.Fatal("alice lost her files")
	}
	put(t, a.tree, "/proj/new", "new")

	// Removing a folder with a cycle in it works, and so does emptying
	// the trash.
	removed, err := a.tree.Remove(ctx, "/proj2", true)
	if err != nil || len(removed) != 1 {
		t.Fatalf("remove /proj2: %v, %v", removed, err)
	}
	if _, err := a.tree.Remove(ctx, TrashDir, true); err != nil {
		t.Fatalf("emptying the trash: %v", err)
	}
	d := driveOver(a.tree)
	if files, _, _, err := d.Usage(ctx); err != nil || files != 3 {
		t.Fatalf("usage: %d files, %v", files, err)
	}
}

// grantee returns the folder entry (ID, SK, Writer) through which user u
// holds p.
func grantee(t *testing.T, u *user, p string) *cryptree.DirEntry {
	t.Helper()
	_, d, _, err := u.tree.newOp().lookup(context.Background(), p)
	if err != nil || d == nil || d.Writer == nil {
		t.Fatalf("no write access to %s: %v", p, err)
	}
	return d
}

// A write grantee publishes a last record of the shared folder that is
// not a folder: with the highest sequence number there is (which peers
// now refuse, and which a node that held nothing may still take), one
// step ahead with garbage, or a tombstone. The owner still reads it,
// removes it and takes it back by revoking; afterwards it writes there
// again, and another device of the owner reads everything.
func TestHostileGranteeBricks(t *testing.T) {
	for _, c := range []struct {
		name  string
		seq   func(cur uint64) uint64
		value []byte
		// served: the record layer refuses the record, so the test
		// serves it as a DHT node that held nothing before might.
		served bool
	}{
		{"max seq, not a folder", func(uint64) uint64 { return ^uint64(0) }, []byte{0x7f, 1, 2, 3}, true},
		{"next seq, garbage body", func(cur uint64) uint64 { return cur + 1 }, append([]byte{valueInline}, randBytes(3, 300)...), false},
		{"next seq, tombstone", func(cur uint64) uint64 { return cur + 1 }, []byte{valueTombstone}, false},
		{"a step too far, locator of nothing", func(cur uint64) uint64 { return cur + cryptree.MaxSeqStep + 1 }, append([]byte{valueLocator}, randBytes(4, 60)...), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e := newShareEnv(t)
			a, b := e.alice, e.bob
			put(t, a.tree, "/proj/a", "A")
			put(t, a.tree, "/proj2/b", "B")
			for _, p := range []string{"/proj", "/proj2"} {
				if err := a.tree.Share(ctx, p, b.id, true); err != nil {
					t.Fatal(err)
				}
			}
			acceptAll(t, b, 2)
			bad := map[cryptree.FolderID]*cryptree.Record{}
			for _, p := range []string{"/shared/proj", "/shared/proj2"} {
				d := grantee(t, b, p)
				cur, err := e.recs.Lookup(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				rec, err := cryptree.SignRecord(*d.Writer, c.seq(cur.Seq), c.value)
				if err != nil {
					t.Fatal(err)
				}
				err = e.recs.Publish(ctx, rec)
				switch {
				case c.served && !errors.Is(err, storage.Exist):
					t.Fatalf("the record layer took a record %d seqs ahead: %v", rec.Seq-cur.Seq, err)
				case !c.served && err != nil:
					t.Fatal(err)
				}
				bad[d.ID] = rec
			}
			if c.served {
				e.recs.Serve(func(id cryptree.FolderID) *cryptree.Record { return bad[id] })
			}

			// The owner reads, and a write says what to do.
			if read(t, a.tree, "/proj/a") != "A" {
				t.Fatal("alice cannot read her folder")
			}
			if ls, err := a.tree.List(ctx, "/proj"); err != nil || len(ls) != 1 {
				t.Fatalf("list: %v, %v", ls, err)
			}
			_, err := a.tree.Commit(ctx, "/proj/c", inline("C"), time.Time{})
			if !errors.Is(err, storage.Corrupt) || !strings.Contains(err.Error(), "unshare") {
				t.Fatalf("a write to the damaged folder: %v, want Corrupt with a hint", err)
			}
			// Removes.
			if _, err := a.tree.Remove(ctx, "/proj2", true); err != nil {
				t.Fatalf("remove: %v", err)
			}
			// Revokes, and writes again.
			if err := a.tree.Unshare(ctx, "/proj", b.id, ""); err != nil {
				t.Fatalf("unshare: %v", err)
			}
			put(t, a.tree, "/proj/c", "C")
			if read(t, a.tree, "/proj/a") != "A" || read(t, a.tree, "/proj/c") != "C" {
				t.Fatal("alice lost her files")
			}
			// Another device of alice, which never saw the good record.
			other := e.open(t, a.kr, memstore.NewKV())
			if read(t, other, "/proj/a") != "A" || read(t, other, "/proj/c") != "C" {
				t.Fatal("alice's other device does not read her folder")
			}
			if ls, err := other.List(ctx, TrashDir); err != nil || len(ls) != 1 || ls[0].Name() != "proj2" {
				t.Fatalf("alice's trash: %v, %v", ls, err)
			}
		})
	}
}

// A device of the owner that never saw a good version of the damaged
// folder cannot read it, but can still take it back: the re-key makes it a
// new, empty folder the owner writes to again.
func TestHostileGranteeBricksFreshDevice(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b := e.alice, e.bob
	put(t, a.tree, "/proj/a", "A")
	if err := a.tree.Share(ctx, "/proj", b.id, true); err != nil {
		t.Fatal(err)
	}
	acceptAll(t, b, 1)
	d := grantee(t, b, "/shared/proj")
	cur, _ := e.recs.Lookup(ctx, d.ID)
	rec, _ := cryptree.SignRecord(*d.Writer, cur.Seq+1, append([]byte{valueInline}, randBytes(5, 200)...))
	if err := e.recs.Publish(ctx, rec); err != nil {
		t.Fatal(err)
	}
	fresh := e.user(t, a.kr, memstore.NewKV()).tree
	_, err := fresh.Stat(ctx, "/proj/a")
	if !errors.Is(err, storage.Corrupt) && !errors.Is(err, storage.CannotDecrypt) {
		t.Fatalf("stat on a fresh device: %v", err)
	}
	if err := fresh.Unshare(ctx, "/proj", b.id, ""); err != nil {
		t.Fatalf("unshare from a fresh device: %v", err)
	}
	put(t, fresh, "/proj/again", "again")
	if read(t, a.tree, "/proj/again") != "again" {
		t.Fatal("the first device does not see the folder taken back")
	}
}

// acceptAll receives u's inbox: want shares arrive.
func acceptAll(t *testing.T, u *user, want int) {
	t.Helper()
	receive(t, u, want)
}

// spam sends n made-up capabilities (of files that do not exist) from
// keyring kr to user id to.
func spam(t *testing.T, e *shareEnv, kr *cryptree.Keyring, to string, n int) {
	t.Helper()
	sh := &Sharing{Sign: kr.SigningKey(), Inbox: e.inboxes.of(kr)}
	var seed uint64 // randBytes seeds: unique per share of one sender
	for i := 0; i < n; i++ {
		c := &cryptree.Capability{Kind: cryptree.CapFile, Name: fmt.Sprintf("free-money-%d.txt", i),
			ID: cryptree.FolderID(randBytes(seed+uint64(3*i), 32)), Label: [16]byte(randBytes(seed+uint64(3*i+1), 16)), DK: cryptree.Key(randBytes(seed+uint64(3*i+2), 16))}
		if err := e.alice.tree.deliver(context.Background(), sh, to, cryptree.FolderID{}, c); err != nil {
			t.Fatal(err)
		}
	}
}

// Anyone who knows bob's user id can send him shares. Those of users he
// never accepted wait in a capped pending list and cost nothing under
// /shared; what he accepts appears there, and later shares of an accepted
// user arrive directly. Paths under /shared cost the lookups of the share
// they name, not one per received share.
func TestShareSpam(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b, c := e.alice, e.bob, e.carol
	spam(t, e, c.kr, b.id, 300)
	for i := 0; i < 20; i++ { // 20 more strangers
		spam(t, e, cryptree.KeyringFromRoot([32]byte{200, byte(i)}), b.id, 10)
	}
	if n, err := b.tree.Receive(ctx); err != nil || n != 0 {
		t.Fatalf("receive: %d, %v; want nothing under /shared", n, err)
	}
	if b.inbox.count() != 0 {
		t.Fatalf("%d messages left in the inbox", b.inbox.count())
	}
	ps, err := b.tree.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fromCarol := 0
	for _, p := range ps {
		if strings.HasPrefix(c.id, p.From) {
			fromCarol++
		}
	}
	if len(ps) != MaxPending || fromCarol != MaxPendingPerSender {
		t.Fatalf("%d pending (%d from carol); want %d (%d)", len(ps), fromCarol, MaxPending, MaxPendingPerSender)
	}
	if ls, err := b.tree.List(ctx, "/"); err != nil || len(ls) != 0 {
		t.Fatalf("bob's root shows %v, %v", ls, err)
	}
	if _, err := b.tree.Stat(ctx, "/shared/free-money-0.txt"); !errors.Is(err, storage.NotExist) {
		t.Fatalf("a pending share is visible: %v", err)
	}
	// Decline all of carol's; nothing of hers is left.
	if n, err := b.tree.Decline(ctx, nil, c.id); err != nil || n != MaxPendingPerSender {
		t.Fatalf("decline: %d, %v", n, err)
	}
	if _, err := b.tree.Decline(ctx, nil, c.id); !errors.Is(err, storage.NotExist) {
		t.Fatalf("declining again: %v", err)
	}

	// Alice, a friend: her first share waits, bob accepts it by her id,
	// her later ones arrive under /shared at once.
	put(t, a.tree, "/docs/0.txt", "doc 0")
	if err := a.tree.Share(ctx, "/docs/0.txt", b.id, false); err != nil {
		t.Fatal(err)
	}
	if n, err := b.tree.Receive(ctx); err != nil || n != 0 {
		t.Fatalf("receive from a new sender: %d, %v", n, err)
	}
	if got, err := b.tree.Accept(ctx, nil, a.id); err != nil || len(got) != 1 || got[0] != "0.txt" {
		t.Fatalf("accept: %v, %v", got, err)
	}
	const files = 60
	for i := 1; i < files; i++ {
		p := fmt.Sprintf("/docs/%d.txt", i)
		put(t, a.tree, p, "doc "+p)
		if err := a.tree.Share(ctx, p, b.id, false); err != nil {
			t.Fatal(err)
		}
	}
	put(t, a.tree, "/proj/deep/plan", "plan")
	if err := a.tree.Share(ctx, "/proj", b.id, false); err != nil {
		t.Fatal(err)
	}
	if n, err := b.tree.Receive(ctx); err != nil || n != files {
		t.Fatalf("receive from an accepted sender: %d, %v; want %d", n, err, files)
	}
	before := e.recs.Lookups()
	if read(t, b.tree, "/shared/proj/deep/plan") != "plan" {
		t.Fatal("bob cannot read the folder share")
	}
	if n := e.recs.Lookups() - before; n > 10 {
		t.Fatalf("reading one file under /shared took %d record lookups with %d shares received", n, files+1)
	}
	if ls, err := b.tree.List(ctx, "/shared"); err != nil || len(ls) != files+1 {
		t.Fatalf("bob's /shared lists %d entries, %v; want %d", len(ls), err, files+1)
	}
	if read(t, b.tree, "/shared/7.txt") != "doc /docs/7.txt" {
		t.Fatal("bob cannot read a file share")
	}
	// The bad names of the pending list are refused.
	if _, err := b.tree.Accept(ctx, []string{"no-such-share"}, ""); !errors.Is(err, storage.NotExist) {
		t.Fatalf("accepting a missing share: %v", err)
	}
	if _, err := b.tree.Accept(ctx, []string{"x"}, a.id); !errors.Is(err, storage.Invalid) {
		t.Fatalf("names and a user id: %v", err)
	}
}

// An accepted sender cannot grow the received list past what can be
// saved: over the cap its shares are dropped, the inbox is emptied, and
// shares of others still arrive.
func TestShareSpamFromAcceptedSender(t *testing.T) {
	ctx := context.Background()
	e := newShareEnv(t)
	a, b, c := e.alice, e.bob, e.carol
	put(t, a.tree, "/x", "X")
	if err := a.tree.Share(ctx, "/x", b.id, false); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1) // bob accepts alice
	spam(t, e, a.kr, b.id, MaxReceivedPerSender+50)
	if _, err := b.tree.Receive(ctx); err != nil {
		t.Fatalf("receive: %v", err)
	}
	if b.inbox.count() != 0 {
		t.Fatalf("%d messages left in the inbox", b.inbox.count())
	}
	rs, err := b.tree.Received(ctx)
	if err != nil || len(rs) != MaxReceivedPerSender {
		t.Fatalf("%d received, %v; want the cap %d", len(rs), err, MaxReceivedPerSender)
	}
	put(t, c.tree, "/y", "Y")
	if err := c.tree.Share(ctx, "/y", b.id, false); err != nil {
		t.Fatal(err)
	}
	receive(t, b, 1)
	if read(t, b.tree, "/shared/y") != "Y" {
		t.Fatal("carol's share did not arrive")
	}
}
