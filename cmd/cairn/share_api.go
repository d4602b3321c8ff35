package main

import (
	"context"
	"errors"
	"net/url"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

func (d *daemon) versions(ctx context.Context, p string, _ url.Values) ([]drive.VersionInfo, error) {
	vs, err := d.n.drive.Versions(ctx, p)
	return orEmpty(vs), err
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
	gs, err := d.n.drive.Shares(ctx)
	return orEmpty(gs), err
}

// shareList serves GET /v1/shares/received and /v1/shares/pending.
func shareList(list func(context.Context) ([]drive.ShareInfo, error)) func(context.Context, url.Values) ([]drive.ShareInfo, error) {
	return func(ctx context.Context, _ url.Values) ([]drive.ShareInfo, error) {
		ss, err := list(ctx)
		return orEmpty(ss), err
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
