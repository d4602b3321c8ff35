package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/storage"
)

// parallelFiles is how many files of a tree move at once. Small files
// spend much of their time in per-file steps that wait on the network
// (records, commits); 16 keep both cores busy where 8 left ~15 % idle
// (tree put 87 → 103 MB/s). The daemon's memory does not grow with it:
// chunks in flight are bounded per client (storage/blob).
const parallelFiles = 16

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
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			cl := newClient(home)
			local, remote := c.Args().Get(0), c.Args().Get(1)
			b := newBar(e.stderr, "put")
			warn := func(msg string) { fmt.Fprintln(e.stderr, msg) }
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

type putResult struct {
	Path  string `json:"path"`
	Files int    `json:"files"`
	Dirs  int    `json:"dirs"`
	Bytes int64  `json:"bytes"`
}

// remoteIsDir reports whether p exists in the drive as a folder.
func remoteIsDir(ctx context.Context, cl *client, p string) bool {
	var st entryJSON
	err := cl.do(ctx, "GET", "/v1/stat", url.Values{"path": {p}}, nil, &st)
	return err == nil && st.IsDir
}

// putAny uploads local (a file, a folder or "-") to remote. A link named
// as local is followed; inside a folder, links and special files are
// skipped with a warning through warn (planTree).
func putAny(ctx context.Context, cl *client, local, remote string, b *bar, stdin io.Reader, warn func(string)) (*putResult, error) {
	if !strings.HasPrefix(remote, "/") {
		return nil, withHint(usagef("remote path %q is not absolute", remote), "drive paths start with /, like /docs/a.txt")
	}
	if local == "-" {
		if strings.HasSuffix(remote, "/") {
			return nil, usagef("put - needs a file name, not a folder: %s", remote)
		}
		e, err := putStream(ctx, cl, stdin, remote, b)
		if err != nil {
			return nil, err
		}
		return &putResult{Path: e.Path, Files: 1, Bytes: e.Size}, nil
	}
	abs, err := filepath.Abs(local)
	if err != nil {
		return nil, usagef("bad local path %q: %v", local, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, storage.Ef("put", storage.NotExist, local, errors.New("no such local file or folder"))
		}
		return nil, storage.Ef("put", storage.IO, local, err)
	}
	if err := checkPutSource(local, fi); err != nil {
		return nil, err // a named pipe or device: the daemon would block opening it
	}
	if strings.HasSuffix(remote, "/") || remoteIsDir(ctx, cl, remote) {
		remote = path.Join(remote, filepath.Base(abs))
	}
	remote = path.Clean(remote)
	if !fi.IsDir() {
		b.addTotal(fi.Size())
		e, err := putFile(ctx, cl, abs, remote, b)
		if err != nil {
			return nil, err
		}
		return &putResult{Path: e.Path, Files: 1, Bytes: e.Size}, nil
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // a link to a folder, named on the command line
	}
	return putTree(ctx, cl, abs, remote, b, warn)
}

// putTree uploads a local folder: what planTree chooses, folders first (so
// empty ones exist too), then files, parallelFiles at a time.
func putTree(ctx context.Context, cl *client, root, remote string, b *bar, warn func(string)) (*putResult, error) {
	plan, err := planTree(root, remote, warn)
	if err != nil {
		return nil, err
	}
	res := &putResult{Path: remote}
	for _, d := range plan.dirs {
		if err := cl.do(ctx, "POST", "/v1/mkdir", nil, mkdirReq{Path: d, Parents: true}, nil); err != nil {
			return nil, err
		}
		res.Dirs++
	}
	b.addTotal(plan.bytes)
	var mu sync.Mutex
	err = inParallel(ctx, plan.files, func(j putJob) string { return j.local }, func(ctx context.Context, j putJob) error {
		e, err := putFile(ctx, cl, j.local, j.remote, b)
		if err == nil {
			mu.Lock()
			res.Files++
			res.Bytes += e.Size
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// inParallel calls fn for every item, parallelFiles at a time, and stops
// at the first error, which it returns prefixed with the item's name.
func inParallel[T any](ctx context.Context, items []T, name func(T) string, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan T)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := 0; i < parallelFiles; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(ctx, it); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", name(it), err)
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return first
}

func walkErr(err error) error {
	if storage.KindOf(err) != storage.Other {
		return err
	}
	return storage.E("read local folder", storage.IO, err)
}

// putFile asks the daemon to upload a local file it reads itself.
func putFile(ctx context.Context, cl *client, local, remote string, b *bar) (*entryJSON, error) {
	q := url.Values{"path": {remote}, "source": {local}}
	return putRequest(ctx, cl, q, nil, b)
}

// putStream sends the bytes of r to the daemon.
func putStream(ctx context.Context, cl *client, r io.Reader, remote string, b *bar) (*entryJSON, error) {
	q := url.Values{"path": {remote}, "mtime": {strconv.FormatInt(time.Now().UnixNano(), 10)}}
	return putRequest(ctx, cl, q, io.NopCloser(r), b)
}

func putRequest(ctx context.Context, cl *client, q url.Values, body io.Reader, b *bar) (*entryJSON, error) {
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
			b.add(l.Entry.Size - last)
			b.fileDone()
			return l.Entry, nil
		case l.Progress != nil:
			b.add(l.Progress.Done - last)
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
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			cl := newClient(home)
			remote, local := c.Args().Get(0), c.Args().Get(1)
			if strings.HasPrefix(remote, "cairn://") {
				return getLink(c, e, remote, local)
			}
			if v := c.Uint64("version"); v > 0 {
				if local == "-" {
					b := newBar(e.stderr, "get")
					_, err := getFileVersion(c.Context, cl, remote, v, e.stdout, b)
					b.finish()
					return err
				}
				dest, name, err := getDest(local, path.Base(remote), false)
				if err != nil {
					return err
				}
				b := newBar(e.stderr, "get")
				fetch := func(w io.Writer) (int64, error) { return getFileVersion(c.Context, cl, remote, v, w, b) }
				f, n := local, int64(0)
				if dest == "" {
					n, err = getToFileWith(c.Context, local, fetch)
				} else {
					f, n, err = createFile(dest, name, fetch)
				}
				b.finish()
				if err != nil {
					return err
				}
				if wantJSON(c) {
					return json.NewEncoder(e.stdout).Encode(&putResult{Path: f, Files: 1, Bytes: n})
				}
				fmt.Fprintf(e.stdout, "fetched version %d of %s: %s\n", v, remote, formatSize(n))
				return nil
			}
			var st entryJSON
			if err := cl.do(c.Context, "GET", "/v1/stat", url.Values{"path": {remote}}, nil, &st); err != nil {
				return err
			}
			b := newBar(e.stderr, "get")
			var res *putResult
			if local == "-" {
				if st.IsDir {
					return usagef("%s is a folder: cannot write it to stdout", remote)
				}
				b.addTotal(st.Size)
				n, gerr := getFile(c.Context, cl, st.Path, e.stdout, b)
				err, res = gerr, &putResult{Path: st.Path, Files: 1, Bytes: n}
			} else {
				res, err = getAny(c.Context, cl, st, local, b)
			}
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
		},
	}
}

// getAny downloads the remote file or folder st to local (see getDest);
// the paths of a folder's entries are checked before anything is written
// (planGet) and written without following links (createFile).
func getAny(ctx context.Context, cl *client, st entryJSON, local string, b *bar) (*putResult, error) {
	name := st.Name
	if st.Path == "/" {
		name = "" // the whole drive: its contents go straight into local
	}
	dest, top, err := getDest(local, name, st.IsDir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir {
		b.addTotal(st.Size)
		fetch := func(w io.Writer) (int64, error) { return getFile(ctx, cl, st.Path, w, b) }
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
	var all []entryJSON
	if err := cl.do(ctx, "GET", "/v1/ls", url.Values{"path": {st.Path}, "recursive": {"1"}}, nil, &all); err != nil {
		return nil, err
	}
	items := make([]remoteItem, len(all))
	for i, en := range all {
		items[i] = remoteItem{path: en.Path, isDir: en.IsDir, size: en.Size}
	}
	plan, err := planGet(dest, top, st.Path, items)
	if err != nil {
		return nil, err
	}
	return fetchInto(ctx, plan, b, func(ctx context.Context, remote string, w io.Writer) (int64, error) {
		return getFile(ctx, cl, remote, w, b)
	})
}

// getToFileWith writes what fetch produces into a temporary file beside
// dst and renames it into place only when fetch succeeded. dst is a path
// the user named (LOCAL), not one built from remote names: those go
// through createFile.
func getToFileWith(ctx context.Context, dst string, fetch func(io.Writer) (int64, error)) (int64, error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, storage.E("get", storage.IO, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".cairn-*")
	if err != nil {
		return 0, storage.E("get", storage.IO, err)
	}
	n, err := fetch(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = storage.E("get", storage.IO, cerr)
	}
	if err == nil {
		if rerr := os.Rename(f.Name(), dst); rerr != nil {
			err = storage.E("get", storage.IO, rerr)
		}
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}

// getFile streams a remote file into w.
func getFile(ctx context.Context, cl *client, remote string, w io.Writer, b *bar) (int64, error) {
	return getFileQuery(ctx, cl, url.Values{"path": {remote}}, w, b)
}

// getFileVersion streams version v of a remote file into w.
func getFileVersion(ctx context.Context, cl *client, remote string, v uint64, w io.Writer, b *bar) (int64, error) {
	return getFileQuery(ctx, cl, url.Values{"path": {remote}, "version": {strconv.FormatUint(v, 10)}}, w, b)
}

func getFileQuery(ctx context.Context, cl *client, q url.Values, w io.Writer, b *bar) (int64, error) {
	resp, err := cl.send(ctx, "GET", "/v1/get", q, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(localWriter{w}, &countReader{r: resp.Body, b: b})
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

type countReader struct {
	r io.Reader
	b *bar
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.b.add(int64(n))
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
			home, err := homeDir(c)
			if err != nil {
				return err
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
			if err := newClient(home).do(c.Context, "GET", "/v1/ls", q, nil, &es); err != nil {
				return err
			}
			if wantJSON(c) {
				return json.NewEncoder(e.stdout).Encode(es)
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
	return &cli.Command{
		Name:      "mkdir",
		Usage:     "make a folder",
		ArgsUsage: "REMOTE",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "p", Usage: "make parents as needed; no error if it exists"}, jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("mkdir takes one REMOTE")
			}
			return simple(c, e, "/v1/mkdir", mkdirReq{Path: c.Args().First(), Parents: c.Bool("p")})
		},
	}
}

func cmdRm(e *env) *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a file, or a folder with -r",
		ArgsUsage: "REMOTE",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "r", Usage: "remove a folder and everything in it"}, jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("rm takes one REMOTE")
			}
			return simple(c, e, "/v1/rm", rmReq{Path: c.Args().First(), Recursive: c.Bool("r")})
		},
	}
}

func cmdMv(e *env) *cli.Command {
	return &cli.Command{
		Name:      "mv",
		Usage:     "move or rename a file or folder",
		ArgsUsage: "SRC DST",
		Flags:     []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("mv takes SRC and DST")
			}
			return simple(c, e, "/v1/mv", mvReq{Src: c.Args().Get(0), Dst: c.Args().Get(1)})
		},
	}
}

// simple posts a JSON request and prints the JSON answer with --json.
func simple(c *cli.Context, e *env, endpoint string, req any) error {
	home, err := homeDir(c)
	if err != nil {
		return err
	}
	var out json.RawMessage
	if err := newClient(home).do(c.Context, "POST", endpoint, nil, req, &out); err != nil {
		return err
	}
	if wantJSON(c) {
		_, err := fmt.Fprintf(e.stdout, "%s\n", strings.TrimSpace(string(out)))
		return err
	}
	return nil
}
