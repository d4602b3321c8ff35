package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cryptreeCluster starts 16 storage daemons and the daemons of alice, bob
// and carol, and returns their homes and the bootstrap address.
func cryptreeCluster(t *testing.T, c *cluster) (users map[string]string, recovery map[string]string, boot string, procs map[string]*proc) {
	const storers = 16
	homes := make([]string, storers)
	for i := range homes {
		homes[i] = c.newHome(fmt.Sprintf("peer%02d", i))
	}
	procs = map[string]*proc{}
	procs["peer00"] = c.start(homes[0])
	boot = strings.Fields(c.ok(homes[0], "id", "--addrs"))[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 1; i < storers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := c.start(homes[i], "--bootstrap", boot)
			mu.Lock()
			procs[fmt.Sprintf("peer%02d", i)] = p
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	users, recovery = map[string]string{}, map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		home := filepath.Join(c.dir, u)
		var out map[string]string
		if err := json.Unmarshal([]byte(c.ok(home, "init", "--json")), &out); err != nil {
			t.Fatal(err)
		}
		users[u], recovery[u] = home, out["recovery"]
		procs[u] = c.start(home, "--bootstrap", boot)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		c.waitStoragePeers(users[u], storers)
	}
	return users, recovery, boot, procs
}

// eventually retries f until it returns "" or the time is up.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (c *cluster) userID(home string) string {
	return strings.TrimSpace(c.ok(home, "id"))
}

func (c *cluster) put(home, content, remote string) {
	c.t.Helper()
	r := c.cairn(home, strings.NewReader(content), "put", "-", remote)
	if r.code != 0 {
		c.t.Fatalf("put %s: exit %d: %s", remote, r.code, r.stderr)
	}
}

func (c *cluster) cat(home, remote string, extra ...string) result {
	return c.cairn(home, nil, append(append([]string{"get"}, extra...), remote, "-")...)
}

// TestSharing drives Cryptree through the CLI with real daemons: read and
// write grants, a reader's write refused, a writer's update seen by the
// owner, versions, links (and a tampered one), moving a shared folder,
// sharing a single file, revocation, what storage peers see, and recovery
// of the whole drive from the recovery secret.
func TestSharing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 19 daemon processes")
	}
	c := &cluster{t: t, dir: t.TempDir()}
	defer c.cleanup()
	users, recovery, boot, procs := cryptreeCluster(t, c)
	alice, bob, carol := users["alice"], users["bob"], users["carol"]
	secret := map[string]string{ // plaintext that must never reach a storage peer
		"/holiday/beach-notes.txt":   "holiday secret alpha: the beach at dawn",
		"/holiday/sub/map-guide.txt": "holiday secret beta: the hidden cove",
		"/private/passwords.txt":     "private secret gamma: nobody else reads this",
	}
	for p, s := range secret {
		c.put(alice, s, p)
	}
	bobID, carolID := c.userID(bob), c.userID(carol)

	// Read grant to bob, write grant to carol. Alice's first shares wait
	// until each accepts them: bob by name, carol all of alice's.
	aliceID := c.userID(alice)
	c.ok(alice, "share", "/holiday", "--with", bobID)
	c.ok(alice, "share", "/holiday", "--with", carolID, "--write")
	eventually(t, "bob is offered the share", func() string {
		var sh struct {
			Pending []struct{ Name, From string }
		}
		if err := json.Unmarshal([]byte(c.ok(bob, "shares", "--json")), &sh); err != nil {
			return err.Error()
		}
		if len(sh.Pending) != 1 || sh.Pending[0].Name != "holiday" || !strings.HasPrefix(aliceID, sh.Pending[0].From) {
			return fmt.Sprintf("pending: %+v", sh.Pending)
		}
		return ""
	})
	if r := c.cat(bob, "/shared/holiday/beach-notes.txt"); r.code == 0 {
		t.Fatal("bob reads a share he has not accepted")
	}
	c.ok(bob, "accept", "holiday")
	eventually(t, "carol is offered the share", func() string {
		if r := c.cairn(carol, nil, "accept", "--from", aliceID); r.code != 0 {
			return r.stderr
		}
		return ""
	})
	eventually(t, "bob sees the share", func() string {
		r := c.cat(bob, "/shared/holiday/beach-notes.txt")
		if r.code != 0 || r.stdout != secret["/holiday/beach-notes.txt"] {
			return fmt.Sprintf("exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		return ""
	})
	if r := c.cat(bob, "/shared/holiday/sub/map-guide.txt"); r.stdout != secret["/holiday/sub/map-guide.txt"] {
		t.Fatalf("bob reads the subfolder: exit %d %s", r.code, r.stderr)
	}
	var ls []map[string]any
	if err := json.Unmarshal([]byte(c.ok(bob, "ls", "-r", "/", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	for _, e := range ls {
		if strings.Contains(e["path"].(string), "private") || strings.Contains(e["path"].(string), "passwords") {
			t.Fatalf("bob's drive shows %v", e["path"])
		}
	}
	if r := c.cairn(bob, strings.NewReader("bob was here"), "put", "-", "/shared/holiday/bob.txt"); r.code == 0 {
		t.Fatal("a read-only grantee could write")
	}
	eventually(t, "carol sees the share", func() string {
		if r := c.cat(carol, "/shared/holiday/beach-notes.txt"); r.code != 0 {
			return r.stderr
		}
		return ""
	})
	c.put(carol, "carol's addition", "/shared/holiday/carol.txt")
	// Nodes use a record they saw in the last 2 s without asking again, so
	// the owner sees the writer's change within about that long.
	eventually(t, "owner sees the writer's update", func() string {
		if r := c.cat(alice, "/holiday/carol.txt"); r.code != 0 || r.stdout != "carol's addition" {
			return fmt.Sprintf("exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		return ""
	})

	// Versions.
	c.put(alice, "v2", "/holiday/beach-notes.txt")
	c.put(alice, "v3", "/holiday/beach-notes.txt")
	var vs []map[string]any
	if err := json.Unmarshal([]byte(c.ok(alice, "versions", "/holiday/beach-notes.txt", "--json")), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Fatalf("versions: %v", vs)
	}
	if r := c.cat(alice, "/holiday/beach-notes.txt", "--version", "1"); r.stdout != secret["/holiday/beach-notes.txt"] {
		t.Fatalf("get --version 1: exit %d %q", r.code, r.stdout)
	}
	if r := c.cat(alice, "/holiday/beach-notes.txt"); r.stdout != "v3" {
		t.Fatalf("current version: %q", r.stdout)
	}

	// A link, read from a home that was never initialised.
	link := strings.TrimSpace(c.ok(alice, "share", "/holiday", "--link"))
	if !strings.HasPrefix(link, "cairn://") {
		t.Fatalf("link %q", link)
	}
	stranger := filepath.Join(c.dir, "stranger")
	out := filepath.Join(c.dir, "from-link")
	r := c.cairn(stranger, nil, "get", link, out, "--bootstrap", boot)
	if r.code != 0 {
		t.Fatalf("get LINK: exit %d %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "sub", "map-guide.txt")); err != nil || string(b) != secret["/holiday/sub/map-guide.txt"] {
		t.Fatalf("link download: %v %q", err, b)
	}
	// From a home whose daemon runs (and was started with --bootstrap,
	// so its config names no peer), the link needs no --bootstrap.
	out = filepath.Join(c.dir, "from-link-bob")
	if r := c.cairn(bob, nil, "get", link, out); r.code != 0 {
		t.Fatalf("get LINK through a running daemon: exit %d %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "sub", "map-guide.txt")); err != nil || string(b) != secret["/holiday/sub/map-guide.txt"] {
		t.Fatalf("link download through a running daemon: %v %q", err, b)
	}
	i := strings.Index(link, "://") + 8
	tampered := link[:i] + string("abcdefghijklmnopqrstuvwxyz234567"[(strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", link[i])+1)%32]) + link[i+1:]
	if r := c.cairn(stranger, nil, "get", tampered, filepath.Join(c.dir, "x"), "--bootstrap", boot); r.code != 6 {
		t.Fatalf("tampered link: exit %d (%s), want 6", r.code, r.stderr)
	}

	// Move the shared folder: the grantees keep reading it.
	c.ok(alice, "mkdir", "/trips")
	c.ok(alice, "mv", "/holiday", "/trips/holiday")
	if r := c.cat(bob, "/shared/holiday/sub/map-guide.txt"); r.code != 0 {
		t.Fatalf("bob after the move: exit %d %s", r.code, r.stderr)
	}

	// A single file.
	c.ok(alice, "share", "/private/passwords.txt", "--with", carolID)
	eventually(t, "carol sees the shared file", func() string {
		r := c.cat(carol, "/shared/passwords.txt")
		if r.code != 0 || r.stdout != secret["/private/passwords.txt"] {
			return fmt.Sprintf("exit %d %s", r.code, r.stderr)
		}
		return ""
	})
	if r := c.cairn(carol, nil, "ls", "-r", "/"); strings.Contains(r.stdout, "private") {
		t.Fatalf("a single-file grant shows its folder:\n%s", r.stdout)
	}

	// Revoke the link and bob; carol keeps access. (Revoking anyone
	// re-keys the folder, which also ends every link to it: a link cannot
	// be given new keys.)
	c.ok(alice, "unshare", "/trips/holiday", "--link", link)
	c.ok(alice, "unshare", "/trips/holiday", "--from", bobID)
	c.put(alice, "written after the revocation", "/trips/holiday/after.txt")
	if r := c.cat(bob, "/shared/holiday/after.txt"); r.code == 0 {
		t.Fatal("revoked bob reads data written after the revocation")
	}
	// What bob could read before the revocation he may still read from a
	// folder record his node saw in the last 2 s (the record cache), and
	// no longer.
	for start := time.Now(); ; time.Sleep(300 * time.Millisecond) {
		if r := c.cat(bob, "/shared/holiday/sub/map-guide.txt"); r.code != 0 {
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Logf("bob lost the re-keyed folder %v after the revocation", d.Round(time.Millisecond))
			}
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("revoked bob still reads the re-keyed folder after 10 s")
		}
	}
	if r := c.cairn(stranger, nil, "get", link, filepath.Join(c.dir, "from-link-2"), "--bootstrap", boot); r.code == 0 {
		t.Fatal("a revoked link still reads the folder")
	}
	eventually(t, "carol keeps access after the re-keying", func() string {
		r := c.cat(carol, "/shared/holiday/after.txt")
		if r.code != 0 || r.stdout != "written after the revocation" {
			return fmt.Sprintf("exit %d %s", r.code, r.stderr)
		}
		return ""
	})

	// What storage peers hold: no name and no content in plaintext.
	var before []map[string]any
	if err := json.Unmarshal([]byte(c.ok(alice, "ls", "-r", "/", "--json")), &before); err != nil {
		t.Fatal(err)
	}
	scanned := 0
	for name, p := range procs {
		if !strings.HasPrefix(name, "peer") {
			continue
		}
		p.stop(t) // flush badger to its files
		needles := []string{"beach-notes", "map-guide", "passwords", "holiday secret", "private secret", "carol's addition"}
		_ = filepath.Walk(filepath.Join(p.home, dbDir), func(path string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			scanned += len(b)
			for _, n := range needles {
				if bytes.Contains(b, []byte(n)) {
					t.Errorf("storage peer %s holds %q in plaintext in %s", name, n, path)
				}
			}
			return nil
		})
		if name != "peer00" && len(procs) > 0 {
			c.start(p.home, "--bootstrap", boot) // back for the recovery below
		}
	}
	if scanned < 1<<20 {
		t.Fatalf("scanned only %d bytes of storage peers' databases: the scan proves nothing", scanned)
	}
	t.Logf("scanned %d bytes of 16 storage peers' databases: no plaintext name or content", scanned)
	procs["peer00"] = c.start(filepath.Join(c.dir, "peer00"), "--listen", strings.Split(boot, "/p2p/")[0])
	c.waitStoragePeers(alice, 16)

	// Recovery: alice loses her machine; the recovery secret brings back
	// the whole drive, versions included.
	procs["alice"].kill()
	if err := os.RemoveAll(alice); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(c.dir, "alice-new")
	rc := exec2(c, fresh, recovery["alice"])
	if rc.code != 0 {
		t.Fatalf("init --recover: exit %d %s", rc.code, rc.stderr)
	}
	c.start(fresh, "--bootstrap", boot)
	c.waitStoragePeers(fresh, 16)
	eventually(t, "recovered drive lists the same tree", func() string {
		var after []map[string]any
		r := c.cairn(fresh, nil, "ls", "-r", "/", "--json")
		if r.code != 0 {
			return r.stderr
		}
		if err := json.Unmarshal([]byte(r.stdout), &after); err != nil {
			return err.Error()
		}
		if len(after) != len(before) {
			return fmt.Sprintf("%d entries, want %d", len(after), len(before))
		}
		return ""
	})
	if r := c.cat(fresh, "/trips/holiday/beach-notes.txt", "--version", "1"); r.stdout != secret["/holiday/beach-notes.txt"] {
		t.Fatalf("recovered version 1: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// exec2 runs init --recover with the secret in $CAIRN_RECOVERY.
func exec2(c *cluster, home, secret string) result {
	os.Setenv("CAIRN_RECOVERY", secret)
	defer os.Unsetenv("CAIRN_RECOVERY")
	return c.cairn(home, nil, "init", "--recover", "--json")
}
