package main

// End-to-end tests: the cairn binary, built once, run as real daemon
// processes on 127.0.0.1 and driven only through the CLI contract.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var cairnBin string // built by TestMain for the end-to-end tests

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "cairn-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cairnBin = filepath.Join(dir, "cairn")
		out, err := exec.Command("go", "build", "-tags", "cairn_insecure_kdf", "-o", cairnBin, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building cairn: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// proc is a running daemon.
type proc struct {
	home string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

type cluster struct {
	t    *testing.T
	dir  string
	mu   sync.Mutex
	logs []*proc
}

func testEnv(home string) []string {
	env := append(os.Environ(), "CAIRN_PASSPHRASE=e2e-pass", "CAIRN_INSECURE_TEST_KDF=1", "CAIRN_HOME="+home)
	return env
}

type result struct {
	stdout, stderr string
	code           int
}

// cairn runs one CLI command against home.
func (c *cluster) cairn(home string, stdin io.Reader, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cairnBin, append([]string{"--home", home}, args...)...)
	cmd.Env = testEnv(home)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("cairn %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (c *cluster) ok(home string, args ...string) string {
	c.t.Helper()
	r := c.cairn(home, nil, args...)
	if r.code != 0 {
		c.t.Fatalf("cairn %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func (c *cluster) newHome(name string) string {
	c.t.Helper()
	home := filepath.Join(c.dir, name)
	c.ok(home, "init", "--json")
	return home
}

// start runs `cairn daemon` for home and waits until it answers.
func (c *cluster) start(home string, args ...string) *proc {
	c.t.Helper()
	all := append([]string{"--home", home, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false"}, args...)
	cmd := exec.Command(cairnBin, all...)
	cmd.Env = testEnv(home)
	p := &proc{home: home, cmd: cmd, log: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	c.logs = append(c.logs, p)
	c.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := c.cairn(home, nil, "id", "--addrs")
		if r.code == 0 && strings.Contains(r.stdout, "/ip4/127.0.0.1/") {
			return p
		}
		select {
		case <-p.done:
			c.t.Fatalf("daemon for %s exited early:\n%s", home, p.log)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("daemon for %s did not answer: %s\n%s", home, r.stderr, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) stop(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("daemon %s exited %d after SIGTERM:\n%s", p.home, code, p.log)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("daemon %s did not stop on SIGTERM", p.home)
		p.kill()
	}
}

func (c *cluster) cleanup() {
	for _, p := range c.logs {
		select {
		case <-p.done:
		default:
			p.kill()
		}
		if c.t.Failed() {
			tail := p.log.String()
			if len(tail) > 3000 {
				tail = tail[len(tail)-3000:]
			}
			c.t.Logf("log of %s:\n%s", filepath.Base(p.home), tail)
		}
	}
}

func (c *cluster) status(home string) map[string]any {
	c.t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(c.ok(home, "status", "--json")), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *cluster) waitStoragePeers(home string, want int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := c.status(home)
		if n := int(st["storage_peers"].(float64)); n >= want {
			return
		} else if time.Now().After(deadline) {
			c.t.Fatalf("%s sees %d storage peers, want %d", home, n, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func writeRandom(t *testing.T, path string, seed uint64, n int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// treeDigest maps relative path → SHA-256 of every file under root.
func treeDigest(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	da, db := treeDigest(t, a), treeDigest(t, b)
	if len(da) != len(db) {
		t.Fatalf("%s has %d files, %s has %d", a, len(da), b, len(db))
	}
	for k, v := range da {
		if db[k] != v {
			t.Fatalf("%s differs between %s and %s", k, a, b)
		}
	}
}

// TestEndToEnd runs 16 storage daemons and one client daemon as real
// processes, stores a 20 MiB file and a tree, kills m=6 storage daemons
// with SIGKILL, reads everything back, then checks exit 5 once fewer than
// k holders remain.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 17 daemon processes")
	}
	c := &cluster{t: t, dir: t.TempDir()}
	defer c.cleanup()

	// Contract checks that need no network.
	alice := c.newHome("alice")
	if r := c.cairn(alice, nil, "init"); r.code != 2 || !strings.HasPrefix(r.stderr, "cairn: ") {
		t.Fatalf("second init: exit %d, stderr %q; want 2 and a 'cairn: ' line", r.code, r.stderr)
	}
	if r := c.cairn(alice, nil, "status"); r.code != 5 || !strings.Contains(r.stderr, "hint: start it with 'cairn daemon'") {
		t.Fatalf("status without daemon: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := c.cairn(alice, nil, "put"); r.code != 2 {
		t.Fatalf("put without args: exit %d", r.code)
	}

	const storers = 16
	var procs []*proc
	homes := make([]string, storers)
	for i := range homes {
		homes[i] = c.newHome(fmt.Sprintf("peer%02d", i))
	}
	procs = append(procs, c.start(homes[0]))
	boot := strings.Fields(c.ok(homes[0], "id", "--addrs"))[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 1; i < storers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := c.start(homes[i], "--bootstrap", boot)
			mu.Lock()
			procs = append(procs, p)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	ap := c.start(alice, "--bootstrap", boot)
	c.waitStoragePeers(alice, storers)
	// 'peers' shows only what is measured: no audits have run, so no
	// score and no availability (null), never a made-up number.
	var ps []map[string]any
	if err := json.Unmarshal([]byte(c.ok(alice, "peers", "--json")), &ps); err != nil || len(ps) < storers {
		t.Fatalf("peers --json: %d peers, %v", len(ps), err)
	}
	for _, p := range ps {
		if s, ok := p["score"]; !ok || s != nil {
			t.Fatalf("peer %v has score %v before any audit; want null", p["peer_id"], s)
		}
		if a, ok := p["availability"]; !ok || a != nil {
			t.Fatalf("peer %v has availability %v before any probe; want null", p["peer_id"], a)
		}
	}
	if out := c.ok(alice, "peers"); !strings.Contains(out, "not measured yet") {
		t.Fatalf("peers does not say the scores are not measured:\n%s", out)
	}

	src := filepath.Join(c.dir, "src")
	big := writeRandom(t, filepath.Join(src, "big.bin"), 1, 20<<20)
	for i := 0; i < 25; i++ {
		writeRandom(t, filepath.Join(src, "tree", fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%02d.dat", i)), uint64(100+i), 1<<(8+i%14))
	}
	if err := os.MkdirAll(filepath.Join(src, "tree", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.ok(alice, "put", filepath.Join(src, "big.bin"), "/big.bin")
	var pr map[string]any
	if err := json.Unmarshal([]byte(c.ok(alice, "put", filepath.Join(src, "tree"), "/tree", "--json")), &pr); err != nil {
		t.Fatal(err)
	}
	if pr["files"].(float64) != 25 {
		t.Fatalf("put --json: %v", pr)
	}
	// stdin
	r := c.cairn(alice, strings.NewReader("hello from stdin\n"), "put", "-", "/notes/stdin.txt")
	if r.code != 0 {
		t.Fatalf("put -: %d %s", r.code, r.stderr)
	}
	var ls []map[string]any
	if err := json.Unmarshal([]byte(c.ok(alice, "ls", "-r", "/", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls) < 25+4+1+1 {
		t.Fatalf("ls -r / lists %d entries", len(ls))
	}
	st := c.status(alice)
	if st["used_bytes"].(float64) < 20<<20*1.5 {
		t.Fatalf("used_bytes %v after storing 20 MiB with a 10+6 code", st["used_bytes"])
	}

	checkAll := func(tag string) {
		out := filepath.Join(c.dir, "out-"+tag)
		c.ok(alice, "get", "/big.bin", filepath.Join(out, "big.bin"))
		got, err := os.ReadFile(filepath.Join(out, "big.bin"))
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("%s: big.bin came back different (%v)", tag, err)
		}
		c.ok(alice, "get", "/tree", filepath.Join(out, "tree"))
		sameTree(t, filepath.Join(src, "tree"), filepath.Join(out, "tree"))
		if _, err := os.Stat(filepath.Join(out, "tree", "empty")); err != nil {
			t.Fatalf("%s: empty folder not restored", tag)
		}
		if s := c.ok(alice, "get", "/notes/stdin.txt", "-"); s != "hello from stdin\n" {
			t.Fatalf("%s: get - printed %q", tag, s)
		}
	}
	checkAll("before")

	// Kill m = 6 storage daemons: everything must still come back.
	for _, p := range procs[:6] {
		p.kill()
	}
	checkAll("after-kill")

	// One more: 9 holders left, fewer than k = 10.
	procs[6].kill()
	r = c.cairn(alice, nil, "get", "/big.bin", filepath.Join(c.dir, "out-fail.bin"))
	if r.code != 5 {
		t.Fatalf("get with 9 of 16 holders: exit %d (stderr %q), want 5", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "out-fail.bin")); err == nil {
		t.Fatal("a failed get left a file behind")
	}
	r = c.cairn(alice, nil, "put", filepath.Join(src, "big.bin"), "/big2.bin")
	if r.code != 5 {
		t.Fatalf("put with 9 storage peers: exit %d (stderr %q), want 5", r.code, r.stderr)
	}
	if r := c.cairn(alice, nil, "ls", "/big2.bin"); r.code != 3 {
		t.Fatalf("failed put left /big2.bin visible (ls exit %d)", r.code)
	}
	if r := c.cairn(alice, nil, "get", "/nope", "-"); r.code != 3 {
		t.Fatalf("get of a missing file: exit %d", r.code)
	}
	ap.stop(t)
	for _, p := range procs[7:] {
		p.stop(t)
	}
}

// TestCrashResume kills the uploading daemon with SIGKILL in the middle of
// a put, restarts it, and checks the upload completes from the journal,
// and that the file is never visible half-written.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 17 daemon processes")
	}
	c := &cluster{t: t, dir: t.TempDir()}
	defer c.cleanup()
	const storers = 16
	homes := make([]string, storers)
	for i := range homes {
		homes[i] = c.newHome(fmt.Sprintf("peer%02d", i))
	}
	alice := c.newHome("alice")
	c.start(homes[0])
	boot := strings.Fields(c.ok(homes[0], "id", "--addrs"))[0]
	var wg sync.WaitGroup
	for i := 1; i < storers; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); c.start(homes[i], "--bootstrap", boot) }(i)
	}
	wg.Wait()
	ap := c.start(alice, "--bootstrap", boot)
	c.waitStoragePeers(alice, storers)

	src := filepath.Join(c.dir, "big.bin")
	data := writeRandom(t, src, 9, 160<<20)

	// Start the put and kill the daemon once a few chunks have landed.
	cmd := exec.Command(cairnBin, "--home", alice, "put", src, "/big.bin")
	cmd.Env = testEnv(alice)
	var perr bytes.Buffer
	cmd.Stderr = &perr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		st := c.status(alice)
		if st["pending_uploads"].(float64) >= 1 {
			time.Sleep(700 * time.Millisecond)
			ap.kill()
			killed = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatal("upload never showed as pending")
	}
	if cmd.ProcessState.ExitCode() == 0 {
		t.Skip("the upload finished before the daemon was killed; machine too fast for this test")
	}
	// Restart: the journal resumes the upload; until it is done the file
	// must not be visible.
	c.start(alice, "--bootstrap", boot)
	deadline = time.Now().Add(3 * time.Minute)
	for {
		r := c.cairn(alice, nil, "ls", "--json", "/")
		if r.code != 0 {
			t.Fatalf("ls: %s", r.stderr)
		}
		var es []map[string]any
		_ = json.Unmarshal([]byte(r.stdout), &es)
		if len(es) == 1 {
			if int(es[0]["size"].(float64)) != len(data) {
				t.Fatalf("file visible with size %v, want %d", es[0]["size"], len(data))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the interrupted upload did not complete after the restart")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := c.status(alice); st["pending_uploads"].(float64) != 0 {
		t.Fatalf("pending_uploads %v after the file appeared", st["pending_uploads"])
	}
	out := filepath.Join(c.dir, "back.bin")
	c.ok(alice, "get", "/big.bin", out)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed upload reads back different bytes")
	}
	// The daemon log says it resumed.
	found := false
	for _, p := range c.logs {
		sc := bufio.NewScanner(bytes.NewReader(p.log.Bytes()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), "resumed") {
				found = true
			}
		}
	}
	if !found {
		t.Error("no daemon log line mentions the resumed upload")
	}
}
