package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func cmdVersions(e *env) *cli.Command {
	return &cli.Command{
		Name:      "versions",
		Usage:     "list the kept versions of a file (fetch one with 'cairn get --version N')",
		ArgsUsage: "REMOTE",
		Flags:     []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("versions takes one REMOTE")
			}
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			var vs []versionJSON
			if err := newClient(home).do(c.Context, "GET", "/v1/versions", url.Values{"path": {c.Args().First()}}, nil, &vs); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(vs)
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tSIZE\tMODIFIED")
			for i, v := range vs {
				cur := ""
				if i == len(vs)-1 {
					cur = "  (current)"
				}
				fmt.Fprintf(w, "%d\t%d\t%s%s\n", v.Version, v.Size, v.Mtime.Local().Format("2006-01-02 15:04:05"), cur)
			}
			return w.Flush()
		},
	}
}

func cmdShare(e *env) *cli.Command {
	return &cli.Command{
		Name:      "share",
		Usage:     "give a user access to a folder or file (--with USER_ID [--write]), or print a read-only link (--link)",
		ArgsUsage: "REMOTE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "with", Usage: "the `USER_ID` to share with ('cairn id' prints yours)"},
			&cli.BoolFlag{Name: "write", Usage: "let them change it too"},
			&cli.BoolFlag{Name: "link", Usage: "print a cairn:// link that carries its own key (read-only)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("share takes one REMOTE")
			}
			if c.Bool("link") == (c.String("with") != "") {
				return usagef("share needs exactly one of --with USER_ID or --link")
			}
			if c.Bool("link") && c.Bool("write") {
				return usagef("links are read-only: --write goes with --with USER_ID")
			}
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			req := shareReq{Path: c.Args().First(), With: c.String("with"), Write: c.Bool("write"), Link: c.Bool("link")}
			var out map[string]any
			if err := newClient(home).do(c.Context, "POST", "/v1/share", nil, req, &out); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(out)
			}
			if req.Link {
				fmt.Fprintln(e.stdout, out["link"])
				return nil
			}
			mode := "read"
			if req.Write {
				mode = "read and write"
			}
			fmt.Fprintf(e.stdout, "shared %s with %s… (%s); it appears under /shared/ in their drive\n", out["path"], req.With[:min(len(req.With), 16)], mode)
			return nil
		},
	}
}

func cmdUnshare(e *env) *cli.Command {
	return &cli.Command{
		Name:      "unshare",
		Usage:     "revoke a user's (--from USER_ID) or a link's (--link LINK) access: they cannot read anything written afterwards",
		ArgsUsage: "REMOTE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the `USER_ID` to revoke"},
			&cli.StringFlag{Name: "link", Usage: "the `LINK` to revoke"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("unshare takes one REMOTE")
			}
			if (c.String("from") == "") == (c.String("link") == "") {
				return usagef("unshare needs exactly one of --from USER_ID or --link LINK")
			}
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			req := unshareReq{Path: c.Args().First(), From: c.String("from"), Link: c.String("link")}
			var out map[string]any
			if err := newClient(home).do(c.Context, "POST", "/v1/unshare", nil, req, &out); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(out)
			}
			fmt.Fprintf(e.stdout, "revoked; %s was re-keyed and those who keep access got new keys\n", out["path"])
			return nil
		},
	}
}
