package drive

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
)

// Folders opened lately. Reads resolve a path from the root and look up
// every folder's record each time (so changes by other writers show), but
// while a folder's record is unchanged its body opens to the same Folder:
// cryptree.OpenFolder is a function of the body, the folder's ID and the
// keys given, and a record value names its body exactly (the body itself,
// or the locator of a content-addressed small object). So the Tree keeps
// the last opened Folder of each folder with the value and keys it came
// from, and load uses it when the record it chose — after every check of
// record: signature, rollback, Follows, fallback to the last good one —
// has that same value and the keys are the same. A tree get of 2,000
// files in 20 folders then opens each folder's body once per change, not
// once per file (each opening decrypts and parses every entry).
//
// Nothing that decides which record counts is cached here; a body that
// did not open is not cached either (it is tried again each time, as
// before).
const (
	// maxOpenedFolders bounds how many folders are kept.
	maxOpenedFolders = 1024
	// maxOpenedBytes bounds the sealed bodies they were opened from, in
	// all (what they hold opened is of the same order); a body over a
	// quarter of it is not kept.
	maxOpenedBytes = 32 << 20
)

// openedCache is the Tree's folders opened lately. The zero value is
// empty. Safe for concurrent use; the Folders it holds are read only.
type openedCache struct {
	mu    sync.Mutex
	m     map[cryptree.FolderID]*openedFolder
	bytes int
}

type openedFolder struct {
	value []byte // the record value it was opened from (a copy)
	sk    cryptree.Key
	wk    *cryptree.Key // nil: opened without write keys
	f     *cryptree.Folder
	keys  cryptree.FolderKeys
	size  int // of the sealed body
}

// get returns the Folder opened from record value v of folder id with sk
// and wk, and its keys, or nil. The Folder is shared: read only.
func (c *openedCache) get(id cryptree.FolderID, v []byte, sk cryptree.Key, wk *cryptree.Key) (*cryptree.Folder, cryptree.FolderKeys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[id]
	if e == nil || e.sk != sk || (e.wk == nil) != (wk == nil) || wk != nil && *e.wk != *wk || !bytes.Equal(e.value, v) {
		return nil, cryptree.FolderKeys{}
	}
	return e.f, e.keys
}

// put keeps f, opened from record value v of folder id (a sealed body of
// size bytes) with sk and wk, in place of what was kept of id. f is not
// to be changed from now on.
func (c *openedCache) put(id cryptree.FolderID, v []byte, sk cryptree.Key, wk *cryptree.Key, f *cryptree.Folder, keys cryptree.FolderKeys, size int) {
	if size > maxOpenedBytes/4 {
		return
	}
	e := &openedFolder{value: bytes.Clone(v), sk: sk, f: f, keys: keys, size: size}
	if wk != nil {
		k := *wk
		e.wk = &k
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cryptree.FolderID]*openedFolder{}
	}
	if old := c.m[id]; old != nil {
		c.bytes -= old.size
		delete(c.m, id)
	}
	// Over the bounds, drop folders at random (map order) until it fits.
	for k, old := range c.m {
		if len(c.m) < maxOpenedFolders && c.bytes+size <= maxOpenedBytes {
			break
		}
		c.bytes -= old.size
		delete(c.m, k)
	}
	c.m[id] = e
	c.bytes += size
}

// cloneFolder returns a copy of f that shares nothing that can be changed
// with it: what an op that may write a folder gets from the cache.
func cloneFolder(f *cryptree.Folder) *cryptree.Folder {
	c := *f
	if f.Parent != nil {
		p := *f.Parent
		c.Parent = &p
	}
	c.Dirs = slices.Clone(f.Dirs)
	for i := range c.Dirs {
		if w := c.Dirs[i].Writer; w != nil {
			wc := cryptree.Writer{Sign: slices.Clone(w.Sign), WK: w.WK}
			c.Dirs[i].Writer = &wc
		}
	}
	c.Files = slices.Clone(f.Files)
	for i := range c.Files {
		vs := slices.Clone(c.Files[i].Meta.Versions)
		for j := range vs {
			vs[j].Manifest = slices.Clone(vs[j].Manifest)
		}
		c.Files[i].Meta.Versions = vs
	}
	return &c
}

// sealedAs returns a copy of f as cryptree.OpenFolder returns it once
// sealed (TestSealedAs): folders and files sorted by name, times in UTC
// without a monotonic reading, empty lists as it returns them. save keeps it, so that the read after a
// write does not open the body the write has just sealed.
func sealedAs(f *cryptree.Folder) *cryptree.Folder {
	c := cloneFolder(f)
	utc := func(t time.Time) time.Time { return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC() }
	c.Mtime = utc(c.Mtime)
	if len(c.Dirs) == 0 {
		c.Dirs = nil // as cryptree opens an empty list of folders
	}
	if c.Files == nil {
		c.Files = []cryptree.FileEntry{} // and of files
	}
	slices.SortFunc(c.Dirs, func(a, b cryptree.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.Files, func(a, b cryptree.FileEntry) int { return strings.Compare(a.Meta.Name, b.Meta.Name) })
	for i := range c.Files {
		for j := range c.Files[i].Meta.Versions {
			v := &c.Files[i].Meta.Versions[j]
			v.Mtime = utc(v.Mtime)
		}
	}
	return c
}
