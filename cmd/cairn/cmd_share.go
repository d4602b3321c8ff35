package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/storage/drive"
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
			var vs []drive.VersionInfo
			if text, err := fetch(c, e, "GET", "/v1/versions", url.Values{"path": {c.Args().First()}}, nil, &vs); !text {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tSIZE\tMODIFIED")
			for i, v := range vs {
				cur := ""
				if i == len(vs)-1 {
					cur = "  (current)"
				}
				fmt.Fprintf(w, "%d\t%d\t%s%s\n", v.N, v.Size, v.Mtime.Local().Format("2006-01-02 15:04:05"), cur)
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
			req := shareReq{Path: c.Args().First(), With: c.String("with"), Write: c.Bool("write"), Link: c.Bool("link")}
			var out map[string]any
			if text, err := fetch(c, e, "POST", "/v1/share", nil, req, &out); !text {
				return err
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
			req := unshareReq{Path: c.Args().First(), From: c.String("from"), Link: c.String("link")}
			var out map[string]any
			if text, err := fetch(c, e, "POST", "/v1/unshare", nil, req, &out); !text {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked; %s was re-keyed and those who keep access got new keys\n", out["path"])
			return nil
		},
	}
}

// sharesJSON is 'cairn shares --json'.
type sharesJSON struct {
	Shared   []drive.Grant     `json:"shared"`
	Received []drive.ShareInfo `json:"received"`
	Pending  []drive.ShareInfo `json:"pending"`
}

func cmdShares(e *env) *cli.Command {
	return &cli.Command{
		Name:  "shares",
		Usage: "list what you shared, what was shared with you (/shared), and shares waiting for you to accept",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("shares takes no arguments")
			}
			cl, err := daemonClient(c)
			if err != nil {
				return err
			}
			out := sharesJSON{Shared: []drive.Grant{}}
			if err := cl.do(c.Context, "GET", "/v1/shares", nil, nil, &out.Shared); err != nil {
				return err
			}
			if err := cl.do(c.Context, "GET", "/v1/shares/received", nil, nil, &out.Received); err != nil {
				return err
			}
			if err := cl.do(c.Context, "GET", "/v1/shares/pending", nil, nil, &out.Pending); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(out)
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "SHARED BY YOU\tWITH\tACCESS")
			for _, g := range out.Shared {
				with, access := g.To, "read"
				if with == "" {
					with = g.Link
				}
				if g.Write {
					access = "read and write"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", g.Path, with, access)
			}
			fmt.Fprintln(w, "\nSHARED WITH YOU\tFROM\tKIND")
			for _, s := range out.Received {
				fmt.Fprintf(w, "%s/%s\t%s…\t%s\n", drive.SharedDir, s.Name, s.From, kindName(s.IsDir))
			}
			fmt.Fprintln(w, "\nWAITING FOR YOU\tFROM\tKIND")
			for _, s := range out.Pending {
				fmt.Fprintf(w, "%s\t%s…\t%s\n", s.Name, s.From, kindName(s.IsDir))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(out.Pending) > 0 {
				fmt.Fprintln(e.stdout, "\nAccept with 'cairn accept NAME' (or --from USER_ID for all of a user's); refuse with 'cairn decline'.")
			}
			return nil
		},
	}
}

func kindName(isDir bool) string {
	if isDir {
		return "folder"
	}
	return "file"
}

// cmdPick is accept or decline: pending shares by name, or all of a
// user's with --from.
func cmdPick(e *env, name, usage string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "[NAME...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "every pending share of this `USER_ID`"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			req := pickReq{Names: c.Args().Slice(), From: c.String("from")}
			if (len(req.Names) == 0) == (req.From == "") {
				return usagef("%s takes pending share NAMEs or --from USER_ID ('cairn shares' lists them)", name)
			}
			var out map[string]any
			if text, err := fetch(c, e, "POST", "/v1/shares/"+name, nil, req, &out); !text {
				return err
			}
			if ps, ok := out["accepted"].([]any); ok {
				for _, p := range ps {
					fmt.Fprintf(e.stdout, "accepted: %v\n", p)
				}
				return nil
			}
			fmt.Fprintf(e.stdout, "declined %v\n", out["declined"])
			return nil
		},
	}
}

func cmdAccept(e *env) *cli.Command {
	return cmdPick(e, "accept", "accept shares waiting for you (they appear under /shared, and the sender's later shares go there directly)")
}

func cmdDecline(e *env) *cli.Command {
	return cmdPick(e, "decline", "refuse shares waiting for you")
}
