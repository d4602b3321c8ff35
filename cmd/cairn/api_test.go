package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cairn-storage/cairn/storage"
)

// The handler helpers answer as the handlers they replaced: a body that
// is not JSON or a bad ?path= is 400 with an Invalid error, do's error
// goes through writeErr (its kind says the status), its answer is 200.
func TestHandlers(t *testing.T) {
	type req struct {
		Path string `json:"path"`
	}
	echo := jsonHandler(func(_ context.Context, r req) (map[string]string, error) {
		if r.Path == "/missing" {
			return nil, storage.E("stat", storage.NotExist, errors.New("no such file"))
		}
		return map[string]string{"path": r.Path}, nil
	})
	stat := pathHandler(func(_ context.Context, p string, q url.Values) (map[string]string, error) {
		return map[string]string{"path": p, "v": q.Get("v")}, nil
	})
	for _, c := range []struct {
		name   string
		h      http.HandlerFunc
		target string
		body   string
		status int
		want   string
	}{
		{"json", echo, "/", `{"path":"/a"}`, 200, `{"path":"/a"}`},
		{"json error", echo, "/", `{"path":"/missing"}`, 404, `"kind":` + kindNum(storage.NotExist)},
		{"not json", echo, "/", `{`, 400, `"kind":` + kindNum(storage.Invalid)},
		{"path", stat, "/?path=/a/b&v=1", "", 200, `{"path":"/a/b","v":"1"}`},
		{"bad path", stat, "/?path=rel", "", 400, `"kind":` + kindNum(storage.Invalid)},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c.h(rec, httptest.NewRequest("POST", c.target, strings.NewReader(c.body)))
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) {
				t.Errorf("%d %s; want %d with %s", rec.Code, rec.Body, c.status, c.want)
			}
		})
	}
}

func kindNum(k storage.Kind) string { return strconv.Itoa(int(k)) }
