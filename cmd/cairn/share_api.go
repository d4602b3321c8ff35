package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

type versionJSON struct {
	Version uint64    `json:"version"`
	Size    int64     `json:"size"`
	Mtime   time.Time `json:"mtime"`
}

func (d *daemon) handleVersions(w http.ResponseWriter, r *http.Request) {
	p, err := queryPath(r, "path")
	if err != nil {
		writeErr(w, err)
		return
	}
	vs, err := d.n.drive.Versions(r.Context(), p)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := make([]versionJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, versionJSON{Version: v.N, Size: v.Size, Mtime: v.Mtime.UTC()})
	}
	writeJSON(w, 200, out)
}

type shareReq struct {
	Path  string `json:"path"`
	With  string `json:"with,omitempty"`
	Write bool   `json:"write,omitempty"`
	Link  bool   `json:"link,omitempty"`
}

type unshareReq struct {
	Path string `json:"path"`
	From string `json:"from,omitempty"`
	Link string `json:"link,omitempty"`
}

func (d *daemon) handleShare(w http.ResponseWriter, r *http.Request) {
	var req shareReq
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	p, err := drive.Clean(req.Path)
	if err != nil {
		writeErr(w, err)
		return
	}
	if req.Link {
		link, err := d.n.drive.Link(r.Context(), p)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]string{"path": p, "link": link})
		return
	}
	if req.With == "" {
		writeErr(w, storage.E("share", storage.Invalid, errors.New("say whom to share with (--with USER_ID) or ask for a link (--link)")))
		return
	}
	if err := d.n.drive.Share(r.Context(), p, req.With, req.Write); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"path": p, "with": req.With, "write": req.Write})
}

func (d *daemon) handleUnshare(w http.ResponseWriter, r *http.Request) {
	var req unshareReq
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	p, err := drive.Clean(req.Path)
	if err != nil {
		writeErr(w, err)
		return
	}
	if (req.From == "") == (req.Link == "") {
		writeErr(w, storage.E("unshare", storage.Invalid, errors.New("give exactly one of --from USER_ID or --link LINK")))
		return
	}
	if err := d.n.drive.Unshare(r.Context(), p, req.From, req.Link); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"path": p, "revoked": true})
}

func (d *daemon) handleShares(w http.ResponseWriter, r *http.Request) {
	gs, err := d.n.drive.Shares(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, gs)
}

// shareInfoJSON is a received or pending share in the API and in
// 'cairn shares --json'.
type shareInfoJSON struct {
	Name  string    `json:"name"`
	From  string    `json:"from"`
	IsDir bool      `json:"is_dir"`
	Time  time.Time `json:"time"`
}

func shareInfosJSON(in []drive.ShareInfo) []shareInfoJSON {
	out := make([]shareInfoJSON, 0, len(in))
	for _, s := range in {
		out = append(out, shareInfoJSON{Name: s.Name, From: s.From, IsDir: s.IsDir, Time: s.Time.UTC()})
	}
	return out
}

// handleShareList serves GET /v1/shares/received and /v1/shares/pending.
func (d *daemon) handleShareList(list func(context.Context) ([]drive.ShareInfo, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := list(r.Context())
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, shareInfosJSON(ss))
	}
}

// pickReq names pending shares, or a user all of whose pending shares are
// meant.
type pickReq struct {
	Names []string `json:"names,omitempty"`
	From  string   `json:"from,omitempty"`
}

// handlePick serves POST /v1/shares/accept and /v1/shares/decline: do
// answers a pickReq with the response's JSON.
func (d *daemon) handlePick(do func(ctx context.Context, req pickReq) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req pickReq
		if err := decodeBody(r, &req); err != nil {
			writeErr(w, err)
			return
		}
		out, err := do(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, out)
	}
}

func (d *daemon) accept(ctx context.Context, req pickReq) (any, error) {
	names, err := d.n.drive.Accept(ctx, req.Names, req.From)
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = drive.SharedDir + "/" + n
	}
	return map[string]any{"accepted": paths}, err
}

func (d *daemon) decline(ctx context.Context, req pickReq) (any, error) {
	n, err := d.n.drive.Decline(ctx, req.Names, req.From)
	return map[string]any{"declined": n}, err
}
