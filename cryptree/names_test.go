package cryptree

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// badNames are names no folder body, capability or link may carry (SPEC.md
// §9): each would be unsafe as a local file name or on a terminal.
var badNames = []struct{ why, name string }{
	{"empty", ""},
	{"dot", "."},
	{"dot dot", ".."},
	{"slash", "a/b"},
	{"absolute", "/etc"},
	{"parent slash", "../x"},
	{"backslash", `a\b`},
	{"backslash parent", `..\x`},
	{"backslash only", `\`},
	{"NUL", "a\x00b"},
	{"tab", "a\tb"},
	{"newline", "a\nb"},
	{"carriage return", "Icon\r"},
	{"escape sequence", "\x1b[31mred"},
	{"unit separator", "a\x1fb"},
	{"DEL", "a\x7fb"},
	{"C1 first (U+0080)", "a\u0080b"},
	{"C1 NEL (U+0085)", "\u0085"},
	{"C1 CSI (U+009B)", "\u009b31m"},
	{"C1 last (U+009F)", "a\u009f"},
	{"invalid UTF-8", "\xff\xfe"},
	{"lone continuation byte", "a\x80b"},
	{"too long", strings.Repeat("x", MaxName+1)},
}

// goodNames are names that stay valid, near the edges of the rule.
var goodNames = []string{
	"a", "ünïcødé 名前.txt", strings.Repeat("x", MaxName), "...", ".hidden", "a..b", "..a",
	"a b", "~", "a:b", "a|b", "\u00a0nbsp", "\u00a1", "emoji 😀", "\u200b", "x\u2028y",
}

func TestValidNameRefuses(t *testing.T) {
	for _, c := range badNames {
		err := ValidName(c.name)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ValidName(%.40q) = %v, want ErrInvalid", c.why, c.name, err)
		}
	}
}

func TestValidNameAccepts(t *testing.T) {
	for _, name := range goodNames {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%.40q) = %v, want nil", name, err)
		}
	}
}

// The reason names the offending character without echoing it raw.
func TestValidNameReason(t *testing.T) {
	for name, want := range map[string]string{
		`a\b`:      `'\'`,
		"a\x1bb":   "U+001B",
		"a\u009bb": "U+009B",
		"a/b":      "'/'",
		"a\x00b":   "U+0000",
	} {
		err := ValidName(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidName(%q) = %v, want a reason with %s", name, err, want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\x1b\u009b") {
			t.Errorf("ValidName(%q): reason %q carries a control character", name, err)
		}
	}
}

// Placeholders that forgedBody swaps for a bad name. Each is unique in the
// body's plaintexts and a valid name, so SealFolder accepts the folder.
const (
	phFolder = "PLACEHOLDER-folder-name"
	phDir    = "PLACEHOLDER-dir-name"
	phFile   = "PLACEHOLDER-file-name"
)

// forgeFixture is a folder with one subfolder and one file, sealed with
// placeholders for its three names.
type forgeFixture struct {
	id   FolderID
	keys FolderKeys
	body []byte
	file FileEntry
}

func newForgeFixture(t *testing.T) *forgeFixture {
	t.Helper()
	rnd := &stream{next: 0x5a}
	w := mustWriter(t, rnd)
	child := mustWriter(t, rnd)
	fx := &forgeFixture{id: w.ID(), keys: mustKeys(t, rnd)}
	fx.file = fileEntry(rnd, 0x22, phFile, 1)
	f := &Folder{Name: phFolder, Mtime: t0,
		Dirs:  []DirEntry{{Label: label(0x11), Name: phDir, ID: child.ID(), SK: mustKeys(t, rnd).SK}},
		Files: []FileEntry{fx.file}}
	body, err := sealFolder(rnd, f, fx.id, fx.keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.body = body
	return fx
}

// joinBody is splitBody's inverse: the framing of SPEC.md §10, padded.
func joinBody(r *rawBody) []byte {
	e := enc{}
	e.u8(bodyVersion)
	e.raw(r.sealID)
	for _, p := range [][]byte{r.keys, r.info, r.back, r.dirs, r.write, r.fileKeys} {
		e.bytes32(p)
	}
	e.u32(uint32(len(r.files)))
	for i := range r.files {
		e.label(&r.labels[i])
		e.bytes32(r.files[i])
	}
	return Pad(e.b)
}

// forge returns the fixture's body with the name placeholder ph replaced by
// name in its sealed part, resealed under the same key and additional data:
// what a writer that skips SealFolder's checks could publish.
func (fx *forgeFixture) forge(t *testing.T, ph, name string) []byte {
	t.Helper()
	r, err := splitBody(fx.body)
	if err != nil {
		t.Fatal(err)
	}
	var (
		part  byte
		key   Key
		lab   *[16]byte
		where *[]byte
	)
	switch ph {
	case phFolder:
		part, key, where = partInfo, fx.keys.DK, &r.info
	case phDir:
		part, key, where = partDirs, fx.keys.SK, &r.dirs
	case phFile:
		part, key, lab, where = partFile, fx.file.DK, &fx.file.Label, &r.files[0]
	default:
		t.Fatalf("unknown placeholder %q", ph)
	}
	plain, err := r.open(part, *where, key, &fx.id, lab)
	if err != nil {
		t.Fatal(err)
	}
	old := append([]byte{byte(len(ph))}, ph...)
	if bytes.Count(plain, old) != 1 {
		t.Fatalf("placeholder %q not found once in its part", ph)
	}
	if len(name) > 255 {
		t.Fatalf("name of %d bytes does not fit a u8 length", len(name))
	}
	plain = bytes.Replace(plain, old, append([]byte{byte(len(name))}, name...), 1)
	sealed, err := sealPart(&stream{next: 0x77}, key, plain, partAD(part, &fx.id, r.sealID, lab))
	if err != nil {
		t.Fatal(err)
	}
	*where = sealed
	return joinBody(r)
}

// A body whose names were never checked by SealFolder is refused when it is
// opened, by every function that reads the name, with ErrInvalid naming
// the problem — not a panic, not a Folder with the name in it.
func TestOpenFolderRefusesForgedNames(t *testing.T) {
	fx := newForgeFixture(t)

	// The forger works: valid replacements open, and show the new names.
	ok := fx.forge(t, phFolder, "renamed")
	if f, _, err := OpenFolder(ok, fx.id, fx.keys.SK, nil); err != nil || f.Name != "renamed" {
		t.Fatalf("valid forged folder name: %v", err)
	}
	ok = fx.forge(t, phDir, "sub")
	if f, _, err := OpenFolder(ok, fx.id, fx.keys.SK, nil); err != nil || f.Dirs[0].Name != "sub" {
		t.Fatalf("valid forged dir name: %v", err)
	}
	ok = fx.forge(t, phFile, "file.txt")
	if f, _, err := OpenFolder(ok, fx.id, fx.keys.SK, nil); err != nil || f.Files[0].Meta.Name != "file.txt" {
		t.Fatalf("valid forged file name: %v", err)
	}

	type opener struct {
		what string
		open func(body []byte) error
	}
	openFolder := opener{"OpenFolder", func(b []byte) error { _, _, err := OpenFolder(b, fx.id, fx.keys.SK, nil); return err }}
	openers := map[string][]opener{
		phFolder: {openFolder,
			{"OpenFolderInfo", func(b []byte) error { _, _, err := OpenFolderInfo(b, fx.id, fx.keys.DK); return err }}},
		phDir: {openFolder},
		phFile: {openFolder,
			{"OpenFiles", func(b []byte) error { _, err := OpenFiles(b, fx.id, fx.keys.FK); return err }},
			{"OpenFileEntry", func(b []byte) error {
				_, err := OpenFileEntry(b, fx.id, fx.file.Label, fx.file.DK)
				return err
			}}},
	}
	for _, ph := range []string{phFolder, phDir, phFile} {
		for _, c := range badNames {
			if len(c.name) > 255 || (ph == phFolder && c.name == "") {
				continue // cannot be framed; "" is the root's name
			}
			body := fx.forge(t, ph, c.name)
			for _, o := range openers[ph] {
				err := o.open(body)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "name") {
					t.Errorf("%s in %s: %s = %v, want ErrInvalid about the name", c.why, ph, o.what, err)
				}
			}
		}
	}
}

// Capabilities and links with a bad display name are refused on parse;
// Check refuses them before they are made.
func TestCapabilityRefusesBadNames(t *testing.T) {
	for _, base := range testCaps(t) {
		for _, c := range badNames {
			if c.name == "" {
				continue // "" is a valid display name: none
			}
			capab := *base
			capab.Name = c.name
			if err := capab.Check(); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: Check = %v, want ErrInvalid", c.why, err)
			}
			if _, err := ParseCapability(capab.Marshal()); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: ParseCapability = %v; want ErrInvalid", c.why, err)
			}
			if base.Writer == nil {
				if _, err := ParseLink(FormatLink(&capab)); err == nil {
					t.Errorf("%s: ParseLink accepted the name", c.why)
				}
			}
		}
	}
}
