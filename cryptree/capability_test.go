package cryptree

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func testCaps(t testing.TB) []*Capability {
	rnd := &stream{next: 0x31}
	w := mustWriter(t, rnd)
	k := mustKeys(t, rnd)
	return []*Capability{
		{Kind: CapFolder, Name: "photos", ID: w.ID(), SK: k.SK},
		{Kind: CapFolder, Name: "shared with write", ID: w.ID(), SK: k.SK, Writer: &w},
		{Kind: CapFolder, ID: w.ID(), SK: k.SK},
		{Kind: CapFile, Name: "report.pdf", ID: w.ID(), Label: label(0x44), DK: k.DK},
	}
}

func TestCapabilityRoundTrip(t *testing.T) {
	for i, c := range testCaps(t) {
		if err := c.Check(); err != nil {
			t.Fatal(err)
		}
		got, err := ParseCapability(c.Marshal())
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("cap %d: %+v, %v", i, got, err)
		}
	}
}

func TestCapabilityInvalid(t *testing.T) {
	good := testCaps(t)
	other := mustWriter(t, &stream{next: 3})
	for _, c := range []struct {
		name string
		edit func(c *Capability)
	}{
		{"unknown kind", func(c *Capability) { c.Kind = 9 }},
		{"bad name", func(c *Capability) { c.Name = "a/b" }},
		{"long name", func(c *Capability) { c.Name = strings.Repeat("n", 256) }},
		{"file with writer", func(c *Capability) { c.Kind, c.Label, c.Writer = CapFile, label(1), &other }},
		{"file with zero label", func(c *Capability) { c.Kind = CapFile }},
		{"writer of another folder", func(c *Capability) { c.Writer = &other }},
	} {
		cp := *good[1]
		c.edit(&cp)
		if err := cp.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Check: %v", c.name, err)
		}
		if cp.Kind == CapFile && cp.Writer != nil {
			continue // a file's bytes have no room for a Writer
		}
		if _, err := ParseCapability(cp.Marshal()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ParseCapability: %v", c.name, err)
		}
	}
	// Every truncation and every flipped byte: an error or a capability
	// that checks, never a panic.
	for _, c := range good {
		b := c.Marshal()
		for n := range len(b) {
			if _, err := ParseCapability(b[:n]); !errors.Is(err, ErrInvalid) {
				t.Errorf("truncated to %d: %v", n, err)
			}
		}
		if _, err := ParseCapability(append(b, 0)); !errors.Is(err, ErrInvalid) {
			t.Errorf("extended: %v", err)
		}
		for i := range b {
			b[i] ^= 0x41
			if got, err := ParseCapability(b); err == nil {
				if err := got.Check(); err != nil {
					t.Errorf("byte %d: parsed capability does not check: %v", i, err)
				}
			}
			b[i] ^= 0x41
		}
	}
}

func TestLink(t *testing.T) {
	for i, c := range testCaps(t) {
		l := FormatLink(c)
		if !strings.HasPrefix(l, "cairn://") || strings.ToLower(l) != l {
			t.Fatalf("link %q", l)
		}
		want := *c
		want.Writer = nil
		for _, in := range []string{l, strings.ToUpper(l), "  " + l + "\n"} {
			got, err := ParseLink(in)
			if err != nil || !reflect.DeepEqual(got, &want) {
				t.Errorf("cap %d: ParseLink(%q) = %+v, %v", i, in, got, err)
			}
		}
		if c.Writer != nil {
			raw, _ := b32lower.DecodeString(l[len("cairn://"):])
			if bytes.Contains(raw, c.Writer.Sign.Seed()) || bytes.Contains(raw, c.Writer.WK[:]) {
				t.Fatal("the Writer is in the link")
			}
			ro := *c
			ro.Writer = nil
			if FormatLink(&ro) != l {
				t.Fatal("a link with a Writer differs from the read-only link")
			}
		}
		// Change every character to every other base32 character.
		for j := len("cairn://"); j < len(l); j++ {
			for _, r := range "abcdefghijklmnopqrstuvwxyz234567!0 é" {
				if byte(r) == l[j] {
					continue
				}
				bad := l[:j] + string(r) + l[j+1:]
				if _, err := ParseLink(bad); !errors.Is(err, ErrCorruptLink) {
					t.Fatalf("cap %d: char %d → %q: %v", i, j, r, err)
				}
			}
		}
		for _, bad := range []string{l[:len(l)-1], l + "a", l[:12], "cairn://"} {
			if _, err := ParseLink(bad); !errors.Is(err, ErrCorruptLink) {
				t.Errorf("cap %d: %q: %v", i, bad, err)
			}
		}
	}
	for _, notLink := range []string{"", "cairn:/abc", "https://example.com", "/local/path", "cu1abc"} {
		if _, err := ParseLink(notLink); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseLink(%q) = %v, want ErrInvalid", notLink, err)
		}
	}
	// A correctly summed payload with a write part is not a link.
	c := testCaps(t)[1]
	p := c.Marshal()
	p = append(p, checksum(linkSumCtx, p, linkSumLen)...)
	if _, err := ParseLink("cairn://" + b32lower.EncodeToString(p)); !errors.Is(err, ErrCorruptLink) {
		t.Errorf("link with a write part: %v", err)
	}
}
