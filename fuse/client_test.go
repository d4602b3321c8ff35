package fuse

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The kernel side of the mount tests runs in a subprocess (this test
// binary again, as TestMain's client): a process that serves a FUSE
// mount and also makes system calls into it can deadlock (the garbage
// collector waits for a thread the kernel holds in the mount).

type request struct {
	Op    string
	P, Q  string
	Flags int
	Off   int64
	Data  []byte
	H     int
	Mode  uint32
}

type response struct {
	Errno int
	Err   string
	N     int
	Data  []byte
	Size  int64
	IsDir bool
	Mode  uint32
	Mtime int64
	Names []string
	H     int
	Stat  syscall.Statfs_t
}

func TestMain(m *testing.M) {
	if os.Getenv("CAIRN_FUSE_CLIENT") != "" {
		runClient(os.Stdin, os.Stdout)
		return
	}
	os.Exit(m.Run())
}

// runClient answers requests, one JSON line each, until stdin closes.
func runClient(in io.Reader, out io.Writer) {
	files := map[int]*os.File{}
	next := 0
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	for {
		var q request
		if dec.Decode(&q) != nil {
			return
		}
		var r response
		var err error
		switch q.Op {
		case "open":
			var f *os.File
			if f, err = os.OpenFile(q.P, q.Flags, 0o644); err == nil {
				next++
				files[next], r.H = f, next
			}
		case "close":
			err = files[q.H].Close()
			delete(files, q.H)
		case "readat":
			b := make([]byte, q.Off>>40)
			var n int
			n, err = files[q.H].ReadAt(b, q.Off&(1<<40-1))
			if err == io.EOF {
				err = nil
			}
			r.Data = b[:n]
		case "writeat":
			r.N, err = files[q.H].WriteAt(q.Data, q.Off)
		case "ftruncate":
			err = files[q.H].Truncate(q.Off)
		case "fsync":
			err = files[q.H].Sync()
		case "stat":
			var fi os.FileInfo
			if fi, err = os.Stat(q.P); err == nil {
				r.IsDir, r.Mode, r.Mtime = fi.IsDir(), uint32(fi.Mode().Perm()), fi.ModTime().UnixNano()
				if !r.IsDir {
					r.Size = fi.Size()
				}
			}
		case "list":
			var es []os.DirEntry
			es, err = os.ReadDir(q.P)
			for _, e := range es {
				n := e.Name()
				if e.IsDir() {
					n += "/"
				}
				r.Names = append(r.Names, n)
			}
		case "mkdir":
			err = syscall.Mkdir(q.P, 0o755)
		case "rmdir":
			err = syscall.Rmdir(q.P)
		case "unlink":
			err = syscall.Unlink(q.P)
		case "rename":
			err = syscall.Rename(q.P, q.Q)
		case "truncate":
			err = syscall.Truncate(q.P, q.Off)
		case "chmod":
			err = os.Chmod(q.P, os.FileMode(q.Mode))
		case "chtimes":
			t := time.Unix(0, q.Off)
			err = os.Chtimes(q.P, t, t)
		case "chown":
			err = os.Chown(q.P, int(q.Off), int(q.Off))
		case "link":
			err = os.Link(q.P, q.Q)
		case "statfs":
			err = syscall.Statfs(q.P, &r.Stat)
		default:
			err = fmt.Errorf("unknown op %q", q.Op)
		}
		if err != nil {
			r.Err = err.Error()
			var e syscall.Errno
			if errors.As(err, &e) {
				r.Errno = int(e)
			} else {
				r.Errno = int(syscall.EIO)
			}
		}
		if enc.Encode(&r) != nil {
			return
		}
	}
}

// client is the subprocess, as a target over a folder (the mount).
type client struct {
	t    testing.TB
	root string
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
}

func newClient(t testing.TB, root string) *client {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, root: root}
	c.cmd = exec.Command(exe)
	c.cmd.Env = append(os.Environ(), "CAIRN_FUSE_CLIENT=1")
	c.cmd.Stderr = os.Stderr
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = json.NewDecoder(bufio.NewReader(out))
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after the mount's cleanup: runs first, so nothing holds
	// the mount open when it is unmounted.
	t.Cleanup(func() {
		c.in.Close()
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
	})
	return c
}

func (c *client) do(q request) (response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r response
	if err := json.NewEncoder(c.in).Encode(&q); err != nil {
		c.t.Fatalf("client: %v", err)
	}
	if err := c.out.Decode(&r); err != nil {
		c.t.Fatalf("client: %v", err)
	}
	if r.Errno != 0 {
		return r, fmt.Errorf("%s: %w", r.Err, syscall.Errno(r.Errno))
	}
	return r, nil
}

func (c *client) p(p string) string { return filepath.Join(c.root, p) }

func (c *client) open(p string, flags int) (handle, error) {
	r, err := c.do(request{Op: "open", P: c.p(p), Flags: flags})
	if err != nil {
		return nil, err
	}
	return clientHandle{c, r.H}, nil
}

func (c *client) stat(p string) (int64, bool, error) {
	r, err := c.do(request{Op: "stat", P: c.p(p)})
	return r.Size, r.IsDir, err
}

func (c *client) list(p string) ([]string, error) {
	r, err := c.do(request{Op: "list", P: c.p(p)})
	return r.Names, err
}

func (c *client) simple(op, p string) error {
	_, err := c.do(request{Op: op, P: c.p(p)})
	return err
}

func (c *client) mkdir(p string) error  { return c.simple("mkdir", p) }
func (c *client) rmdir(p string) error  { return c.simple("rmdir", p) }
func (c *client) unlink(p string) error { return c.simple("unlink", p) }
func (c *client) rename(a, b string) error {
	_, err := c.do(request{Op: "rename", P: c.p(a), Q: c.p(b)})
	return err
}
func (c *client) truncate(p string, n int64) error {
	_, err := c.do(request{Op: "truncate", P: c.p(p), Off: n})
	return err
}
func (c *client) errno(err error) syscall.Errno { return errnoOfT(nil, err) }

type clientHandle struct {
	c *client
	h int
}

func (h clientHandle) ReadAt(b []byte, off int64) (int, error) {
	r, err := h.c.do(request{Op: "readat", H: h.h, Off: int64(len(b))<<40 | off})
	return copy(b, r.Data), err
}

func (h clientHandle) WriteAt(b []byte, off int64) (int, error) {
	r, err := h.c.do(request{Op: "writeat", H: h.h, Off: off, Data: b})
	return r.N, err
}

func (h clientHandle) Truncate(n int64) error {
	_, err := h.c.do(request{Op: "ftruncate", H: h.h, Off: n})
	return err
}

func (h clientHandle) Sync() error {
	_, err := h.c.do(request{Op: "fsync", H: h.h})
	return err
}

func (h clientHandle) Close() error {
	_, err := h.c.do(request{Op: "close", H: h.h})
	return err
}
