package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/badgerstore"
)

// setMaintenance writes a short lease and a fast audit loop into home's
// config.json (the test's clock: a lease of seconds, not 30 days).
func setMaintenance(t *testing.T, home, lease string) {
	t.Helper()
	p := filepath.Join(home, "config.json")
	var cfg map[string]any
	b, err := os.ReadFile(p)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg["lease"], cfg["audit_every"], cfg["audit_budget"], cfg["audit_pass"], cfg["audit_prove"] = lease, "1s", 4000, "2s", "5s"
	if b, err = json.Marshal(cfg); err == nil {
		err = os.WriteFile(p, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// checkJSONOf runs `cairn check --json [args]` and indexes it by path.
func (c *cluster) checkJSON(home string, args ...string) map[string]map[string]any {
	c.t.Helper()
	var fs []map[string]any
	if err := json.Unmarshal([]byte(c.ok(home, append([]string{"check", "--json"}, args...)...)), &fs); err != nil {
		c.t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, f := range fs {
		out[f["path"].(string)] = f
	}
	return out
}

// unhealthy says which files of a check are not at full health (min_healthy
// below full), "" if none.
func unhealthy(fs map[string]map[string]any, full int) string {
	var bad []string
	for p, f := range fs {
		if f["ok"] != true || (f["chunks"].(float64) > 0 && int(f["min_healthy"].(float64)) < full) {
			bad = append(bad, fmt.Sprintf("%s %v/%v ok=%v (audits failed %v, away %v) %v", p, f["min_healthy"], f["needed"], f["ok"], f["audits_failed"], f["audits_away"], f["error"]))
		}
	}
	return strings.Join(bad, "; ")
}

// TestKeepAlive runs 22 storage daemons and one client as real processes
// with a lease of seconds and an audit loop of a second, and shows that
// files are kept alive and garbage goes: after `rm -r` and the lease the
// peers' stored bytes fall back; a peer away for a while is counted again,
// not re-uploaded; one that drops fragments, one that corrupts them and
// one whose database is wiped are caught by audits, lose score and are
// repaired around (and excluded: a run of failed audits); after 4 more
// die, `check --repair` brings every chunk back to full health on the 16
// left; everything reads back intact throughout.
func TestKeepAlive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 23 daemon processes")
	}
	c := &cluster{t: t, dir: t.TempDir()}
	defer c.cleanup()
	// 22: after 4 die and the 2 that lost data are excluded, 16 are left
	// to bring every chunk back to 16.
	const storers, full, k = 22, 16, 10
	const lease = 20 * time.Second
	homes := make([]string, storers)
	procs := make([]*proc, storers)
	for i := range homes {
		homes[i] = c.newHome(fmt.Sprintf("peer%02d", i))
		setMaintenance(t, homes[i], lease.String())
	}
	alice := c.newHome("alice")
	setMaintenance(t, alice, lease.String())
	procs[0] = c.start(homes[0])
	boot := strings.Fields(c.ok(homes[0], "id", "--addrs"))[0]
	var wg sync.WaitGroup
	for i := 1; i < storers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			procs[i] = c.start(homes[i], "--bootstrap", boot)
		}(i)
	}
	wg.Wait()
	c.start(alice, "--bootstrap", boot)
	c.waitStoragePeers(alice, storers)
	peerID := make([]string, storers)
	for i, h := range homes {
		peerID[i] = c.status(h)["peer_id"].(string)
	}
	stored := func() (sum int64) {
		for i, h := range homes {
			select {
			case <-procs[i].done:
				continue
			default:
			}
			sum += int64(c.status(h)["stored_for_others_bytes"].(float64))
		}
		return sum
	}

	src := filepath.Join(c.dir, "src")
	writeRandom(t, filepath.Join(src, "keep", "a.bin"), 1, 3<<20)
	for i := 0; i < 5; i++ {
		writeRandom(t, filepath.Join(src, "keep", "tree", fmt.Sprintf("f%d", i)), uint64(10+i), 100<<10+i)
	}
	for i := 0; i < 6; i++ {
		writeRandom(t, filepath.Join(src, "gc", fmt.Sprintf("g%d", i)), uint64(20+i), 500<<10)
	}
	c.ok(alice, "put", filepath.Join(src, "keep"), "/keep")
	before := stored()
	c.ok(alice, "put", filepath.Join(src, "gc"), "/gc")
	withGC := stored()
	if withGC < before+(3<<20)*full/k {
		t.Fatalf("putting 3 MiB raised the peers' stored bytes from %d to %d only", before, withGC)
	}
	fs := c.checkJSON(alice)
	if msg := unhealthy(fs, full); msg != "" || len(fs) != 12 {
		t.Fatalf("check after the puts: %d files; unhealthy: %s", len(fs), msg)
	}
	if f := fs["/keep/a.bin"]; f["needed"].(float64) != k || f["chunks"].(float64) < 1 {
		t.Fatalf("check --json of a.bin: %v", f)
	}

	// Garbage collection: removed, the tree is no longer renewed, and
	// once the lease has run out the peers hold what they held before.
	c.ok(alice, "rm", "-r", "/gc")
	deadline := time.Now().Add(lease + 60*time.Second)
	for {
		now := stored()
		if float64(now) <= 1.05*float64(before) {
			t.Logf("GC: stored for others %d before the tree, %d with it, %d after rm -r and the lease", before, withGC, now)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after rm -r and %v the peers still hold %d bytes (%d before the tree, %d with it)", time.Since(deadline.Add(-lease-60*time.Second)), now, before, withGC)
		}
		time.Sleep(time.Second)
	}
	// What is kept was renewed all along.
	if msg := unhealthy(c.checkJSON(alice, "/keep"), full); msg != "" {
		t.Fatalf("the kept files after the lease period: %s", msg)
	}
	got := filepath.Join(c.dir, "got1")
	c.ok(alice, "get", "/keep", got)
	sameTree(t, filepath.Join(src, "keep"), got)

	// A peer away for a short while: counted, not repaired; back, its
	// fragments count again and nothing was uploaded anew.
	held := stored()
	procs[1].stop(t)
	fs = c.checkJSON(alice, "/keep")
	for p, f := range fs {
		if f["ok"] != true || f["repaired"].(float64) != 0 {
			t.Fatalf("with one peer away, %s: %v (want ok, nothing repaired)", p, f)
		}
	}
	procs[1] = c.start(homes[1], "--bootstrap", boot)
	c.waitStoragePeers(alice, storers)
	eventually(t, "the peer back from its outage counted again", func() string {
		return unhealthy(c.checkJSON(alice, "/keep"), full)
	})
	// (Leases of the removed tree may still be running out: the bytes
	// held can only have gone down.)
	if now := stored(); now > held {
		t.Fatalf("a peer's outage raised what the peers hold from %d to %d: re-uploaded", held, now)
	}

	// A peer that silently dropped half its fragments and damaged the
	// rest (its database edited while it was stopped), and one whose database
	// was wiped (same identity): audits catch both, repair works around.
	procs[2].stop(t)
	db, err := badgerstore.Open(filepath.Join(homes[2], "db"), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var refs []storage.Ref
	_ = db.Fragments().List(context.Background(), func(r storage.Ref, _ int64) error {
		refs = append(refs, r)
		return nil
	})
	if len(refs) < 2 {
		t.Fatalf("peer 2 holds %d fragments; the test wants 2 at least", len(refs))
	}
	// Every other fragment dropped, the rest damaged: both kinds hit
	// fragments of the kept files (a.bin alone spreads over 16 peers).
	for j, r := range refs {
		if j%2 == 0 {
			err = db.Fragments().Delete(context.Background(), r)
		} else {
			err = db.Fragments().Corrupt(r, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	procs[3].stop(t)
	if err := os.RemoveAll(filepath.Join(homes[3], "db")); err != nil {
		t.Fatal(err)
	}
	procs[2] = c.start(homes[2], "--bootstrap", boot)
	procs[3] = c.start(homes[3], "--bootstrap", boot)
	c.waitStoragePeers(alice, storers)
	// The audit loop catches them: their scores fall. One lost fragment
	// a chunk leaves 15 of 16, above the repair threshold (K+2): the loop
	// waits, as it should; a forced check repairs at once.
	peers := func() map[string]map[string]any {
		var ps []map[string]any
		if err := json.Unmarshal([]byte(c.ok(alice, "peers", "--json")), &ps); err != nil {
			t.Fatal(err)
		}
		byID := map[string]map[string]any{}
		for _, p := range ps {
			byID[p["peer_id"].(string)] = p
		}
		return byID
	}
	eventually(t, "audits catch the dropping, corrupting and wiped peers", func() string {
		byID := peers()
		for _, i := range []int{2, 3} {
			p := byID[peerID[i]]
			if p == nil || p["audits_failed"].(float64) < 1 || p["score"] == nil || p["score"].(float64) >= 1 ||
				p["state"] != "excluded" || p["reason"] == nil {
				return fmt.Sprintf("peer %d in peers --json: %v (want excluded, with a reason)", i, p)
			}
		}
		return ""
	})
	if p := peers()[peerID[5]]; p == nil || p["audits_failed"].(float64) != 0 || p["score"] == nil || p["state"] != "good" {
		t.Fatalf("an honest peer in peers --json: %v", p)
	}
	if msg := unhealthy(c.checkJSON(alice, "--repair", "/keep"), full); msg != "" {
		t.Fatalf("check --repair around the bad peers: %s", msg)
	}
	got = filepath.Join(c.dir, "got2")
	c.ok(alice, "get", "/keep", got)
	sameTree(t, filepath.Join(src, "keep"), got)

	// Four die at once: a forced check --repair tops every chunk up to
	// full health on the sixteen left that are not excluded.
	for _, i := range []int{4, 5, 6, 7} {
		procs[i].kill()
	}
	fs = c.checkJSON(alice, "--repair", "/")
	if msg := unhealthy(fs, full); msg != "" {
		t.Fatalf("check --repair after 4 of 22 died: %s", msg)
	}
	repaired := 0
	for _, f := range fs {
		repaired += int(f["repaired"].(float64))
	}
	if repaired == 0 {
		t.Fatal("check --repair after 4 of 22 died repaired nothing")
	}
	if msg := unhealthy(c.checkJSON(alice), full); msg != "" {
		t.Fatalf("a check after the repair: %s", msg)
	}
	got = filepath.Join(c.dir, "got3")
	c.ok(alice, "get", "/keep", got)
	sameTree(t, filepath.Join(src, "keep"), got)
	if out := c.ok(alice, "check", "/keep"); !strings.Contains(out, "/keep/a.bin") || !strings.Contains(out, "ok") {
		t.Fatalf("check's text output:\n%s", out)
	}
	if q := c.status(alice)["repair_queue"].(float64); q != 0 {
		t.Fatalf("repair_queue %v after a full repair", q)
	}
}
