package cryptree

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// stream is a deterministic io.Reader for tests and vectors: the bytes
// next, next+1, next+2, ... mod 256.
type stream struct{ next byte }

func (s *stream) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = s.next
		s.next++
	}
	return len(p), nil
}

// node is one folder of a test tree with its keys and sealed body.
type node struct {
	id   FolderID
	keys FolderKeys
	w    Writer
	f    *Folder
	body []byte
}

func mustWriter(t testing.TB, rnd *stream) Writer {
	w, err := newWriter(rnd)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustKeys(t testing.TB, rnd *stream) FolderKeys {
	k, err := newFolderKeys(rnd)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func label(b byte) [16]byte { return [16]byte(pattern(16, b, 1)) }

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func fileEntry(rnd *stream, l byte, name string, nv int) FileEntry {
	var dk Key
	_, _ = rnd.Read(dk[:])
	fe := FileEntry{Label: label(l), DK: dk, Meta: FileMeta{Name: name}}
	for i := range nv {
		fe.Meta.Versions = append(fe.Meta.Versions, Version{
			N: uint64(i + 1), Size: int64(1000 * (i + 1)), Mtime: t0.Add(time.Duration(i) * time.Hour),
			Manifest: []byte(fmt.Sprintf("manifest of %s v%d", name, i+1)), Inline: i%2 == 0,
		})
	}
	return fe
}

// testTree seals root / "docs" / "deep", each with files, all writable.
func testTree(t testing.TB) (root, docs, deep *node) {
	t.Helper()
	rnd := &stream{next: 0x11}
	mk := func(name string) *node {
		w := mustWriter(t, rnd)
		return &node{id: w.ID(), keys: mustKeys(t, rnd), w: w}
	}
	root, docs, deep = mk(""), mk("docs"), mk("deep")
	deep.f = &Folder{Name: "deep", Mtime: t0, Parent: &ParentLink{docs.id, docs.keys.DK, docs.keys.BK},
		Files: []FileEntry{fileEntry(rnd, 0x70, "secret.txt", 1)}}
	docs.f = &Folder{Name: "docs", Mtime: t0.Add(time.Second), Parent: &ParentLink{root.id, root.keys.DK, root.keys.BK},
		Dirs:  []DirEntry{{Label: label(0x60), Name: "deep", ID: deep.id, SK: deep.keys.SK, Writer: &deep.w}},
		Files: []FileEntry{fileEntry(rnd, 0x50, "b.txt", 3), fileEntry(rnd, 0x40, "a.txt", 1)}}
	docs.f.Files[1].Dirty = true
	docs.f.Files[0].Meta.Trashed = true
	root.f = &Folder{Mtime: t0.Add(2 * time.Second),
		Dirs:  []DirEntry{{Label: label(0x30), Name: "docs", ID: docs.id, SK: docs.keys.SK, Writer: &docs.w}},
		Files: []FileEntry{fileEntry(rnd, 0x20, "readme", 2)}}
	for _, n := range []*node{root, docs, deep} {
		b, err := sealFolder(rnd, n.f, n.id, n.keys, &n.w.WK)
		if err != nil {
			t.Fatal(err)
		}
		n.body = b
	}
	return root, docs, deep
}

// sortedView returns f as OpenFolder returns it: dirs and files by name.
func sortedView(f *Folder) *Folder {
	g := *f
	g.Dirs = append([]DirEntry(nil), f.Dirs...)
	g.Files = append([]FileEntry(nil), f.Files...)
	sortByName(g.Dirs, func(d DirEntry) string { return d.Name })
	sortByName(g.Files, func(f FileEntry) string { return f.Meta.Name })
	return &g
}

func sortByName[E any](s []E, name func(E) string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && name(s[j]) < name(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestFolderRoundTrip(t *testing.T) {
	root, docs, deep := testTree(t)
	for _, n := range []*node{root, docs, deep} {
		if len(n.body) != PaddedSize(len(n.body)-1) || len(n.body)%1024 != 0 {
			t.Errorf("%q: body of %d bytes is not a bucket size", n.f.Name, len(n.body))
		}
		f, keys, err := OpenFolder(n.body, n.id, n.keys.SK, &n.w.WK)
		if err != nil {
			t.Fatalf("%q: %v", n.f.Name, err)
		}
		if keys != n.keys {
			t.Errorf("%q: keys %v, want %v", n.f.Name, keys, n.keys)
		}
		if want := sortedView(n.f); !reflect.DeepEqual(f, want) {
			t.Errorf("%q: opened\n%+v\nwant\n%+v", n.f.Name, f, want)
		}
		// Without WK: the same view with no Writers.
		f, _, err = OpenFolder(n.body, n.id, n.keys.SK, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Dirs {
			if d.Writer != nil {
				t.Errorf("%q: read-only open filled a Writer", n.f.Name)
			}
		}
	}
	// Sealing without WK writes no write part; opening with a WK then
	// gives no Writers either.
	f := sortedView(docs.f)
	f.Dirs[0].Writer = nil
	b, err := SealFolder(f, docs.id, docs.keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := OpenFolder(b, docs.id, docs.keys.SK, &docs.w.WK)
	if err != nil || g.Dirs[0].Writer != nil {
		t.Fatalf("open of a body without write part: %v, %+v", err, g)
	}
	// Two seals of the same folder differ (fresh nonces and seal id).
	b2, _ := SealFolder(f, docs.id, docs.keys, nil)
	if bytes.Equal(b, b2) {
		t.Error("two seals are identical")
	}
}

func TestFolderKeySeparation(t *testing.T) {
	root, docs, deep := testTree(t)
	cannot := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrCannotDecrypt) {
			t.Errorf("%s: got %v, want ErrCannotDecrypt", what, err)
		}
	}

	// SK opens the whole subtree: root's SK gives docs' SK, which gives deep's.
	f, _, err := OpenFolder(root.body, root.id, root.keys.SK, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err = OpenFolder(docs.body, f.Dirs[0].ID, f.Dirs[0].SK, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = OpenFolder(deep.body, f.Dirs[0].ID, f.Dirs[0].SK, nil); err != nil {
		t.Fatal(err)
	}
	// ... and WK opens the subtree's Writers.
	f, _, _ = OpenFolder(root.body, root.id, root.keys.SK, &root.w.WK)
	f, _, err = OpenFolder(docs.body, docs.id, f.Dirs[0].SK, &f.Dirs[0].Writer.WK)
	if err != nil || f.Dirs[0].Writer.ID() != deep.id {
		t.Fatalf("WK chain: %v", err)
	}

	// FK alone opens the files, not the subfolders nor the name.
	files, err := OpenFiles(docs.body, docs.id, docs.keys.FK)
	if err != nil || len(files) != 2 || files[0].Meta.Name != "a.txt" || !files[0].Dirty {
		t.Fatalf("OpenFiles: %v %+v", err, files)
	}
	_, _, err = OpenFolder(docs.body, docs.id, docs.keys.FK, nil)
	cannot("FK as SK", err)
	_, _, err = OpenFolderInfo(docs.body, docs.id, docs.keys.FK)
	cannot("FK as DK", err)
	_, err = OpenBacklink(docs.body, docs.id, docs.keys.FK)
	cannot("FK as BK", err)

	// A file's DK opens its own entry only.
	a, b := files[0], files[1]
	m, err := OpenFileEntry(docs.body, docs.id, a.Label, a.DK)
	if err != nil || !reflect.DeepEqual(*m, a.Meta) {
		t.Fatalf("OpenFileEntry: %v", err)
	}
	_, err = OpenFileEntry(docs.body, docs.id, b.Label, a.DK)
	cannot("DK of another file", err)
	_, err = OpenFiles(docs.body, docs.id, a.DK)
	cannot("file DK as FK", err)
	_, _, err = OpenFolder(docs.body, docs.id, a.DK, nil)
	cannot("file DK as SK", err)
	if _, err = OpenFileEntry(docs.body, docs.id, label(0x99), a.DK); !errors.Is(err, ErrNoEntry) {
		t.Errorf("unknown label: %v", err)
	}

	// BK opens the parent's name and the next backlink, nothing else.
	p, err := OpenBacklink(deep.body, deep.id, deep.keys.BK)
	if err != nil || p.ID != docs.id {
		t.Fatalf("backlink: %v", err)
	}
	if name, mtime, err := OpenFolderInfo(docs.body, p.ID, p.DK); err != nil || name != "docs" || !mtime.Equal(docs.f.Mtime) {
		t.Fatalf("parent info: %q %v %v", name, mtime, err)
	}
	pp, err := OpenBacklink(docs.body, p.ID, p.BK)
	if err != nil || pp.ID != root.id {
		t.Fatalf("second backlink: %v", err)
	}
	if name, _, err := OpenFolderInfo(root.body, pp.ID, pp.DK); err != nil || name != "" {
		t.Fatalf("root info: %q %v", name, err)
	}
	if top, err := OpenBacklink(root.body, pp.ID, pp.BK); err != nil || top != nil {
		t.Fatalf("root backlink: %v %v", top, err)
	}
	for _, k := range []Key{p.DK, p.BK} {
		_, _, err = OpenFolder(docs.body, docs.id, k, nil)
		cannot("parent DK/BK as SK", err)
		_, err = OpenFiles(docs.body, docs.id, k)
		cannot("parent DK/BK as FK", err)
	}
	_, _, err = OpenFolderInfo(deep.body, deep.id, deep.keys.BK)
	cannot("own BK as own DK", err)

	// A wrong key, a body of another folder, a wrong WK.
	wrong := docs.keys.SK
	wrong[3] ^= 1
	_, _, err = OpenFolder(docs.body, docs.id, wrong, nil)
	cannot("wrong SK", err)
	_, _, err = OpenFolder(deep.body, docs.id, deep.keys.SK, nil)
	cannot("body of another folder", err)
	_, err = OpenFileEntry(docs.body, deep.id, a.Label, a.DK)
	cannot("file entry of another folder", err)
	_, _, err = OpenFolder(docs.body, docs.id, docs.keys.SK, &root.w.WK)
	cannot("wrong WK", err)
}

// TestFolderSplice: a part of one seal does not open inside another seal
// of the same folder with the same keys.
func TestFolderSplice(t *testing.T) {
	_, docs, _ := testTree(t)
	other, err := SealFolder(docs.f, docs.id, docs.keys, &docs.w.WK)
	if err != nil {
		t.Fatal(err)
	}
	// Same framing: put the other seal's id over this body's parts, then
	// put the other seal's keys part into this body.
	ca, _ := Unpad(docs.body)
	cb, _ := Unpad(other)
	if len(ca) != len(cb) {
		t.Fatal("two seals of one folder differ in length")
	}
	mixed := append(append([]byte{bodyVersion}, cb[1:17]...), ca[17:]...)
	if _, _, err := OpenFolder(Pad(mixed), docs.id, docs.keys.SK, nil); !errors.Is(err, ErrCannotDecrypt) {
		t.Errorf("other seal id: %v", err)
	}
	keysEnd := 17 + 4 + RecordOverhead + 48
	mixed = append(append(bytes.Clone(ca[:17]), cb[17:keysEnd]...), ca[keysEnd:]...)
	if _, _, err := OpenFolder(Pad(mixed), docs.id, docs.keys.SK, nil); !errors.Is(err, ErrCannotDecrypt) {
		t.Errorf("other seal's keys part: %v", err)
	}
}

func TestFolderFlipEveryByte(t *testing.T) {
	_, docs, _ := testTree(t)
	content, _ := Unpad(docs.body)
	b := bytes.Clone(docs.body)
	for i := range b {
		if i > len(content)+8 && i%97 != 0 { // past the marker every padding byte behaves alike
			continue
		}
		for _, bit := range []byte{0x01, 0x80} {
			b[i] ^= bit
			f, _, err := OpenFolder(b, docs.id, docs.keys.SK, &docs.w.WK)
			if err == nil || f != nil {
				t.Fatalf("byte %d bit %#x flipped: opened", i, bit)
			}
			if !errors.Is(err, ErrCannotDecrypt) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d: unexpected error kind %v", i, err)
			}
			b[i] ^= bit
		}
	}
	for _, n := range []int{0, 1, len(b) - 1, len(b) / 2} {
		if _, _, err := OpenFolder(b[:n], docs.id, docs.keys.SK, nil); err == nil {
			t.Errorf("truncated to %d: opened", n)
		}
	}
	if _, _, err := OpenFolder(append(bytes.Clone(b), 0), docs.id, docs.keys.SK, nil); err == nil {
		t.Error("extended by a zero: opened")
	}
}

func TestSealFolderInvalid(t *testing.T) {
	_, docs, deep := testTree(t)
	base := func() *Folder { return sortedView(docs.f) }
	other := mustWriter(t, &stream{next: 0xee})
	cases := []struct {
		name  string
		edit  func(f *Folder)
		nilWK bool
	}{
		{"bad folder name", func(f *Folder) { f.Name = "a/b" }, false},
		{"empty file name", func(f *Folder) { f.Files[0].Meta.Name = "" }, false},
		{"empty dir name", func(f *Folder) { f.Dirs[0].Name = "" }, false},
		{"file and dir same name", func(f *Folder) { f.Files[0].Meta.Name = "deep" }, false},
		{"two files same name", func(f *Folder) { f.Files[0].Meta.Name = f.Files[1].Meta.Name }, false},
		{"duplicate label", func(f *Folder) { f.Files[0].Label = f.Dirs[0].Label }, false},
		{"zero label", func(f *Folder) { f.Files[1].Label = [16]byte{} }, false},
		{"writer without WK", func(f *Folder) {}, true},
		{"writer of another folder", func(f *Folder) { f.Dirs[0].Writer = &other }, false},
		{"writer with short key", func(f *Folder) { f.Dirs[0].Writer = &Writer{Sign: deep.w.Sign[:10]} }, false},
		{"no versions", func(f *Folder) { f.Files[0].Meta.Versions = nil }, false},
		{"version 0", func(f *Folder) { f.Files[0].Meta.Versions[0].N = 0 }, false},
		{"versions not increasing", func(f *Folder) { f.Files[1].Meta.Versions[2].N = 2 }, false},
		{"negative size", func(f *Folder) { f.Files[0].Meta.Versions[0].Size = -1 }, false},
		{"manifest too big", func(f *Folder) { f.Files[0].Meta.Versions[0].Manifest = make([]byte, MaxManifest+1) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base()
			f.Files[0].Meta.Versions = append([]Version(nil), f.Files[0].Meta.Versions...)
			f.Files[1].Meta.Versions = append([]Version(nil), f.Files[1].Meta.Versions...)
			c.edit(f)
			wk := &docs.w.WK
			if c.nilWK {
				wk = nil
			}
			if _, err := SealFolder(f, docs.id, docs.keys, wk); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := SealFolder(nil, docs.id, docs.keys, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil folder: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"ünïcødé 名前.txt", true}, {strings.Repeat("x", 255), true}, {"...", true}, {".hidden", true},
		{"", false}, {strings.Repeat("x", 256), false}, {"a/b", false}, {"a\x00b", false},
		{".", false}, {"..", false}, {"\xff\xfe", false},
	} {
		if err := ValidName(c.name); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("ValidName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestFolderID(t *testing.T) {
	w := mustWriter(t, &stream{next: 1})
	id := w.ID()
	s := id.String()
	if len(s) != 52 || strings.ToLower(s) != s {
		t.Fatalf("String = %q", s)
	}
	for _, in := range []string{s, strings.ToUpper(s), " " + s + "\n"} {
		if got, err := ParseFolderID(in); err != nil || got != id {
			t.Errorf("ParseFolderID(%q) = %v, %v", in, got, err)
		}
	}
	last := s[:51] + string(s[51]+1) // a non-zero unused bit
	for _, in := range []string{"", s[:51], s + "a", last, s[:10] + "1" + s[11:], s[:10] + "é" + s[12:]} {
		if _, err := ParseFolderID(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseFolderID(%q) = %v, want ErrInvalid", in, err)
		}
	}
	if (Writer{}).ID() != (FolderID{}) {
		t.Error("zero Writer has a non-zero ID")
	}
}

func TestRootFolder(t *testing.T) {
	k := KeyringFromRoot([32]byte(pattern(32, 5, 3)))
	keys, w := k.RootFolder()
	keys2, w2 := KeyringFromRoot(k.Root).RootFolder()
	if keys != keys2 || !bytes.Equal(w.Sign, w2.Sign) || w.WK != w2.WK {
		t.Fatal("root folder keys are not deterministic")
	}
	all := map[Key]bool{keys.SK: true, keys.FK: true, keys.DK: true, keys.BK: true, w.WK: true, k.MetadataKey(): true}
	if len(all) != 6 {
		t.Fatal("root folder keys repeat")
	}
	if bytes.Equal(w.Sign, k.SigningKey()) {
		t.Fatal("root folder key is the identity key")
	}
	if err := w.check(w.ID()); err != nil {
		t.Fatal(err)
	}
}
