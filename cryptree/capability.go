package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
)

// CapKind says what a Capability opens.
type CapKind uint8

// Capability kinds. The values are part of the format (SPEC.md §12).
const (
	CapFolder CapKind = 1 // a folder and its subtree: ID and SK
	CapFile   CapKind = 2 // one file: its folder's ID, its entry label and its DK
)

// Capability is what sharing hands over (SPEC.md §12). For CapFolder, ID is
// the folder and SK its subfolder key; Writer, if not nil, grants write
// access to the subtree. For CapFile, ID is the file's folder, Label its
// entry and DK its data key; Writer must be nil. Name is a display name
// for the recipient: "" or a valid name (ValidName).
type Capability struct {
	Kind   CapKind
	Name   string
	ID     FolderID
	SK     Key
	Label  [16]byte
	DK     Key
	Writer *Writer
}

// Capability layout (SPEC.md §12).
const (
	capV1       = 0x01
	linkPrefix  = "cairn://"
	linkSumCtx  = "cairn link v1\x00"
	linkSumLen  = 4
	maxCapLen   = 1 + 1 + 32 + 1 + MaxName + 16 + 1 + 32 + 16
	maxLinkBody = (maxCapLen+linkSumLen)*8/5 + 1
)

// Check returns ErrInvalid (with a reason) unless c can be marshalled and
// parsed back: a known kind, a valid or empty name, a non-zero label for a
// file, and a Writer only on a folder, belonging to it.
func (c *Capability) Check() error {
	if c.Name != "" {
		if err := ValidName(c.Name); err != nil {
			return err
		}
	}
	switch c.Kind {
	case CapFolder:
		if c.Writer != nil {
			return c.Writer.check(c.ID)
		}
	case CapFile:
		if c.Writer != nil {
			return invalid("a file capability cannot carry a Writer")
		}
		if c.Label == ([16]byte{}) {
			return invalid("file capability has a zero label")
		}
	default:
		return invalid(fmt.Sprintf("unknown capability kind %d", c.Kind))
	}
	return nil
}

// Marshal returns the capability's bytes, write part included; seal them
// (SealTo) before they leave the machine. c should pass Check: otherwise
// the bytes do not parse back. The result is a new slice.
func (c *Capability) Marshal() []byte { return c.marshal(true) }

func (c *Capability) marshal(withWriter bool) []byte {
	e := enc{b: make([]byte, 0, 1+1+32+1+len(c.Name)+16+1+32+16)}
	e.u8(capV1)
	e.u8(byte(c.Kind))
	e.raw(c.ID[:])
	if len(c.Name) > MaxName {
		e.u8(0xff)
		e.raw([]byte(c.Name)) // too long: refused by ParseCapability
	} else {
		e.str8(c.Name)
	}
	switch c.Kind {
	case CapFile:
		e.label(&c.Label)
		e.key(&c.DK)
	default:
		e.key(&c.SK)
		if withWriter && c.Writer != nil && len(c.Writer.Sign) == ed25519.PrivateKeySize {
			e.u8(1)
			e.raw(c.Writer.Sign.Seed())
			e.key(&c.Writer.WK)
		} else {
			e.u8(0)
		}
	}
	return e.b
}

// ParseCapability parses the output of Marshal. It returns ErrInvalid for
// anything malformed, including a Writer whose key is not the folder's.
// b is only read; the Capability is new.
func ParseCapability(b []byte) (*Capability, error) {
	if len(b) > maxCapLen {
		return nil, invalid("capability too long")
	}
	d := dec{b: b}
	if v := d.u8("capability version"); d.err == nil && v != capV1 {
		return nil, invalid(fmt.Sprintf("capability version %d is not supported", v))
	}
	c := &Capability{Kind: CapKind(d.u8("capability kind")), ID: d.id("folder id"), Name: d.str8("name")}
	switch c.Kind {
	case CapFolder:
		c.SK = d.key("SK")
		if d.bool("write flag") {
			seed := d.take(32, "writer seed")
			wk := d.key("WK")
			if d.err == nil {
				c.Writer = writerFromSeed(seed, wk)
			}
		}
	case CapFile:
		c.Label = d.label("label")
		c.DK = d.key("DK")
	default:
		d.fail("unknown capability kind")
	}
	d.end("capability")
	if d.err != nil {
		return nil, d.err
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// FormatLink returns c as a cairn:// link: lower-case base32 of the
// capability without its write part and a 4-byte checksum (SPEC.md §13).
// The Writer is never put in a link. c should pass Check.
func FormatLink(c *Capability) string {
	p := c.marshal(false)
	p = append(p, checksum(linkSumCtx, p, linkSumLen)...)
	return linkPrefix + b32lower.EncodeToString(p)
}

// ParseLink parses a link made by FormatLink, tolerating surrounding white
// space and upper case. A string that does not start with "cairn://" is
// ErrInvalid; after the prefix, any failure — a character outside base32,
// a bad checksum, content that does not parse — is ErrCorruptLink. The
// capability returned is read-only (Writer nil).
func ParseLink(s string) (*Capability, error) {
	s = strings.TrimSpace(s)
	if len(s) < len(linkPrefix) || !strings.EqualFold(s[:len(linkPrefix)], linkPrefix) {
		return nil, invalid("not a cairn:// link")
	}
	body := s[len(linkPrefix):]
	if len(body) > maxLinkBody {
		return nil, ErrCorruptLink
	}
	for i := 0; i < len(body); i++ {
		if body[i] >= 0x80 {
			return nil, ErrCorruptLink
		}
	}
	body = strings.ToLower(body)
	raw, err := b32lower.DecodeString(body)
	if err != nil || len(raw) <= linkSumLen || b32lower.EncodeToString(raw) != body {
		return nil, ErrCorruptLink
	}
	p, sum := raw[:len(raw)-linkSumLen], raw[len(raw)-linkSumLen:]
	if !bytes.Equal(sum, checksum(linkSumCtx, p, linkSumLen)) {
		return nil, ErrCorruptLink
	}
	c, err := ParseCapability(p)
	if err != nil || c.Writer != nil {
		return nil, ErrCorruptLink
	}
	return c, nil
}
