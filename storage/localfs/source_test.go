package localfs

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/localfs/localfstest"
)

// OpenSource opens a regular file, and refuses at once, without blocking,
// a named pipe or device (a file swapped for one after put looked at it),
// a folder, a relative path and a missing file, each with its kind; a
// link is followed.
func TestOpenSource(t *testing.T) {
	root, special := localfstest.SpecialTree(t)
	for name, kind := range special {
		if kind == "symlink" || kind == "socket" { // links: below; a socket does not open at all
			continue
		}
		done := make(chan error, 1)
		go func() {
			f, _, err := OpenSource(filepath.Join(root, name))
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("opening a %s blocked", kind)
		}
		if !errors.Is(err, storage.Invalid) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", kind, err)
		}
	}

	for _, name := range []string{"file.txt", "link-to-file"} {
		f, fi, err := OpenSource(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(b) != "regular" || fi.Size() != 7 || !fi.Mode().IsRegular() {
			t.Errorf("%s: %q, %v, size %d", name, b, err, fi.Size())
		}
	}

	for _, c := range []struct {
		name string
		kind storage.Kind
	}{
		{"file.txt", storage.Invalid}, // relative
		{filepath.Join(root, "sub"), storage.Invalid},
		{filepath.Join(root, "link-to-dir"), storage.Invalid},
		{filepath.Join(root, "dangling"), storage.NotExist},
		{filepath.Join(root, "missing"), storage.NotExist},
	} {
		if _, _, err := OpenSource(c.name); !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want kind %v", c.name, err, c.kind)
		}
	}
}
