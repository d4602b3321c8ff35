package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/badgerstore"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/health"
	"github.com/cairn-storage/cairn/storage/home"
	"github.com/cairn-storage/cairn/storage/localfs"
)

// How often the daemon's background loops run.
const (
	// inboxPoll: looking for capabilities shared with this user.
	inboxPoll = 2 * time.Second
	// republishEvery: publishing the folder records again, well inside
	// the DHT's 48-hour record lifetime.
	republishEvery = 4 * time.Hour
	// gcEvery: reclaiming the space of deleted fragments and KV values.
	gcEvery = 15 * time.Minute
	// uptimeEvery: saving the online time (availability survives a crash
	// with at most this much lost).
	uptimeEvery = time.Minute
)

func cmdDaemon(e *env) *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "run the node in the foreground until SIGINT/SIGTERM",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "listen", Usage: "listen on `MULTIADDR` (repeatable; default TCP and QUIC on all interfaces)"},
			&cli.StringSliceFlag{Name: "bootstrap", Usage: "join the network through `MULTIADDR` (repeatable)"},
			&cli.StringFlag{Name: "contribute", Usage: "disk `SIZE` offered to others, like 500MiB or 2GB (default " + home.DefaultContribute + ")"},
			&cli.StringFlag{Name: "grace", Usage: "`SIZE` this node keeps for a peer that has earned nothing with it yet (default " + home.DefaultGrace + ")"},
			&cli.BoolFlag{Name: "mdns", Value: true, Usage: "find peers on the local network by mDNS"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("daemon takes no arguments")
			}
			return runDaemon(c, e)
		},
	}
}

func runDaemon(c *cli.Context, e *env) error {
	dir, err := homeDir(c)
	if err != nil {
		return err
	}
	h, err := openHome(dir)
	if err != nil {
		return err
	}
	if err := newClient(dir).do(c.Context, "GET", "/v1/id", nil, nil, nil); err == nil {
		return withHint(usagef("a daemon is already running for %s", dir), "stop it first, or use another --home")
	}
	kr, ident, err := openIdentity(c, e, h)
	if err != nil {
		return err
	}
	flags := home.Flags{Listen: c.StringSlice("listen"), Bootstrap: c.StringSlice("bootstrap"),
		Contribute: c.String("contribute"), Grace: c.String("grace")}
	if c.IsSet("mdns") {
		mdns := c.Bool("mdns")
		flags.MDNS = &mdns
	}
	set, err := h.Settings(flags)
	var bad *storage.Error
	if errors.As(err, &bad) && bad.Subject != "" {
		hint := "--" + bad.Subject + " takes a size like 500MiB or 2GB"
		if bad.Op == "parse duration" {
			hint = "config.json's " + bad.Subject + " takes a duration like 90s or 720h"
		}
		return withHint(usagef("%v", bad.Err), hint)
	}
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := daemonLogger()
	n, err := startNode(ctx, nodeConfig{
		Home: dir, Identity: ident, Keyring: kr, Listen: set.Listen, Bootstrap: set.Bootstrap,
		MDNS: set.MDNS, Contribute: set.Contribute, Grace: set.Grace, Lease: set.Lease, Logf: logf,
		WaitPeers: 20 * time.Second,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	up := home.NewUptime(ctx, n.db.KV("node"), set.Created)
	// Background work: each loop is a value whose Close stops it and waits
	// for it. The drive's loops wait for its tree to open, then resume
	// what a crash interrupted, poll the inbox, republish the records, and
	// audit and repair everything stored, a budget of audits a round.
	maint := drive.NewMaintenance(ctx, n.drive, drive.MaintenanceOptions{
		Inbox: inboxPoll, Republish: republishEvery, Resume: true, Logf: logf,
		Audit: &drive.AuditOptions{Every: set.AuditEvery, Budget: set.AuditBudget, Pass: set.AuditPass,
			Check: n.scores.CheckOptions(n.audits, n.db.KV("health"), health.Policy{Repair: true, Presence: blob.Presence(n.blob.Config().Network), ProveEvery: set.AuditProve}),
			Round: func(ctx context.Context) { _ = n.scores.Save(ctx) }},
	})
	d := &daemon{n: n, up: up, maint: maint}

	ln, err := h.Listen() // no daemon answered above: a socket there is stale
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.routes(), BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()

	logf("cairn daemon: user %s, peer %s, contributing %s", kr.UserID(), n.net.ID(), formatSize(set.Contribute))
	for _, a := range n.net.Addrs() {
		logf("listening on %s", a)
	}
	gc := badgerstore.NewCollector(ctx, n.db, gcEvery)
	saver := home.NewUptimeSaver(ctx, up, uptimeEvery)

	<-ctx.Done()
	logf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	maint.Close()
	if err := n.scores.Save(sctx); err != nil {
		logf("saving the peers' scores: %v", err)
	}
	gc.Close()
	saver.Close()
	_ = os.Remove(h.SocketPath())
	n.Close()
	logf("stopped")
	return nil
}

// daemon serves the local API of node n (its config says the user,
// the contribution and where to log).
type daemon struct {
	n     *node
	up    *home.Uptime
	maint *drive.Maintenance
}

// routes: each handler but put's and get's streams is a function from the
// request (its JSON body, or its query) to the JSON answer (api.go).
func (d *daemon) routes() http.Handler {
	dr := d.n.drive
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/id", queryHandler(d.id))
	mux.HandleFunc("GET /v1/status", queryHandler(d.status))
	mux.HandleFunc("GET /v1/peers", queryHandler(d.peers))
	mux.HandleFunc("GET /v1/check", queryHandler(d.check))
	mux.HandleFunc("POST /v1/put", d.handlePut)
	mux.HandleFunc("GET /v1/get", d.handleGet)
	mux.HandleFunc("GET /v1/stat", pathHandler(d.stat))
	mux.HandleFunc("GET /v1/ls", pathHandler(d.ls))
	mux.HandleFunc("POST /v1/mkdir", jsonHandler(d.mkdir))
	mux.HandleFunc("POST /v1/rm", jsonHandler(d.rm))
	mux.HandleFunc("POST /v1/mv", jsonHandler(d.mv))
	mux.HandleFunc("GET /v1/versions", pathHandler(d.versions))
	mux.HandleFunc("POST /v1/share", jsonHandler(d.share))
	mux.HandleFunc("POST /v1/unshare", jsonHandler(d.unshare))
	mux.HandleFunc("GET /v1/shares", queryHandler(d.shares))
	mux.HandleFunc("GET /v1/shares/received", queryHandler(shareList(dr.Received)))
	mux.HandleFunc("GET /v1/shares/pending", queryHandler(shareList(dr.PendingShares)))
	mux.HandleFunc("POST /v1/shares/accept", jsonHandler(d.accept))
	mux.HandleFunc("POST /v1/shares/decline", jsonHandler(d.decline))
	return mux
}

type idJSON struct {
	UserID string   `json:"user_id"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

func (d *daemon) id(context.Context, url.Values) (idJSON, error) {
	return idJSON{UserID: d.n.cfg.Keyring.UserID(), PeerID: string(d.n.net.ID()), Addrs: d.n.net.Addrs()}, nil
}

type statusJSON struct {
	PeerID               string  `json:"peer_id"`
	UserID               string  `json:"user_id"`
	Peers                int     `json:"peers"`
	StoragePeers         int     `json:"storage_peers"`
	ContributedBytes     int64   `json:"contributed_bytes"`
	StoredForOthersBytes int64   `json:"stored_for_others_bytes"`
	UsedBytes            int64   `json:"used_bytes"`
	FileBytes            int64   `json:"file_bytes"`
	Files                int     `json:"files"`
	QuotaBytes           int64   `json:"quota_bytes"`
	Availability         float64 `json:"availability"`
	PendingUploads       int     `json:"pending_uploads"`
	RepairQueue          int     `json:"repair_queue"`
	UptimeSeconds        int64   `json:"uptime_seconds"`
	// UsageStale is set when the drive could not be read just now (a
	// fresh node still finding its peers, say): files, file_bytes and
	// used_bytes are then the last figures read, or 0.
	UsageStale bool `json:"usage_stale,omitempty"`
}

// status answers within about 10 s, whatever the network does: scripts
// poll it to wait for a node to find its peers.
func (d *daemon) status(ctx context.Context, _ url.Values) (statusJSON, error) {
	uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	u, fresh := d.n.drive.UsageOrLast(uctx)
	cancel()
	pending, err := d.n.drive.Pending(ctx)
	if err != nil {
		return statusJSON{}, err
	}
	peers, _ := d.n.net.Peers(ctx, fragmentProtocol)
	avail, quota := d.up.Status(d.n.cfg.Contribute)
	return statusJSON{
		PeerID:               string(d.n.net.ID()),
		UserID:               d.n.cfg.Keyring.UserID(),
		Peers:                d.n.net.ConnectedCount(),
		StoragePeers:         len(peers),
		ContributedBytes:     d.n.cfg.Contribute,
		StoredForOthersBytes: d.n.db.Fragments().Bytes(),
		UsedBytes:            u.Stored,
		FileBytes:            u.Size,
		Files:                u.Files,
		UsageStale:           !fresh,
		QuotaBytes:           quota,
		Availability:         avail,
		PendingUploads:       len(pending),
		RepairQueue:          d.maint.RepairQueue(),
		UptimeSeconds:        int64(time.Since(d.n.started) / time.Second),
	}, nil
}

// peers lists the storage peers known now and those with a reputation.
func (d *daemon) peers(ctx context.Context, _ url.Values) ([]health.Peer, error) {
	known, err := d.n.net.Peers(ctx, fragmentProtocol)
	return d.n.scores.Peers(known), err
}

// check audits (repair=1: and repairs) the files under ?path (default /).
func (d *daemon) check(ctx context.Context, q url.Values) ([]drive.FileHealth, error) {
	p, err := drive.Clean(cmp.Or(q.Get("path"), "/"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = d.n.scores.Save(ctx) }()
	repair := q.Get("repair") == "1" // asked for: forced, away holders are not waited for
	return d.n.drive.CheckAll(ctx, p, d.n.scores.CheckOptions(d.n.audits, d.n.db.KV("health"), health.Policy{Repair: repair, Force: repair}))
}

func queryPath(r *http.Request, name string) (string, error) {
	return drive.Clean(r.URL.Query().Get(name))
}

func entryOf(e drive.Entry) entryJSON {
	return entryJSON{Name: e.Name(), Path: e.Path, Size: e.Size, IsDir: e.IsDir, Mtime: e.Mtime.UTC()}
}

// orEmpty is xs, or an empty list for nil: [] in JSON, not null.
func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// convert maps a list to its form on the wire. It is never nil: an
// empty list is [] in JSON.
func convert[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// handlePut uploads a file: from the local file named by ?source= (read by
// the daemon itself, which lets the journal resume it after a crash), or
// from the request body. It answers with JSON lines.
func (d *daemon) handlePut(w http.ResponseWriter, r *http.Request) {
	p, err := queryPath(r, "path")
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	opts := drive.PutOptions{}
	if ns := q.Get("mtime"); ns != "" {
		v, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			writeErr(w, storage.E("put", storage.Invalid, fmt.Errorf("bad mtime %q", ns)))
			return
		}
		opts.Mtime = time.Unix(0, v)
	}
	src := r.Body
	if s := q.Get("source"); s != "" {
		f, fi, err := localfs.OpenSource(s)
		if err != nil {
			writeErr(w, err)
			return
		}
		defer f.Close()
		src, opts.Source = f, s
		if opts.Mtime.IsZero() {
			opts.Mtime = fi.ModTime()
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(l putLine) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(l)
		if fl != nil {
			fl.Flush()
		}
	}
	pr := &meter{every: 200 * time.Millisecond, show: func(done, total int64) {
		send(putLine{Progress: &progressJSON{Done: done, Total: total}})
	}}
	opts.Progress = pr
	e, err := d.n.drive.Put(r.Context(), p, src, opts)
	if err != nil {
		d.n.cfg.Logf("put %s: %v", p, err)
		send(putLine{Error: toAPIError(err)})
		return
	}
	pr.flush()
	ej := entryOf(e)
	send(putLine{Entry: &ej})
}

func (d *daemon) handleGet(w http.ResponseWriter, r *http.Request) {
	p, err := queryPath(r, "path")
	if err != nil {
		writeErr(w, err)
		return
	}
	var rd *blob.Reader
	var e drive.Entry
	if v := r.URL.Query().Get("version"); v != "" {
		num, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil || num == 0 {
			writeErr(w, storage.E("get", storage.Invalid, fmt.Errorf("bad version %q: want a number from 'cairn versions'", v)))
			return
		}
		rd, e, err = d.n.drive.OpenVersion(r.Context(), p, num)
	} else {
		rd, e, err = d.n.drive.Open(r.Context(), p)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cairn-Size", strconv.FormatInt(e.Size, 10))
	w.Header().Set("Trailer", "Cairn-Error")
	w.WriteHeader(200)
	if _, err := rd.WriteTo(w); err != nil {
		d.n.cfg.Logf("get %s: %v", p, err)
		b, _ := json.Marshal(toAPIError(err))
		w.Header().Set("Cairn-Error", string(b))
	}
}

func (d *daemon) stat(ctx context.Context, p string, _ url.Values) (entryJSON, error) {
	e, err := d.n.drive.Stat(ctx, p)
	return entryOf(e), err
}

// ls lists folder p (recursive=1: everything below it); a file lists
// itself.
func (d *daemon) ls(ctx context.Context, p string, q url.Values) ([]entryJSON, error) {
	es, err := d.n.drive.Ls(ctx, p, q.Get("recursive") == "1")
	return convert(es, entryOf), err
}

type mkdirReq struct {
	Path    string `json:"path"`
	Parents bool   `json:"parents"`
}

type rmReq struct {
	Path      string `json:"path"`
	Recursive bool   `json:"recursive"`
}

type mvReq struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

func (d *daemon) mkdir(ctx context.Context, req mkdirReq) (map[string]string, error) {
	p, err := drive.Clean(req.Path)
	if err == nil {
		err = d.n.drive.Mkdir(ctx, p, req.Parents)
	}
	return map[string]string{"path": p}, err
}

func (d *daemon) rm(ctx context.Context, req rmReq) ([]entryJSON, error) {
	p, err := drive.Clean(req.Path)
	if err != nil {
		return nil, err
	}
	removed, err := d.n.drive.Remove(ctx, p, req.Recursive)
	return convert(removed, entryOf), err
}

func (d *daemon) mv(ctx context.Context, req mvReq) (map[string]string, error) {
	src, err := drive.Clean(req.Src)
	if err != nil {
		return nil, err
	}
	dst, err := drive.Clean(req.Dst)
	if err != nil {
		return nil, err
	}
	dst, err = d.n.drive.Move(ctx, src, dst) // as mv(1)
	return map[string]string{"src": src, "dst": dst}, err
}
