package main

// The local API: HTTP/1.1 over a Unix socket in the home (mode 0600), JSON
// bodies. Only `cairn daemon` serves it; every other command is a client.
// Streams: PUT answers with JSON lines (progress, then the entry or an
// error); GET answers with the file's bytes and, if it fails midway, an
// error in the Cairn-Error trailer.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/home"
)

// apiError is an error as it crosses the socket.
type apiError struct {
	Kind    uint8  `json:"kind"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func toAPIError(err error) *apiError {
	ae := &apiError{Kind: uint8(storage.KindOf(err)), Message: err.Error()}
	var h hinted
	switch {
	case errors.As(err, &h):
		ae.Hint = h.hint
	case errors.Is(err, drive.ErrNotOpen):
		ae.Hint = "the daemon is still looking for its storage peers; try again in a moment"
	}
	return ae
}

func (ae *apiError) err() error {
	var e error = &storage.Error{Kind: storage.Kind(ae.Kind), Err: errors.New(ae.Message)}
	if ae.Hint != "" {
		e = withHint(e, ae.Hint)
	}
	return e
}

// entryJSON is a drive entry on the wire and in `ls --json`.
type entryJSON struct {
	Name  string    `json:"name"`
	Path  string    `json:"path"`
	Size  int64     `json:"size"`
	IsDir bool      `json:"is_dir"`
	Mtime time.Time `json:"mtime"`
}

// putLine is one line of a PUT response.
type putLine struct {
	Progress *progressJSON `json:"progress,omitempty"`
	Entry    *entryJSON    `json:"entry,omitempty"`
	Error    *apiError     `json:"error,omitempty"`
}

type progressJSON struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// client talks to the daemon of a home.
type client struct {
	home string
	http *http.Client
}

func newClient(dir string) *client {
	sock := home.SocketPath(dir)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 16,
		DisableCompression:  true,
	}
	return &client{home: dir, http: &http.Client{Transport: tr}}
}

var errNoDaemon = errors.New("no daemon is running")

// noDaemon is the error of a request that found no daemon (the dial
// error says no more than "not running").
func (c *client) noDaemon() error {
	return withHint(&storage.Error{Kind: storage.Unavailable, Err: fmt.Errorf("%w for home %s", errNoDaemon, c.home)},
		"start it with 'cairn daemon'")
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return storage.E("read daemon answer", storage.IO, err)
	}
	return nil
}

// send makes a request; a non-2xx answer is decoded into an error.
func (c *client) send(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := "http://cairn" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, storage.E("daemon request", storage.Canceled, ctx.Err())
		}
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, os.ErrNotExist) {
			return nil, c.noDaemon()
		}
		return nil, storage.E("daemon request", storage.Unavailable, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var ae struct {
			Error *apiError `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ae); err != nil || ae.Error == nil {
			return nil, storage.E("daemon request", storage.Other, fmt.Errorf("daemon answered %s", resp.Status))
		}
		return nil, ae.Error.err()
	}
	return resp, nil
}

// jsonHandler serves a request whose body is a JSON Req: do's answer is
// the JSON response (200), or its error (writeErr).
func jsonHandler[Req, Resp any](do func(context.Context, Req) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&req); err != nil {
			writeErr(w, storage.E("decode request", storage.Invalid, err))
			return
		}
		v, err := do(r.Context(), req)
		reply(w, v, err)
	}
}

// queryHandler serves a request described by its query, as jsonHandler.
func queryHandler[Resp any](do func(context.Context, url.Values) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := do(r.Context(), r.URL.Query())
		reply(w, v, err)
	}
}

// pathHandler is a queryHandler for a drive path in ?path=, cleaned.
func pathHandler[Resp any](do func(ctx context.Context, p string, q url.Values) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := queryPath(r, "path")
		if err != nil {
			writeErr(w, err)
			return
		}
		v, err := do(r.Context(), p, r.URL.Query())
		reply(w, v, err)
	}
}

// reply answers with a handler's result: err, or v.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, v)
}

// writeJSON answers with v.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers with err and the status its kind has in kinds (app.go).
func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if k, ok := kinds[storage.KindOf(err)]; ok {
		status = k.status
	}
	writeJSON(w, status, map[string]any{"error": toAPIError(err)})
}
