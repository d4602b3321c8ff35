package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/network/holder"
	"github.com/cairn-storage/cairn/storage"
)

func cmdTestnet(e *env) *cli.Command {
	return &cli.Command{
		Name:  "testnet",
		Usage: "run N storage peers on loopback until interrupted; prints a bootstrap multiaddr",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "peers", Value: 16, Usage: "how many storage peers"},
			&cli.StringFlag{Name: "dir", Usage: "keep the peers' databases in `DIR` (default: a temporary folder, removed at exit)"},
			&cli.StringFlag{Name: "contribute", Value: "4GiB", Usage: "disk `SIZE` each peer offers"},
			&cli.StringFlag{Name: "grace", Value: "4GiB", Usage: "`SIZE` each peer keeps for a newcomer"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			n := c.Int("peers")
			if n < 1 || n > 200 {
				return usagef("--peers must be between 1 and 200")
			}
			contribute, err := parseSize(c.String("contribute"))
			if err != nil {
				return err
			}
			grace, err := parseSize(c.String("grace"))
			if err != nil {
				return err
			}
			dir := c.String("dir")
			if dir == "" {
				dir, err = os.MkdirTemp("", "cairn-testnet-")
				if err != nil {
					return storage.E("testnet", storage.IO, err)
				}
				defer os.RemoveAll(dir)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			peers, err := startPeers(ctx, dir, n, nodeConfig{Contribute: contribute, Grace: grace}, nil)
			if err != nil {
				return err
			}
			defer holder.CloseAll(peers)
			boot := bootstrapAddr(peers[0])
			if wantJSON(c) {
				fmt.Fprintf(e.stdout, `{"bootstrap":%q,"peers":%d,"dir":%q}`+"\n", boot, len(peers), dir)
			} else {
				fmt.Fprintf(e.stderr, "cairn testnet: %d storage peers on 127.0.0.1 (data in %s); Ctrl-C stops them\n", n, dir)
				fmt.Fprintf(e.stderr, "join with: cairn daemon --bootstrap %s\n", boot)
				fmt.Fprintln(e.stdout, boot)
			}
			<-ctx.Done()
			fmt.Fprintln(e.stderr, "stopping")
			return nil
		},
	}
}

// startPeers starts n nodes on 127.0.0.1 with their databases under dir,
// all bootstrapping from the first, each configured as tmpl (storage-only
// without a Keyring) and then, optionally, by adjust (tests).
func startPeers(ctx context.Context, dir string, n int, tmpl nodeConfig, adjust func(i int, c *nodeConfig)) ([]*node, error) {
	return holder.StartCluster(ctx, dir, n, func(ctx context.Context, i int, hc holder.Config) (*node, error) {
		cfg := tmpl
		cfg.Home, cfg.Identity, cfg.Listen, cfg.Bootstrap = hc.Dir, hc.Identity, hc.Listen, hc.Bootstrap
		if adjust != nil {
			adjust(i, &cfg)
		}
		return startNode(ctx, cfg)
	}, bootstrapAddr)
}

// bootstrapAddr is the node's /ip4/ TCP multiaddr.
func bootstrapAddr(n *node) string { return n.h.Addr() }
