package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
// short-lived node joins the network (through --bootstrap, else the home's
// running daemon, else the home's configured peers), finds the shared
// folder's record and reads it with the key the link carries. The key
// never leaves this process.
func getLink(c *cli.Context, e *env, link, local string) error {
	capab, err := cryptree.ParseLink(link)
	if errors.Is(err, cryptree.ErrCorruptLink) {
		return withHint(storage.E("read link", storage.Corrupt, err), "the link was changed or cut short; ask for it again")
	}
	if err != nil {
		return withHint(usagef("not a cairn link: %v", err), "links look like cairn://…")
	}
	boot := c.StringSlice("bootstrap")
	if home, herr := homeDir(c); herr == nil && len(boot) == 0 {
		// A running daemon is a peer of the network: join through it.
		var id idJSON
		if err := newClient(home).do(c.Context, "GET", "/v1/id", nil, nil, &id); err == nil {
			boot = id.Addrs
		}
		if cfg, cerr := loadConfig(home); cerr == nil {
			boot = append(boot, cfg.Bootstrap...)
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
	bc := n.blob.Config()
	_, _ = n.net.WaitPeers(ctx, fragmentProtocol, bc.K+bc.M, 15*time.Second)
	view, err := drive.OpenCapability(ctx, n.blob, n.records, capab)
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
// only), each file through a temporary name. The share's names are not
// trusted: every path is checked before anything is written (planGet) and
// written without following links (createFile).
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
		dest, top, err := getDest(local, name, false)
		if err != nil {
			return nil, err
		}
		fetch := func(w io.Writer) (int64, error) { return rd.WriteTo(&countWriter{w: w, b: b}) }
		f, n := local, int64(0)
		if dest == "" {
			n, err = getToFileWith(ctx, local, fetch)
		} else {
			f, n, err = createFile(dest, top, fetch)
		}
		if err != nil {
			return nil, err
		}
		return &putResult{Path: f, Files: 1, Bytes: n}, nil
	}
	if local == "-" {
		return nil, usagef("the link points to a folder: cannot write it to stdout")
	}
	dest, top, err := getDest(local, name, true)
	if err != nil {
		return nil, err
	}
	var items []remoteItem
	err = v.Walk(ctx, "/", func(en drive.Entry) error {
		items = append(items, remoteItem{path: en.Path, isDir: en.IsDir, size: en.Size})
		return nil
	})
	if err != nil {
		return nil, err
	}
	plan, err := planGet(dest, top, "/", items)
	if err != nil {
		return nil, err
	}
	return fetchInto(ctx, plan, b, func(ctx context.Context, remote string, w io.Writer) (int64, error) {
		rd, _, err := v.Open(ctx, remote)
		if err != nil {
			return 0, err
		}
		return rd.WriteTo(&countWriter{w: w, b: b})
	})
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
