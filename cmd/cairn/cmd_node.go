package main

import (
	"cmp"

	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/health"
)

func cmdID(e *env) *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "print the user id others share with; --addrs: the node's multiaddrs",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "addrs", Usage: "print the running node's full multiaddrs, one a line"}, jsonFlag},
		Action: func(c *cli.Context) error {
			var id idJSON
			if text, err := fetch(c, e, "GET", "/v1/id", nil, nil, &id); !text {
				return err
			}
			if c.Bool("addrs") {
				for _, a := range id.Addrs {
					fmt.Fprintln(e.stdout, a)
				}
				return nil
			}
			fmt.Fprintln(e.stdout, id.UserID)
			return nil
		},
	}
}

func cmdStatus(e *env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "node and account state",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			var st statusJSON
			if text, err := fetch(c, e, "GET", "/v1/status", nil, nil, &st); !text {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "user id\t%s\n", st.UserID)
			fmt.Fprintf(w, "peer id\t%s\n", st.PeerID)
			fmt.Fprintf(w, "peers\t%d connected, %d storage peers known\n", st.Peers, st.StoragePeers)
			stale := ""
			if st.UsageStale {
				stale = " — the drive cannot be read just now; last figures"
			}
			fmt.Fprintf(w, "files\t%d (%s, %s stored with redundancy)%s\n", st.Files, formatSize(st.FileBytes), formatSize(st.UsedBytes), stale)
			fmt.Fprintf(w, "contributed\t%s offered, %s held for others\n", formatSize(st.ContributedBytes), formatSize(st.StoredForOthersBytes))
			fmt.Fprintf(w, "quota\t%s (availability %.0f%%)\n", formatSize(st.QuotaBytes), st.Availability*100)
			fmt.Fprintf(w, "pending uploads\t%d\n", st.PendingUploads)
			fmt.Fprintf(w, "repair queue\t%d\n", st.RepairQueue)
			return w.Flush()
		},
	}
}

func cmdPeers(e *env) *cli.Command {
	return &cli.Command{
		Name:  "peers",
		Usage: "the storage peers this node knows, with reputation",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			var ps []health.Peer
			if text, err := fetch(c, e, "GET", "/v1/peers", nil, nil, &ps); !text {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "PEER\tSCORE\tAUDITS OK/FAIL\tAVAILABILITY\tSTATE")
			for _, p := range ps {
				score, avail := "-", "-"
				if p.Score != nil {
					score = fmt.Sprintf("%.2f", *p.Score)
				}
				if p.Availability != nil {
					avail = fmt.Sprintf("%.0f%%", *p.Availability*100)
				}
				fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s %s\n", p.PeerID, score, p.AuditsPassed, p.AuditsFailed, avail, p.State, p.Reason)
			}
			fmt.Fprintln(w, "- : not measured yet (no audit or availability probe so far)")
			return w.Flush()
		},
	}
}

func cmdCheck(e *env) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "audit the fragments of a file or subtree (default /); --repair tops up what is short",
		ArgsUsage: "[REMOTE]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "repair", Usage: "rebuild chunks short of fragments onto other peers"}, jsonFlag},
		Action: func(c *cli.Context) error {
			q := url.Values{"path": {cmp.Or(c.Args().First(), "/")}}
			if c.Bool("repair") {
				q.Set("repair", "1")
			}
			var fs []drive.FileHealth
			if text, err := fetch(c, e, "GET", "/v1/check", q, nil, &fs); !text {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "PATH\tCHUNKS\tHEALTHY/NEEDED\tREPAIRED\tSTATE")
			for _, f := range fs {
				state := "needs repair " + f.Error
				if f.OK {
					state = "ok"
				}
				fmt.Fprintf(w, "%s\t%d\t%d/%d\t%d\t%s\n", f.Path, f.Chunks, f.MinHeld, f.Needed, f.Repaired, state)
			}
			return w.Flush()
		},
	}
}
