package main

// The local side of get and put is storage/localfs, tested there; these
// tests run its hostile cases through the daemon's client and report, and
// the daemon's own refusal of special files.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage/home"
	"github.com/cairn-storage/cairn/storage/localfs/localfstest"
)

// fakeDaemon serves what a daemon answers for a folder get — stat, a
// recursive listing and file bytes — with whatever entries the test gives,
// as a daemon passing on a forged share would.
func fakeDaemon(t *testing.T, entries []entryJSON) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("unix", home.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/ls", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, entries) })
	mux.HandleFunc("/v1/get", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "bytes of "+r.URL.Query().Get("path"))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return dir
}

func hostileEntry(e localfstest.Entry) entryJSON {
	return entryJSON{Name: e.Name, Path: e.Path, Size: e.Size, IsDir: e.IsDir}
}

// getAny of a folder whose entries' paths lead elsewhere, carry unsafe
// names or meet links in the destination: it fails, is reported on at
// most two lines without control characters, and nothing is written
// outside the destination or through a link.
func TestLocalFSGetHostileEntries(t *testing.T) {
	for _, c := range localfstest.HostileGets() {
		t.Run(c.Why, func(t *testing.T) {
			fx := localfstest.NewFixture(t)
			if c.Setup != nil {
				c.Setup(t, fx)
			}
			var es []entryJSON
			for _, e := range c.Entries {
				es = append(es, hostileEntry(e))
			}
			cl := newClient(fakeDaemon(t, es))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := getAny(ctx, cl, hostileEntry(c.Top), fx.Dest, io.Discard, newBar(io.Discard, "get"))
			if err == nil {
				t.Errorf("getAny succeeded: %+v", res)
			} else {
				var out bytes.Buffer
				code := report(&out, err)
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				if code == exitOK || !strings.HasPrefix(lines[0], "cairn: ") || len(lines) > 2 ||
					strings.ContainsAny(out.String(), "\x00\x1b\x07") {
					t.Errorf("reported as %q (exit %d)", out.String(), code)
				}
			}
			fx.Untouched(t)
		})
	}
}

// put of a single named pipe or device is a clear error, at once, with
// exit code 2 and a hint: the daemon is never asked to open it (the client
// here has no daemon). A link to one: storage/localfs's TestPutSpecialSource.
func TestLocalFSPutSpecialSource(t *testing.T) {
	root, special := localfstest.SpecialTree(t)
	cl := newClient(t.TempDir())
	for name, kind := range special {
		if kind == "symlink" {
			continue
		}
		done := make(chan error, 1)
		go func() {
			_, err := putAny(context.Background(), cl, filepath.Join(root, name), "/x", newBar(io.Discard, "put"), nil, func(string) {})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("put of a %s did not return", kind)
		}
		var out bytes.Buffer
		code := report(&out, err)
		if code != exitUsage || !strings.Contains(out.String(), "cairn: put "+filepath.Join(root, name)+": is a "+kind) ||
			!strings.Contains(out.String(), "\nhint: ") {
			t.Errorf("put of a %s: exit %d, %q", kind, code, out.String())
		}
	}
}

// The daemon, asked to upload a named pipe or device by path (a file
// swapped for one after put looked at it), refuses at once instead of
// blocking in open.
func TestLocalFSDaemonPutRefusesSpecialSource(t *testing.T) {
	root, special := localfstest.SpecialTree(t)
	for name, kind := range special {
		if kind == "symlink" || kind == "socket" { // a socket does not open at all
			continue
		}
		q := url.Values{"path": {"/x"}, "source": {filepath.Join(root, name)}}
		req := httptest.NewRequest("POST", "/v1/put?"+q.Encode(), nil)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			(&daemon{}).handlePut(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the daemon blocked opening a %s", kind)
		}
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not a regular file") {
			t.Errorf("%s: %d %s", kind, rec.Code, rec.Body)
		}
	}
}
