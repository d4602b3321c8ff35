package main

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

type versionJSON struct {
	Version uint64    `json:"version"`
	Size    int64     `json:"size"`
	Mtime   time.Time `json:"mtime"`
}

func (d *daemon) versions(ctx context.Context, p string, _ url.Values) ([]versionJSON, error) {
	vs, err := d.n.drive.Versions(ctx, p)
	return convert(vs, func(v drive.VersionInfo) versionJSON {
		return versionJSON{Version: v.N, Size: v.Size, Mtime: v.Mtime.UTC()}
	}), err
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

func (d *daemon) share(ctx context.Context, req shareReq) (map[string]any, error) {
	p, err := drive.Clean(req.Path)
	switch {
	case err != nil:
		return nil, err
	case req.Link:
		link, err := d.n.drive.Link(ctx, p)
		return map[string]any{"path": p, "link": link}, err
	case req.With == "":
		return nil, storage.E("share", storage.Invalid, errors.New("say whom to share with (--with USER_ID) or ask for a link (--link)"))
	}
	return map[string]any{"path": p, "with": req.With, "write": req.Write}, d.n.drive.Share(ctx, p, req.With, req.Write)
}

func (d *daemon) unshare(ctx context.Context, req unshareReq) (map[string]any, error) {
	p, err := drive.Clean(req.Path)
	switch {
	case err != nil:
		return nil, err
	case (req.From == "") == (req.Link == ""):
		return nil, storage.E("unshare", storage.Invalid, errors.New("give exactly one of --from USER_ID or --link LINK"))
	}
	return map[string]any{"path": p, "revoked": true}, d.n.drive.Unshare(ctx, p, req.From, req.Link)
}

func (d *daemon) shares(ctx context.Context, _ url.Values) ([]drive.Grant, error) {
	return d.n.drive.Shares(ctx)
}

// shareInfoJSON is a received or pending share in the API and in
// 'cairn shares --json'.
type shareInfoJSON struct {
	Name  string    `json:"name"`
	From  string    `json:"from"`
	IsDir bool      `json:"is_dir"`
	Time  time.Time `json:"time"`
}

// shareList serves GET /v1/shares/received and /v1/shares/pending.
func shareList(list func(context.Context) ([]drive.ShareInfo, error)) func(context.Context, url.Values) ([]shareInfoJSON, error) {
	return func(ctx context.Context, _ url.Values) ([]shareInfoJSON, error) {
		ss, err := list(ctx)
		return convert(ss, func(s drive.ShareInfo) shareInfoJSON {
			return shareInfoJSON{Name: s.Name, From: s.From, IsDir: s.IsDir, Time: s.Time.UTC()}
		}), err
	}
}

// pickReq names pending shares, or a user all of whose pending shares are
// meant.
type pickReq struct {
	Names []string `json:"names,omitempty"`
	From  string   `json:"from,omitempty"`
}

// accept and decline serve POST /v1/shares/accept and /v1/shares/decline.
func (d *daemon) accept(ctx context.Context, req pickReq) (map[string]any, error) {
	names, err := d.n.drive.Accept(ctx, req.Names, req.From)
	paths := convert(names, func(n string) string { return drive.SharedDir + "/" + n })
	return map[string]any{"accepted": paths}, err
}

func (d *daemon) decline(ctx context.Context, req pickReq) (map[string]any, error) {
	n, err := d.n.drive.Decline(ctx, req.Names, req.From)
	return map[string]any{"declined": n}, err
}
