package drive

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// The drive's names are the folder format's: a path component the drive
// takes is one every reader of the folder opens, and the reverse.
func TestCleanNameAgreesWithCryptree(t *testing.T) {
	for _, name := range []string{
		"a", "ünï code", "...", ".hidden", strings.Repeat("x", MaxName), "\u00a0",
		strings.Repeat("x", MaxName+1), "\xff", `a\b`, `..\x`, `\`,
		"a\x00b", "a\tb", "a\nb", "Icon\r", "\x1b[2J", "a\x7f", "a\u0080", "\u0085", "\u009b1m", "a\u009f",
	} {
		_, err := Clean("/dir/" + name)
		want := cryptree.ValidName(name)
		if (err == nil) != (want == nil) {
			t.Errorf("Clean(/dir/%.40q) = %v; cryptree.ValidName = %v", name, err, want)
		}
		if err != nil && !errors.Is(err, storage.Invalid) {
			t.Errorf("Clean(/dir/%.40q) = %v, want Invalid", name, err)
		}
		if (checkName(name) == nil) != (want == nil) {
			t.Errorf("checkName(%.40q) = %v; cryptree.ValidName = %v", name, checkName(name), want)
		}
	}
}

// A refused name is quoted in the message, never printed raw.
func TestCleanNameQuoted(t *testing.T) {
	_, err := Clean("/a\x1b[2Jb")
	if err == nil || strings.ContainsRune(err.Error(), 0x1b) {
		t.Fatalf("Clean = %v, want an error without the raw escape", err)
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("x", MaxName)
	for _, tc := range []struct {
		in, want string // want "" means Invalid
	}{
		{"/", "/"},
		{"/a", "/a"},
		{"/a/", "/a"},
		{"//a//b/", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/..", "/"},
		{"/../../a", "/a"},
		{"/" + long, "/" + long},
		{"/" + long + "y", ""},
		{"/" + strings.Repeat("a/", MaxPath/2-1) + "a", "/" + strings.Repeat("a/", MaxPath/2-1) + "a"},
		{"/" + strings.Repeat("a/", MaxPath/2) + "a", ""},
		{"", ""},
		{"a", ""},
		{"./a", ""},
		{"/a\x00b", ""},
		{"/sp ace/ünïcode", "/sp ace/ünïcode"},
		{"/sp ace/ünï\\code", ""}, // no '\' in names (cryptree.ValidName)
	} {
		got, err := Clean(tc.in)
		if tc.want == "" {
			if !errors.Is(err, storage.Invalid) {
				t.Errorf("Clean(%.40q) = %q, %v; want Invalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Clean(%.40q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if n := (Entry{Path: "/a/b.txt"}).Name(); n != "b.txt" {
		t.Errorf("Name = %q", n)
	}
	if n := (Entry{Path: "/"}).Name(); n != "/" {
		t.Errorf("root Name = %q", n)
	}
}
