package home

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// Flags win over config.json, which wins over the defaults; a bad size
// is Invalid and names its setting, wherever it came from.
func TestSettings(t *testing.T) {
	dir := t.TempDir()
	h, _, err := Init(dir, pass("pw"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Settings(Flags{})
	if err != nil || !s.MDNS || s.Contribute != 2<<30 || s.Grace != 1<<30 || s.Listen != nil || s.Created.Unix() != h.Config().Created {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	off, on := false, true
	c := h.Config()
	c.Listen, c.Bootstrap, c.Contribute, c.MDNS = []string{"/conf/listen"}, []string{"/conf/boot"}, "500MiB", &off
	if err := h.SaveConfig(c); err != nil {
		t.Fatal(err)
	}
	s, err = h.Settings(Flags{Bootstrap: []string{"/flag/boot"}, Grace: "2GB"})
	want := Settings{Listen: []string{"/conf/listen"}, Bootstrap: []string{"/flag/boot"}, Contribute: 500 << 20, Grace: 2e9, Created: s.Created,
		Lease: DefaultLease, AuditEvery: DefaultAuditEvery, AuditBudget: DefaultAuditBudget, AuditPass: DefaultAuditPass, AuditProve: DefaultAuditProve}
	if err != nil || !reflect.DeepEqual(s, want) {
		t.Fatalf("config and flags: %+v, %v; want %+v", s, err, want)
	}
	if s, _ := h.Settings(Flags{MDNS: &on}); !s.MDNS {
		t.Error("--mdns did not win over config.json")
	}
	c.Contribute = "lots"
	_ = h.SaveConfig(c)
	_, err = h.Settings(Flags{})
	var se *storage.Error
	if !errors.Is(err, storage.Invalid) || !errors.As(err, &se) || se.Subject != "contribute" || !strings.Contains(se.Err.Error(), `bad size "lots"`) {
		t.Fatalf("a bad size in config.json: %v", err)
	}
	if _, err := h.Settings(Flags{Contribute: "1GiB", Grace: "x"}); !errors.As(err, &se) || se.Subject != "grace" {
		t.Fatalf("a bad --grace: %v", err)
	}
	// Maintenance settings come from config.json only.
	c.Contribute, c.Lease, c.AuditEvery, c.AuditBudget = "", "90s", "250ms", 7
	_ = h.SaveConfig(c)
	if s, err := h.Settings(Flags{}); err != nil || s.Lease != 90*time.Second || s.AuditEvery != 250*time.Millisecond || s.AuditBudget != 7 {
		t.Fatalf("maintenance settings: %+v, %v", s, err)
	}
	c.Lease = "a month"
	_ = h.SaveConfig(c)
	if _, err := h.Settings(Flags{}); !errors.As(err, &se) || se.Subject != "lease" {
		t.Fatalf("a bad lease: %v", err)
	}
}

// Listen replaces a stale socket file, makes the socket 0600, and a
// socket outside a long home is named in daemon.addr.
func TestListen(t *testing.T) {
	dir := t.TempDir()
	h, _, err := Init(dir, pass("pw"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.SocketPath(), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := h.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(h.SocketPath()); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("the socket: %v, %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, SocketAddrFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("daemon.addr for a socket in the home: %v", err)
	}
	ln.Close()
	long := filepath.Join(t.TempDir(), strings.Repeat("h", 100))
	h, _, err = Init(long, pass("pw"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = h.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if b, err := os.ReadFile(filepath.Join(long, SocketAddrFile)); err != nil || string(b) != h.SocketPath()+"\n" {
		t.Errorf("daemon.addr = %q, %v; want %s", b, err, h.SocketPath())
	}
}

// countKV counts writes.
type countKV struct {
	storage.KV
	sets atomic.Int64
}

func (c *countKV) Set(ctx context.Context, k, v []byte) error {
	c.sets.Add(1)
	return c.KV.Set(ctx, k, v)
}

// The online time survives a new Uptime over the same KV.
func TestUptimeKept(t *testing.T) {
	ctx := context.Background()
	kv := memstore.NewKV()
	if err := kv.Set(ctx, UptimeKey, []byte("3600")); err != nil {
		t.Fatal(err)
	}
	up := NewUptime(ctx, kv, time.Now().Add(-2*time.Hour))
	if a, q := up.Status(1000); a < 0.49 || a > 0.51 || q <= 0 {
		t.Errorf("an hour online of two: availability %v, quota %d", a, q)
	}
	up.Save(ctx)
	if b, _ := kv.Get(ctx, UptimeKey); string(b) != "3600" {
		t.Errorf("saved %q, want 3600", b)
	}
}

// The uptime saver saves at its interval, stops on Close, and saves once
// more then.
func TestUptimeSaver(t *testing.T) {
	ctx := context.Background()
	kv := &countKV{KV: memstore.NewKV()}
	up := NewUptime(ctx, kv, time.Now().Add(-time.Hour))
	s := NewUptimeSaver(ctx, up, 2*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for kv.sets.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d saves in 10 s", kv.sets.Load())
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	n := kv.sets.Load()
	time.Sleep(30 * time.Millisecond)
	if m := kv.sets.Load(); m != n {
		t.Fatalf("%d saves after Close", m-n)
	}
	if _, err := kv.Get(ctx, UptimeKey); err != nil {
		t.Fatalf("nothing saved: %v", err)
	}
	// The end of its context stops it too.
	cctx, cancel := context.WithCancel(ctx)
	s = NewUptimeSaver(cctx, up, time.Millisecond)
	cancel()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the saver outlived its context")
	}
}

// Locate takes the folder given, else $CAIRN_HOME, else ~/.cairn, made
// absolute; with no user home folder it is Invalid.
func TestLocate(t *testing.T) {
	wd, _ := os.Getwd()
	t.Setenv("CAIRN_HOME", "/env/home")
	t.Setenv("HOME", "/user")
	for _, c := range []struct{ in, want string }{
		{"rel", filepath.Join(wd, "rel")}, {"/abs", "/abs"}, {"", "/env/home"},
	} {
		if got, err := Locate(c.in); err != nil || got != c.want {
			t.Errorf("Locate(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	t.Setenv("CAIRN_HOME", "")
	if got, err := Locate(""); err != nil || got != "/user/.cairn" {
		t.Errorf("Locate without $CAIRN_HOME = %q, %v", got, err)
	}
	t.Setenv("HOME", "")
	if _, err := Locate(""); !errors.Is(err, storage.Invalid) {
		t.Errorf("Locate with no user home: %v, want Invalid", err)
	}
}
