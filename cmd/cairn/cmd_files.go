package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/localfs"
)

func cmdPut(e *env) *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "upload a file, a directory (recursively) or - (stdin)",
		ArgsUsage: "LOCAL REMOTE",
		Flags:     []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("put takes LOCAL and REMOTE")
			}
			cl, err := daemonClient(c)
			if err != nil {
				return err
			}
			local, remote := c.Args().Get(0), c.Args().Get(1)
			b := newBar(e.stderr, "put")
			warn := func(msg string) { fmt.Fprintln(e.stderr, "cairn: "+msg) }
			res, err := putAny(c.Context, cl, local, remote, b, e.stdin, warn)
			b.finish()
			if err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(res)
			}
			if res.Files == 1 && res.Dirs == 0 {
				fmt.Fprintf(e.stdout, "stored %s (%s)\n", res.Path, formatSize(res.Bytes))
			} else {
				fmt.Fprintf(e.stdout, "stored %s: %d files, %d folders, %s\n", res.Path, res.Files, res.Dirs, formatSize(res.Bytes))
			}
			return nil
		},
	}
}

// putAny uploads local (a file, a folder or "-") to remote; see localfs.Put.
func putAny(ctx context.Context, cl *client, local, remote string, b *bar, stdin io.Reader, warn func(string)) (*localfs.Result, error) {
	if !strings.HasPrefix(remote, "/") {
		return nil, withHint(usagef("remote path %q is not absolute", remote), "drive paths start with /, like /docs/a.txt")
	}
	if local == "-" {
		if strings.HasSuffix(remote, "/") {
			return nil, usagef("put - needs a file name, not a folder: %s", remote)
		}
		q := url.Values{"path": {remote}, "mtime": {strconv.FormatInt(time.Now().UnixNano(), 10)}}
		e, err := putRequest(ctx, cl, q, io.NopCloser(stdin), b)
		if err != nil {
			return nil, err
		}
		return &localfs.Result{Path: e.Path, Files: 1, Bytes: e.Size}, nil
	}
	if _, err := filepath.Abs(local); err != nil {
		return nil, usagef("bad local path %q: %v", local, err)
	}
	res, err := localfs.Put(ctx, daemonFiles{cl}, local, remote, localfs.Options{Progress: b, Warn: warn})
	return res, localHint(err)
}

// daemonFiles is the daemon's drive as localfs sees it (localfs.Sender
// and localfs.Fetcher).
type daemonFiles struct{ cl *client }

func (d daemonFiles) IsDir(ctx context.Context, p string) bool {
	var st entryJSON
	err := d.cl.do(ctx, "GET", "/v1/stat", url.Values{"path": {p}}, nil, &st)
	return err == nil && st.IsDir
}

func (d daemonFiles) Mkdir(ctx context.Context, p string) error {
	return d.cl.do(ctx, "POST", "/v1/mkdir", nil, mkdirReq{Path: p, Parents: true}, nil)
}

// PutFile asks the daemon to upload a local file it reads itself.
func (d daemonFiles) PutFile(ctx context.Context, local, remote string, p storage.Progress) (localfs.Entry, error) {
	e, err := putRequest(ctx, d.cl, url.Values{"path": {remote}, "source": {local}}, nil, p)
	if err != nil {
		return localfs.Entry{}, err
	}
	return localfs.Entry{Path: e.Path, Size: e.Size}, nil
}

func (d daemonFiles) List(ctx context.Context, dir string) ([]localfs.Entry, error) {
	var all []entryJSON
	if err := d.cl.do(ctx, "GET", "/v1/ls", url.Values{"path": {dir}, "recursive": {"1"}}, nil, &all); err != nil {
		return nil, err
	}
	return convert(all, func(en entryJSON) localfs.Entry {
		return localfs.Entry{Path: en.Path, Size: en.Size, IsDir: en.IsDir}
	}), nil
}

func (d daemonFiles) Get(ctx context.Context, p string, w io.Writer) (int64, error) {
	return getFile(ctx, d.cl, p, 0, w)
}

// localHint puts the advice of a localfs error on report's hint line.
func localHint(err error) error {
	if h := localfs.Hint(err); h != "" {
		return withHint(err, h)
	}
	return err
}

// putRequest uploads through the daemon: the file it names in q
// (?source=), or body. It counts the progress lines into p.
func putRequest(ctx context.Context, cl *client, q url.Values, body io.Reader, p storage.Progress) (*entryJSON, error) {
	resp, err := cl.send(ctx, "POST", "/v1/put", q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last int64
	for sc.Scan() {
		var l putLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, storage.E("read daemon answer", storage.IO, err)
		}
		switch {
		case l.Error != nil:
			return nil, l.Error.err()
		case l.Entry != nil:
			p.Add(l.Entry.Size - last)
			return l.Entry, nil
		case l.Progress != nil:
			p.Add(l.Progress.Done - last)
			last = l.Progress.Done
		}
	}
	if ctx.Err() != nil {
		return nil, storage.E("put", storage.Canceled, ctx.Err())
	}
	return nil, withHint(storage.E("put", storage.Unavailable, errors.New("the daemon stopped answering before the upload finished")),
		"if the daemon was restarted, the upload resumes from its journal; check 'cairn status'")
}

func cmdGet(e *env) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "download a file or folder (or what a cairn:// link points to); LOCAL may be - (stdout)",
		ArgsUsage: "REMOTE|LINK LOCAL",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "version", Usage: "fetch version `N` of a file (see 'cairn versions')"},
			&cli.StringSliceFlag{Name: "bootstrap", Usage: "with a LINK and no daemon: join the network through `MULTIADDR`"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("get takes REMOTE and LOCAL")
			}
			cl, err := daemonClient(c)
			if err != nil {
				return err
			}
			remote, local := c.Args().Get(0), c.Args().Get(1)
			if strings.HasPrefix(remote, "cairn://") {
				return getLink(c, e, remote, local)
			}
			b := newBar(e.stderr, "get")
			if v := c.Uint64("version"); v > 0 {
				fetch := func(w io.Writer) (int64, error) { return getFile(c.Context, cl, remote, v, localfs.Counting(w, b)) }
				if local == "-" {
					_, err := fetch(e.stdout)
					b.finish()
					return err
				}
				f, n, err := localfs.WriteFile(local, path.Base(remote), fetch)
				b.finish()
				if err != nil {
					return localHint(err)
				}
				if wantJSON(c) {
					return json.NewEncoder(e.stdout).Encode(&localfs.Result{Path: f, Files: 1, Bytes: n})
				}
				fmt.Fprintf(e.stdout, "fetched version %d of %s: %s\n", v, remote, formatSize(n))
				return nil
			}
			var st entryJSON
			if err := cl.do(c.Context, "GET", "/v1/stat", url.Values{"path": {remote}}, nil, &st); err != nil {
				return err
			}
			if local == "-" && st.IsDir {
				return usagef("%s is a folder: cannot write it to stdout", remote)
			}
			res, err := getAny(c.Context, cl, st, local, e.stdout, b)
			b.finish()
			return printFetched(c, e, local, res, err)
		},
	}
}

// printFetched prints what a get into the local folder or file local
// wrote (nothing for "-", stdout).
func printFetched(c *cli.Context, e *env, local string, res *localfs.Result, err error) error {
	if err != nil || local == "-" {
		return err
	}
	if wantJSON(c) {
		return json.NewEncoder(e.stdout).Encode(res)
	}
	fmt.Fprintf(e.stdout, "fetched %s: %d files, %s\n", res.Path, res.Files, formatSize(res.Bytes))
	return nil
}

// getAny downloads the remote file or folder st to local; see download.
func getAny(ctx context.Context, cl *client, st entryJSON, local string, stdout io.Writer, b *bar) (*localfs.Result, error) {
	name := st.Name
	if st.Path == "/" {
		name = "" // the whole drive: its contents go straight into local
	}
	e := localfs.Entry{Path: st.Path, Size: st.Size, IsDir: st.IsDir}
	return download(ctx, daemonFiles{cl}, e, name, local, stdout, b)
}

// download writes the remote file or folder e of from to local, as name
// (localfs.Get, which checks every remote name and follows no link below
// local), or the file e to stdout if local is "-".
func download(ctx context.Context, from localfs.Fetcher, e localfs.Entry, name, local string, stdout io.Writer, b *bar) (*localfs.Result, error) {
	if local == "-" {
		b.SetTotal(e.Size)
		n, err := from.Get(ctx, e.Path, localfs.Counting(stdout, b))
		return &localfs.Result{Path: "-", Files: 1, Bytes: n}, err
	}
	res, err := localfs.Get(ctx, from, e, name, local, localfs.Options{Progress: b})
	return res, localHint(err)
}

// getFile streams a remote file into w: version v of it, or the current
// one if v is 0.
func getFile(ctx context.Context, cl *client, remote string, v uint64, w io.Writer) (int64, error) {
	q := url.Values{"path": {remote}}
	if v > 0 {
		q.Set("version", strconv.FormatUint(v, 10))
	}
	resp, err := cl.send(ctx, "GET", "/v1/get", q, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(localWriter{w}, resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return n, storage.E("get", storage.Canceled, ctx.Err())
		}
		if storage.KindOf(err) == storage.IO {
			return n, err // writing the local file failed, not the daemon
		}
	}
	if t := resp.Trailer.Get("Cairn-Error"); t != "" {
		var ae apiError
		if json.Unmarshal([]byte(t), &ae) == nil {
			return n, ae.err()
		}
		return n, storage.E("get", storage.Other, errors.New(t))
	}
	if err != nil {
		return n, storage.E("get", storage.Unavailable, err)
	}
	if want, perr := strconv.ParseInt(resp.Header.Get("Cairn-Size"), 10, 64); perr == nil && want != n {
		return n, storage.E("get", storage.Unavailable, fmt.Errorf("got %d of %d bytes", n, want))
	}
	return n, nil
}

// localWriter marks errors of the local destination as storage.IO, so a
// full disk is not mistaken for an unreachable daemon.
type localWriter struct{ w io.Writer }

func (l localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = storage.E("get: write", storage.IO, err)
	}
	return n, err
}

func cmdLs(e *env) *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Usage:     "list a folder (default /)",
		ArgsUsage: "[REMOTE]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "l", Usage: "long listing: type, size, modification time"},
			&cli.BoolFlag{Name: "r", Usage: "recursive"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usagef("ls takes at most one REMOTE")
			}
			p := "/"
			if c.NArg() == 1 {
				p = c.Args().First()
			}
			q := url.Values{"path": {p}}
			if c.Bool("r") {
				q.Set("recursive", "1")
			}
			var es []entryJSON
			if text, err := fetch(c, e, "GET", "/v1/ls", q, nil, &es); !text {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			for _, en := range es {
				name := en.Name
				if c.Bool("r") {
					name = strings.TrimPrefix(strings.TrimPrefix(en.Path, path.Clean(p)), "/")
				}
				if en.IsDir {
					name += "/"
				}
				if c.Bool("l") {
					kind := "-"
					if en.IsDir {
						kind = "d"
					}
					fmt.Fprintf(w, "%s\t%d\t %s\t %s\t\n", kind, en.Size, en.Mtime.Local().Format("2006-01-02 15:04"), name)
				} else {
					fmt.Fprintln(e.stdout, name)
				}
			}
			return w.Flush()
		},
	}
}

func cmdMkdir(e *env) *cli.Command {
	return cmdSimple(e, "mkdir", "make a folder", "REMOTE", "one REMOTE",
		&cli.BoolFlag{Name: "p", Usage: "make parents as needed; no error if it exists"},
		func(c *cli.Context) any { return mkdirReq{Path: c.Args().First(), Parents: c.Bool("p")} })
}

func cmdRm(e *env) *cli.Command {
	return cmdSimple(e, "rm", "remove a file, or a folder with -r", "REMOTE", "one REMOTE",
		&cli.BoolFlag{Name: "r", Usage: "remove a folder and everything in it"},
		func(c *cli.Context) any { return rmReq{Path: c.Args().First(), Recursive: c.Bool("r")} })
}

func cmdMv(e *env) *cli.Command {
	return cmdSimple(e, "mv", "move or rename a file or folder", "SRC DST", "SRC and DST", nil,
		func(c *cli.Context) any { return mvReq{Src: c.Args().Get(0), Dst: c.Args().Get(1)} })
}

// cmdSimple is a command that takes the arguments argsUsage names (in
// words: takes), posts the request req makes of them to /v1/NAME and,
// with --json, prints the answer.
func cmdSimple(e *env, name, usage, argsUsage, takes string, flag cli.Flag, req func(*cli.Context) any) *cli.Command {
	flags := []cli.Flag{jsonFlag}
	if flag != nil {
		flags = []cli.Flag{flag, jsonFlag}
	}
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: argsUsage, Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() != len(strings.Fields(argsUsage)) {
				return usagef("%s takes %s", name, takes)
			}
			var out json.RawMessage
			if err := call(c, "POST", "/v1/"+name, nil, req(c), &out); err != nil {
				return err
			}
			if wantJSON(c) {
				_, err := fmt.Fprintf(e.stdout, "%s\n", strings.TrimSpace(string(out)))
				return err
			}
			return nil
		},
	}
}
