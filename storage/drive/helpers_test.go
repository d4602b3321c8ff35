package drive

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// Helpers shared by the drive's tests.

var testKey = cryptree.Key{7, 7, 7}

func kindOf(err error) storage.Kind {
	if err == nil {
		return storage.Other
	}
	return storage.KindOf(err)
}

// okKind is the Kind a test step expects: Other means success.
func checkKind(t *testing.T, what string, err error, want storage.Kind) {
	t.Helper()
	if want == storage.Other {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v (kind %v), want kind %v", what, err, kindOf(err), want)
	}
}

func inline(s string) *blob.Manifest { return &blob.Manifest{Size: int64(len(s)), Inline: []byte(s)} }

func names(es []Entry) string {
	var b []string
	for _, e := range es {
		n := e.Name()
		if e.IsDir {
			n += "/"
		}
		b = append(b, n)
	}
	return strings.Join(b, " ")
}

// walkable is what walkAll and walkTrash need: a Tree, a Drive, a CapView.
type walkable interface {
	Walk(ctx context.Context, dir string, fn func(Entry) error) error
}

func walkAll(t *testing.T, ns walkable, dir string) string {
	t.Helper()
	var b []string
	err := ns.Walk(context.Background(), dir, func(e Entry) error {
		if inTrash(e.Path) {
			return nil // Remove moves things there
		}
		if !e.IsDir && e.Manifest == nil {
			t.Errorf("walk: %s without manifest", e.Path)
		}
		p := e.Path
		if e.IsDir {
			p += "/"
		}
		b = append(b, p)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return strings.Join(b, " ")
}

// driveOver returns a Drive over the open Tree t (no background opener),
// with its journal in a fresh KV.
func driveOver(t *Tree) *Drive {
	d := newDrive(Config{Tree: t.cfg, Journal: memstore.NewKV(), MetaKey: testKey})
	d.open.tree.Store(t)
	close(d.open.ready)
	return d
}
