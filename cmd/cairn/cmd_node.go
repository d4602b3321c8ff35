package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func cmdID(e *env) *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "print the user id others share with; --addrs: the node's multiaddrs",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "addrs", Usage: "print the running node's full multiaddrs, one a line"}, jsonFlag},
		Action: func(c *cli.Context) error {
			var id idJSON
			if err := call(c, "GET", "/v1/id", nil, nil, &id); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(id)
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
			if err := call(c, "GET", "/v1/status", nil, nil, &st); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(st)
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
			var ps []peerJSON
			if err := call(c, "GET", "/v1/peers", nil, nil, &ps); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(ps)
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "PEER\tSCORE\tAUDITS OK/FAIL\tAVAILABILITY\tEXCLUDED")
			unmeasured := false
			for _, p := range ps {
				score, avail := "-", "-"
				if p.Score != nil {
					score = fmt.Sprintf("%.2f", *p.Score)
				}
				if p.Availability != nil {
					avail = fmt.Sprintf("%.0f%%", *p.Availability*100)
				}
				unmeasured = unmeasured || p.Score == nil || p.Availability == nil
				fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%v\n", p.PeerID, score, p.AuditsPassed, p.AuditsFailed, avail, p.Excluded)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if unmeasured {
				fmt.Fprintln(e.stdout, "- : not measured yet (no audits or availability probes have run)")
			}
			return nil
		},
	}
}
