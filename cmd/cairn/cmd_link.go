package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/home"
	"github.com/cairn-storage/cairn/storage/localfs"
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
	if dir, herr := homeDir(c); herr == nil && len(boot) == 0 {
		// A running daemon is a peer of the network: join through it.
		var id idJSON
		if err := newClient(dir).do(c.Context, "GET", "/v1/id", nil, nil, &id); err == nil {
			boot = id.Addrs
		}
		if h, herr := home.Open(dir); herr == nil {
			boot = append(boot, h.Config().Bootstrap...)
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
	n, err := startNode(ctx, nodeConfig{
		Home: dir, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot,
		WaitPeers: 15 * time.Second, Reader: true,
	})
	if err != nil {
		return err
	}
	defer n.Close()
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
	if local == "-" && st.IsDir {
		return usagef("the link points to a folder: cannot write it to stdout")
	}
	name := st.Name()
	if name == "/" || name == "" {
		name = "shared"
	}
	b := newBar(e.stderr, "get")
	res, err := download(ctx, linkFiles{view}, localfs.Entry{Path: "/", Size: st.Size, IsDir: st.IsDir}, name, local, e.stdout, b)
	b.finish()
	return printFetched(c, e, local, res, err)
}

// linkFiles is a shared folder or file as localfs sees it (localfs.Fetcher).
type linkFiles struct{ v *drive.CapView }

func (l linkFiles) List(ctx context.Context, dir string) ([]localfs.Entry, error) {
	var es []localfs.Entry
	err := l.v.Walk(ctx, dir, func(en drive.Entry) error {
		es = append(es, localfs.Entry{Path: en.Path, Size: en.Size, IsDir: en.IsDir})
		return nil
	})
	return es, err
}

func (l linkFiles) Get(ctx context.Context, p string, w io.Writer) (int64, error) {
	rd, _, err := l.v.Open(ctx, p)
	if err != nil {
		return 0, err
	}
	return rd.WriteTo(w)
}
