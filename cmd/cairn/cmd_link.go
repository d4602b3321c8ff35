package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
)

// getLink downloads what a cairn:// link points to without a daemon: a
// short-lived node joins the network (through --bootstrap or the home's
// configured peers), finds the shared folder's record and reads it with the
// key the link carries. The key never leaves this process.
func getLink(c *cli.Context, e *env, link, local string) error {
	capab, err := cryptree.ParseLink(link)
	if errors.Is(err, cryptree.ErrCorruptLink) {
		return withHint(storage.E("read link", storage.Corrupt, err), "the link was changed or cut short; ask for it again")
	}
	if err != nil {
		return withHint(usagef("not a cairn link: %v", err), "links look like cairn://…")
	}
	boot := c.StringSlice("bootstrap")
	if len(boot) == 0 {
		if home, herr := homeDir(c); herr == nil {
			if cfg, cerr := loadConfig(home); cerr == nil {
				boot = cfg.Bootstrap
			}
		}
	}
	if len(boot) == 0 {
		return withHint(usagef("no peer to join the network through"), "give --bootstrap MULTIADDR (a line that 'cairn testnet' or 'cairn id --addrs' prints)")
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "cairn-link-")
	if err != nil {
		return storage.E("get link", storage.IO, err)
	}
	defer os.RemoveAll(dir)
	ident, err := network.NewIdentity()
	if err != nil {
		return err
	}
	n, err := startNode(ctx, nodeConfig{
		Home: dir, Identity: ident, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot,
		WaitPeers: 15 * time.Second,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	n.fc = fragment.NewClient(n.net.Host(), nil) // read-only: stores nothing
	n.blob, err = blob.New(blob.Config{Network: &peerNet{n: n}})
	if err != nil {
		return err
	}
	// Find the storage peers first: the folder's record lives on the ones
	// closest to it, and a node that has just joined knows only its
	// bootstrap peer.
	_, _ = waitPeers(ctx, n, blob.DefaultK+blob.DefaultM, 15*time.Second)
	view, err := drive.OpenCapability(ctx, n.blob, netRecords{n}, capab)
	if err != nil {
		return err
	}
	st, err := view.Stat(ctx, "/")
	if err != nil {
		return err
	}
	b := newBar(e.stderr, "get")
	res, err := downloadView(ctx, view, st, local, e.stdout, b)
	b.finish()
	if err != nil {
		return err
	}
	if wantJSON(c) && local != "-" {
		return json.NewEncoder(e.stdout).Encode(res)
	}
	if local != "-" {
		fmt.Fprintf(e.stdout, "fetched %s: %d files, %s\n", res.Path, res.Files, formatSize(res.Bytes))
	}
	return nil
}

// downloadView writes a shared file or folder to local ("-": stdout, files
// only), each file through a temporary name.
func downloadView(ctx context.Context, v *drive.CapView, st drive.Entry, local string, stdout io.Writer, b *bar) (*putResult, error) {
	name := st.Name()
	if name == "/" || name == "" {
		name = "shared"
	}
	if !st.IsDir {
		rd, ent, err := v.Open(ctx, "/")
		if err != nil {
			return nil, err
		}
		b.addTotal(ent.Size)
		if local == "-" {
			n, err := rd.WriteTo(&countWriter{w: stdout, b: b})
			return &putResult{Path: "-", Files: 1, Bytes: n}, err
		}
		if fi, err := os.Stat(local); err == nil && fi.IsDir() {
			local = filepath.Join(local, name)
		}
		n, err := getToFileWith(ctx, local, func(w io.Writer) (int64, error) { return rd.WriteTo(&countWriter{w: w, b: b}) })
		if err != nil {
			return nil, err
		}
		return &putResult{Path: local, Files: 1, Bytes: n}, nil
	}
	if local == "-" {
		return nil, usagef("the link points to a folder: cannot write it to stdout")
	}
	if fi, err := os.Stat(local); err == nil && fi.IsDir() {
		local = filepath.Join(local, name)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return nil, storage.E("get", storage.IO, err)
	}
	res := &putResult{Path: local, Dirs: 1}
	var files []drive.Entry
	err := v.Walk(ctx, "/", func(en drive.Entry) error {
		dst := filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(en.Path, "/")))
		if en.IsDir {
			res.Dirs++
			return os.MkdirAll(dst, 0o755)
		}
		b.addTotal(en.Size)
		files = append(files, en)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	err = inParallel(ctx, files, func(en drive.Entry) string { return en.Path }, func(ctx context.Context, en drive.Entry) error {
		rd, _, err := v.Open(ctx, en.Path)
		if err != nil {
			return err
		}
		dst := filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(en.Path, "/")))
		n, err := getToFileWith(ctx, dst, func(w io.Writer) (int64, error) { return rd.WriteTo(&countWriter{w: w, b: b}) })
		if err == nil {
			mu.Lock()
			res.Files++
			res.Bytes += n
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

type countWriter struct {
	w io.Writer
	b *bar
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.b.add(int64(n))
	return n, err
}
